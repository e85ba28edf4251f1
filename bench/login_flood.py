"""Does a login flood slow the rest of the server? ``/healthz`` latency while 50 clients
send wrong passwords as fast as they are answered, against it idle.

Two real servers (``run.py serve``, SQLite, the demo shop):

- **limited**: the login limits as shipped, the clients behind a trusted proxy, each with
  its own address (``X-Forwarded-For``), all guessing the admin's password: the realistic
  attack; the account limit answers most tries 429 before any hash.
- **hashing**: the limits off (``SWITCHBOARD_LOGIN_LIMIT_ADDRESS`` and ``..._ACCOUNT``
  empty), so every try is an argon2 check: what the hashing itself costs the event loop.

Rounds interleave idle and flood on each server. The flood runs in a child process and
``/healthz`` is timed from this one over one kept-alive connection, so neither's event
loop delays the other's measurements.

    python bench/login_flood.py [--rounds 3] [--seconds 6] [--clients 50]

Target (issue 19): p99 of /healthz under the flood <= 50 ms and <= 5x idle.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing as mp
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import pct, start, stop  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def probe(port: int, seconds: float, gap: float = 0.01) -> list[float]:
    """GET /healthz every ``gap`` seconds for ``seconds``; the latencies."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise RuntimeError(f"/healthz answered {resp.status}")
        time.sleep(gap)
    conn.close()
    return out


async def _flood(port: int, email: str, clients: int, seconds: float,
                 statuses: dict[int, int]) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{port}"
    counts: Counter[int] = Counter()

    async def client(i: int) -> None:
        address = f"198.18.{i // 250}.{i % 250 + 1}"
        headers = {"X-Forwarded-For": address}
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(f"{url}/login", headers=headers) as page:
                token = CSRF.search(await page.text())
            assert token, "no CSRF token on /login"
            end = time.perf_counter() + seconds
            n = 0
            while time.perf_counter() < end:
                n += 1
                async with s.post(f"{url}/login", headers=headers, allow_redirects=False,
                                  data={"email": email, "password": f"guess-{i}-{n}",
                                        "csrf_token": token.group(1)}) as resp:
                    await resp.read()
                    counts[resp.status] += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    statuses.update(counts)


def flood(port: int, email: str, clients: int, seconds: float,
          statuses: dict[int, int]) -> None:
    asyncio.run(_flood(port, email, clients, seconds, statuses))


def admin_email(log: Path) -> str:
    for _ in range(300):
        found = re.search(r"e-mail\s+(\S+@\S+)", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise RuntimeError(f"the server printed no admin:\n{log.read_text()[-2000:]}")


def measure(name: str, port: int, email: str, clients: int, seconds: float,
            idle: list[float], busy: list[float]) -> None:
    idle.extend(probe(port, seconds))
    with mp.Manager() as manager:
        statuses = manager.dict()
        child = mp.Process(target=flood, args=(port, email, clients, seconds + 1, statuses))
        child.start()
        time.sleep(1.0)  # every client has its form and is sending
        lat = probe(port, seconds)
        child.join()
        answers = dict(statuses)
    busy.extend(lat)
    print(f"  {name:<8} idle p99 {pct(idle[-len(lat):], 0.99) * 1000:6.1f} ms   "
          f"flood p99 {pct(lat, 0.99) * 1000:6.1f} ms   answers {answers}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=50)
    args = ap.parse_args()
    common = {"SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1"}
    servers = {
        "limited": start(["run.py", "serve"], common),
        "hashing": start(["run.py", "serve"], {**common, "SWITCHBOARD_LOGIN_LIMIT_ADDRESS": "",
                                               "SWITCHBOARD_LOGIN_LIMIT_ACCOUNT": ""}),
    }
    try:
        emails = {name: admin_email(log) for name, (_, _, log) in servers.items()}
        figures: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in servers}
        for r in range(args.rounds):
            print(f"round {r + 1}", flush=True)
            for name, (_, port, _) in servers.items():
                measure(name, port, emails[name], args.clients, args.seconds, *figures[name])
        print()
        for name, (idle, busy) in figures.items():
            i99, b99 = pct(idle, 0.99) * 1000, pct(busy, 0.99) * 1000
            print(f"{name:<8} /healthz p99 idle {i99:6.1f} ms, under {args.clients} bad logins "
                  f"{b99:6.1f} ms: {b99 / i99:4.1f}x idle  "
                  f"({'met' if b99 <= 50 and b99 <= 5 * i99 else 'NOT met'}: <= 50 ms, <= 5x)")
    finally:
        for proc, _, _ in servers.values():
            stop(proc)


if __name__ == "__main__":
    main()
