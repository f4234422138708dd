"""Translation between wire formats and lockgate's canonical (OpenAI) shapes."""
