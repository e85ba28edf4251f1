"""Translations of the staff app (every text a person reads on a staff page, the widget,
the subscribe pages and the staff Telegram answers), with Babel.

The contract every front end codes against:

* In Python: ``from bot.core.i18n import _, ngettext`` and wrap each text a person reads,
  ``_("Saved.")``, ``_("%(n)s conversations", n=3)`` style placeholders
  (``_("Hello %(name)s", name=...)``), ``ngettext("%(num)d reply", "%(num)d replies", n)``.
  ``lazy(...)`` for a text defined at import time (a report title, a column heading).
  ``pgettext("funnel stage", "Order")`` (``npgettext`` for plurals, ``lazy_p`` lazily) where
  one English word means different things: the first argument is the msgctxt, so each
  meaning gets its own translation.
* A service error's message is a lazy text (``InboxError(lazy("… %(n)s", n=3))``): it is
  translated when a page, a chat answer or the API shows it, in the language current
  there (English under ``/api/``).
* In templates: ``{{ _("Inbox") }}``, ``{{ pgettext("sequence step", "Order") }}``,
  ``{{ _("Hello %(name)s", name=user.name) }}``, ``{{ label("role", user.role) }}``,
  ``{% trans %}…{% endtrans %}``, ``{{ ngettext("%(num)d reply", "%(num)d replies", n) }}``
  (jinja2's ``i18n`` extension, new-style: autoescaped, placeholders by name; a literal
  ``%`` in a template's text is written ``%%``).
* The locale of the request being served is a context variable (:data:`current`), set by
  the page framework from the user's setting or the browser's ``Accept-Language``
  (:func:`choose`).
* Dates, times, numbers, percentages, money and durations: :mod:`bot.core.l10n` (also the
  templates' filters ``dt``, ``date``, ``time``, ``number``, ``percent``, ``money``,
  ``duration``).

The catalogs are ``bot/locale/<locale>/LC_MESSAGES/messages.po`` (``make messages``
re-extracts ``messages.pot`` and updates them). They are read and compiled in memory the
first time a locale is used, so no ``.mo`` file is kept; a message with no translation is
shown in English."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("en", "vi", "th", "pl", "ru", "km")
DEFAULT = "en"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
current: ContextVar[str] = ContextVar("switchboard_locale", default=DEFAULT)


@functools.cache
def translations(locale: str) -> Translations:
    """``locale``'s catalog, read from its ``.po`` and compiled in memory (once)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    mo = BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo, domain="messages")


def _active() -> Translations:
    locale = current.get()
    return translations(locale if locale in LOCALES else DEFAULT)


def _format(text: str, values: dict[str, Any]) -> str:
    return text % values if values else text


def _(message: str, /, **values: Any) -> str:
    """``message`` in the current locale, its ``%(name)s`` placeholders filled."""
    return _format(_active().gettext(message), values)


gettext = _


def ngettext(singular: str, plural: str, num: int, /, **values: Any) -> str:
    """The singular or plural form for ``num`` in the current locale's plural rule
    (``%(num)d`` is filled too)."""
    return _format(_active().ngettext(singular, plural, num), {"num": num, **values})


def pgettext(context: str, message: str, /, **values: Any) -> str:
    """``message`` in the sense ``context`` says (the catalog's msgctxt), e.g.
    ``pgettext("funnel stage", "Order")``."""
    return _format(str(_active().pgettext(context, message)), values)


def npgettext(context: str, singular: str, plural: str, num: int, /, **values: Any) -> str:
    """:func:`ngettext` with a msgctxt."""
    return _format(str(_active().npgettext(context, singular, plural, num)),
                   {"num": num, **values})


