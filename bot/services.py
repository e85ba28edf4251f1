"""Operations on contacts, users, channel accounts and canned replies, shared by the REST
API, the staff pages and the CLI so the three never disagree."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.auth import create_user
from bot.inbox import InboxError, NotFound
from bot.models import (
    CannedReply,
    ChannelAccount,
    Contact,
    Conversation,
    Identity,
    Role,
    User,
)
from bot.replies import account_info, check_template
from channels.base import AccountInfo, AccountSetupError, ChannelAdapter


def contact_out(c: Contact) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "phone": c.phone,
            "locale": c.locale, "attributes": dict(c.attributes or {}),
            "tags": list(c.tags or []), "created_at": c.created_at}


async def contact_detail(contact_id: int) -> dict[str, Any]:
    """A contact with identities on every channel and all their conversations."""
    contact = await Contact.filter(id=contact_id).first()
    if contact is None:
        raise NotFound("contact", "contact_id")
    idents = await Identity.filter(contact_id=contact_id).order_by("id").values(
        "channel_account_id", "channel_account__kind", "channel_account__name", "external_id")
    convs = await Conversation.filter(contact_id=contact_id).order_by("-last_message_at").values(
        "id", "status", "channel_kind", "last_message_at", "last_message_preview")
    return {**contact_out(contact),
            "identities": [{"channel_account_id": i["channel_account_id"],
                            "channel": i["channel_account__kind"],
                            "account_name": i["channel_account__name"],
                            "external_id": i["external_id"]} for i in idents],
            "conversations": [{"id": c["id"], "status": str(c["status"]),
                               "channel": c["channel_kind"],
                               "last_message_at": c["last_message_at"],
                               "preview": c["last_message_preview"]} for c in convs]}


async def list_contacts(q: str | None, page: int, per_page: int) -> dict[str, Any]:
    qs = Contact.all()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q))
    total = await qs.count()
    rows = await qs.order_by("-id").offset((page - 1) * per_page).limit(per_page)
    return {"items": [contact_out(c) for c in rows], "total": total, "page": page,
            "per_page": per_page}


M = TypeVar("M", Contact, User)


async def _update(model: type[M], row_id: int, changes: Mapping[str, Any]) -> M:
    row = await model.filter(id=row_id).first()
    if row is None:
        name = model.__name__.lower()
        raise NotFound(name, f"{name}_id")
    for key, value in changes.items():
        setattr(row, key, value)
    await row.save()
    return row


async def update_contact(contact_id: int, changes: Mapping[str, Any]) -> Contact:
    return await _update(Contact, contact_id, changes)


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "role": Role(u.role),
            "is_active": u.is_active, "created_at": u.created_at}


async def add_user(email: str, role: Role, name: str = "",
                   password: str | None = None) -> dict[str, Any]:
    if await User.filter(email=email.strip().lower()).exists():
        raise InboxError(f"a user with e-mail {email} already exists", "exists", "email")
    try:
        user, password, token = await create_user(email, role, password, name)
    except IntegrityError:
        raise InboxError(f"a user with e-mail {email} already exists", "exists",
                         "email") from None
    return {**user_out(user), "password": password, "api_token": token}


async def update_user(user_id: int, changes: Mapping[str, Any]) -> User:
    return await _update(User, user_id, changes)


SECRET_SETTINGS = ("token", "password")  # channel settings never shown back in full


def masked_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (f"…{str(v)[-4:]}" if k in SECRET_SETTINGS and v else v)
            for k, v in (settings or {}).items()}


def channel_out(a: ChannelAccount) -> dict[str, Any]:
    return {"id": a.id, "kind": a.kind, "name": a.name, "callback_url": a.callback_url,
            "settings": masked_settings(a.settings), "enabled": a.enabled,
            "created_at": a.created_at}


async def enabled_accounts(kind: str) -> list[AccountInfo]:
    return [account_info(a) for a in await ChannelAccount.filter(kind=kind, enabled=True)
            .order_by("id")]


async def add_channel(adapters: Mapping[str, ChannelAdapter], kind: str, name: str,
                      callback_url: str = "", settings: dict[str, Any] | None = None
                      ) -> dict[str, Any]:
    """Create a channel account after the adapter has checked it ("test before setup").

    Returns the account with its generated secret, which is shown only this once.
    """
    adapter = adapters.get(kind)
    if adapter is None:
        raise InboxError(f"unknown channel kind {kind!r}; known: {', '.join(sorted(adapters))}",
                         "unknown_channel", "kind")
    account = ChannelAccount(kind=kind, name=name, callback_url=callback_url,
                             settings=settings or {}, secret=secrets.token_hex(32))
    try:
        await adapter.validate_account(account_info(account))
    except AccountSetupError as exc:
        raise InboxError(f"{adapter.display_name} account not enabled: {exc}",
                         exc.code) from exc
    await account.save()
    _accounts.pop(account.id, None)  # an id probed before it existed was cached as None
    return {**channel_out(account), "secret": account.secret}


_ACCOUNT_TTL = 5.0
_accounts: dict[int, tuple[float, AccountInfo | None]] = {}


async def channel_account(account_id: int) -> AccountInfo | None:
    """The enabled account with this id. Read on every inbound request and changed rarely,
    so cached for a few seconds (another process's change shows within the TTL)."""
    now = time.monotonic()
    hit = _accounts.get(account_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    account = await ChannelAccount.filter(id=account_id, enabled=True).first()
    info = account_info(account) if account else None
    _accounts[account_id] = (now + _ACCOUNT_TTL, info)
    return info


def forget_accounts() -> None:
    """Drop every cached account fact (the database is closing, or another one opens)."""
    from bot import inbox

    _accounts.clear()
    inbox.forget_kinds()


def canned_out(c: CannedReply) -> dict[str, Any]:
    return {"id": c.id, "shortcut": c.shortcut, "title": c.title, "body": c.body}


async def add_canned(shortcut: str, title: str, body: str) -> CannedReply:
    check_template(body)
    if await CannedReply.filter(shortcut=shortcut).exists():
        raise InboxError(f"shortcut {shortcut!r} is taken", "exists", "shortcut")
    return await CannedReply.create(shortcut=shortcut, title=title, body=body)
