"""Raw e-mail (RFC 5322 bytes, as IMAP hands it over) to what the inbox needs.

- The body: the text/plain part, else the HTML part turned into readable text; any
  charset Python knows (windows-1251, TIS-620, ISO-2022-JP …), with a lenient fallback so
  a mislabelled part still shows.
- Attachments: their metadata (name, type, size) and, in ``payloads``, their bytes, which
  the adapter stores (:mod:`bot.core.attachments`).
- Quoted history ("> …", "On … wrote:") and the signature ("-- ") are folded away for
  display; the full text stays available.
- Threading: ``Message-ID``, ``In-Reply-To`` and ``References``; the thread's root is the
  first id of ``References`` (else ``In-Reply-To``, else the mail's own id).
- Delivery status notifications (RFC 3464 bounces) name the failed recipients and, from
  the returned message or its headers, the Message-ID of the mail that failed (a bounce
  counts only for a mail we sent: ``scheduler.marketing.consent.mark_bounced``).
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

_MSGID = re.compile(r"<[^<>\s]+>")
_QUOTE_HEAD = re.compile(
    r"^(On .{4,200} wrote:|Le .{4,200} a écrit :|Am .{4,200} schrieb .{1,100}:|"
    r"W dniu .{4,200} pisze:|.{4,200} написал\(а\):|-----Original Message-----|"
    r"-{2,} ?Forwarded message ?-{2,}|From: .{3,200})\s*$", re.I)
_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
          "blockquote", "section", "article", "header", "footer", "ul", "ol"}
_SKIP = {"style", "script", "head", "title"}


@dataclass(frozen=True)
class Mail:
    message_id: str  # with angle brackets
    subject: str
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    sent_at: datetime | None
    in_reply_to: str
    references: tuple[str, ...]
    text: str  # for display: quoted history and signature folded away
    full_text: str
    attachments: tuple[dict[str, Any], ...] = ()
    payloads: tuple[bytes, ...] = field(default=(), repr=False)  # one per attachment
    auto_submitted: bool = False  # an auto-reply or a machine's notice
    bounced: tuple[str, ...] = ()  # a DSN: the recipients that failed permanently
    bounced_ids: tuple[str, ...] = ()  # a DSN: the Message-ID(s) of the mail that failed
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def thread_root(self) -> str:
        if self.references:
            return self.references[0]
        return self.in_reply_to or self.message_id


class _Text(HTMLParser):
    """HTML to text: block elements become line breaks, links keep their address."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        elif tag == "a":
            self.href = dict(attrs).get("href")
        elif tag == "img" and dict(attrs).get("alt"):
            self.out.append(str(dict(attrs)["alt"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")
        elif tag == "a":
            if self.href and self.href.startswith("http") and self.out and \
                    self.href not in self.out[-1]:
                self.out.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8", "windows-1252"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


def fold_quotes(text: str) -> str:
    """The new part of a reply: stops at the quoted history or the signature."""
    kept: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if line.startswith(">") or _QUOTE_HEAD.match(stripped) or line in ("-- ", "--"):
            break
        kept.append(line.rstrip())
    new = "\n".join(kept).strip()
    return new or text.strip()


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(str(value or "")))


def _bounced(msg: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Permanently failed recipients of a delivery status notification, and the
    Message-ID(s) of the returned mail (its ``message/rfc822`` or ``text/rfc822-headers``
    part)."""
    if msg.get_content_type() != "multipart/report" or \
            msg.get_param("report-type") != "delivery-status":
        return (), ()
    failed: list[str] = []
    ids: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            for original in inner if isinstance(inner, list) else []:
                if isinstance(original, Message):
                    ids.extend(_ids(original.get("Message-ID")))
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            ids.extend(_ids(HeaderParser().parsestr(text).get("Message-ID")))
        if ctype != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient")
                            or "")
            if action == "failed" or status.startswith("5"):
                addr = recipient.split(";", 1)[-1].strip().lower()
                if addr:
                    failed.append(addr)
    return tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(ids))[:10]


def parse_mail(raw: bytes) -> Mail:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    plain = html = ""
    attachments: list[dict[str, Any]] = []
    payloads: list[bytes] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
        if filename or disposition == "attachment" or not ctype.startswith("text/"):
            if ctype.startswith("message/delivery-status"):
                continue
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            attachments.append({"type": "file", "file_name": _header(filename or ""),
                                "mime_type": ctype, "file_size": len(data)})
            payloads.append(data)
        elif ctype == "text/plain" and not plain:
            plain = _decode(part)
        elif ctype == "text/html" and not html:
            html = _decode(part)
    full = (plain or html_to_text(html)).replace("\r\n", "\n").strip()
    name, addr = (getaddresses([_header(msg.get("From", ""))]) or [("", "")])[0]
    to = tuple(a.lower() for _, a in getaddresses([_header(msg.get("To", "")),
                                                   _header(msg.get("Cc", ""))]) if a)
    try:
        sent = parsedate_to_datetime(str(msg["Date"])) if msg.get("Date") else None
    except (TypeError, ValueError):
        sent = None
    bounced, bounced_ids = _bounced(msg)
    own_id = (_ids(msg.get("Message-ID")) or (f"<{hashlib.sha256(raw).hexdigest()[:32]}"
                                              f"@no-message-id>",))[0]
    auto = str(msg.get("Auto-Submitted", "no")).lower() not in ("", "no") or \
        bool(msg.get("X-Autoreply")) or str(msg.get("Precedence", "")).lower() in (
            "bulk", "auto_reply", "junk")
    return Mail(
        message_id=own_id, subject=_header(msg.get("Subject", "")).strip(),
        from_addr=addr.lower(), from_name=name.strip(), to=to, sent_at=sent,
        in_reply_to=(_ids(msg.get("In-Reply-To")) or ("",))[0],
        references=_ids(msg.get("References")), text=fold_quotes(full), full_text=full,
        attachments=tuple(attachments), payloads=tuple(payloads), auto_submitted=auto,
        bounced=bounced,
        bounced_ids=bounced_ids,
        headers={k: _header(str(v)) for k, v in msg.items()
                 if k.lower() in ("list-unsubscribe", "x-switchboard")})


def mail_key(raw: bytes) -> str:
    """A mail's id for the quarantine, read without trusting the mail: its Message-ID, else
    a digest of its bytes (as :func:`parse_mail` names a mail without one)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        found = _ids(headers.get("Message-ID"))
    except Exception:  # noqa: BLE001 - a mail the parser chokes on still needs a key
        found = ()
    return found[0] if found else f"<{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id>"


def _header(value: str) -> str:
    """An RFC 2047 encoded header (=?windows-1251?B?…?=) as text."""
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeDecodeError, ValueError):
        return str(value)
