"""Translations of the staff app (every text a person reads on a staff page, the widget,
the subscribe pages and the staff Telegram answers).

The contract every front end codes against:

* In Python: ``from bot.core.i18n import _, ngettext`` and wrap each text a person reads,
  ``_("Saved.")``, ``_("%(n)s conversations", n=3)`` style placeholders
  (``_("Hello %(name)s", name=...)``), ``ngettext("%(num)d reply", "%(num)d replies", n)``.
  ``lazy(...)`` for a text defined at import time (a report title, a column heading).
* In templates: ``{{ _("Inbox") }}``, ``{{ _("Hello %(name)s", name=user.name) }}``,
  ``{% trans %}…{% endtrans %}``, ``{{ ngettext("%(num)d reply", "%(num)d replies", n) }}``
  (jinja2's ``i18n`` extension, new-style: autoescaped, placeholders by name).
* The locale of the request being served is a context variable (:data:`current`), set by
  the page framework from the user's setting or the browser's ``Accept-Language``.

Until the catalogs land, every text is returned as written (English)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import jinja2
import markupsafe

LOCALES = ("en", "vi", "th", "pl", "ru", "km")
DEFAULT = "en"
current: ContextVar[str] = ContextVar("switchboard_locale", default=DEFAULT)


def _format(text: str, values: dict[str, Any]) -> str:
    return text % values if values else text


def _(message: str, **values: Any) -> str:
    """``message`` in the current locale, its ``%(name)s`` placeholders filled."""
    return _format(message, values)


gettext = _


def ngettext(singular: str, plural: str, num: int, **values: Any) -> str:
    """The singular or plural form for ``num`` (``%(num)d`` is filled too)."""
    return _format(singular if num == 1 else plural, {"num": num, **values})


class Lazy:
    """A text translated when it is shown (``str()``), in the locale current then."""

    __slots__ = ("message", "values")

    def __init__(self, message: str, **values: Any) -> None:
        self.message, self.values = message, values

    def __str__(self) -> str:
        return _(self.message, **self.values)

    def __html__(self) -> str:
        return str(markupsafe.escape(str(self)))

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)


def lazy(message: str, **values: Any) -> Lazy:
    return Lazy(message, **values)


def install(env: jinja2.Environment) -> None:
    """Give ``env``'s templates ``_``, ``gettext``, ``ngettext`` and ``{% trans %}``."""
    env.add_extension("jinja2.ext.i18n")
    install_callables: Callable[..., None] = env.install_gettext_callables  # type: ignore[attr-defined]
    install_callables(_template_gettext, _template_ngettext, newstyle=True)


def _template_gettext(message: str) -> str:
    return _(message)


def _template_ngettext(singular: str, plural: str, num: int) -> str:
    return singular if num == 1 else plural
