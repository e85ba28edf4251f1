"""Ingest throughput: signed inbound messages over real HTTP at a fixed concurrency.

Runs the same load against (1) a bare aiohttp handler that answers 202 without work and
(2) Switchboard on a fresh SQLite database, both started the same way (a subprocess of this
Python), and prints msgs/s, p50/p99 acknowledgement latency and the ratio. Target: >= 0.6.

    python bench/ingest.py [--messages 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import start, stop, summary, pct  # noqa: E402
from channels.signing import sign  # noqa: E402


async def load(port: int, account: str, bodies: list[tuple[bytes, str]],
               concurrency: int) -> tuple[float, list[float]]:
    url = f"http://127.0.0.1:{port}/api/v1/inbound/{account}"
    latencies: list[float] = []
    queue = iter(bodies)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker() -> None:
            for body, sig in queue:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers={
                        "X-Switchboard-Signature": sig,
                        "Content-Type": "application/json"}) as resp:
                    await resp.read()
                    if resp.status not in (200, 202):
                        raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
                latencies.append(time.perf_counter() - t0)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def bodies(secret: str, n: int, prefix: str) -> list[tuple[bytes, str]]:
    out = []
    for i in range(n):
        raw = json.dumps({"external_id": f"{prefix}-{i}",
                          "contact": {"external_id": f"cust-{i % 500}", "name": f"C {i % 500}"},
                          "text": f"Hello, where is order #{i}? Cảm ơn / ขอบคุณ / Dziękuję"}
                         ).encode()
        out.append((raw, sign(secret, raw)))
    return out


async def measure(port: int, account: str, secret: str, n: int, c: int, label: str
                  ) -> tuple[float, list[float]]:
    await load(port, account, bodies(secret, 200, f"warm-{label}"), c)
    elapsed, lat = await load(port, account, bodies(secret, n, label), c)
    rate = n / elapsed
    print(f"{label:>11}: {rate:8.0f} msgs/s  {summary(lat)}")
    return rate, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    proc, port, _ = start(["bench/baseline_server.py"])
    try:
        base_rate, base_lat = asyncio.run(measure(port, "1", "x", args.messages,
                                                  args.concurrency, "baseline"))
    finally:
        stop(proc)

    proc, port, log = start(["run.py", "serve"])
    try:
        out = log.read_text()
        for _ in range(50):
            if "secret" in out:
                break
            time.sleep(0.1)
            out = log.read_text()
        account = re.search(r"inbound/(\d+)", out).group(1)  # type: ignore[union-attr]
        secret = re.search(r"\(secret (\w+)\)", out).group(1)  # type: ignore[union-attr]
        rate, lat = asyncio.run(measure(port, account, secret, args.messages,
                                        args.concurrency, "switchboard"))
    finally:
        stop(proc)
    print(f"ratio (switchboard / baseline msgs/s): {rate / base_rate:.2f}  (target >= 0.6)")
    print(f"p50 latency ratio: {pct(base_lat, 0.5) / pct(lat, 0.5):.2f}, "
          f"p99 latency ratio: {pct(base_lat, 0.99) / pct(lat, 0.99):.2f} "
          "(baseline / switchboard; 1.0 = as fast)")


if __name__ == "__main__":
    main()
