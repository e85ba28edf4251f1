"""Serving with a graceful stop that really lets in-flight requests finish.

aiohttp's own shutdown (``run_app``) first marks every connection closing, after which it
drops bytes still arriving, so a request whose body is mid-upload at SIGTERM is cut off.
Here the order is: stop listening; close websockets (1001 Going Away); wait, up to
``shutdown_timeout``, for requests in flight (counted by a middleware) to finish; then run
aiohttp's cleanup, which closes idle connections and the app's resources.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger("switchboard.serve")


class Inflight:
    """How many plain HTTP requests are being handled right now (counted by the app's
    middleware)."""

    def __init__(self) -> None:
        self.count = 0


async def serve(app: web.Application, host: str, port: int, shutdown_timeout: float,
                on_started: Callable[[], None] | None = None) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()  # close the database and clock opened by setup()
        raise
    if on_started:
        on_started()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down", extra={"inflight": app[INFLIGHT].count})
        await site.stop()
        await app.shutdown()  # on_shutdown: close websockets (idempotent; cleanup repeats it)
        deadline = time.monotonic() + shutdown_timeout
        while app[INFLIGHT].count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if app[INFLIGHT].count:
            log.warning("requests still running at shutdown timeout",
                        extra={"inflight": app[INFLIGHT].count})
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")


INFLIGHT: web.AppKey[Inflight] = web.AppKey("inflight")
