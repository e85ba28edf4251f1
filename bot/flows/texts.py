"""The bot's texts: one jinja2 file of macros per locale under ``templates/bot/``.

A contact's locale ("vi", "vi-VN", "pt_BR") picks the file by its language part; a locale
we have no file for, or a macro a translation lacks, falls back to English. Texts are
plain (the channel escapes them), so autoescape is off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

LOCALES = ("en", "vi", "th", "pl", "ru", "km")
FALLBACK = "en"
_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "bot"
env = jinja2.Environment(loader=jinja2.FileSystemLoader(_DIR), autoescape=False,
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def language(locale: str | None) -> str:
    """The supported language for a locale tag, else English."""
    lang = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return lang if lang in LOCALES else FALLBACK


@lru_cache(maxsize=len(LOCALES))
def _module(lang: str) -> Any:
    return env.get_template(f"{lang}.j2").module


def text(locale: str | None, key: str, **kw: Any) -> str:
    """Render the bot text ``key`` in the contact's language (English if missing)."""
    macro = getattr(_module(language(locale)), key, None)
    if macro is None:
        macro = getattr(_module(FALLBACK), key)
    return str(macro(**kw)).strip()


def names() -> set[str]:
    """Every text the English file defines (translations are checked against it)."""
    return {n for n in dir(_module(FALLBACK)) if not n.startswith("_")}


def defined(lang: str) -> set[str]:
    return {n for n in dir(_module(lang)) if not n.startswith("_")}
