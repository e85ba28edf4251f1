"""The bot's texts: one jinja2 file of macros per locale under ``templates/bot/``.

A contact's locale ("vi", "vi-VN", "pt_BR") picks the file by its language part; a locale
we have no file for, or a macro a translation lacks, falls back to English. Texts are
plain (the channel escapes them), so autoescape is off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

LOCALES = ("en", "vi", "th", "pl", "ru", "km")
FALLBACK = "en"
TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def language(locale: str | None) -> str:
    """The supported language for a locale tag, else English."""
    lang = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return lang if lang in LOCALES else FALLBACK


class Texts:
    """One folder of ``<lang>.j2`` macro files (the bot's texts, the marketing mails)."""

    def __init__(self, folder: str) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES / folder),
                                      autoescape=False, undefined=jinja2.StrictUndefined,
                                      keep_trailing_newline=False)
        self._modules: dict[str, Any] = {}

    def _module(self, lang: str) -> Any:
        if lang not in self._modules:
            self._modules[lang] = self.env.get_template(f"{lang}.j2").module
        return self._modules[lang]

    def text(self, locale: str | None, key: str, **kw: Any) -> str:
        """Render the text ``key`` in the contact's language (English if missing)."""
        macro = getattr(self._module(language(locale)), key, None)
        if macro is None:
            macro = getattr(self._module(FALLBACK), key)
        return str(macro(**kw)).strip()

    def names(self) -> set[str]:
        """Every text the English file defines (translations are checked against it)."""
        return {n for n in dir(self._module(FALLBACK)) if not n.startswith("_")}

    def defined(self, lang: str) -> set[str]:
        return {n for n in dir(self._module(lang)) if not n.startswith("_")}


BOT = Texts("bot")
text, names, defined = BOT.text, BOT.names, BOT.defined
