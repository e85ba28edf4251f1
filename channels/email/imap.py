"""Reading an e-mail account's mailbox over IMAP: IDLE where the server offers it, else
polling; every mail is handed to the channel's ``store``.

Exactly once: a mail's ``Message-ID`` is its external id, so reading a mail twice (after
a restart, or a second process) stores it once. The loop remembers the highest UID it
has stored; on (re)start it looks back ``LOOKBACK_DAYS`` and skips what is already known.

One mail cannot stop the mailbox: the channel's ``store`` raises :class:`StoreLater` for a
mail it could not store yet (the loop reconnects and reads it again), and after
``quarantine_tries`` the mail is quarantined (kept raw for an admin) and the loop reads on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aioimaplib

from bot.core.channel import AccountInfo, AccountSetupError, CannotConnect, InvalidAuth
from bot.core.i18n import lazy
from channels.email.account import HostRefused, cfg, check_server, tls_context

log = logging.getLogger("switchboard.email")
LOOKBACK_DAYS = 7
POLL_SECONDS = 30.0  # without IDLE; with IDLE the server tells us at once
IDLE_SECONDS = 300.0  # re-issue IDLE this often (servers drop idle connections ~30 min)

Store = Callable[[AccountInfo, bytes], Awaitable[None]]


class MailboxError(Exception):
    """The IMAP server refused a command."""


class StoreLater(Exception):
    """A mail was not stored this time: the loop reconnects and reads it again."""


async def connect(account: AccountInfo, *, allow_private: bool = False) -> aioimaplib.IMAP4:
    """Connect, log in and open the account's folder (raises the channel's setup errors;
    :class:`HostRefused`, before any connection, for a host the outbound policy refuses
    unless ``allow_private``)."""
    host = str(cfg(account, "imap_host"))
    tls = cfg(account, "imap_tls", "ssl")
    port = int(cfg(account, "imap_port", 993 if tls == "ssl" else 143))
    await check_server(host, port, "IMAP", allow_private)
    client = (aioimaplib.IMAP4_SSL(host, port, timeout=20, ssl_context=tls_context())
              if tls == "ssl" else aioimaplib.IMAP4(host, port, timeout=20))
    try:  # the constructor only starts connecting: errors show up from here
        await client.wait_hello_from_server()
        if tls == "starttls":
            await client.starttls(tls_context())
    except (OSError, TimeoutError, aioimaplib.Abort) as exc:
        drop(client)
        raise CannotConnect(lazy("cannot reach the IMAP server %(host)s:%(port)s: %(reason)s",
                                 host=host, port=port, reason=exc)) from exc
    try:
        user = str(cfg(account, "imap_user") or cfg(account, "address"))
        resp = await client.login(user, str(cfg(account, "imap_password")))
        if resp.result != "OK":
            raise InvalidAuth(lazy("the IMAP server refused the login for %(user)s: %(reason)s",
                                   user=user, reason=_said(resp)))
        folder = str(cfg(account, "folder", "INBOX"))
        resp = await client.select(folder)
        if resp.result != "OK":
            raise AccountSetupError(lazy("cannot open the folder %(folder)r: %(reason)s",
                                         folder=folder, reason=_said(resp)))
    except BaseException:
        drop(client)
        raise
    _note_new_mail(client)
    return client


async def watch(account: AccountInfo, store: Store, *, allow_private: bool = False,
                held: Callable[[], bool] = lambda: True) -> None:
    """Keep reading the mailbox: reconnect with backoff after any failure. A host the
    outbound policy refuses ends it (an error naming the account; a changed host
    restarts it). It returns once ``held()`` is False before it connects or reads: this
    process no longer surely holds the mailbox's lease (:mod:`channels.loops`)."""
    delay = 1.0
    last_uid = 0
    while held():
        client: aioimaplib.IMAP4 | None = None
        try:
            client = await connect(account, allow_private=allow_private)
            delay = 1.0
            last_uid = await _catch_up(account, client, last_uid, store)
            while True:
                await wait_for_mail(client)
                if not held():
                    break
                last_uid = await _read_new(account, client, last_uid, store)
        except HostRefused as exc:
            log.error("mailbox not read: its IMAP host is refused",
                      extra={"account": account.id, "error": str(exc)})
            return
        except Exception as exc:
            log.warning("mailbox loop failed; reconnecting", extra={
                "account": account.id, "error": f"{type(exc).__name__}: {exc}"})
        finally:  # failed, or stopped (cancelled): the connection goes either way
            if client is not None:
                drop(client)
        if not held():
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)
    log.warning("mailbox loop stopped: the account's lease is not held",
                extra={"account": account.id})


