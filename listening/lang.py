"""A small language guess for items that come without one: by script, then by the
letters a Latin-script language alone uses. Good for routing rules, templates and the
per-language trends among the shop languages (en vi th pl ru km); not a general detector.
"""

from __future__ import annotations

import re

_SCRIPTS = (("th", re.compile(r"[\u0e00-\u0e7f]")), ("km", re.compile(r"[\u1780-\u17ff]")),
            ("ru", re.compile(r"[\u0400-\u04ff]")), ("ar", re.compile(r"[\u0600-\u06ff]")),
            ("hi", re.compile(r"[\u0900-\u097f]")))
_VI = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
_VI_WORDS = re.compile(r"(?<!\w)(và|của|không|được|tôi|rất|hàng|này|với|nhưng|quá|có)(?!\w)",
                       re.I)
_PL = re.compile(r"[ąćęłńśźż]", re.I)
_DE = re.compile(r"[äöüß]", re.I)


def guess(text: str, default: str = "en") -> str:
    """An ISO 639-1 code for ``text``; ``default`` when nothing tells."""
    counts = {code: len(p.findall(text)) for code, p in _SCRIPTS}
    best = max(counts, key=lambda k: counts[k])
    if counts[best]:
        return best
    if _VI.search(text) or _VI_WORDS.search(text):
        return "vi"
    if _PL.search(text):
        return "pl"
    if _DE.search(text):
        return "de"
    return default
