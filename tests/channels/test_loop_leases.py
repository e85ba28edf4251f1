"""Two server processes on one real PostgreSQL and one Telegram bot in polling mode (the
fake Bot API, which answers 409 Conflict to overlapping getUpdates as Telegram does):
only the process holding the lease ``loop:telegram:<id>`` polls, so there is no 409,
and every message sent to the bot is stored once. When the holder is killed with
SIGKILL, the other process takes the loop over once the lease lapsed
(``loop_lease_seconds``) and messages sent after the kill arrive. The same with one
IMAP mailbox on the real Dovecot: one IMAP session at a time, each mail stored once."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.core.channel import AccountInfo, ChannelContext
from bot.core.console import database
from bot.core.leases import acquire, holder_of
from channels.loops import AccountLoops
from config import Settings
from tests.conftest import Postgres, ServerProcess
from tests.fakes.telegram_api import FakeTelegram
from tests.mailserver import MailServer

pytestmark = pytest.mark.slow  # two server processes on PostgreSQL

TOKEN = "5151:leased"
LEASE = 3.0  # loop_lease_seconds in this test: the takeover bound after a SIGKILL


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not reached in {timeout} s"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("how", ["kill", "freeze"])
async def test_one_process_polls_and_the_other_takes_over(tmp_path: Path, postgres: Postgres,
                                                         aiohttp_server: Any, how: str) -> None:
    """``kill``: the holder gets SIGKILL. ``freeze``: it gets SIGSTOP for several lease
    periods, the other takes over, then SIGCONT: the woken holder finds its lease past
    its deadline and makes no getUpdates call (no 409), and the survivor keeps it."""
    fake = FakeTelegram()
    bot = fake.add_bot(TOKEN)
    api = await aiohttp_server(fake.app())
    url = postgres.create_db(migrated=True)
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_CHANNEL_REFRESH_SECONDS": "0.5", "SWITCHBOARD_TELEGRAM_POLL_TIMEOUT": "1",
           "SWITCHBOARD_LOOP_LEASE_SECONDS": str(LEASE), "SWITCHBOARD_SENTIMENT_ENABLED": "false"}
    servers = [ServerProcess(tmp_path / f"s{i}", **env) for i in range(2)]
    await asyncio.to_thread(servers[0].start)  # seeds the shop (the database came migrated)
    db = await asyncpg.connect(url)
    frozen: int | None = None
    try:
        await asyncio.to_thread(servers[1].start)
        servers[1].seed = servers[0].seed
        account = await asyncio.to_thread(servers[0].call, "POST", "/api/v1/channels", {
            "kind": "telegram", "name": "shop",
            "settings": {"token": TOKEN, "api_base_url": str(api.make_url("")).rstrip("/")}})
        lease = f"loop:telegram:{account['id']}"

        async def stored() -> list[str]:
            rows = await db.fetch(
                "SELECT text FROM messages WHERE channel_account_id = $1 "
                "AND direction = 'in' ORDER BY id", account["id"])
            return [r["text"] for r in rows]

        async def holder_pid() -> int | None:
            row = await db.fetchrow("SELECT holder FROM leases WHERE name = $1 "
                                    "AND until >= now()", lease)
            return int(row["holder"].split(":")[1]) if row else None

        sent: list[str] = []

        def send(n: int) -> None:
            for _ in range(n):
                text = f"hello {len(sent)}"
                sent.append(text)
                fake.push(TOKEN, fake.private_message(100 + len(sent), text))

        # Both processes run long enough for each to try the loop many times over (the
        # non-holder tries every LEASE/3 s): they would overlap on getUpdates if both polled.
        await until(lambda: asyncio.sleep(0, bot.polls >= 3), 60, "polling started")
        for _ in range(10):
            send(1)
            await asyncio.sleep(0.3)

        async def all_stored() -> bool:
            return sorted(await stored()) == sorted(sent)
        await until(all_stored, 60, "messages stored")
        polls = bot.polls
        await until(lambda: asyncio.sleep(0, bot.polls >= polls + 3 * LEASE), 120,
                    "polling went on")
        assert bot.conflicts == 0, f"{bot.conflicts} getUpdates ended in 409 Conflict"
        pids = {s.proc.pid: s for s in servers if s.proc is not None}
        holder = await holder_pid()
        assert holder in pids
        assert len(await stored()) == len(sent)  # each once

        # The holder dies (or freezes) without releasing its lease; the other takes over
        # once it lapsed.
        killed_at = time.monotonic()
        if how == "kill":
            pids[holder].kill()
        else:
            os.kill(holder, signal.SIGSTOP)
            frozen = holder
        send(5)
        survivor = next(pid for pid in pids if pid != holder)

        async def taken_over() -> bool:
            return await holder_pid() == survivor
        await until(taken_over, LEASE + 60, "the survivor holds the lease")
        print(f"takeover after {time.monotonic() - killed_at:.1f} s (lease {LEASE} s)")
        await until(all_stored, 60, "messages sent after the kill stored")
        if how == "freeze":  # the old holder wakes up past its lease
            os.kill(holder, signal.SIGCONT)
            frozen = None
            send(5)
            await until(all_stored, 60, "messages sent after the thaw stored")
            polls = bot.polls
            await until(lambda: asyncio.sleep(0, bot.polls >= polls + 3 * LEASE), 120,
                        "polling went on")
            assert await holder_pid() == survivor
        assert len(await stored()) == len(sent)
        polls = bot.polls
        await until(lambda: asyncio.sleep(0, bot.polls >= polls + 3), 60, "survivor polls")
        assert bot.conflicts == 0, f"{bot.conflicts} getUpdates ended in 409 Conflict"
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        await db.close()
        for srv in servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()


def imap_sessions(mail: MailServer, address: str) -> int:
    """How many IMAP sessions Dovecot has open for ``address`` now (doveadm who)."""
    out = subprocess.run(["/usr/bin/doveadm", "-c", str(mail.dovecot_conf), "who", "-1",
                          address], capture_output=True, text=True, timeout=30).stdout
    return sum(1 for line in out.splitlines()
               if line.split() and line.split()[0] == address and " imap " in f" {line} ")


async def test_one_process_reads_a_mailbox(tmp_path: Path, postgres: Postgres,
                                           mailserver: MailServer) -> None:
    """Two processes, one IMAP mailbox: one IMAP session at a time, each mail stored
    once, and the other process reads it after the holder is killed."""
    url = postgres.create_db(migrated=True)
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_SECRET_KEY": secrets.token_hex(32),
           "SWITCHBOARD_CHANNEL_REFRESH_SECONDS": "0.5",
           "SWITCHBOARD_LOOP_LEASE_SECONDS": str(LEASE), "SWITCHBOARD_SENTIMENT_ENABLED": "false"}
    servers = [ServerProcess(tmp_path / f"s{i}", **env) for i in range(2)]
    await asyncio.to_thread(servers[0].start)
    db = await asyncpg.connect(url)
    most = 0
    sampling = True

    async def sample() -> None:
        nonlocal most
        while sampling:
            most = max(most, await asyncio.to_thread(imap_sessions, mailserver, address))
            await asyncio.sleep(0.1)
    sampler: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(servers[1].start)
        servers[1].seed = servers[0].seed
        address = mailserver.add_user(f"shop-{secrets.token_hex(4)}@shop.test")
        account = await asyncio.to_thread(servers[0].call, "POST", "/api/v1/channels", {
            "kind": "email", "name": "Shop mail", "settings": {
                "address": address, "imap_host": "127.0.0.1",
                "imap_port": mailserver.imap_port, "imap_tls": "none", "imap_user": address,
                "imap_password": "secret", "smtp_host": "127.0.0.1",
                "smtp_port": mailserver.smtp_port, "smtp_tls": "none"}})
        lease = f"loop:email:{account['id']}"
        sampler = asyncio.get_running_loop().create_task(sample())
        sender = mailserver.add_user(f"ann-{secrets.token_hex(4)}@customer.test")
        sent: list[str] = []

        def send(n: int) -> None:
            for _ in range(n):
                mail = EmailMessage()
                mail["From"], mail["To"] = sender, address
                mail["Subject"] = subject = f"question {len(sent)}"
                mail["Message-ID"] = make_msgid(domain="customer.test")
                mail.set_content(f"body of {subject}")
                sent.append(subject)
                mailserver.send(mail)

        async def stored() -> list[str]:
            rows = await db.fetch(
                "SELECT meta FROM messages WHERE channel_account_id = $1 "
                "AND direction = 'in'", account["id"])
            return [json.loads(r["meta"])["subject"] for r in rows]

        async def all_stored() -> bool:
            return sorted(await stored()) == sorted(sent)

        async def holder_pid() -> int | None:
            row = await db.fetchrow("SELECT holder FROM leases WHERE name = $1 "
                                    "AND until >= now()", lease)
            return int(row["holder"].split(":")[1]) if row else None

        await asyncio.to_thread(send, 5)
        await until(all_stored, 60, "mails stored")
        checks = 0

        async def sampled_a_while() -> bool:
            nonlocal checks
            checks += 1
            # polled every 0.2 s: both processes try to take the mailbox a few times over
            return checks > 5 * LEASE
        await until(sampled_a_while, 120, "sampling")
        assert most == 1, f"{most} IMAP sessions at once on one mailbox"
        holder = await holder_pid()
        pids = {s.proc.pid: s for s in servers if s.proc is not None}
        assert holder in pids
        pids[holder].kill()
        await asyncio.to_thread(send, 3)
        survivor = next(pid for pid in pids if pid != holder)

        async def taken_over() -> bool:
            return await holder_pid() == survivor
        await until(taken_over, LEASE + 60, "the survivor holds the lease")
        await until(all_stored, 60, "mails sent after the kill stored")
        stored_now = await stored()
        assert len(stored_now) == len(set(stored_now)) == len(sent)  # each once
        assert most == 1, f"{most} IMAP sessions at once on one mailbox"
    finally:
        sampling = False
        if sampler is not None:
            await sampler
        await db.close()
        for srv in servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()


# --- the per-account driver in one process (channels/loops.py), on SQLite and PostgreSQL


@pytest.fixture
async def db(any_db: Settings) -> AsyncIterator[Settings]:
    async with database(any_db):
        yield any_db


def context(settings: Settings, accounts: list[AccountInfo]) -> ChannelContext:
    async def unused(*_: Any) -> Any:
        raise AssertionError("not used here")

    async def listed(_kind: str) -> list[AccountInfo]:
        return list(accounts)
    return ChannelContext(ingest=unused, settings=settings, get_account=unused,
                          render=lambda *_: "", contact_history=unused,
                          update_contact=unused, list_accounts=listed)


def mailbox(version: str) -> AccountInfo:
    return AccountInfo(id=4, kind="email", name="m", callback_url="",
                       settings={"host": version}, secret="s")


async def test_a_changed_account_s_old_loop_ends_before_the_new_one_starts(
        db: Settings) -> None:
    events: list[str] = []

    async def run(account: AccountInfo) -> None:
        version = account.settings["host"]
        events.append(f"start {version}")
        try:
            await asyncio.sleep(3600)
        finally:
            try:
                await asyncio.sleep(0.3)  # logging out of the old IMAP session
            finally:
                events.append(f"end {version}")

    accounts = [mailbox("v1")]
    loops = AccountLoops(context(db, accounts), "email", lambda a: a.settings["host"], run,
                         holder="proc-a")
    try:
        await loops.refresh()
        await until(lambda: asyncio.sleep(0, events == ["start v1"]), 60, "v1 runs")
        accounts[:] = [mailbox("v2")]  # its connection settings changed
        await loops.refresh()
        await until(lambda: asyncio.sleep(0, "start v2" in events), 60, "v2 runs")
        assert events == ["start v1", "end v1", "start v2"]  # never both at once
    finally:
        await loops.stop()


async def test_a_dead_holder_s_loop_is_taken_just_after_its_lease_lapses(
        db: Settings) -> None:
    """The waiting driver retries at the lease's ``until`` (plus a short RETRY), not a
    third of its own lease later: with a 600 s lease of its own it still takes a dead
    holder's 2 s lease within a minute."""
    assert await acquire("loop:email:4", "dead", 2.0)  # its holder dies now
    started: list[str] = []

    async def run(account: AccountInfo) -> None:
        started.append(account.settings["host"])
        await asyncio.sleep(3600)

    settings = db.with_(loop_lease_seconds=600.0)
    loops = AccountLoops(context(settings, [mailbox("v1")]), "email",
                         lambda a: a.settings["host"], run, holder="proc-b")
    try:
        await loops.refresh()
        await until(lambda: asyncio.sleep(0, started == ["v1"]), 60,
                    "the waiting process runs the loop")
        assert await holder_of("loop:email:4") == "proc-b"
    finally:
        await loops.stop()
