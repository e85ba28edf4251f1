"""One long-running task per enabled account of a channel (Telegram polling, an IMAP
mailbox), kept in step with the accounts table: started for a new account, restarted
when its connection settings change, stopped when it is disabled, without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any

from bot.core.channel import AccountInfo, ChannelContext

log = logging.getLogger("switchboard.channels")


@dataclass
class _Running:
    key: Hashable  # the settings the loop was started with: a change restarts it
    task: asyncio.Task[None]


class AccountLoops:
    def __init__(self, ctx: ChannelContext, kind: str,
                 key: Callable[[AccountInfo], Hashable],
                 run: Callable[[AccountInfo], Coroutine[Any, Any, None]]) -> None:
        self.ctx, self.kind, self.key, self.run = ctx, kind, key, run
        self.running: dict[int, _Running] = {}
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self) -> None:
        tasks = [r.task for r in self.running.values()]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        # Cancel until they are done: on Python 3.11 a cancel that lands as an inner
        # ``wait_for`` completes can be swallowed, and a loop that swallowed it would go
        # back to waiting on its server (an IMAP IDLE: many minutes), holding up shutdown.
        for _ in range(50):
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=0.2)
        for t in tasks:
            if t.done() and not t.cancelled():
                with contextlib.suppress(Exception):
                    t.result()
        self.running.clear()

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
        for acct_id in list(self.running):
            want = accounts.get(acct_id)
            if want is None or self.key(want) != self.running[acct_id].key:
                self.running.pop(acct_id).task.cancel()
        for acct_id, account in accounts.items():
            if acct_id not in self.running:
                self.running[acct_id] = _Running(
                    self.key(account),
                    asyncio.get_running_loop().create_task(self.run(account)))
