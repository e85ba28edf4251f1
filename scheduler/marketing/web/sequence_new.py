"""The staff page that creates a drip sequence: its name, what starts it (a shop event),
what ends it early, and its steps, in the step editor's rows (``NEW_ROWS`` empty ones: a
longer sequence gets more steps on its own page after it is saved).

Thin: the form becomes the model the REST API takes (``sequences.SequenceIn``), so the page
and the API check alike, and ``sequences.create`` saves it (it checks the templates and the
branch targets, and refuses a key that is taken). With no key typed, the key comes from the
name, and a name that is taken refuses too. A refusal shows the form again, as typed, with the
reason in the page's language (4xx).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Any, get_args

from aiohttp import web
from pydantic import ValidationError

from bot.core.auth import FORM, Perm
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy
from bot.core.pages import form_str, page, render
from bot.models import Sequence
from scheduler.marketing import sequences
from scheduler.marketing.errors import Exists
from scheduler.marketing.sequences import EventKind, SequenceIn, Steps, Trigger
from scheduler.marketing.web.sequences import (
    FIELD_LABELS,
    KINDS,
    ROW_FIELDS,
    UNITS,
    StepError,
    invalid,
    read_rows,
    to_steps,
)

NEW_ROWS = 6
FIELDS = ("key", "name", "trigger")


def key_from(name: str) -> str:
    """A key for a sequence named ``name``: its Latin letters and digits (accents dropped)
    joined by ``_``; ``sequence`` for a name with too few of them (Thai, Khmer, Russian)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[:56]
    return key if len(key) >= 2 else "sequence"


async def free_key(base: str) -> str:
    """``base``, or ``base_2``, ``base_3`` … the first no sequence has."""
    taken = {str(k) for k in await Sequence.filter(key__startswith=base).values_list(
        "key", flat=True)}
    return next(k for k in itertools.chain([base], (f"{base}_{n}" for n in itertools.count(2)))
                if k not in taken)


async def key_for(name: str) -> str:
    """The key of a new sequence named ``name`` when none is typed: ``key_from(name)``, with
    a suffix when another name gives the same key (two Thai names both give ``sequence``).
    A sequence of the same name refuses (409), as a typed key that is taken does: a second
    submit of the same form (a double click, a reload) makes no second copy of it."""
    same = await Sequence.filter(name__iexact=name.strip()).first()
    if same is not None:
        raise Exists(lazy("a sequence named %(name)s exists", name=repr(same.name)), "name")
    return await free_key(key_from(name))


def _blank(order: int) -> dict[str, str]:
    return {**dict.fromkeys(ROW_FIELDS, ""), "unit": "hours", "order": str(order)}


async def _form(request: web.Request, f: dict[str, Any], rows: list[dict[str, str]],
                status: int = 200, error: str = "") -> web.Response:
    shown = [*rows, *(_blank(len(rows) + k + 1) for k in range(max(NEW_ROWS - len(rows), 1)))]
    return render(request, "web/sequence_new.html", status=status, f=f, rows=shown,
                  error=error, kinds=KINDS, units=UNITS, templates=sequences.templates(),
                  events=get_args(EventKind), triggers=get_args(Trigger))


@page(Perm.MARKETING_WRITE)
async def new_page(request: web.Request) -> web.Response:
    return await _form(request, {"key": "", "name": "", "trigger": "signup", "exit_on": [],
                                 "enabled": True}, [])


@page(Perm.MARKETING_WRITE)
async def create(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    f: dict[str, Any] = {k: form_str(form, k) for k in FIELDS}
    f["exit_on"] = [e for e in form.getall("exit_on", []) if isinstance(e, str)]
    f["enabled"] = bool(form_str(form, "enabled"))
    rows = [r for r in read_rows(form) if r["kind"] or r["remove"]]
    try:
        spec = SequenceIn.model_validate({
            **f, "key": f["key"] or await key_for(f["name"]),
            "steps": Steps.validate_python(to_steps(rows))})
        row = await sequences.create(spec.key, spec.name, spec.trigger, list(spec.exit_on),
                                     spec.steps, spec.enabled)
    except StepError as exc:
        return await _form(request, f, rows, 422, str(exc))
    except ValidationError as exc:
        return await _form(request, f, rows, 422, invalid(exc))
    except InboxError as exc:  # a key taken, an unknown template, a branch past the end
        label = FIELD_LABELS.get(exc.field or "")
        return await _form(request, f, rows, exc.status, str(exc) if label is None else
                           _("%(field)s: %(problem)s.", field=label, problem=exc))
    raise web.HTTPSeeOther(f"/sequences/{row.id}")


def setup(app: web.Application) -> None:
    app.router.add_get("/sequences/new", new_page)
    app.router.add_post("/sequences/new", create)
