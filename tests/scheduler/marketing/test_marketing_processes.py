"""Drips and a broadcast sent by three server processes on one real PostgreSQL, one of
them killed with SIGKILL mid-send (issue 20, point 4).

What Switchboard guarantees for marketing mail, with one process or several:

* every mail due (each (enrolment, step), each (broadcast, contact)) reaches the SMTP
  server: none is lost, whichever process dies;
* each has one MailSend row, committed before the SMTP call, and one Message-ID derived
  from that row's key;
* a mail goes out twice only if the process that sent it died between the SMTP server
  accepting it and the process recording it as sent (at most one mail per concurrent
  send slot of the dead process): the process that takes the work over sends it again
  with the *same* Message-ID (the same mail, which mail systems treat as one). A mail is
  never sent twice by two live processes (a process that lost its lease sends nothing).

The SMTP sink (aiosmtpd, in this process) records every delivery with its key (the
``X-Switchboard`` header), its Message-ID and the server process whose connection
carried it (found from the connection's port in /proc), so the test also sees that the
drip work spreads over the three processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from scheduler.marketing import broadcasts, drips
from tests.conftest import Postgres, ServerProcess, free_port, start_together

pytestmark = pytest.mark.slow  # three server processes on PostgreSQL, one killed

ENROLMENTS = 600  # each with two mails due at once: 1,200 mails
AUDIENCE = 300  # the broadcast's segment
LEASE = "5"  # seconds before a dead process's work is taken over


@dataclass
class Delivery:
    key: str  # the MailSend key (X-Switchboard header)
    message_id: str
    pid: int  # the server process that sent it (-1: its connection was already gone)
    at: float  # time.monotonic() when the sink got it


def _socket_owner(port: int, pids: list[int]) -> int:
    """The process among ``pids`` holding a TCP socket whose local port is ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return pid
    return -1


class Sink:
    """Takes every mail (after ``delay``, a real server's pace, so that sends are in
    flight when a process dies) and records it when its data arrived."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.pids: list[int] = []
        self.got: list[Delivery] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        pid = getattr(session, "sb_pid", None)
        if pid is None:  # the first mail on this connection: whose is it?
            pid = session.sb_pid = _socket_owner(session.peer[1], self.pids)
        head = envelope.content.decode(errors="replace").split("\r\n\r\n", 1)[0]
        headers = dict(line.split(": ", 1) for line in head.replace("\r\n ", " ").split("\r\n")
                       if ": " in line)
        self.got.append(Delivery(headers.get("X-Switchboard", ""),
                                 headers.get("Message-ID", ""), pid, time.monotonic()))
        await asyncio.sleep(self.delay)
        return "250 OK"

    def by_pid(self) -> Counter[int]:
        return Counter(d.pid for d in list(self.got))


@dataclass
class Cluster:
    servers: list[ServerProcess]
    url: str
    sink: Sink


async def _start(tmp_path: Path, postgres: Postgres, sink: Sink, port: int) -> Cluster:
    """Three processes on one new, migrated database (the first alone seeds it), then
    the shop's e-mail account pointing at the sink."""
    url = postgres.create_db(migrated=True)
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_CLOCK_SECONDS": "0.2", "SWITCHBOARD_DRIP_LEASE_SECONDS": LEASE,
           "SWITCHBOARD_SENTIMENT_ENABLED": "false"}
    servers = [ServerProcess(tmp_path / f"s{i}", **env) for i in range(3)]
    await asyncio.to_thread(servers[0].start)
    await asyncio.to_thread(start_together, servers[1:])
    for srv in servers[1:]:
        srv.seed = servers[0].seed
    sink.pids = [srv.proc.pid for srv in servers if srv.proc is not None]
    conn = await asyncpg.connect(url)
    try:  # the sink has no IMAP: the account is set up here, as in test_drip_crash
        await conn.execute(
            "INSERT INTO channel_accounts (kind, name, secret, callback_url, settings, "
            "enabled, created_at) VALUES ('email', 'Shop mail', 'x', '', $1, true, now())",
            json.dumps({"address": "shop@shop.test", "smtp_host": "127.0.0.1",
                        "smtp_port": port, "smtp_tls": "none", "rate_per_sec": 0,
                        "concurrency": 8}))
        await conn.execute("UPDATE sequences SET enabled = false")  # no other mail
    finally:
        await conn.close()
    return Cluster(servers, url, sink)


