"""Files a web chat visitor sends: ``POST /chat/upload?account=<id>``, one file a request.

The request is ``multipart/form-data`` with a ``client_id`` (made by the widget, as for a
text message: a retried upload carries the same one and is stored once), an optional
``locale`` and one ``file``. It is answered like the socket's messages are, only after
the message is committed. Refusals are JSON ``{"error": {"code", "message"}}``, the
message in the visitor's language, which the widget shows:

* 400 ``bad_upload``: not a form, no ``client_id``, no file, an empty file, other fields;
* 413 ``too_large``: larger than ``attachment_max_bytes`` (the read stops there);
* 415 ``unsupported_type``: not a JPEG, PNG, GIF, WebP, PDF or plain UTF-8 text, judged
  by the bytes (:func:`bot.core.attachments.sniff`), never by the declared type or name.

Who may upload is decided as for the socket (:mod:`channels.webchat.guard`): the signed
visitor cookie, an ``Origin`` of the shop's sites (required: a browser always sends it
on a POST), and the per-address message limit (429 with ``Retry-After``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from bot.core.i18n import _

FIELD_LIMIT = 256  # bytes of the client_id or locale field
CHUNK = 64 * 1024


class Refused(Exception):
    """An upload answered with a 4xx and a message for the visitor."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.code, "message": self.message}},
                                 status=self.status)


def bad(message: str) -> Refused:
    return Refused(400, "bad_upload", message)


def megabytes(limit: int) -> str:
    """A byte count as the widget's texts name it ("20" for 20 MiB)."""
    return f"{limit / 1024 / 1024:.3g}"


def too_large(limit: int) -> Refused:
    size = megabytes(limit)
    return Refused(413, "too_large", _("The file is too large: at most %(size)s MB.",
                                       size=size))


@dataclass(frozen=True)
class Upload:
    client_id: str
    locale: str
    file_name: str
    data: bytes


async def _field(part: BodyPartReader) -> str:
    raw = bytearray()
    while chunk := await part.read_chunk(FIELD_LIMIT):
        raw += chunk
        if len(raw) > FIELD_LIMIT:
            raise bad(_("The upload could not be read."))
    return raw.decode("utf-8", "replace")


async def _file(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:  # stop reading: the rest is never held
            raise too_large(limit)
    return bytes(data)


def _base_name(name: str | None) -> str:
    """The file's own name, without a path a client put before it or control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable()).strip() or "file"


async def read(request: web.Request, limit: int) -> Upload:
    """The upload's fields and file bytes (at most ``limit``), or :class:`Refused`."""
    if request.content_type != "multipart/form-data":
        raise bad(_("Send the file as a form upload (multipart/form-data)."))
    if (request.content_length or 0) > limit + CHUNK:  # the file and its few fields
        raise too_large(limit)
    fields: dict[str, str] = {}
    name, data = "", None
    try:
        reader = await request.multipart()
        while True:  # at most three parts: each name once
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or part.name not in (
                    "client_id", "locale", "file") or part.name in fields or (
                    part.name == "file" and data is not None):
                raise bad(_("The upload could not be read."))
            if part.name == "file":
                name, data = _base_name(part.filename), await _file(part, limit)
            else:
                fields[part.name] = await _field(part)
    except (ValueError, AssertionError, LookupError) as exc:  # a malformed body
        raise bad(_("The upload could not be read.")) from exc
    if data is None:
        raise bad(_("Choose a file to send."))
    if not data:
        raise bad(_("The file is empty."))
    return Upload(fields.get("client_id", ""), fields.get("locale", ""), name, data)


def unsupported() -> Refused:
    return Refused(415, "unsupported_type",
                   _("This kind of file cannot be sent here: send a picture (JPEG, PNG, "
                     "GIF or WebP), a PDF or a text file."))
