"""Alerts for staff: a negative spike, a review close to its 24-hour deadline.

Each alert has a key (the spike's rule and first hour, the review's id) stored unique, so
one spike or one review gives one alert however many processes or ticks notice it. An
alert is always kept for the web inbox (``/alerts``, and live over the staff websocket),
and sent to the staff Telegram chats and, when ``alert_email`` is set, by e-mail.
Staff read them with :func:`recent`, :func:`mark_read` and :func:`mark_all_read`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.models import StaffAlert
from listening.errors import Missing

log = logging.getLogger("switchboard.alerts")
Sender = Callable[[str], Awaitable[Any]]


class Alerter:
    """``chat``: posts a text to the staff chats (``StaffNotifier.announce``); ``mail``:
    sends (subject, text) to the shop's alert address; ``live``: pushes a payload to the
    staff inboxes open in browsers. Each is optional."""

    def __init__(self, chat: Sender | None = None,
                 mail: Callable[[str, str], Awaitable[Any]] | None = None,
                 live: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
                 base_url: str = "") -> None:
        self.chat, self.mail, self.live, self.base_url = chat, mail, live, base_url

    async def raise_(self, kind: str, key: str, title: str, text: str, link: str,
                     data: dict[str, Any] | None = None) -> StaffAlert | None:
        """Store the alert and send it; None when an alert with this key exists."""
        try:
            alert = await StaffAlert.create(kind=kind, key=key, title=title[:300], text=text,
                                            link=link, data=data or {})
        except IntegrityError:
            return None
        url = self.base_url.rstrip("/") + link
        sent = ["inbox"]
        if self.live is not None:
            await self.live({"type": "alert", "id": alert.id, "kind": kind, "title": title[:300],
                             "link": link})
        if self.chat is not None:
            try:
                if await self.chat(f"{title}\n\n{text}\n{url}"):
                    sent.append("telegram")
            except Exception:
                log.exception("alert not sent to the staff chat", extra={"alert": alert.id})
        if self.mail is not None:
            try:
                await self.mail(title, f"{text}\n\n{url}\n")
                sent.append("email")
            except Exception:
                log.exception("alert not sent by e-mail", extra={"alert": alert.id})
        alert.sent_to = sent
        await alert.save(update_fields=["sent_to"])
        return alert


async def recent(limit: int = 100) -> list[StaffAlert]:
    """The newest alerts first."""
    return await StaffAlert.all().order_by("-id").limit(limit)


async def mark_read(alert_id: int) -> None:
    if not await StaffAlert.filter(id=alert_id).update(read_at=datetime.now(UTC)):
        raise Missing("alert", "alert_id")


async def mark_all_read() -> int:
    """Mark every unread alert read; how many were."""
    return int(await StaffAlert.filter(read_at=None).update(read_at=datetime.now(UTC)))


async def unread_count() -> int:
    return await StaffAlert.filter(read_at=None).count()
