"""The bare proxy of app.py on granian's RSGI interface (aiohttp client only).

Same work as app.py: read the body, POST it unchanged upstream on one keep-alive
session, return the upstream's body, status and content type.  For the server-stack
comparison only: it shows what RSGI saves on the cheapest possible app.
"""
import os

import aiohttp

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:18080")
POOL = int(os.environ.get("POOL", "512"))
FWD_HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-dummy"}
PATHS = {"/v1/chat/completions": "/v1/chat/completions", "/chat/completions": "/v1/chat/completions",
         "/v1/messages": "/v1/messages"}


class App:
    def __init__(self):
        self.session = None

    def __rsgi_init__(self, loop):
        async def start():
            conn = aiohttp.TCPConnector(limit=POOL, keepalive_timeout=300)
            self.session = aiohttp.ClientSession(base_url=UPSTREAM, connector=conn)
        loop.run_until_complete(start())

    def __rsgi_del__(self, loop):
        loop.run_until_complete(self.session.close())

    async def __rsgi__(self, scope, proto):
        if scope.path == "/health":
            proto.response_bytes(200, [("content-type", "text/plain")], b"ok")
            return
        path = PATHS.get(scope.path)
        if path is None or scope.method != "POST":
            proto.response_bytes(404, [], b"")
            return
        body = await proto()
        async with self.session.post(path, data=body, headers=FWD_HEADERS) as r:
            data = await r.read()
            proto.response_bytes(r.status, [("content-type", r.headers.get("content-type", ""))], data)


app = App()