class Lazy:
    """A text translated when it is shown (``str()``), in the locale current then; its
    placeholders may be lazy texts too (translated with it)."""

    __slots__ = ("context", "message", "values")

    def __init__(self, message: str, context: str | None = None, /, **values: Any) -> None:
        self.message, self.values, self.context = message, values, context  # any placeholder

    def __str__(self) -> str:
        values = {k: str(v) if isinstance(v, Lazy) else v for k, v in self.values.items()}
        if self.context is not None:
            return pgettext(self.context, self.message, **values)
        return _(self.message, **values)

    def __html__(self) -> str:
        return str(markupsafe.escape(str(self)))

    def __eq__(self, other: object) -> bool:  # the same text, whatever the locale
        if not isinstance(other, Lazy):
            return NotImplemented
        return ((self.message, self.values, self.context)
                == (other.message, other.values, other.context))

    def __hash__(self) -> int:
        return hash(self.message)


def lazy(message: str, /, **values: Any) -> Lazy:
    return Lazy(message, **values)


def lazy_p(context: str, message: str, /, **values: Any) -> Lazy:
    """:func:`pgettext`, translated when shown."""
    return Lazy(message, context, **values)


# Tables of labels for raw codes, by kind ("role", "post_status" …): the templates' label().
LABELS: dict[str, Mapping[Any, str | Lazy]] = {}


def labels(kind: str, table: Mapping[Any, str | Lazy]) -> Mapping[Any, str | Lazy]:
    """Register ``table`` (code -> ``N_()`` text) as ``kind`` for the templates'
    ``{{ label("kind", code) }}``; returns it, for :func:`label` in Python."""
    LABELS[kind] = table
    return table


def label(table: Mapping[Any, str | Lazy], code: str) -> str:
    """The translated label of a raw ``code`` (a status, a permission, a frequency) from
    ``table``, a table of ``N_()`` texts (or ``lazy_p()`` ones where the word is
    ambiguous); an unknown code is shown as it is."""
    text = table.get(code)
    if text is None:
        return code
    return str(text) if isinstance(text, Lazy) else _(text)


def _template_label(kind: str, code: str) -> str:
    return label(LABELS.get(kind, {}), str(code))


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for it)
    """Marks ``message`` for the catalogs and returns it as written: for a text that is
    also sent in English (an API error) and translated where a page shows it,
    ``_(str(exc))``."""
    return message


def choose(setting: str | None, accept_language: str | None) -> str:
    """The locale to serve: the user's setting if it is one of :data:`LOCALES`, else the
    best match of the browser's ``Accept-Language`` among them, else English."""
    if setting in LOCALES:
        return setting
    wanted = []
    for i, part in enumerate((accept_language or "").split(",")):
        lang, *params = part.split(";")
        quality = _quality(params)
        if lang.strip() and quality > 0:
            wanted.append((-quality, i, lang.strip().replace("-", "_")))
    found = negotiate_locale([lang for *_order, lang in sorted(wanted)], LOCALES)
    return found if found in LOCALES else DEFAULT


def _quality(params: list[str]) -> float:
    for param in params:
        key, _eq, value = param.strip().partition("=")
        if key == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def names() -> list[tuple[str, str]]:
    """Each locale with its name in its own language (``Tiếng Việt``, ``ไทย``, …)."""
    return [(code, (Locale.parse(code).display_name or code)) for code in LOCALES]


def install(env: jinja2.Environment) -> None:
    """Give ``env``'s templates ``_``, ``gettext``, ``ngettext``, ``pgettext``,
    ``npgettext`` and ``{% trans %}``."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True  # {% trans %}'s lines joined, as extracted
    install_callables: Callable[..., None] = env.install_gettext_callables  # type: ignore[attr-defined]
    install_callables(_template_gettext, _template_ngettext, newstyle=True,
                      pgettext=_template_pgettext, npgettext=_template_npgettext)
    env.globals["translate"] = _template_gettext  # a text the code marked with N_()
    env.globals["label"] = _template_label  # {{ label("post_status", p.status) }}
    env.globals["current_locale"] = current.get  # <html lang="{{ current_locale() }}">


def _template_gettext(message: str) -> str:
    return _active().gettext(message)


def _template_ngettext(singular: str, plural: str, num: int) -> str:
    return _active().ngettext(singular, plural, num)


def _template_pgettext(context: str, message: str) -> str:
    return str(_active().pgettext(context, message))


def _template_npgettext(context: str, singular: str, plural: str, num: int) -> str:
    return str(_active().npgettext(context, singular, plural, num))