async def _stop(cluster: Cluster) -> None:
    for srv in cluster.servers:
        if srv.proc is not None and srv.proc.poll() is None:
            await asyncio.to_thread(srv.stop)


async def _kill_one_mid_send(cluster: Cluster, total: int) -> tuple[ServerProcess, float]:
    """SIGKILL the process that has sent the most, once it has sent some and the mails
    are not all out; (the victim, when it died)."""
    sink = cluster.sink
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        counts = sink.by_pid()
        pid, most = counts.most_common(1)[0] if counts else (0, 0)
        if most >= 40 and pid > 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"no process sent 40 mails in time: {sink.by_pid()}")
    victim = next(s for s in cluster.servers if s.proc is not None and s.proc.pid == pid)
    victim.kill()
    died = time.monotonic()
    assert len(sink.got) < total, "the kill should land while mails are still going out"
    return victim, died


async def _wait_for(conn: asyncpg.Connection, query: str, want: int, what: str,
                    timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    got = await conn.fetchval(query)
    while got != want and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        got = await conn.fetchval(query)
    assert got == want, f"{what}: {got}, expected {want}"


def _check_deliveries(sink: Sink, keys: set[str], victim: int, died: float,
                      slots: int) -> list[str]:
    """Every key arrived, with one Message-ID; a key arrived twice only if the victim
    sent it before it died (in flight at the kill); the keys that arrived twice."""
    ids: dict[str, set[str]] = defaultdict(set)
    copies: dict[str, list[Delivery]] = defaultdict(list)
    for d in sink.got:
        ids[d.key].add(d.message_id)
        copies[d.key].append(d)
    assert set(ids) == keys, (f"{len(keys - set(ids))} mails never arrived, "
                              f"{len(set(ids) - keys)} unexpected")
    assert all(len(v) == 1 for v in ids.values()), "one Message-ID per mail"
    twice = sorted(k for k, v in copies.items() if len(v) > 1)
    for key in twice:
        first, *again = copies[key]
        assert len(again) == 1, f"{key} arrived {len(copies[key])} times"
        assert first.pid in (victim, -1) and first.at <= died, \
            f"{key} was sent twice, not by a process that died mid-send: {copies[key]}"
        assert again[0].pid not in (victim, -1), f"{key}: {copies[key]}"
    assert len(twice) <= slots, f"{len(twice)} mails went twice: more than were in flight"
    return twice


async def test_three_processes_send_each_drip_mail_once(tmp_path: Path, postgres: Postgres
                                                         ) -> None:
    # A server's pace at which a process's claimed batch (200 enrolments, 400 mails over
    # 8 connections) takes longer than the lease: the lease runs out under a live process.
    sink, port = Sink(delay=0.15), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    cluster = await _start(tmp_path, postgres, sink, port)
    conn = await asyncpg.connect(cluster.url)
    try:
        seq = await conn.fetchval(
            "INSERT INTO sequences (key, name, trigger, exit_on, steps, enabled, created_at) "
            "VALUES ('burst', 'Burst', 'none', '[]', $1, true, now()) RETURNING id",
            json.dumps([{"send": "welcome_1"}, {"send": "welcome_2"}]))
        await conn.execute(
            "INSERT INTO contacts (name, email, locale, attributes, tags, email_consent, "
            "created_at, updated_at) SELECT 'C ' || i, 'c' || i || '@customer.test', 'en', "
            "'{}', '[]', 'subscribed', now(), now() FROM generate_series(1, $1) AS i",
            ENROLMENTS)
        # All due together, a moment from now: the three processes' clocks find them.
        await conn.execute(
            "INSERT INTO enrollments (sequence_id, contact_id, state, step, due_at, context, "
            "started_at, ended_reason, created_at) SELECT $1, id, 'active', 0, "
            "now() + interval '1 second', '{}', now(), '', now() FROM contacts", seq)
        enrolments = [r["id"] for r in await conn.fetch("SELECT id FROM enrollments")]
        keys = {f"enr:{e}:step:{s}" for e in enrolments for s in (0, 1)}
        victim, died = await _kill_one_mid_send(cluster, len(keys))
        victim_pid = victim.proc.pid if victim.proc else 0
        await _wait_for(conn, "SELECT count(*) FROM enrollments WHERE state = 'completed'",
                        ENROLMENTS, "enrolments completed")
        twice = _check_deliveries(sink, keys, victim_pid, died, drips.CONCURRENCY)
        await _wait_for(conn, "SELECT count(*) FROM mail_sends WHERE state = 'sent'",
                        len(keys), "mails recorded as sent")
        assert {r["key"] for r in await conn.fetch("SELECT key FROM mail_sends")} == keys
        counts = sink.by_pid()
        assert all(counts[p] > 0 for p in sink.pids), f"the work did not spread: {counts}"
        print(f"\n{len(keys)} drip mails, {len(sink.got)} deliveries by process "
              f"{dict(counts)}; killed {victim_pid}, {len(twice)} in flight at the kill "
              f"resent with the same Message-ID")
    finally:
        await conn.close()
        await _stop(cluster)
        controller.stop()


async def test_three_processes_send_a_broadcast_once(tmp_path: Path, postgres: Postgres
                                                      ) -> None:
    sink, port = Sink(delay=0.05), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    cluster = await _start(tmp_path, postgres, sink, port)
    conn = await asyncpg.connect(cluster.url)
    first = cluster.servers[0]
    try:
        await conn.execute(
            "INSERT INTO contacts (name, email, locale, attributes, tags, email_consent, "
            "created_at, updated_at) SELECT 'C ' || i, 'c' || i || '@customer.test', 'en', "
            "'{}', $2, 'subscribed', now(), now() FROM generate_series(1, $1) AS i",
            AUDIENCE, json.dumps(["news"]))
        await conn.execute(  # not in the segment
            "INSERT INTO contacts (name, email, locale, attributes, tags, email_consent, "
            "created_at, updated_at) VALUES ('Other', 'other@customer.test', 'en', '{}', "
            "'[]', 'subscribed', now(), now())")
        seg = await asyncio.to_thread(first.call, "POST", "/api/v1/segments", {
            "name": "News", "rules": {"conditions": [{"tag": "news"}]}})
        bc = await asyncio.to_thread(first.call, "POST", "/api/v1/broadcasts", {
            "name": "Sale", "segment_id": seg["id"],
            "subject_a": "Sale for {{ contact.first_name }}", "body": "Half price."})
        members = [r["id"] for r in await conn.fetch(
            "SELECT id FROM contacts WHERE email LIKE 'c%@customer.test'")]
        assert len(members) == AUDIENCE
        keys = {f"bc:{bc['id']}:{c}" for c in members}
        victim, died = await _kill_one_mid_send(cluster, len(keys))
        victim_pid = victim.proc.pid if victim.proc else 0
        await _wait_for(conn, f"SELECT count(*) FROM broadcasts WHERE id = {bc['id']} "
                              "AND state = 'sent'", 1, "broadcast sent")
        twice = _check_deliveries(sink, keys, victim_pid, died,
                                  broadcasts.BroadcastRunner(None).concurrency)  # type: ignore[arg-type]
        await _wait_for(conn, "SELECT count(*) FROM mail_sends WHERE state = 'sent'",
                        len(keys), "mails recorded as sent")
        assert {r["key"] for r in await conn.fetch("SELECT key FROM mail_sends")} == keys
        counts = sink.by_pid()
        print(f"\n{len(keys)} broadcast mails, {len(sink.got)} deliveries by process "
              f"{dict(counts)}; killed {victim_pid}, {len(twice)} in flight at the kill "
              f"resent with the same Message-ID")
    finally:
        await conn.close()
        await _stop(cluster)
        controller.stop()
