"""Domain errors every service raises and every front end maps (a page, JSON, a chat answer)."""

from __future__ import annotations

from bot.core.i18n import _


class InboxError(Exception):
    """A request a service refuses; ``code`` and ``field`` shape the API error."""

    status = 400

    def __init__(self, message: str, code: str = "bad_request", field: str | None = None):
        super().__init__(message)
        self.code, self.field = code, field


class NotFound(InboxError):
    status = 404

    def __init__(self, what: str, field: str | None = None):
        super().__init__(f"{what} not found", "not_found", field)


class TooLong(InboxError):
    """A field longer than its column holds: the form comes back with this message."""

    status = 422

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(_("The %(field)s may be at most %(limit)d characters.",
                           field=field, limit=limit), "too_long", field)


class TooLarge(InboxError):
    """An upload over its size limit (413)."""

    status = 413

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, "too_large", field)