async def _catch_up(account: AccountInfo, client: aioimaplib.IMAP4, last_uid: int,
                    store: Store) -> int:
    if last_uid:
        return await _read_new(account, client, last_uid, store)
    since = (datetime.now(UTC) - timedelta(days=LOOKBACK_DAYS)).strftime("%d-%b-%Y")
    return await _read(account, client, f"SINCE {since}", 0, store)


async def _read_new(account: AccountInfo, client: aioimaplib.IMAP4, last_uid: int,
                    store: Store) -> int:
    """Store every mail past ``last_uid``; read again while the server announced new
    mail during the read (see :func:`_note_new_mail`)."""
    while True:
        last_uid = await _read(account, client, f"UID {last_uid + 1}:*", last_uid, store)
        if not _take_news(client):
            return last_uid


async def _read(account: AccountInfo, client: aioimaplib.IMAP4, criteria: str,
                last_uid: int, store: Store) -> int:
    """Store every mail matching ``criteria`` past ``last_uid``; the new highest UID."""
    _take_news(client)  # what this SEARCH will see needs no second look
    resp = await client.uid_search(*criteria.split(" ", 1), charset=None)
    if resp.result != "OK":
        raise MailboxError(f"SEARCH failed: {_said(resp)}")
    uids = sorted(int(u) for line in resp.lines[:1] for u in line.split() if u.isdigit())
    for uid in (u for u in uids if u > last_uid):
        raw = await _fetch(client, uid)
        if raw is not None:
            await store(account, raw)
        last_uid = uid  # only after it is stored: a crash reads it again
    return last_uid


async def _fetch(client: aioimaplib.IMAP4, uid: int) -> bytes | None:
    resp = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
    if resp.result != "OK":
        raise MailboxError(f"FETCH {uid} failed: {_said(resp)}")
    for line in resp.lines:
        if isinstance(line, bytearray):  # the literal: the whole message
            return bytes(line)
    return None  # expunged meanwhile


async def wait_for_mail(client: aioimaplib.IMAP4) -> None:
    """Until the server says something changed (IDLE), or a while (polling)."""
    if _take_news(client):
        return  # announced during the last read, and not again once IDLE starts
    if not client.has_capability("IDLE"):
        await asyncio.sleep(POLL_SECONDS)
        return
    idle = await client.idle_start(timeout=IDLE_SECONDS)
    try:
        while True:
            pushed = await client.wait_server_push(timeout=IDLE_SECONDS)
            if any(b"EXISTS" in (x if isinstance(x, bytes | bytearray) else b"")
                   for x in (pushed if isinstance(pushed, list) else [])) or \
                    pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break
    except TimeoutError:
        pass
    finally:
        if client.has_pending_idle():
            client.idle_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle, 10)


def drop(client: aioimaplib.IMAP4 | None) -> None:
    """Close an IMAP connection at once, without a LOGOUT round trip (the loop stopped or
    failed); nothing is left for the garbage collector to find open."""
    protocol = getattr(client, "protocol", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.close()


def _note_new_mail(client: aioimaplib.IMAP4) -> None:
    """Remember every untagged ``* n EXISTS`` the server sends on this connection.

    The server announces mail that arrives while we read inside the answer to our SEARCH
    or FETCH, and aioimaplib drops untagged lines that no pending command claims. The
    server counts it as said, so IDLE would not report that mail either: it would sit
    unread until the next mail or the IDLE timeout (five minutes). So the protocol's
    untagged-line handler is wrapped to set a flag, which the reading loop checks."""
    protocol: Any = client.protocol
    handle = protocol._untagged_response
    protocol.switchboard_news = False

    def untagged(line: bytes) -> Any:
        if line.rstrip().upper().endswith(b" EXISTS"):
            protocol.switchboard_news = True
        return handle(line)
    protocol._untagged_response = untagged


def _take_news(client: aioimaplib.IMAP4) -> bool:
    """Whether new mail was announced since the last call (and forget it)."""
    protocol: Any = client.protocol
    news = bool(getattr(protocol, "switchboard_news", False))
    protocol.switchboard_news = False
    return news


def _said(resp: Any) -> str:
    lines = [ln.decode(errors="replace") if isinstance(ln, bytes | bytearray) else str(ln)
             for ln in getattr(resp, "lines", [])]
    return " ".join(lines)[:200] or str(getattr(resp, "result", ""))
