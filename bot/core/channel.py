"""The channel adapter protocol, the message types every channel shares, and the error tree.

An adapter turns network input into :class:`InboundMessage` and hands it to
``ChannelContext.ingest`` (which is ``bot.services.inbox.Intake.ingest``); it acknowledges the
sender only after that returns, so an acknowledged message is already committed. For
outbound, the core calls :meth:`ChannelAdapter.send` with an :class:`OutboundMessage` and
maps the errors below to a delivery status shown to staff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from bot.core import said
from bot.core.outfiles import FileLimits, OutboundFile, SentParts

if TYPE_CHECKING:
    from aiohttp import ClientSession, web

    from bot.core.events import EventBus
    from config import Settings


@dataclass(frozen=True)
class ContactInfo:
    """Who sent an inbound message, as the channel knows them."""

    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One message from a customer, the same shape for every channel."""

    channel_account_id: int
    external_id: str
    contact: ContactInfo
    text: str
    sent_at: datetime | None = None
    thread_id: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    # A public comment (a group, a post's thread): ``contact`` is the group or page and
    # ``author`` the person who wrote it. None for a private message.
    author: ContactInfo | None = None
    # The customer pressed a button: its payload ("faq:3", "csat:5"); ``text`` is its label.
    payload: str | None = None
    # What the channel knows beyond the text, kept with the message (an e-mail's subject
    # and References), handed back with a reply to it.
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool  # False when the external_id was seen before (a redelivery)
    new_conversation: bool = False  # this message started a conversation


@dataclass(frozen=True)
class Button:
    """A quick reply offered with an outbound message (inline keyboard, widget button)."""

    label: str
    payload: str  # at most 64 bytes (Telegram's callback_data limit)


@dataclass(frozen=True)
class AccountInfo:
    """The parts of a channel account an adapter needs to send. Secret stays out of repr."""

    id: int
    kind: str
    name: str
    callback_url: str
    settings: dict[str, Any]
    secret: str = field(repr=False)


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    conversation_id: int
    account: AccountInfo
    contact_external_id: str
    thread_id: str | None
    text: str
    created_at: datetime
    buttons: tuple[Button, ...] = ()
    # The channel's id of the message this answers (a comment, the last e-mail), and
    # what the channel kept with it (InboundMessage.meta).
    reply_to_external_id: str | None = None
    reply_to_meta: dict[str, Any] = field(default_factory=dict)
    # Files staff attached, and the parts an earlier attempt sent (bot.core.outfiles).
    files: tuple[OutboundFile, ...] = ()
    parts: SentParts = field(default_factory=SentParts)


@dataclass(frozen=True)
class SendResult:
    external_id: str | None = None


# --- error tree -----------------------------------------------------------------------------

class ChannelError(Exception):
    """Base of every error an adapter raises to the core."""


class _Failed(ChannelError):
    """A delivery that did not happen: ``reason`` in English (a row's ``error``), ``said``
    as data a page translates (:mod:`bot.core.said`; a text if the adapter gave one)."""

    def __init__(self, reason: str | said.Said) -> None:
        self.reason, self.said = said.english(reason), reason
        super().__init__(self.reason)


