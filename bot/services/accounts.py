"""Operations on contacts, users, channel accounts and canned replies, shared by the REST
API, the staff pages and the CLI so the three never disagree."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.core.auth import create_user
from bot.core.cache import forget_all
from bot.core.channel import AccountInfo, AccountSetupError, ChannelAdapter
from bot.core.errors import InboxError, NotFound
from bot.models import (
    CannedReply,
    ChannelAccount,
    Contact,
    Conversation,
    FaqEntry,
    Identity,
    Role,
    Rule,
    User,
)
from bot.services.notify import check_settings as check_staff_settings
from bot.services.replies import account_info, check_template


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
            "is_active": u.is_active, "telegram_user_id": u.telegram_user_id,
            "created_at": u.created_at}


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
    tg = changes.get("telegram_user_id")
    if tg is not None and await User.filter(telegram_user_id=tg).exclude(id=user_id).exists():
        raise InboxError(f"Telegram user {tg} is already linked to another user", "exists",
                         "telegram_user_id")
    return await _update(User, user_id, changes)


# Channel settings never shown back in full.
SECRET_SETTINGS = ("token", "password", "access_token", "app_secret", "imap_password",
                   "smtp_password")


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
    await _validate(adapter, account)
    await account.save()
    _accounts.pop(account.id, None)  # an id probed before it existed was cached as None
    return {**channel_out(account), "secret": account.secret}


async def _validate(adapter: ChannelAdapter, account: ChannelAccount) -> None:
    problem = check_staff_settings(account.settings or {})
    if problem:
        raise InboxError(problem, "invalid_settings", "settings")
    try:
        await adapter.validate_account(account_info(account))
    except AccountSetupError as exc:
        raise InboxError(f"{adapter.display_name} account not enabled: {exc}",
                         exc.code) from exc


async def update_channel(adapters: Mapping[str, ChannelAdapter], account_id: int,
                         changes: Mapping[str, Any]) -> ChannelAccount:
    """Change an account's name, callback URL, settings (merged; a masked secret sent
    back as shown keeps the stored one; null removes a key) or enabled flag. The adapter
    checks the result again before it is saved; running adapters pick it up."""
    account = await ChannelAccount.filter(id=account_id).first()
    if account is None:
        raise NotFound("channel account", "channel_id")
    adapter = adapters.get(account.kind)
    if adapter is None:
        raise InboxError(f"channel {account.kind!r} is not available", "unknown_channel")
    settings = dict(account.settings or {})
    for key, value in (changes.get("settings") or {}).items():
        if value is None:
            settings.pop(key, None)
        elif not (key in SECRET_SETTINGS and str(value).startswith("…")):
            settings[key] = value
    account.settings = settings
    for key in ("name", "callback_url", "enabled"):
        if changes.get(key) is not None:
            setattr(account, key, changes[key])
    if account.enabled:
        await _validate(adapter, account)
    await account.save()
    forget_accounts()
    return account


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
    from bot.core import cache
    from bot.services import inbox

    _accounts.clear()
    inbox.forget_kinds()
    cache.forget_all()


def canned_out(c: CannedReply) -> dict[str, Any]:
    return {"id": c.id, "shortcut": c.shortcut, "title": c.title, "body": c.body}


async def add_canned(shortcut: str, title: str, body: str) -> CannedReply:
    check_template(body)
    if await CannedReply.filter(shortcut=shortcut).exists():
        raise InboxError(f"shortcut {shortcut!r} is taken", "exists", "shortcut")
    return await CannedReply.create(shortcut=shortcut, title=title, body=body)


# --- the bot's knowledge base and the automation rules -----------------------------------------

def faq_out(e: FaqEntry) -> dict[str, Any]:
    return {"id": e.id, "locale": e.locale, "question": e.question, "variants": e.variants,
            "answer": e.answer, "in_menu": e.in_menu, "position": e.position,
            "updated_at": e.updated_at}


async def save_faq(entry_id: int | None, values: Mapping[str, Any]) -> FaqEntry:
    """Create (``entry_id`` None) or change an FAQ entry."""
    clean = dict(values)
    if "variants" in clean:
        clean["variants"] = [v.strip() for v in clean["variants"] if v.strip()]
    if entry_id is None:
        return await FaqEntry.create(**clean)
    entry = await FaqEntry.filter(id=entry_id).first()
    if entry is None:
        raise NotFound("FAQ entry", "faq_id")
    entry.update_from_dict(clean)
    await entry.save()
    return entry


def rule_out(r: Rule) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "event": r.event, "conditions": r.conditions,
            "actions": r.actions, "enabled": r.enabled, "position": r.position,
            "fired": r.fired, "last_fired_at": r.last_fired_at}


async def save_rule(rule_id: int | None, values: Mapping[str, Any]) -> Rule:
    """Create or change a rule; conditions and actions are validated as a whole."""
    from bot.services import rules

    rule = Rule() if rule_id is None else await Rule.filter(id=rule_id).first()
    if rule is None:
        raise NotFound("rule", "rule_id")
    merged = {**(rule_out(rule) if rule_id is not None else {}), **values}
    if merged.get("event") not in rules.EVENTS:
        raise InboxError(f"event must be one of {', '.join(rules.EVENTS)}", "invalid", "event")
    conds, acts = rules.validate(merged.get("conditions") or {}, merged.get("actions") or [])
    if any(a.type == "assign" and a.to != "round_robin" for a in acts):
        ids = {a.to for a in acts if a.type == "assign" and a.to != "round_robin"}
        if await User.filter(id__in=ids, is_active=True).count() != len(ids):
            raise InboxError("assign.to is not an active user", "invalid", "actions")
    rule.name = merged.get("name") or rule.name or "Rule"
    rule.event = merged["event"]
    rule.conditions = conds.model_dump(exclude_none=True, by_alias=True)
    rule.actions = [a.model_dump() for a in acts]
    rule.enabled = bool(merged.get("enabled", True))
    rule.position = int(merged.get("position") or 0)
    await rule.save()
    forget_all()
    return rule
