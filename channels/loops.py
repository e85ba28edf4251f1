"""One long-running task per enabled account of a channel (Telegram polling, an IMAP
mailbox), kept in step with the accounts table: started for a new account, restarted
when its connection settings change, stopped when it is disabled, without a restart.

With several processes on one database, an account's loop runs in one process at a
time: the one holding the lease ``loop:<kind>:<account id>`` (:mod:`bot.core.leases`).
Every process keeps a small driver per account that takes the lease when it is free (a
refused driver tries again just after the lease's ``until``); the holder runs the loop
and renews the lease every third of ``loop_lease_seconds``.
The loop is cancelled the moment a renewal finds another holder or the lease's local
deadline passes without a renewal, and a loop can check :func:`lease_live` before each
remote call (Telegram's ``poll`` does), so a holder that was frozen past its lease makes
no new call when it wakes. A holder that dies is replaced within ``loop_lease_seconds``
and a second (:data:`bot.core.leases.RETRY`);
one that stops cleanly releases its leases, so another takes over at once.

Accounts that need no loop of their own (``leased(account)`` False: a Telegram bot in
webhook mode only registers its webhook, which every process may do) run unleased.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from bot.core.channel import AccountInfo, ChannelContext
from bot.core.leases import HOLDER, Holding, cancel_and_wait

log = logging.getLogger("switchboard.channels")

_LEASE: contextvars.ContextVar[Holding | None] = contextvars.ContextVar(
    "account_loop_lease", default=None)


def lease_live() -> bool:
    """Inside an account loop: True while this process surely holds its lease (always
    True for an unleased loop). Check it before each call to the remote account."""
    held = _LEASE.get()
    return held is None or held.live()


@dataclass
class _Running:
    key: Hashable  # the settings the loop was started with: a change restarts it
    task: asyncio.Task[None]  # the loop, or the driver that holds its lease and runs it
    inner: list[asyncio.Task[None]] = field(default_factory=list)  # the leased loop


class AccountLoops:
    def __init__(self, ctx: ChannelContext, kind: str,
                 key: Callable[[AccountInfo], Hashable],
                 run: Callable[[AccountInfo], Coroutine[Any, Any, None]],
                 leased: Callable[[AccountInfo], bool] = lambda account: True,
                 holder: str = HOLDER) -> None:
        self.ctx, self.kind, self.key, self.run = ctx, kind, key, run
        self.leased, self.holder = leased, holder
        self.running: dict[int, _Running] = {}
        self.holding: dict[int, Holding] = {}  # the leases of leased accounts
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self) -> None:
        tasks = [t for r in self.running.values() for t in (r.task, *r.inner)]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        # Cancel until they are done: on Python 3.11 a cancel that lands as an inner
        # ``wait_for`` completes can be swallowed, and a loop that swallowed it would go
        # back to waiting on its server (an IMAP IDLE: many minutes), holding up shutdown.
        await asyncio.gather(*(cancel_and_wait(t) for t in tasks))
        self.running.clear()
        # Then hand the leases over at once (a restart need not wait for them to lapse).
        holding, self.holding = list(self.holding.values()), {}
        await asyncio.gather(*(h.release() for h in holding if h.deadline))

    async def _supervise(self) -> None:
        every = self.ctx.settings.channel_refresh_seconds
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("account refresh failed", extra={"kind": self.kind})
            await asyncio.sleep(every)

    async def refresh(self) -> None:
        accounts = {a.id: a for a in await self.ctx.list_accounts(self.kind)}
        stopped: list[asyncio.Task[None]] = []
        for acct_id in list(self.running):
            want = accounts.get(acct_id)
            if want is None or self.key(want) != self.running[acct_id].key:
                gone = self.running.pop(acct_id)
                stopped += (gone.task, *gone.inner)
        # The old loops end before new ones start: a changed account's old loop and its
        # new one never overlap (two getUpdates calls: a 409; two IMAP sessions).
        for t in stopped:
            t.cancel()
        await asyncio.gather(*(cancel_and_wait(t) for t in stopped))
        loop = asyncio.get_running_loop()
        for acct_id, account in accounts.items():
            if acct_id not in self.running:
                inner: list[asyncio.Task[None]] = []
                task = (loop.create_task(self._drive(account, inner))
                        if self.leased(account) else loop.create_task(self.run(account)))
                self.running[acct_id] = _Running(self.key(account), task, inner)

    async def _drive(self, account: AccountInfo, inner: list[asyncio.Task[None]]) -> None:
        """Hold the account's lease and run its loop while it is held; when it is not
        (another process holds it, or it was lost), try again just after it lapses."""
        ttl = self.ctx.settings.loop_lease_seconds
        held = self.holding.setdefault(
            account.id, Holding(f"loop:{self.kind}:{account.id}", ttl, self.holder))
        extra = {"kind": self.kind, "account": account.id}
        while True:
            try:
                got = await held.take()
            except Exception as exc:  # the database: try again
                log.warning("loop lease not taken", extra={**extra,
                                                           "error": type(exc).__name__})
                got = False
            if not got:  # another holds it: try again just after its lease lapses
                await asyncio.sleep(await held.retry_in())
                continue
            log.info("loop lease taken; loop starts", extra=extra)
            token = _LEASE.set(held)
            try:
                task = asyncio.get_running_loop().create_task(self.run(account))
            finally:
                _LEASE.reset(token)
            inner[:] = [task]
            try:
                ended = await held.keep(task)
            finally:
                if not task.done():
                    task.cancel()
            await cancel_and_wait(task)
            inner.clear()
            if ended:  # the loop ended by itself (refused settings): not run again
                if not task.cancelled() and task.exception() is not None:
                    log.error("account loop failed", exc_info=task.exception(), extra=extra)
                await held.release()
                return
            log.warning("loop lease lost; loop stopped", extra=extra)
            await asyncio.sleep(await held.retry_in())
