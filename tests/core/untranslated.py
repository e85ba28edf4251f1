"""Finds text a person reads in a template that is not wrapped for translation: the text
between tags and the ``title``/``placeholder``/``aria-label``/``alt`` attributes, outside
``{{ }}``/``{% %}`` and outside ``{% trans %}`` blocks, that has a letter in it.

Not text to translate: scripts and styles, code (``<code>``, ``<pre>``, ``<kbd>``: URLs,
snippets, setting names), a single token that is an address or a path (``/chat?account=``,
``hello@shop.example``), the placeholder of an element marked ``translate="no"`` (an
example of what to type, ``tomorrow 9:00``, that the parser reads in English), and the
brand names and protocol words in :data:`ALLOWED`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from bot.app import make_jinja

HOLE = " \x00 "  # where a {{ … }} or {% … %} was: never text to translate
READ_ATTRS = {"title", "placeholder", "aria-label", "alt"}
# Brand names and signs that read the same in every language.
ALLOWED = {"Switchboard", "Telegram", "Facebook", "Instagram", "WhatsApp", "UTC", "CSV",
           "ICS", "RSS", "API", "CSAT", "POST", "IMAP", "SMTP", "INBOX", "ssl", "starttls",
           "polling", "webhook"}
CODE = {"script", "style", "code", "pre", "kbd"}
ADDRESS = re.compile(r"\S*[/@?=]\S*")  # one token with a path, an address or a query
LETTER = re.compile(r"[^\W\d_]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in CODE:
            self.skip += 1
        example = ("translate", "no") in attrs  # HTML's own mark: input syntax shown as is
        self.found += [v for k, v in attrs
                       if k in READ_ATTRS and v and not (example and k == "placeholder")]

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.found.append(data)


def _outside_jinja(env: jinja2.Environment, source: str) -> str:
    """The template's text with every expression, statement and trans block a HOLE."""
    out: list[str] = []
    depth = 0  # inside {% trans %} … {% endtrans %}
    tokens = [t for t in env.lex(source) if t[1] != "whitespace"]
    for i, (_line, kind, value) in enumerate(tokens):
        if kind == "name" and i > 0 and tokens[i - 1][1] == "block_begin":
            depth += value == "trans"
            depth -= value == "endtrans"
        if kind == "data" and not depth:
            out.append(value)
        elif kind in ("variable_begin", "block_begin"):
            out.append(HOLE)
    return "".join(out)


def unwrapped(path: Path) -> list[str]:
    env = make_jinja()
    parser = _Text()
    parser.feed(_outside_jinja(env, path.read_text()))
    parser.close()
    texts = []
    for chunk in parser.found:
        for piece in chunk.split(HOLE):
            piece = " ".join(piece.split())
            words = piece.strip(" ·,.:;()|–—-")
            if LETTER.search(piece) and not all(
                    w in ALLOWED or ADDRESS.fullmatch(w) for w in words.replace(",", " ").split()):
                texts.append(piece)
    return texts
