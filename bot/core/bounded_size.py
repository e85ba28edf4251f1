"""How big a template's value is, and how big an operation's result would be, measured
before it is built (:mod:`bot.core.bounded` refuses what is over ``template_max_bytes``).

A size is in characters: a string's length; a list, tuple, set or dict the length of its
``str()`` (items, quotes, separators), walked recursively and given up as soon as it
passes the limit, so the walk itself is bounded by the limit. A value repeated by
reference (``[big] * n``, a list appended to) counts every time it is repeated, which is
what its ``str()`` or a ``join`` would build.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, ItemsView, Iterable, KeysView, Mapping, ValuesView
from typing import Any, cast

from jinja2.utils import Namespace

_SEQUENCES: tuple[type, ...] = (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)
_OTHER = 64  # any other object: the length of a short repr


def size(value: Any, limit: float = math.inf) -> float:
    """The size of ``value`` in characters; ``math.inf`` once it passes ``limit``."""
    total = 0.0
    stack: list[tuple[Any, bool]] = [(value, False)]
    seen: set[int] = set()  # containers being walked: a cycle prints as '[...]'
    while stack:
        item, nested = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + (2 if nested else 0)
        elif isinstance(item, bool | None | float):
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 0.302 + 2
        elif isinstance(item, Namespace):
            total += 13
            stack.append((getattr(item, "_Namespace__attrs", {}), True))
        elif isinstance(item, Mapping):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            total += 2 + 4 * len(item)
            stack.extend((k, True) for k in item.keys())
            stack.extend((v, True) for v in item.values())
        elif isinstance(item, _SEQUENCES):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            items = cast("Collection[Any]", item)
            total += 2 + 2 * len(items)
            if total > limit:
                return math.inf
            stack.extend((x, True) for x in items)
        elif isinstance(item, range):
            total += 24
        else:
            total += _OTHER
        if total > limit:
            return math.inf
    return total


def joined(items: Iterable[Any], sep: str, limit: float, tick: Any) -> tuple[list[Any], float]:
    """``items`` as a list, and the size of ``sep.join`` of their strings; stops (with
    ``math.inf``) as soon as it passes ``limit``. ``tick`` runs for each item."""
    out: list[Any] = []
    total = 0.0
    for item in items:
        tick()
        total += (len(item) if isinstance(item, str) else size(item, limit)) + len(sep)
        if total > limit:
            return out, math.inf
        out.append(item)
    return out, total


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


_FIELD = re.compile(r"%|\{")


def formatted(spec: str, args: Any, limit: float) -> float:
    """An upper bound of ``spec % args`` or ``spec.format(*args)``: each field may print
    all of the arguments (a mapping's fields may name the same key again and again)."""
    fields = len(_FIELD.findall(spec)) or 1
    return len(spec) + fields * size(args, limit)


def _pick(args: tuple[Any, ...], kwargs: Mapping[str, Any], i: int, name: str,
          default: Any) -> Any:
    return kwargs[name] if name in kwargs else args[i] if len(args) > i else default


def widened(name: str, target: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
            ) -> float:
    """An upper bound of the size of ``name`` (a filter, or a method of the string
    ``target``) applied to ``target`` with these arguments; 0 when not a widening one."""
    s = _text(target)
    if s is None:
        return 0
    if name == "expandtabs":
        tabsize = _as_int(_pick(args, kwargs, 0, "tabsize", 8), 8)
        return len(s) + s.count("\t") * max(tabsize, 1)
    if name == "replace":
        old, new = _pick(args, kwargs, 0, "old", ""), _pick(args, kwargs, 1, "new", "")
        if not isinstance(old, str) or not isinstance(new, str):
            return 0
        times = s.count(old) if old else len(s) + 1
        count = _pick(args, kwargs, 2, "count", None)
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        return len(s) + times * max(0, len(new) - len(old))
    if name == "indent":
        width = _pick(args, kwargs, 0, "width", 4)
        per_line = len(width) if isinstance(width, str) else _as_int(width, 4)
        return len(s) + (s.count("\n") + 1) * max(per_line, 0)
    if name == "wordwrap":
        width = max(_as_int(_pick(args, kwargs, 0, "width", 79), 79), 1)
        wrap = _pick(args, kwargs, 2, "wrapstring", None)
        return len(s) + (len(s) // width + 1) * (len(wrap) if isinstance(wrap, str) else 1)
    if name == "truncate":
        end = _pick(args, kwargs, 2, "end", "...")
        return len(s) + (len(end) if isinstance(end, str) else _OTHER)
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        return len(s) * max(longest, 1)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _as_int(_pick(args, kwargs, 0, "width", 0), 0)
        return max(len(s), width)
    return 0


# the width and precision digits of a replacement field ('{:>99}') or a %-spec ('%099d')
_WIDTHS = re.compile(r"\{[^{}]*\}|%[-#0 +]*\d*(?:\.\d+)?")
_DIGITS = re.compile(r"\d+")
NESTED = re.compile(r"\{[^{}]*\{")  # '{0:>{1}}': a width taken from the arguments


def widest(spec: str) -> float:
    """The largest width or precision a format string asks for."""
    out = 0.0
    for field in _WIDTHS.findall(spec):
        for digits in _DIGITS.findall(field):
            out = max(out, math.inf if len(digits) > 12 else int(digits))
    return out
