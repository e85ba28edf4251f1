"""Drip throughput with one server process and with three on one PostgreSQL, same run.

Two clusters of ``run.py serve`` on a throwaway PostgreSQL (Debian's, as the tests use):
one process on one database, three processes on another. Both send to one local SMTP
sink (aiosmtpd in a process of its own, answering each mail after ``--latency`` seconds,
a mail server's pace; it counts deliveries and distinct Message-IDs). Each round inserts
``--steps`` enrolments due at once in a one-mail sequence on one cluster and times until
all are completed (polled every 50 ms); rounds alternate between the clusters (1, 3, 3, 1,
1, 3, …), so both see the same machine. The idle cluster's clocks keep ticking, as they
would in production.

    python bench/drip_processes.py [--steps 3000] [--rounds 3] [--latency 0.02]

Goal (issue 20): three processes >= 1.5x one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import MailSink, free_port, start, stop  # noqa: E402


def serve_sink(port: int, latency: float) -> None:
    """The sink process: counts until stdin closes, then prints its count and ids."""
    from aiosmtpd.controller import Controller

    sink = MailSink(latency)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(json.dumps({"count": sink.count, "ids": len(set(sink.ids))}), flush=True)


class Cluster:
    """``n`` server processes on one new database."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.n = url, n
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, sink_port: int) -> None:
        env = {"SWITCHBOARD_DATABASE_URL": self.url,
               "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
               "SWITCHBOARD_CLOCK_SECONDS": "0.2", "SWITCHBOARD_ALLOW_PRIVATE_URLS": "true"}
        for _ in range(self.n):  # one at a time: the first migrates and seeds
            self.procs.append(start(["run.py", "serve"], env)[0])

    async def prepare(self, sink_port: int) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            # Message-IDs come from (account, enrolment, step): the clusters' enrolment ids
            # apart, so the sink's count of distinct ids shows any mail sent twice.
            await conn.execute(f"ALTER SEQUENCE enrollments_id_seq RESTART WITH "
                               f"{self.n * 10_000_000}")
            await conn.execute(
                "INSERT INTO channel_accounts (kind, name, secret, callback_url, settings, "
                "enabled, created_at) VALUES ('email', 'Bench mail', 'x', '', $1, true, "
                "now())", json.dumps({"address": "shop@bench.test",
                                      "smtp_host": "127.0.0.1", "smtp_port": sink_port,
                                      "smtp_tls": "none", "rate_per_sec": 0,
                                      "concurrency": 8}))
            await conn.execute("UPDATE sequences SET enabled = false")
            return int(await conn.fetchval(
                "INSERT INTO sequences (key, name, trigger, exit_on, steps, enabled, "
                "created_at) VALUES ('bench', 'Bench', 'none', '[]', $1, true, now()) "
                "RETURNING id", json.dumps([{"send": "welcome_1"}])))
        finally:
            await conn.close()

    async def round(self, seq: int, n: int, tag: str) -> float:
        """Enrol ``n`` new contacts due now; seconds until all are completed."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(
                "INSERT INTO contacts (name, email, locale, attributes, tags, "
                "email_consent, created_at, updated_at) SELECT 'Customer ' || i, "
                "$2 || i || '@bench.test', 'en', '{}', '[]', 'subscribed', now(), now() "
                "FROM generate_series(1, $1) AS i", n, tag)
            started = time.perf_counter()
            await conn.execute(
                "INSERT INTO enrollments (sequence_id, contact_id, state, step, due_at, "
                "context, started_at, ended_reason, created_at) SELECT $1, id, 'active', 0, "
                "now(), '{}', now(), '', now() FROM contacts WHERE email LIKE $2",
                seq, f"{tag}%@bench.test")
            query = ("SELECT count(*) FROM enrollments e JOIN contacts c ON c.id = "
                     "e.contact_id WHERE e.state = 'completed' AND c.email LIKE $1")
            deadline = started + 600
            while await conn.fetchval(query, f"{tag}%@bench.test") < n:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"round {tag} did not finish")
                await asyncio.sleep(0.05)
            return time.perf_counter() - started
        finally:
            await conn.close()

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=3000, help="mails due at once per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per cluster")
    ap.add_argument("--latency", type=float, default=0.02,
                    help="seconds the SMTP sink takes to answer each mail")
    args = ap.parse_args()
    if args.sink:
        serve_sink(args.sink, args.latency)
        return
    from tests.conftest import Postgres

    pg = Postgres()
    pg.start()
    port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port),
                             "--latency", str(args.latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdin is not None
    sink.stdout.readline()  # ready
    clusters = {1: Cluster(pg.create_db(), 1), 3: Cluster(pg.create_db(), 3)}
    rates: dict[int, list[float]] = {1: [], 3: []}
    try:
        seqs = {}
        for k, cluster in clusters.items():
            cluster.start(port)
            seqs[k] = await cluster.prepare(port)
        print(f"{args.steps} drip mails due at once per round, to a local SMTP sink "
              f"answering in {args.latency * 1000:g} ms; PostgreSQL {pg.bin.parent.name}; "
              f"load average {os.getloadavg()[0]:.2f} at the start")
        order = [1, 3]
        for r in range(args.rounds):
            for k in order:
                seconds = await clusters[k].round(seqs[k], args.steps, f"r{r}p{k}x")
                rates[k].append(args.steps / seconds)
                print(f"round {r + 1}, {k} process{'es' if k > 1 else '  '}: "
                      f"{seconds:6.2f} s, {rates[k][-1]:6.0f} mails/s", flush=True)
            order.reverse()
    finally:
        for cluster in clusters.values():
            cluster.stop()
        sink.stdin.close()
        counted = json.loads(sink.stdout.readline() or "{}")
        sink.wait()
        pg.stop()
    one, three = statistics.median(rates[1]), statistics.median(rates[3])
    total = args.steps * args.rounds * 2
    print(f"sink: {counted.get('count')} deliveries, {counted.get('ids')} distinct "
          f"Message-IDs, for {total} mails")
    print(f"median: 1 process {one:.0f} mails/s, 3 processes {three:.0f} mails/s: "
          f"ratio {three / one:.2f}x; goal >= 1.5x: {'met' if three / one >= 1.5 else 'NOT met'}"
          f"; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    asyncio.run(main())
