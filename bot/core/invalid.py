"""What a page says for a form its pydantic model refused, in the reader's language.

The REST API answers pydantic's own English message; a page checks its form with the same
model (one check for both) and shows each error through :func:`explain`: the common kinds
of error (a length, a bound, a choice, a pattern) have texts in the catalogs, with the
numbers the model states; a validator's own ``ValueError`` is shown as it was raised (raise
it with ``_()``, so it is in the language current where it is checked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.core.i18n import Lazy, _, ngettext

_NUMBER_TYPES = {"float_parsing", "float_type", "int_parsing", "int_type", "finite_number",
                 "int_from_float"}


def explain(err: ErrorDetails, patterns: Mapping[str, str | Lazy] | None = None) -> str:
    """One error of a model as a person reads it. ``patterns``: what a field (the last
    name in its location) should look like, for a value that does not match its pattern."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return _("required")
    if kind == "string_too_short":
        if int(ctx.get("min_length", 1)) <= 1:
            return _("enter something")
        return ngettext("at least %(num)d character", "at least %(num)d characters",
                        int(ctx["min_length"]))
    if kind == "string_too_long":
        return ngettext("at most %(num)d character", "at most %(num)d characters",
                        int(ctx["max_length"]))
    if kind == "too_short":
        return ngettext("at least %(num)d item", "at least %(num)d items",
                        int(ctx["min_length"]))
    if kind == "too_long":
        return ngettext("at most %(num)d item", "at most %(num)d items",
                        int(ctx["max_length"]))
    if kind in ("greater_than_equal", "greater_than"):
        return _("must be at least %(limit)s", limit=ctx.get("ge", ctx.get("gt")))
    if kind in ("less_than_equal", "less_than"):
        return _("must be at most %(limit)s", limit=ctx.get("le", ctx.get("lt")))
    if kind in ("literal_error", "enum"):
        return _("choose one of %(choices)s", choices=ctx.get("expected", ""))
    if kind == "string_pattern_mismatch":
        names = [str(p) for p in err["loc"] if isinstance(p, str)]
        hint = (patterns or {}).get(names[-1]) if names else None
        return str(hint) if hint is not None else _("not in the expected form")
    if kind in _NUMBER_TYPES:
        return _("enter a number")
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "extra_forbidden":
        return _("not a field of this form")
    return err["msg"]


def explain_all(exc: ValidationError, where: Callable[[tuple[int | str, ...]], str],
                patterns: Mapping[str, str | Lazy] | None = None) -> str:
    """Every error of ``exc`` as ``<where>: <what>`` (``where``: the field's label for an
    error's location), one sentence after another."""
    return " ".join(_("%(field)s: %(problem)s.", field=where(tuple(e["loc"])),
                      problem=explain(e, patterns)) for e in exc.errors())
