"""Sending many mails through one SMTP account: a few connections kept open and reused
(a new connection, TLS and login per mail is most of the cost), at most ``concurrency``
mails in flight, and at most ``rate_per_sec`` mails a second (many providers throttle
or block above their limit).

Account settings: ``concurrency`` (default 4) and ``rate_per_sec`` (default 20; 0 means
no limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib

DEFAULT_CONCURRENCY = 4
DEFAULT_RATE = 20.0


class RateLimit:
    """A token bucket: ``rate`` tokens a second, a burst of one second's worth. The clock
    and the sleep are injectable (tests count sleeps instead of taking them)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens = max(rate, 1.0)
        self.stamp = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(max(self.rate, 1.0),
                                  self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1 - 1e-9:  # float rounding must not leave it a hair short
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                await self.sleep((1 - self.tokens) / self.rate)


class SmtpPool:
    """Open SMTP connections of one account, reused mail after mail."""

    def __init__(self, connect: Callable[[], aiosmtplib.SMTP], login: tuple[str, str] | None,
                 concurrency: int, rate: float,
                 check: Callable[[], Awaitable[None]] | None = None) -> None:
        self._connect, self._login = connect, login
        self._check = check  # before each new connection (the outbound policy)
        self.gate = asyncio.Semaphore(max(1, concurrency))
        self.limit = RateLimit(rate)
        self._idle: list[aiosmtplib.SMTP] = []

    async def _open(self) -> aiosmtplib.SMTP:
        while self._idle:
            smtp = self._idle.pop()
            if smtp.is_connected:
                return smtp
        if self._check is not None:
            await self._check()
        smtp = self._connect()
        await smtp.connect()
        if self._login:
            await smtp.login(*self._login)
        return smtp

    async def send(self, mail: EmailMessage | tuple[str, str, bytes]) -> None:
        """Send one mail (a message, or sender, recipient and the raw bytes); errors are
        aiosmtplib's (the connection is then dropped)."""
        async with self.gate:
            await self.limit.take()
            smtp = await self._open()
            try:
                if isinstance(mail, tuple):
                    await smtp.sendmail(mail[0], [mail[1]], mail[2])
                else:
                    await smtp.send_message(mail)
            except aiosmtplib.SMTPRecipientsRefused:
                await _reset(smtp)
                self._idle.append(smtp)  # the connection is fine; the address is not
                raise
            except BaseException:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
            self._idle.append(smtp)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            with contextlib.suppress(Exception):
                await smtp.quit()
            with contextlib.suppress(Exception):
                smtp.close()  # QUIT failed or was not answered: the socket goes anyway


async def _reset(smtp: Any) -> None:
    with contextlib.suppress(Exception):
        await smtp.rset()
