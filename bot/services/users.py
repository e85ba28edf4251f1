"""Staff users: list, add (password and API token shown once), change, disable, and link a
Telegram account; a user's own password, API token and sessions. Shared by the pages, the
REST API and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.core.auth import create_user, end_sessions, hash_password, new_api_token, verify_password
from bot.core.errors import InboxError, NotFound
from bot.core.i18n import LOCALES, _, lazy
from bot.models import Role, User


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "role": Role(u.role),
            "is_active": u.is_active, "telegram_user_id": u.telegram_user_id,
            "created_at": u.created_at}


async def list_users() -> list[User]:
    return await User.all().order_by("id")


async def agents() -> list[User]:
    """The active users who can take conversations (admins and agents)."""
    return await User.filter(is_active=True, role__in=[Role.ADMIN, Role.AGENT])


async def add_user(email: str, role: Role, name: str = "",
                   password: str | None = None) -> dict[str, Any]:
    if await User.filter(email=email.strip().lower()).exists():
        raise InboxError(lazy("a user with e-mail %(email)s already exists", email=email),
                         "exists", "email")
    try:
        user, password, token = await create_user(email, role, password, name)
    except IntegrityError:
        raise InboxError(lazy("a user with e-mail %(email)s already exists", email=email),
                         "exists", "email") from None
    return {**user_out(user), "password": password, "api_token": token}


async def _user(user_id: int) -> User:
    user = await User.filter(id=user_id).first()
    if user is None:
        raise NotFound("user", "user_id")
    return user


async def update_user(user_id: int, changes: Mapping[str, Any]) -> User:
    tg = changes.get("telegram_user_id")
    if tg is not None and await User.filter(telegram_user_id=tg).exclude(id=user_id).exists():
        raise InboxError(lazy("Telegram user %(id)s is already linked to another user", id=tg),
                         "exists", "telegram_user_id")
    user = await _user(user_id)
    for key, value in changes.items():
        setattr(user, key, value)
    await user.save()
    return user


class LockOut(InboxError):
    """A change that would lock someone out: of their own account, or everyone out of the
    admin pages (the last active admin disabled or demoted)."""

    status = 409


async def check_lockout(user_id: int, changes: Mapping[str, Any], by: User) -> None:
    """Refuse disabling or changing the role of oneself, and leaving no active admin.
    Shared by the users page and the API."""
    demotes = "role" in changes and Role(changes["role"]) != Role.ADMIN
    disables = changes.get("is_active") is False
    if not (demotes or disables):
        return
    field = "role" if "role" in changes else "is_active"
    if user_id == by.id and (disables or Role(changes["role"]) != Role(by.role)):
        raise LockOut(_("You cannot disable yourself or change your own role."), "self",
                      field)
    user = await _user(user_id)
    if user.role == Role.ADMIN and user.is_active and not await User.filter(
            role=Role.ADMIN, is_active=True).exclude(id=user_id).exists():
        raise LockOut(_("This is the last active admin."), "last_admin", field)


async def change_role(user_id: int, role: Role, by: User) -> User:
    """Give a user another role (never oneself, never the last admin)."""
    await check_lockout(user_id, {"role": role}, by)
    return await update_user(user_id, {"role": role})


async def toggle_active(user_id: int, by: User) -> User:
    """Disable an active user or enable a disabled one (never oneself)."""
    if user_id == by.id:
        raise InboxError(lazy("you cannot disable yourself"), "invalid")
    user = await _user(user_id)
    if user.is_active:
        await check_lockout(user_id, {"is_active": False}, by)
    return await update_user(user_id, {"is_active": not user.is_active})


async def link_telegram(user_id: int, telegram_user_id: int | None) -> User:
    """Link the user's Telegram account (None: unlink)."""
    await _user(user_id)
    return await update_user(user_id, {"telegram_user_id": telegram_user_id})


MIN_PASSWORD = 8  # as the API's user creation takes them
MAX_PASSWORD = 200


async def change_password(user: User, current: str, new: str, confirm: str,
                          keep_session: str | None) -> int:
    """The user's own password change: the current one first, then the new one twice.
    Ends every other session of the user (not ``keep_session``); how many ended."""
    if not await verify_password(user.password_hash, current):
        raise InboxError(lazy("the current password is wrong"), "wrong_password", "current")
    if new != confirm:
        raise InboxError(lazy("the two new passwords differ"), "invalid", "confirm")
    if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
        raise InboxError(lazy("a password has %(min)s to %(max)s characters", min=MIN_PASSWORD,
                              max=MAX_PASSWORD),
                         "invalid", "new")
    if new == current:
        raise InboxError(lazy("the new password is the current one"), "invalid", "new")
    user.password_hash = await hash_password(new)
    await User.filter(id=user.id).update(password_hash=user.password_hash)
    return await end_sessions(user, keep_session)


async def rotate_api_token(user: User) -> str:
    """A new API token for the user (shown once); the old one stops working at once."""
    token, digest = new_api_token()
    await User.filter(id=user.id).update(api_token_hash=digest)
    user.api_token_hash = digest
    return token


async def set_language(user: User, language: str) -> User:
    """The staff pages' language: one of ``LOCALES``, or "" for the browser's choice."""
    if language and language not in LOCALES:
        raise InboxError(lazy("language must be one of %(known)s", known=", ".join(LOCALES)),
                         "invalid", "language")
    user.language = language or None
    await user.save(update_fields=["language"])
    return user
