"""The ingest baseline: a bare aiohttp handler that answers 202 and does no work."""

import os

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"id": 0, "conversation_id": 0, "duplicate": False}, status=202)


app = web.Application()
app.router.add_post("/api/v1/inbound/{account_id}", accept)
web.run_app(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), print=None,
            access_log=None)
