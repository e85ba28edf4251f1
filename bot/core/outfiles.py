"""Files staff attach to a reply, as an adapter gets them, the sizes its channel takes, and
the parts of a reply that already went out.

A channel declares what it takes on its adapter class (:class:`FileLimits`,
``file_limits``); a reply whose files exceed it is refused before anything is kept or
stored (:func:`bot.services.attachments.check_sizes`), instead of failing at the channel.

A reply with files goes out in several requests on most channels (Telegram and Messenger
carry one file a message). The outbox delivers at least once, so each part is sent
through :meth:`SentParts.once`: a part that went out on an earlier attempt (recorded in
the message's row, ``meta["sent_parts"]``, as soon as the channel took it) is not sent
again, so a retry after a crash or a failure halfway sends only what is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.attachments import INLINE_IMAGES

MAX_REPLY_FILES = 5  # files one reply may carry
TEXT_PART = "text"


@dataclass(frozen=True)
class FileLimits:
    """The bytes a channel takes in the files of one reply (None: no limit of its own; the
    shop's ``attachment_max_bytes`` always applies)."""

    per_file: int | None = None  # one file
    total: int | None = None  # all the files of one reply together (one e-mail)


NO_FILE_LIMITS = FileLimits()


@dataclass(frozen=True)
class OutboundFile:
    """One stored file of a reply (``message_attachments`` row ``id``), read from ``path``."""

    id: int
    file_name: str
    content_type: str
    size: int
    path: Path = field(repr=False)

    @property
    def is_image(self) -> bool:
        """A picture a chat app can show inline (JPEG, PNG, GIF, WebP)."""
        return self.content_type in INLINE_IMAGES

    @property
    def part(self) -> str:
        """Its key in :class:`SentParts`."""
        return f"file:{self.id}"

    def read(self) -> bytes:
        return self.path.read_bytes()


Record = Callable[[str, str], Awaitable[None]]


class SentParts:
    """The parts of one reply already delivered (part key -> the channel's id of it), and
    how to record one more. Without ``record`` (a test, a one-part channel) it only
    remembers in memory."""

    def __init__(self, done: Mapping[str, str] | None = None,
                 record: Record | None = None) -> None:
        self.done = dict(done or {})
        self._record = record

    async def once(self, part: str, send: Callable[[], Awaitable[str]]) -> str:
        """The channel's id of ``part``: sent now, unless an earlier attempt sent it."""
        if part in self.done:
            return self.done[part]
        external_id = await send()
        self.done[part] = external_id
        if self._record is not None:
            await self._record(part, external_id)
        return external_id
