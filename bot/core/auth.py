"""Staff users, roles, sessions, API tokens and CSRF.

Roles map to permissions in one table (:data:`ROLE_PERMS`); every page and API route names
the permission it needs, and a test walks the router to prove none is left open by mistake.
Passwords are hashed with argon2id. Session and API tokens are random; only their SHA-256
is stored, so a leaked database does not leak working credentials.

A hash takes ~200 ms of a core and 64 MiB, so it never runs on the event loop: every hash
and check goes to a small thread pool (``password_hash_threads`` wide; argon2 lets go of the
GIL) whose threads run at a lower CPU priority, and tries beyond that wait their turn there
while the loop goes on serving. At most ``QUEUE_PER_THREAD`` checks wait per thread; beyond
that a check raises :class:`HashingBusy` at once. The login limits (:data:`LOGIN_LIMITS`)
keep the queue short.

Secrets someone sends (a CSRF token, a signature) are compared as bytes with :func:`same`:
``hmac.compare_digest`` refuses a ``str`` with a non-ASCII character by raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from multidict import MultiDictProxy

from bot.core import i18n
from bot.core.i18n import N_
from bot.core.ratelimit import Limiter
from bot.core.time import utcnow
from bot.models import Role, Session, User

SESSION_COOKIE = "sb_session"
SESSION = web.RequestKey("session", object)  # Session | None, cached per request
USER = web.RequestKey("user", User)
# the parsed, CSRF-checked POST form
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]
FORM: web.RequestKey[Form] = web.RequestKey("form")
_hasher = PasswordHasher()
# A hash of a random password, checked when the e-mail is unknown so that the time taken
# does not tell an attacker which addresses exist (made on first use, in the pool).
_dummy: list[str] = []
_pool: list[ThreadPoolExecutor] = []  # the one pool, and how wide it is
_threads: list[int] = []
T = TypeVar("T")


@dataclass(frozen=True)
class LoginLimits:
    """Login tries per client address (every try) and per account (the e-mail typed, known
    or not; every try until one succeeds, which clears it), from ``login_limit_address``
    and ``login_limit_account``."""

    address: Limiter
    account: Limiter

    @classmethod
    def of(cls, address_spec: str, account_spec: str) -> LoginLimits:
        return cls(Limiter("login-address", address_spec),
                   Limiter("login-account", account_spec))


LOGIN_LIMITS = web.AppKey("login_limits", LoginLimits)


class Perm(StrEnum):
    INBOX_READ = "read conversations"
    INBOX_WRITE = "work conversations"
    CONTACTS_READ = "read contacts"
    CONTACTS_WRITE = "change contacts"
    CANNED_READ = "read canned replies"
    CANNED_WRITE = "change canned replies"
    USERS = "manage users"
    CHANNELS = "manage channel accounts"
    BOT_READ = "read the bot's answers and the rules"
    BOT_WRITE = "change the bot's answers and the rules"
    POSTS_READ = "read posts and the calendar"
    POSTS_WRITE = "compose and schedule posts"
    MARKETING_READ = "read sequences, enrolments and mail stats"
    MARKETING_WRITE = "send shop events and manage e-mail marketing"
    LISTENING_READ = "read mentions, trends and listening rules"
    LISTENING_WRITE = "manage listening rules and feeds"
    REVIEWS_READ = "read reviews"
    REVIEWS_WRITE = "answer reviews"
    REPORTS_INBOX = "read inbox reports"
    REPORTS_MARKETING = "read marketing reports"
    DASHBOARD = "read the home dashboard"  # every role: its tiles check their own perms


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.AGENT: frozenset({Perm.INBOX_READ, Perm.INBOX_WRITE, Perm.CONTACTS_READ,
                          Perm.CONTACTS_WRITE, Perm.CANNED_READ, Perm.BOT_READ,
                          Perm.POSTS_READ, Perm.LISTENING_READ, Perm.REVIEWS_READ,
                          Perm.REVIEWS_WRITE, Perm.REPORTS_INBOX, Perm.DASHBOARD}),
    Role.MARKETER: frozenset({Perm.CONTACTS_READ, Perm.POSTS_READ, Perm.POSTS_WRITE,
                             Perm.MARKETING_READ, Perm.MARKETING_WRITE,
                             Perm.LISTENING_READ, Perm.LISTENING_WRITE, Perm.REVIEWS_READ,
                             Perm.REPORTS_MARKETING, Perm.DASHBOARD}),
}


# What a person reads for a role or a permission (the codes above stay English in the API).
ROLE_LABELS = i18n.labels("role", {Role.ADMIN: N_("admin"), Role.AGENT: N_("agent"),
                                   Role.MARKETER: N_("marketer")})
PERM_LABELS = i18n.labels("perm", {
    Perm.INBOX_READ: N_("read conversations"), Perm.INBOX_WRITE: N_("work conversations"),
    Perm.CONTACTS_READ: N_("read contacts"), Perm.CONTACTS_WRITE: N_("change contacts"),
    Perm.CANNED_READ: N_("read canned replies"),
    Perm.CANNED_WRITE: N_("change canned replies"), Perm.USERS: N_("manage users"),
    Perm.CHANNELS: N_("manage channel accounts"),
    Perm.BOT_READ: N_("read the bot's answers and the rules"),
    Perm.BOT_WRITE: N_("change the bot's answers and the rules"),
    Perm.POSTS_READ: N_("read posts and the calendar"),
    Perm.POSTS_WRITE: N_("compose and schedule posts"),
    Perm.MARKETING_READ: N_("read sequences, enrolments and mail stats"),
    Perm.MARKETING_WRITE: N_("send shop events and manage e-mail marketing"),
    Perm.LISTENING_READ: N_("read mentions, trends and listening rules"),
    Perm.LISTENING_WRITE: N_("manage listening rules and feeds"),
    Perm.REVIEWS_READ: N_("read reviews"), Perm.REVIEWS_WRITE: N_("answer reviews"),
    Perm.REPORTS_INBOX: N_("read inbox reports"),
    Perm.REPORTS_MARKETING: N_("read marketing reports"),
    Perm.DASHBOARD: N_("read the home dashboard"),
})


def role_label(role: str) -> str:
    """A staff role's name in the current language."""
    return i18n.label(ROLE_LABELS, role)


