"""Building a multipart/alternative mail as bytes, directly.

``email.message.EmailMessage`` parses and re-folds every header through the header
registry, and its generator walks the tree again on send: about 3 ms a mail here, more
than everything else a drip step does. Marketing mail has one fixed shape (a text part
and an HTML part, a handful of headers), so it is written out here in a few string
operations; the result parses back with the standard library (see tests).

No value reaches a header with a line break in it: a name or subject (a contact's name,
a marketer's subject, the shop's name) has each line break folded to a space, and an
address with one is refused (``ValueError``), so no value can add a header of its own
(``Bcc:``) or end the headers early (tests/channels/test_mail_headers.py).
"""

from __future__ import annotations

import base64
import re
import secrets
from email.header import Header
from email.utils import formataddr

# every character str.splitlines() breaks at; SMTP and mail readers differ in which
# they honour, so none of them stays in a header
_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")


def one_line(value: str) -> str:
    """``value`` with every run of line breaks folded to one space."""
    return _BREAKS.sub(" ", value)


def _plain_address(addr: str) -> str:
    if _BREAKS.search(addr):
        raise ValueError(f"an address with a line break in it: {addr!r}")
    return addr


def _header(value: str) -> str:
    """The value on one line; an RFC 2047 encoded word when it is not plain ASCII."""
    value = one_line(value)
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode(linesep="\r\n")


def _address(name: str, addr: str) -> str:
    name, addr = one_line(name), _plain_address(addr)
    if name and not name.isascii():
        return f"{Header(name, 'utf-8').encode(linesep=chr(13) + chr(10))} <{addr}>"
    return formataddr((name, addr))


def _part(subtype: str, body: str) -> str:
    encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii")
    return (f"Content-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n"
            f"{encoded.replace(chr(10), chr(13) + chr(10))}")


def build(from_name: str, from_addr: str, to: str, subject: str, message_id: str,
          date: str, text: str, html: str, extra: dict[str, str] | None = None) -> bytes:
    """The whole mail (headers, a text part, an HTML part) with CRLF line ends."""
    boundary = f"=_sb_{secrets.token_hex(12)}"
    headers = {"From": _address(from_name, from_addr), "To": _plain_address(to),
               "Subject": _header(subject), "Date": one_line(date),
               "Message-ID": _plain_address(message_id), "MIME-Version": "1.0",
               **{one_line(k).replace(":", ""): _header(v) for k, v in (extra or {}).items()},
               "Content-Type": f"multipart/alternative; boundary=\"{boundary}\""}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"{head}\r\n--{boundary}\r\n{_part('plain', text)}--{boundary}\r\n"
            f"{_part('html', html)}--{boundary}--\r\n").encode("ascii")
