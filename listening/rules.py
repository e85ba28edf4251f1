"""Listening rules: a small boolean query language over terms and hashtags.

    acme OR "acme shop" OR #acme
    (acme OR acmeshop) AND NOT (job OR hiring)
    delivery AND (late OR slow) -refund

Terms are words, "quoted phrases" or #hashtags, matched without regard to case. ``AND``
binds tighter than ``OR``, two terms side by side mean AND, ``NOT`` / ``-`` negate, and
parentheses group. A term matches as a whole word in scripts written with spaces; in Thai,
Khmer, Chinese or Japanese (no spaces between words) it matches anywhere in the text.

A rule also has a kind (brand, product, competitor, keyword, hashtag: share of voice
compares brand against competitors) and optional languages (empty: every language).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Union

from bot.core.i18n import lazy

KINDS = ("brand", "product", "competitor", "keyword", "hashtag")
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|(-)(?=\S)|([^\s()"]+))')
# Scripts with no spaces between words: a term there matches as a substring.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u1780-\u17ff\u19e0-\u19ff\u3040-\u30ff\u4e00-\u9fff"
                       r"\u0e80-\u0eff\u1000-\u109f]")


class QueryError(ValueError):
    """The query does not parse; the message says where."""


@dataclass(frozen=True)
class Term:
    text: str

    def holds(self, text: str) -> bool:
        return _find(self.text, text)


@dataclass(frozen=True)
class Not:
    inner: Node

    def holds(self, text: str) -> bool:
        return not self.inner.holds(text)


@dataclass(frozen=True)
class All:
    parts: tuple[Node, ...]

    def holds(self, text: str) -> bool:
        return all(p.holds(text) for p in self.parts)


@dataclass(frozen=True)
class Any_:
    parts: tuple[Node, ...]

    def holds(self, text: str) -> bool:
        return any(p.holds(text) for p in self.parts)


Node = Union[Term, Not, All, Any_]  # noqa: UP007 (a runtime alias used before 3.12)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


_patterns: dict[str, re.Pattern[str]] = {}


def _find(term: str, text: str) -> bool:
    if _UNSPACED.search(term):
        return term in text
    pattern = _patterns.get(term)
    if pattern is None:
        pattern = _patterns[term] = re.compile(rf"(?<![\w#@]){re.escape(term)}(?!\w)")
    return pattern.search(text) is not None


def parse(query: str) -> Node:
    tokens: list[tuple[str, str]] = []
    at = 0
    query = query.strip()
    while at < len(query):
        m = _TOKEN.match(query, at)
        if m is None or m.end() == at:
            raise QueryError(lazy("cannot read the query at character %(at)s", at=at + 1))
        at = m.end()
        opening, closing, phrase, minus, word = m.groups()
        if opening:
            tokens.append(("(", ""))
        elif closing:
            tokens.append((")", ""))
        elif minus:
            tokens.append(("NOT", ""))
        elif phrase is not None:
            if not phrase.strip():
                raise QueryError(lazy("an empty quoted phrase"))
            tokens.append(("TERM", normalise(" ".join(phrase.split()))))
        elif word in ("AND", "OR", "NOT"):
            tokens.append((word, ""))
        else:
            tokens.append(("TERM", normalise(word)))
    if not tokens:
        raise QueryError(lazy("the query is empty"))
    parser = _Parser(tokens)
    node = parser.any_()
    if parser.at != len(tokens):
        raise QueryError(lazy("unexpected %(token)r at term %(at)s", token=tokens[parser.at][0],
                               at=parser.at + 1))
    return node


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0

    def _peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def any_(self) -> Node:
        parts = [self.all_()]
        while self._peek() == "OR":
            self.at += 1
            parts.append(self.all_())
        return parts[0] if len(parts) == 1 else Any_(tuple(parts))

    def all_(self) -> Node:
        parts = [self.unary()]
        while self._peek() in ("AND", "NOT", "TERM", "("):
            if self._peek() == "AND":
                self.at += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def unary(self) -> Node:
        kind = self._peek()
        if kind == "NOT":
            self.at += 1
            return Not(self.unary())
        if kind == "(":
            self.at += 1
            node = self.any_()
            if self._peek() != ")":
                raise QueryError(lazy("a parenthesis is not closed"))
            self.at += 1
            return node
        if kind == "TERM":
            self.at += 1
            return Term(self.tokens[self.at - 1][1])
        raise QueryError(lazy("a term is missing") if kind is None
                         else lazy("unexpected %(token)r at term %(at)s", token=kind,
                                   at=self.at + 1))


@dataclass(frozen=True)
class Compiled:
    id: int
    name: str
    kind: str
    languages: frozenset[str]
    node: Node

    def matches(self, text: str, lang: str = "") -> bool:
        if self.languages and lang and lang not in self.languages:
            return False
        if self.languages and not lang:
            return False
        return self.node.holds(normalise(text))


def compile_rule(rule_id: int, name: str, kind: str, query: str,
                 languages: list[str]) -> Compiled:
    if kind not in KINDS:
        raise QueryError(lazy("kind must be one of %(known)s", known=", ".join(KINDS)))
    return Compiled(rule_id, name, kind, frozenset(lang.lower() for lang in languages),
                    parse(query))
