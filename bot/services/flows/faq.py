"""Matching a customer's question to the knowledge base, tolerant of typos and word order.

Each text becomes a bag of character trigrams taken word by word (``" de", "del", …``), so
the order of words does not matter and a typo costs only the few trigrams around it.
Thai and Khmer, written without spaces, still work: their runs become long "words" whose
trigrams overlap the same way. The score of a question variant is the mean of

* Dice similarity of the two bags (how alike they are overall), and
* containment: how much of the variant appears in the message (a long message that
  includes the question still matches).

No I/O here; :func:`best` is given the entries.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

THRESHOLD = 0.45
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-folded, accents kept, punctuation and symbols turned into spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return _SPACE.sub(" ", cleaned).strip()


def grams(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for word in normalize(text).split(" "):
        if not word:
            continue
        padded = f" {word} "
        out.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return out


def score(message: Counter[str], variant: Counter[str]) -> float:
    if not message or not variant:
        return 0.0
    common = sum((message & variant).values())
    dice = 2 * common / (sum(message.values()) + sum(variant.values()))
    containment = common / sum(variant.values())
    return (dice + containment) / 2


@dataclass(frozen=True)
class Match:
    entry_id: int
    score: float


def best(message: str, entries: Iterable[tuple[int, list[str]]],
         threshold: float = THRESHOLD) -> Match | None:
    """The entry whose question or variant is closest to ``message``, if close enough.

    ``entries`` are ``(id, [question, *variants])``.
    """
    bag = grams(message)
    top: Match | None = None
    for entry_id, phrasings in entries:
        for phrase in phrasings:
            s = score(bag, grams(phrase))
            if s >= threshold and (top is None or s > top.score):
                top = Match(entry_id, s)
    return top
