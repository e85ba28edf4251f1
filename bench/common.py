"""Helpers shared by the benchmarks: start servers as subprocesses, measure latencies."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def start(args: list[str], env: dict[str, str] | None = None
          ) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start ``python <args>`` with a fresh data dir and port; return (proc, port, log)."""
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    log = data / "server.log"
    full = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data / "data"),
            "SWITCHBOARD_PORT": str(port), "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "BENCH_PORT": str(port),
            # The older benchmarks measure without sentiment scoring, as they always did;
            # bench/sentiment.py turns it on.
            "SWITCHBOARD_SENTIMENT_ENABLED": "false", **(env or {})}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=full,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return proc, port, log


async def admin_token(log: Path) -> str:
    """The seeded admin's API token, printed once by a fresh server."""
    import re

    for _ in range(100):
        found = re.search(r"API token\s+(\S+)", log.read_text())
        if found:
            return found.group(1)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the server printed no API token:\n{log.read_text()}")


def api_account(log: Path, also: str = "", timeout: float = 60) -> tuple[str, str]:
    """(id, secret) of the demo API account a fresh server printed in ``log``, once the
    log also shows ``also``."""
    import re

    deadline = time.time() + timeout
    out = log.read_text()
    while time.time() < deadline and not ("(secret " in out and also in out):
        time.sleep(0.1)
        out = log.read_text()
    account = re.search(r"inbound/(\d+)", out)
    secret = re.search(r"\(secret (\w+)\)", out)
    if account is None or secret is None or also not in out:
        raise RuntimeError(f"the server did not get ready:\n{out[-2000:]}")
    return account.group(1), secret.group(1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def post_load(url: str, requests: list[tuple[bytes, dict[str, str]]],
                    concurrency: int, ok: tuple[int, ...] = (200, 202)
                    ) -> tuple[float, list[float]]:
    """POST each (body, headers) to ``url`` from ``concurrency`` workers over kept-alive
    connections; return (elapsed seconds, per-request latencies)."""
    import aiohttp

    latencies: list[float] = []
    queue = iter(requests)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker() -> None:
            for body, headers in queue:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers={
                        "Content-Type": "application/json", **headers}) as resp:
                    await resp.read()
                    if resp.status not in ok:
                        raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
                latencies.append(time.perf_counter() - t0)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> str:
    return (f"p50 {pct(values, 0.5) * 1000:.2f} ms, p99 {pct(values, 0.99) * 1000:.2f} ms, "
            f"mean {statistics.fmean(values) * 1000:.2f} ms")


class MailSink:
    """An aiosmtpd handler that accepts every mail (after ``latency`` seconds, a mail
    server's pace) and keeps each one's Message-ID, in arrival order: ``len(ids)`` is the
    mails delivered, ``len(set(ids))`` the distinct ones ("" for a mail without one)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.ids: list[str] = []

    @property
    def count(self) -> int:
        return len(self.ids)

    async def handle_DATA(self, server: object, session: object,  # noqa: N802
                          envelope: object) -> str:
        content: bytes = envelope.content  # type: ignore[attr-defined]
        for line in content.split(b"\r\n", 60):
            if line.lower().startswith(b"message-id:"):
                self.ids.append(line.split(b":", 1)[1].strip().decode())
                break
        else:
            self.ids.append("")
        if self.latency:
            await asyncio.sleep(self.latency)
        return "250 OK"
