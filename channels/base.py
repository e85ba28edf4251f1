"""The channel adapter protocol, the message types every channel shares, and the error tree.

An adapter turns network input into :class:`InboundMessage` and hands it to
``ChannelContext.ingest`` (which is ``bot.inbox.ingest``); it acknowledges the sender only
after that returns, so an acknowledged message is already committed. For outbound, the core
calls :meth:`ChannelAdapter.send` with an :class:`OutboundMessage` and maps the errors below
to a delivery status shown to staff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiohttp import ClientSession, web


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


@dataclass(frozen=True)
class IngestResult:
    message_id: int
    conversation_id: int
    contact_id: int
    created: bool  # False when the external_id was seen before (a redelivery)


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


@dataclass(frozen=True)
class SendResult:
    external_id: str | None = None


# --- error tree -----------------------------------------------------------------------------

class ChannelError(Exception):
    """Base of every error an adapter raises to the core."""


class DeliveryError(ChannelError):
    """Sending failed but may work later. ``retry_after`` (seconds) is the peer's wish."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentDeliveryError(ChannelError):
    """Sending failed and retrying cannot help (bad recipient, rejected content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecipientUnreachable(PermanentDeliveryError):
    """The customer cannot be reached on this channel any more (e.g. blocked the bot)."""


class AccountSetupError(ChannelError):
    """Credentials or settings were rejected before the account was enabled."""

    code = "invalid_settings"


class InvalidAuth(AccountSetupError):
    code = "invalid_auth"


class CannotConnect(AccountSetupError):
    code = "cannot_connect"


# --- the protocol ---------------------------------------------------------------------------

IngestFn = Callable[[InboundMessage], Awaitable[IngestResult]]


async def _none() -> None:
    return None


async def _empty() -> list[AccountInfo]:
    return []


@dataclass
class ChannelContext:
    """What the core gives every adapter. Adapters never import ``bot`` internals."""

    ingest: IngestFn
    http: ClientSession
    settings: Any
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


@runtime_checkable
class ChannelAdapter(Protocol):
    """What every channel implements. Limits are declared, not discovered."""

    kind: ClassVar[str]
    display_name: ClassVar[str]
    max_text_length: ClassVar[int]
    supports_media: ClassVar[bool]
    rate_per_sec: ClassVar[float | None]

    def routes(self) -> list[web.RouteDef]:
        """Plain HTTP routes the adapter serves (widget pages, websockets)."""
        ...

    def endpoints(self) -> list[Any]:
        """Documented JSON endpoints (``bot.api.routing.Endpoint``), e.g. webhooks."""
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