def perm_label(perm: str) -> str:
    """What a permission allows, in the current language."""
    return i18n.label(PERM_LABELS, perm)


def has_perm(user: User, perm: Perm) -> bool:
    return user.is_active and perm in ROLE_PERMS[Role(user.role)]


def same(given: str | bytes | None, expected: str | bytes) -> bool:
    """Constant-time equality of a secret someone sent and ours, as UTF-8 bytes, so any
    character (a lone surrogate from a header included) is just "not equal"."""
    if given is None:
        return False
    a = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    b = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def _lower_priority() -> None:
    """A hashing thread yields the CPU to the event loop: on Linux niceness is per thread
    (and argon2's own lane threads inherit it), so under a flood of logins the loop still
    gets a core when it needs one."""
    with contextlib.suppress(AttributeError, OSError):
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + 10))


def configure_hashing(threads: int) -> None:
    """Hash with ``threads`` threads from now on (``password_hash_threads``)."""
    threads = max(1, threads)
    if _pool and _threads == [threads]:
        return
    if _pool:
        _pool.pop().shutdown(wait=False)
    _pool.append(ThreadPoolExecutor(threads, thread_name_prefix="password-hash",
                                    initializer=_lower_priority))
    _threads[:] = [threads]


class HashingBusy(Exception):
    """More password checks wait than the pool clears in a few seconds (a flood from many
    addresses): this one is refused at once rather than queued."""


QUEUE_PER_THREAD = 16  # checks that may wait per hashing thread (~0.2 s each)
_waiting = [0]


async def _in_pool(fn: Callable[[], T], bounded: bool = False) -> T:
    if not _pool:
        configure_hashing(2)
    if bounded and _waiting[0] >= QUEUE_PER_THREAD * _threads[0]:
        raise HashingBusy()
    _waiting[0] += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool[0], fn)
    finally:
        _waiting[0] -= 1


async def hash_password(password: str) -> str:
    return await _in_pool(lambda: _hasher.hash(password))


def _verify(password_hash: str, password: str) -> bool:
    if not password_hash and not _dummy:
        _dummy.append(_hasher.hash(secrets.token_hex(16)))
    try:
        return _hasher.verify(password_hash or _dummy[0], password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one hashed (an empty hash: never, in the same time).
    Raises HashingBusy when too many checks are waiting already."""
    return await _in_pool(lambda: _verify(password_hash, password), bounded=True)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token() -> tuple[str, str]:
    """(token to show once, digest to store)."""
    token = "sbt_" + secrets.token_urlsafe(32)
    return token, token_digest(token)


async def create_user(email: str, role: Role, password: str | None = None,
                      name: str = "") -> tuple[User, str, str]:
    """Create a staff user. Returns (user, password, api token); both shown once."""
    password = password or secrets.token_urlsafe(12)
    token, digest = new_api_token()
    user = await User.create(email=email.strip().lower(), role=role, name=name,
                             password_hash=await hash_password(password),
                             api_token_hash=digest)
    return user, password, token


async def login(email: str, password: str) -> User | None:
    user = await User.filter(email=email.strip().lower()).first()
    ok = await verify_password(user.password_hash if user else "", password)
    if user is None or not ok or not user.is_active:
        return None
    return user


async def start_session(user: User, hours: float) -> tuple[str, Session]:
    """A new session for ``user``; the user's expired ones are deleted on the way."""
    await Session.filter(user_id=user.id, expires_at__lte=utcnow()).delete()
    token = secrets.token_urlsafe(32)
    session = await Session.create(id=token_digest(token), user=user,
                                   csrf_token=secrets.token_urlsafe(24),
                                   expires_at=utcnow() + timedelta(hours=hours))
    return token, session


async def session_of(request: web.Request) -> Session | None:
    """The live session behind the request's cookie, cached on the request."""
    if SESSION in request:
        return request[SESSION]  # type: ignore[return-value]
    session = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session = await Session.filter(id=token_digest(token),
                                       expires_at__gt=utcnow()).prefetch_related("user").first()
        if session is not None and not session.user.is_active:
            session = None
    request[SESSION] = session
    return session


async def end_session(request: web.Request) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await Session.filter(id=token_digest(token)).delete()


def csrf_ok(session: Session, supplied: str | None) -> bool:
    return bool(supplied) and same(supplied, session.csrf_token)


async def authenticate_api(request: web.Request) -> User | None:
    """A bearer token, or a browser session (whose unsafe calls must carry X-CSRF-Token)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        digest = token_digest(header[7:].strip())
        return await User.filter(api_token_hash=digest, is_active=True).first()
    session = await session_of(request)
    if session is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_ok(
            session, request.headers.get("X-CSRF-Token")):
        return None
    return session.user


async def sessions_of(user: User) -> list[Session]:
    """The user's live sessions, newest first."""
    return await Session.filter(user_id=user.id, expires_at__gt=utcnow()).order_by(
        "-created_at")


async def end_sessions(user: User, keep: str | None = None) -> int:
    """End the user's sessions but the one whose id is ``keep``; how many ended."""
    query = Session.filter(user_id=user.id)
    if keep is not None:
        query = query.exclude(id=keep)
    return await query.delete()
