"""Domain errors every service raises and every front end maps (a page, JSON, a chat answer).

An error's message is a lazy text (:func:`bot.core.i18n.lazy`) where a person reads it:
``str(exc)`` is then the message in the language current where it is shown (the page's,
the staff member's in a chat answer, English under ``/api/``)."""

from __future__ import annotations

from bot.core.i18n import N_, Lazy, _, lazy

# NotFound's message per thing (the API's English words, translated where shown).
_NOT_FOUND = {
    "FAQ entry": N_("FAQ entry not found"),
    "active agent or admin": N_("active agent or admin not found"),
    "alert": N_("alert not found"), "attachment": N_("attachment not found"),
    "canned reply": N_("canned reply not found"),
    "channel account": N_("channel account not found"), "contact": N_("contact not found"),
    "conversation": N_("conversation not found"), "feed": N_("feed not found"),
    "import failure": N_("import failure not found"), "label": N_("label not found"),
    "message": N_("message not found"), "note": N_("note not found"),
    "review": N_("review not found"), "rule": N_("rule not found"),
    "saved view": N_("saved view not found"), "segment": N_("segment not found"),
    "user": N_("user not found"),
}


class InboxError(Exception):
    """A request a service refuses; ``code`` and ``field`` shape the API error."""

    status = 400

    def __init__(self, message: str | Lazy, code: str = "bad_request",
                 field: str | None = None):
        super().__init__(message)
        self.code, self.field = code, field

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFound(InboxError):
    status = 404

    def __init__(self, what: str, field: str | None = None):
        known = _NOT_FOUND.get(what)
        super().__init__(lazy(known) if known else f"{what} not found", "not_found", field)


class Forbidden(InboxError):
    """Someone the role lets in, refused this one thing (another's note, say): 403."""

    status = 403

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "forbidden", field)


class TooLong(InboxError):
    """A field longer than its column holds: the form comes back with this message."""

    status = 422

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(_("The %(field)s may be at most %(limit)d characters.",
                           field=field, limit=limit), "too_long", field)


class TooLarge(InboxError):
    """An upload over its size limit (413)."""

    status = 413

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "too_large", field)
