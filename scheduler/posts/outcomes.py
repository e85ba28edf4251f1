"""Telling staff when a post fails or is missed: the publisher publishes ``PostFailed`` and
``PostMissed`` on the bus; :func:`subscribe` turns each into one staff alert (kept for the
web inbox's alerts, pushed live to open inboxes, posted to the staff chats). The alert's
key is the post's move record, so one failure is one alert even if the event were heard
twice; a later failure of the same post (after a retry) is a new one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.events import EventBus, PostFailed, PostMissed

# (kind, key, title, text, link) -> the alert (None when one with this key exists):
# listening.alerts.Alerter.raise_.
RaiseAlert = Callable[[str, str, str, str, str], Awaitable[object]]


def subscribe(bus: EventBus, raise_alert: RaiseAlert) -> None:
    async def failed(event: PostFailed) -> None:
        await raise_alert("post_failed", f"post:{event.post_id}:{event.event_id}",
                          f"❌ Post #{event.post_id} failed",
                          event.reason, f"/posts/{event.post_id}")

    async def missed(event: PostMissed) -> None:
        await raise_alert("post_missed", f"post:{event.post_id}:{event.event_id}",
                          f"⏰ Post #{event.post_id} was missed",
                          f"{event.reason}. Reschedule it or cancel it.",
                          f"/posts/{event.post_id}")

    bus.subscribe(PostFailed, failed)
    bus.subscribe(PostMissed, missed)
