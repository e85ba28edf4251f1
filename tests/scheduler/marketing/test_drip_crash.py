"""2,000 drip steps due; the server is killed with SIGKILL mid-send and restarted.

Checked in a local SMTP sink (aiosmtpd): every (enrolment, step) arrives, each with one
Message-ID only (derived from its idempotency key), and the mails the kill caught in
flight, resent on restart, carry the same Message-ID as their first copy: the same mail,
which mail systems treat as one, never a second different one. Every MailSend ends sent.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from scheduler.marketing import drips
from tests.conftest import ServerProcess, free_port

pytestmark = pytest.mark.slow  # a server process killed mid-send

N = 2000
CONCURRENCY = 8  # SMTP connections of the account


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []  # (idempotency key, Message-ID)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(0.005)  # a real server's pace: sends are in flight at the kill
        headers = dict(line.split(": ", 1) for line in envelope.content.decode(
            errors="replace").split("\r\n\r\n", 1)[0].replace("\r\n ", " ").split("\r\n")
            if ": " in line)
        self.got.append((headers.get("X-Switchboard", ""), headers.get("Message-ID", "")))
        return "250 OK"


def db(srv: ServerProcess) -> sqlite3.Connection:
    return sqlite3.connect(srv.data_dir / "switchboard.sqlite3", timeout=30)


async def test_sigkill_mid_send(tmp_path: Path) -> None:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    srv = ServerProcess(tmp_path / "data", SWITCHBOARD_CLOCK_SECONDS="0.2",
                        SWITCHBOARD_DRIP_LEASE_SECONDS="3")
    await asyncio.to_thread(srv.start)
    try:
        with db(srv) as conn:  # the sink takes mail but has no IMAP: set the account up here
            conn.execute(
                "INSERT INTO channel_accounts (kind, name, secret, callback_url, settings, "
                "enabled, created_at) VALUES ('email', 'Shop mail', 'x', '', ?, 1, "
                "datetime('now'))", (json.dumps({
                    "address": "shop@shop.test", "smtp_host": "127.0.0.1",
                    "smtp_port": port, "smtp_tls": "none", "rate_per_sec": 0,
                    "concurrency": CONCURRENCY}),))
            # The welcome mail after a long wait; once all 2,000 are enrolled, the wait is
            # cut short for all of them at once, so they fall due together.
            conn.execute("UPDATE sequences SET steps = ? WHERE key = 'welcome'", (json.dumps(
                [{"wait": {"minutes": 30}}, {"send": "welcome_1"}]),))
            conn.execute("UPDATE sequences SET enabled = 0 WHERE key != 'welcome'")

        def enrol_all() -> None:
            for i in range(N):
                srv.call("POST", "/api/v1/events", {
                    "id": f"signup-{i}", "type": "signup",
                    "contact": {"email": f"c{i}@customer.test", "name": f"C {i}"}})
        await asyncio.to_thread(enrol_all)

        def waiting() -> int:  # enrolled, and the clock has started their wait
            with db(srv) as conn:
                return int(conn.execute("SELECT count(*) FROM enrollments WHERE step = 0 "
                                        "AND context LIKE '%_waited%'").fetchone()[0])
        for _ in range(600):
            if await asyncio.to_thread(waiting) == N:
                break
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(waiting) == N
        with db(srv) as conn:  # the wait is over for everyone at once
            assert conn.execute("UPDATE enrollments SET due_at = started_at "
                                "WHERE state = 'active' AND step = 0").rowcount == N
        for _ in range(1200):  # kill it in the middle of sending
            if len(sink.got) >= 300:
                break
            await asyncio.sleep(0.05)
        assert 0 < len(sink.got) < N, "the kill should land while sending"
        srv.kill()
        at_kill = len(sink.got)
        await asyncio.to_thread(srv.start)

        def done() -> bool:
            with db(srv) as conn:
                return conn.execute("SELECT count(*) FROM mail_sends WHERE state = 'sent'"
                                    ).fetchone()[0] == N
        for _ in range(600):
            if await asyncio.to_thread(done):
                break
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(done), "every step's mail is recorded as sent"

        def behind() -> int:
            # An enrolment moves past its step just after its mail is recorded as sent
            # (a write of its own), so the last few may still be on their way.
            with db(srv) as conn:
                return int(conn.execute("SELECT count(*) FROM enrollments WHERE step < 2 "
                                        "AND state = 'active'").fetchone()[0])
        for _ in range(100):
            if await asyncio.to_thread(behind) == 0:
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(behind) == 0
        with db(srv) as conn:
            keys = {k for (k,) in conn.execute("SELECT key FROM mail_sends")}
        ids: dict[str, set[str]] = defaultdict(set)
        for key, mid in sink.got:
            ids[key].add(mid)
        assert set(ids) == keys and len(keys) == N, "every (enrolment, step) arrived"
        assert all(len(v) == 1 for v in ids.values()), "one Message-ID per (enrolment, step)"
        again = len(sink.got) - N
        assert again <= drips.CONCURRENCY, "only mails in flight at the kill went twice"
        print(f"\nkilled after {at_kill} mails; {N} steps, {len(sink.got)} deliveries: "
              f"{again} in flight at the kill were resent with the same Message-ID")
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
        controller.stop()
