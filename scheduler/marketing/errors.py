"""The domain errors of marketing. Each is a :class:`~bot.core.errors.InboxError`, so the
REST API answers it as JSON (its ``status``, ``code`` and ``field``); the public pages
map it to their own answer (see ``scheduler.marketing.web``)."""

from __future__ import annotations

from bot.core.errors import InboxError
from bot.core.i18n import Lazy, lazy


class Exists(InboxError):
    """The name or key is taken."""

    status = 409

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "exists", field)


class Conflict(InboxError):
    """The thing is no longer in a state that allows this (a broadcast already sending)."""

    status = 409

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "conflict", field)


class Invalid(InboxError):
    """A value the domain refuses (an unknown template, a branch past the last step)."""

    status = 422

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "invalid", field)


class Missing(InboxError):
    status = 404

    def __init__(self, message: str | Lazy, field: str | None = None) -> None:
        super().__init__(message, "not_found", field)


class InvalidEmail(InboxError):
    status = 400

    def __init__(self) -> None:
        super().__init__(lazy("Please enter a valid e-mail address."), "invalid_email", "email")


class MailUnavailable(InboxError):
    """The mail could not be sent just now (the SMTP server, the account)."""

    status = 503

    def __init__(self) -> None:
        super().__init__(lazy("We could not send the confirmation mail just now; please try "
                              "again later."), "mail_unavailable")


class NotConnected(InboxError):
    """A store webhook arrived, but that store's secret is not set."""

    status = 404

    def __init__(self, store: str, setting: str) -> None:
        super().__init__(f"{store} is not connected: set {setting}", "not_connected")


class BadSignature(InboxError):
    status = 401

    def __init__(self, store: str) -> None:
        super().__init__(f"the {store} signature does not match this body and secret",
                         "bad_signature")