class DeliveryError(_Failed):
    """Sending failed but may work later. ``retry_after`` (seconds) is the peer's wish."""

    def __init__(self, reason: str | said.Said, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(_Failed):
    """Sending failed and retrying cannot help (bad recipient, rejected content)."""


class OutcomeUnknown(_Failed):
    """The request went out and no answer came back (a timeout, a dropped connection):
    the network may have carried it out. Retrying could make a second copy, so callers
    that must not duplicate (publishing) stop and ask a person to check."""


class RecipientUnreachable(PermanentDeliveryError):
    """The customer cannot be reached on this channel any more (e.g. blocked the bot)."""


class AccountSetupError(ChannelError):
    """Credentials or settings were rejected before the account was enabled."""

    code = "invalid_settings"


class InvalidAuth(AccountSetupError):
    code = "invalid_auth"


class CannotConnect(AccountSetupError):
    code = "cannot_connect"


# --- staff working from a chat app ----------------------------------------------------------

@dataclass(frozen=True)
class StaffInput:
    """A command or a reply a staff member (or someone claiming to be one) wrote in a chat
    app: in the staff chat, or a staff command in a private chat with the bot."""

    account_id: int
    chat_id: str
    user_external_id: str  # e.g. the Telegram user id
    user_name: str
    text: str
    in_staff_chat: bool
    # The id of the message this one replies to in that chat (a notification), if any.
    reply_to_external_id: str | None = None
    # This message's own id, unique on the account: a redelivery carries the same one.
    external_id: str = ""
    # Files sent with it (a photo for the interactive /post), as in InboundMessage.
    attachments: tuple[dict[str, Any], ...] = ()
    # A button of a staff exchange was pressed: its payload (starts with FLOW_PREFIX).
    payload: str | None = None
    # The language the chat app says the writer uses (Telegram's ``language_code``): the
    # answer's language when the staff user chose none.
    language: str | None = None


FLOW_PREFIX = "flow:"  # payloads of buttons in a staff exchange (never a customer's)


@dataclass(frozen=True)
class StaffAnswer:
    """What the bot answers staff input with, when it offers buttons to press."""

    text: str
    buttons: tuple[Button, ...] = ()


# --- publishing posts -----------------------------------------------------------------------

@dataclass(frozen=True)
class Publishing:
    """What a publishing network declares on its adapter class (``publishing``): how staff
    name it and point it somewhere, and the limits a post is checked against before it is
    queued. The posts feature reads these; it lists no network of its own."""

    network: str  # the network a post's variant goes to ("telegram")
    name: str  # shown to staff ("Telegram")
    target_setting: str  # the account setting naming where posts go by default ("channel")
    target_hint: str  # what a target looks like ("@channel or chat id")
    tags: tuple[str, ...]  # how a chat command names it ("tg", "telegram": #tg)
    text: int  # characters of text without media
    caption: int | None = None  # characters of a caption with media (None: as ``text``)
    needs_media: bool = False
    hashtags: int | None = None  # at most this many hashtags (None: no limit)
    images: int = 10  # at most this many images in one post


# --- account settings -----------------------------------------------------------------------

@dataclass(frozen=True)
class SettingsForm:
    """What a channel declares on its adapter class (``settings_form``): the account
    settings staff fill in on the channels page, and which of them are secrets (masked
    when shown back; a masked value sent back keeps the stored one)."""

    fields: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()


@runtime_checkable
class HasSettingsForm(Protocol):
    settings_form: ClassVar[SettingsForm]


def settings_form(adapter: object) -> SettingsForm:
    """The adapter's declared settings form (empty when it declares none)."""
    return adapter.settings_form if isinstance(adapter, HasSettingsForm) else SettingsForm()


# --- the protocol ---------------------------------------------------------------------------

IngestFn = Callable[[InboundMessage], Awaitable[IngestResult]]


async def _none() -> None:
    return None


async def _empty() -> list[Any]:  # no accounts, no files
    return []


async def _no_answer(_: StaffInput) -> str | StaffAnswer | None:
    return None


async def _unknown(*_: Any) -> bool:
    return False


@dataclass
class ChannelContext:
    """What the core gives every adapter. Adapters never import ``bot`` internals."""

    ingest: IngestFn
    settings: Settings
    # The enabled account with this id, or None.
    get_account: Callable[[int], Awaitable[AccountInfo | None]]
    # Render a template from templates/ with a context dict (autoescaped HTML).
    render: Callable[[str, dict[str, Any]], str]
    # (account_id, contact external_id) -> the contact's messages on that account, oldest first.
    contact_history: Callable[[int, str], Awaitable[list[dict[str, Any]]]]
    # (account_id, contact external_id, fields) -> whether a known contact was updated.
    update_contact: Callable[[int, str, dict[str, str]], Awaitable[bool]]
    # (account_id, external_id, new text, edited_at) -> the message id, or None if unknown.
    edit: Callable[[int, str, str, datetime | None], Awaitable[int | None]] = field(
        default=lambda *a: _none())
    # kind -> the enabled accounts of that kind (adapters that run per-account loops).
    list_accounts: Callable[[str], Awaitable[list[AccountInfo]]] = field(
        default=lambda *a: _empty())
    # A staff command or reply from a chat app -> the answer (None: nothing).
    staff_input: Callable[[StaffInput], Awaitable[str | StaffAnswer | None]] = _no_answer
    # Commands (without the slash) that are staff commands wherever they are written.
    staff_commands: frozenset[str] = frozenset()
    # (account_id, thread key) -> whether a conversation on that thread exists.
    thread_known: Callable[[int, str], Awaitable[bool]] = _unknown
    # (account_id, chat id, user id) -> whether that staff member is in a step-by-step
    # exchange with the bot there (their next message is its answer, not a customer's).
    in_flow: Callable[[int, str, str], Awaitable[bool]] = _unknown
    # (account_id, address, the failed mail's Message-IDs) -> whether it counted: a DSN
    # arrived; it counts only if it names a mail the shop sent to that address.
    mark_bounced: Callable[[int, str, tuple[str, ...]], Awaitable[bool]] = _unknown
    # The server's event bus (None in a command that runs no server): an adapter whose
    # sockets may be held by another process tells it with a crossing event.
    bus: EventBus | None = None
    # message id -> {id, direction, text, created_at, buttons, files} of a message, or None.
    load_message: Callable[[int], Awaitable[dict[str, Any] | None]] = field(
        default=lambda *a: _none())
    # message id -> its stored files [{id, file_name, content_type, size}] (the web chat
    # shows a visitor the file they just sent).
    message_files: Callable[[int], Awaitable[list[dict[str, Any]]]] = field(
        default=lambda *a: _empty())
    # (account_id, contact external id, attachment id) -> the file (with its sha256) if it
    # belongs to that contact's conversations on the account, else None.
    contact_file: Callable[[int, str, int], Awaitable[dict[str, Any] | None]] = field(
        default=lambda *a: _none())
    # The shared outbound HTTP session. The server builds its adapters before the session
    # opens (it needs a running loop) and sets this when it does: read it as ``http``.
    session: ClientSession | None = None

    @property
    def http(self) -> ClientSession:
        """The outbound HTTP session (only while the server or the command runs)."""
        if self.session is None:
            raise RuntimeError("the HTTP session is not open yet")
        return self.session


@runtime_checkable
class ChannelAdapter(Protocol):
    """What every channel implements. Limits are declared, not discovered."""

    kind: ClassVar[str]
    display_name: ClassVar[str]
    max_text_length: ClassVar[int]
    supports_media: ClassVar[bool]  # replies may carry files (OutboundMessage.files)
    file_limits: ClassVar[FileLimits]  # the bytes of those files the channel takes
    rate_per_sec: ClassVar[float | None]

    def routes(self) -> list[web.RouteDef]:
        """Plain HTTP routes the adapter serves (widget pages, websockets)."""
        ...

    def endpoints(self) -> list[Any]:
        """Documented JSON endpoints (``bot.core.http.Endpoint``), e.g. webhooks."""
        ...

    async def validate_account(self, account: AccountInfo) -> None:
        """Check credentials before the account is enabled; raise AccountSetupError."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one outbound message; raise DeliveryError or PermanentDeliveryError."""
        ...


@runtime_checkable
class RunsAccounts(Protocol):
    """Optional: adapters that keep a loop per account (Telegram polling). The server
    starts them after the database is up and stops them before it closes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class FetchesFiles(Protocol):
    """Optional: adapters whose channel keeps files the core only has ids for."""

    async def fetch_file(self, account: AccountInfo, file_id: str) -> tuple[bytes, str]:
        """The file's bytes and its path or name on the channel."""
        ...


@runtime_checkable
class ReplaysImports(Protocol):
    """Optional: adapters whose quarantined items (``bot.services.quarantine``) of the
    sources in ``replay_sources`` are whole in their stored raw body, so "try again" stores
    them now (the same path as when they came) instead of waiting for a redelivery."""

    replay_sources: ClassVar[tuple[str, ...]]

    async def replay_import(self, account: AccountInfo, source: str, body: str) -> None:
        """Store the item again from its raw body; raise as the first store did."""
        ...


@runtime_checkable
class PostsToChat(Protocol):
    """Optional: adapters that can post into a staff chat (notifications)."""

    async def post_to_chat(self, account: AccountInfo, chat_id: str,
                           text: str | StaffAnswer) -> str:
        """Post plain text (with buttons, for a StaffAnswer); return the posted message's
        id in that chat."""
        ...


@runtime_checkable
class Publishes(Protocol):
    """Optional: adapters that publish marketing posts (a Telegram channel, a Page)."""

    async def publish(self, account: AccountInfo, target: str, text: str,
                      media: list[dict[str, Any]]) -> str:
        """Publish once; return the network's id of the post. Raise DeliveryError when a
        later try may work (429, 5xx, network), PermanentDeliveryError when it cannot."""
        ...
