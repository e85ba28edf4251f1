"""The ingest baselines: bare aiohttp handlers that answer at once and do no work."""

import os

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"id": 0, "conversation_id": 0, "duplicate": False}, status=202)


async def telegram(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


app = web.Application()
app.router.add_post("/api/v1/inbound/{account_id}", accept)
app.router.add_post("/api/v1/telegram/{account_id}/webhook", telegram)
web.run_app(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), print=None,
            access_log=None)
