"""The domain errors of listening and reviews. Each is an :class:`InboxError`: the REST
API answers it as JSON with its status, code and field, a page shows it, a command
prints it; the services never raise an HTTP error."""

from __future__ import annotations

from bot.core.errors import InboxError
from bot.core.i18n import N_, Lazy, lazy

_NO_SUCH = {"alert": N_("no such alert"), "feed": N_("no such feed"),
            "message": N_("no such message"), "review": N_("no such review"),
            "rule": N_("no such rule")}


class Missing(InboxError):
    """No row with the id asked for."""

    status = 404

    def __init__(self, what: str, field: str) -> None:
        known = _NO_SUCH.get(what)
        super().__init__(lazy(known) if known else f"no such {what}", "not_found", field)


class Taken(InboxError):
    """The name or address is used by another row already."""

    status = 409

    def __init__(self, message: str | Lazy, field: str) -> None:
        super().__init__(message, "exists", field)


class BadQuery(InboxError):
    """A listening rule's query that does not parse."""

    status = 422

    def __init__(self, message: str | Lazy, field: str = "query") -> None:
        super().__init__(message, "bad_query", field)


class BadRange(InboxError):
    """A time range that ends before it starts."""

    status = 422

    def __init__(self, message: str | Lazy, field: str = "since") -> None:
        super().__init__(message, "bad_range", field)
