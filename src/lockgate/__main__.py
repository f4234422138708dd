from lockgate.serve_cli import main

main()
