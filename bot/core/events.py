"""A small event bus: in-process, and across processes on PostgreSQL.

Publishing never blocks the publisher and never lets one consumer's failure reach it or
another consumer: each handler runs in its own task, held in a set until it finishes
(the loop keeps only weak references to tasks). Events are fired *after* the data they
describe is committed, so a consumer can always re-read it.

A handler runs in the publishing process only, unless it is subscribed with
``everywhere=True``: then it runs in every process when the event is published in any of
them. Only event types that declare ``crosses = True`` (small, ids only) may have such
handlers; when a relay is attached (:mod:`bot.core.relay`, LISTEN/NOTIFY on PostgreSQL),
publishing one also tells the other processes, which run their ``everywhere`` handlers.
Delivery to other processes is best-effort (a process that is down or reconnecting misses
it); what must not be lost is durable elsewhere (rows, the outbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

log = logging.getLogger("switchboard.events")


EVENT_TYPES: dict[str, type[Event]] = {}  # by class name: how a relay names an event


@dataclass(frozen=True)
class Event:
    # Whether other processes hear of it (``subscribe(..., everywhere=True)``). Such an
    # event's fields are small JSON values (ids, short strings): never message text.
    crosses: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        EVENT_TYPES[cls.__name__] = cls


@dataclass(frozen=True)
class MessageReceived(Event):
    crosses: ClassVar[bool] = True
    message_id: int
    conversation_id: int
    channel_kind: str
    new_conversation: bool = False
    account_id: int = 0


@dataclass(frozen=True)
class MessageScored(Event):
    """An inbound message's sentiment was stored (automation rules may act on it)."""

    message_id: int
    conversation_id: int
    label: str


@dataclass(frozen=True)
class MessageStored(Event):
    """An outbound message was stored, or its delivery status changed."""

    crosses: ClassVar[bool] = True
    message_id: int
    conversation_id: int


@dataclass(frozen=True)
class ConversationChanged(Event):
    crosses: ClassVar[bool] = True
    conversation_id: int
    what: str  # "status", "assignee", "labels", "note", "read", "contact"


@dataclass(frozen=True)
class ConversationResolved(Event):
    """A conversation became resolved (it was not before)."""

    conversation_id: int


@dataclass(frozen=True)
class HandoffRequested(Event):
    """The customer asked for a person; staff should be told."""

    conversation_id: int


@dataclass(frozen=True)
class PostFailed(Event):
    """A post gave up (or stopped, its outcome unknown): a person must look at it.
    Published once per failure, by the process whose move won (``event_id`` is that
    move's record, so a consumer can tell one failure from the next)."""

    post_id: int
    event_id: int
    reason: str


@dataclass(frozen=True)
class PostMissed(Event):
    """A post fell due while no server was running, past the grace: it was not sent."""

    post_id: int
    event_id: int
    reason: str


@dataclass(frozen=True)
class LiveUpdate(Event):
    """A small payload for every staff inbox open in a browser (``StaffHub.broadcast``),
    e.g. an alert: its id, kind, title and link."""

    crosses: ClassVar[bool] = True
    payload: dict[str, Any]


@dataclass(frozen=True)
class StaffTyping(Event):
    """A staff member is writing a reply or a note in a conversation (``stop``: no longer):
    the other staff with that conversation open see "<name> is replying…"."""

    crosses: ClassVar[bool] = True
    conversation_id: int
    user_id: int
    name: str  # the typer's display name (at most 254 characters: a name or an e-mail)
    stop: bool = False


@dataclass(frozen=True)
class SocketPush(Event):
    """An outbound message was delivered to a contact whose sockets may be held by another
    process (web chat): the holder loads the message and pushes it."""

    crosses: ClassVar[bool] = True
    channel_kind: str
    account_id: int
    contact: str  # the contact's external id on that account
    message_id: int


@dataclass(frozen=True)
class DemoRemoved(Event):
    """The demo content was removed: every process drops the staff pages' banner."""

    crosses: ClassVar[bool] = True


@dataclass(frozen=True)
class RelayResumed(Event):
    """This process's relay connected again after losing its connection: what the other
    processes published meanwhile was missed here. Holders of live sockets close them
    (1012), so their clients reconnect and catch up (a page refetches, a widget reloads
    its history)."""


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class _Sub:
    handler: Handler
    when: Callable[[Any], bool] | None
    everywhere: bool


class EventBus:
    """Publish/subscribe. Each interested handler runs in its own task, so a slow one (a
    Telegram call, a database write) delays no other.

    A handler may pass ``when``, a cheap synchronous test of the event: when it says no,
    no task is made. Ingest publishes on every message, and on a busy webhook the tasks
    of handlers with nothing to do (no staff page open, nothing to listen for) were a
    tenth of the request's cost.

    ``everywhere=True``: the handler runs in every process (here, and in the others when
    a relay is attached); without it, only in the process that publishes (automation,
    post outcomes: once, however many processes there are)."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[_Sub]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by a relay while it runs: sends a crossing event to the other processes.
        self.relay: Callable[[Event], None] | None = None

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]],
                  when: Callable[[E], bool] | None = None, *,
                  everywhere: bool = False) -> None:
        if everywhere and not event_type.crosses:
            raise ValueError(f"{event_type.__name__} does not cross processes")
        self._handlers[event_type].append(_Sub(handler, when, everywhere))

    def publish(self, event: Event, *, here: bool = True) -> None:
        """Run this process's handlers (``here=False``: none of them) and, for an event
        type that crosses, tell the other processes (their ``everywhere`` handlers)."""
        if here:
            self._start(event, everywhere_only=False)
        if self.relay is not None and event.crosses:
            self.relay(event)

    def receive(self, event: Event) -> None:
        """An event published by another process: run the ``everywhere`` handlers."""
        self._start(event, everywhere_only=True)

    def _start(self, event: Event, everywhere_only: bool) -> None:
        for sub in self._handlers.get(type(event), ()):
            if everywhere_only and not sub.everywhere:
                continue
            if sub.when is not None and not sub.when(event):
                continue
            task = asyncio.get_running_loop().create_task(self._run(sub.handler, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(handler: Handler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("event handler failed", extra={"event": type(event).__name__})

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for handlers in flight (used on shutdown and in tests); cancel the ones
        still running after ``timeout``, so that none of them goes on into a database
        that shutdown is about to close. What a cancelled handler had left undone is
        work the clock's jobs pick up (the listening sweep scores a message whose
        scoring was cut short)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
        if late:
            log.warning("event handlers still running at shutdown were cancelled",
                        extra={"handlers": len(late)})
            for task in late:
                task.cancel()
            await asyncio.wait(late)
