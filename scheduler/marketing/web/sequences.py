"""Staff pages of drip sequences: the list, the step editor (wait, wait until a time of
day, send a mail template, branch, exit: add, change, remove and reorder), enable and
pause, delete (paused, with nobody in it), and per-step statistics as a funnel.

Thin: the editor's rows become the step list the drip engine runs; with the name and the
events that end it early they are checked by the model the REST API's PATCH takes
(``sequences.SequencePatch``), then saved by ``sequences.update`` (which checks the
templates and the branch targets). A refusal shows the editor again, with the rows as
typed and a message in the page's language (4xx). The rows and the messages are shared
with the page that creates a sequence (``sequence_new``).
"""

from __future__ import annotations

from typing import Any, get_args

from aiohttp import web
from pydantic import ValidationError

from bot.core import i18n
from bot.core.auth import FORM, Form, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.i18n import N_, Lazy, _, lazy, lazy_p
from bot.core.invalid import explain_all
from bot.core.pages import error_page, form_str, page, path_id, render
from bot.models import Sequence
from scheduler.marketing import sequences, tracking
from scheduler.marketing.sequences import EventKind, SequencePatch, Steps
from scheduler.marketing.web.numbers import finite

KINDS = ("wait", "until", "send", "branch", "exit")
UNITS = ("minutes", "hours", "days")
UNIT_LABELS = i18n.labels("wait_unit", {"minutes": N_("minutes"), "hours": N_("hours"),
                                        "days": N_("days")})
ROW_FIELDS = ("kind", "order", "amount", "unit", "until", "template", "event", "attribute",
              "equals", "goto", "reason", "remove")
BLANK_ROWS = 3  # empty rows at the end of the editor: new steps
MAX_ROWS = 60


class StepError(Exception):
    """A step row the editor cannot read; its message is a lazy text (shown translated)."""


def _amount(wait: dict[str, Any]) -> tuple[str, str]:
    """A wait's minutes, hours and days as one amount in the largest unit that fits."""
    minutes = float(wait.get("minutes", 0)) + 60 * float(wait.get("hours", 0)) + \
        1440 * float(wait.get("days", 0))
    if not minutes:
        return "", "hours"
    for unit, size in (("days", 1440), ("hours", 60)):
        if minutes % size == 0:
            return f"{minutes / size:g}", unit
    return f"{minutes:g}", "minutes"


def to_row(step: dict[str, Any], index: int) -> dict[str, str]:
    """A stored step as the editor's row of text fields."""
    row = dict.fromkeys(ROW_FIELDS, "") | {"order": str(index + 1), "unit": "hours"}
    if "wait" in step:
        row["amount"], row["unit"] = _amount(step["wait"])
        row["until"] = step["wait"].get("until") or ""
        row["kind"] = "until" if row["until"] else "wait"
    elif "send" in step:
        row |= {"kind": "send", "template": step["send"]}
    elif "branch" in step:
        b = step["branch"]
        row |= {"kind": "branch", "event": b.get("event") or "",
                "attribute": b.get("attribute") or "", "equals": b.get("equals") or "",
                "goto": str(int(b.get("goto", 0)) + 1)}
    elif "exit" in step:
        row |= {"kind": "exit", "reason": step["exit"]}
    return row


def _number(text: str, what: Lazy) -> float:
    value = finite(text)
    if value is None:
        raise StepError(lazy("%(field)s: %(text)s is not a number", field=what, text=repr(text)))
    return value


def to_step(row: dict[str, str]) -> dict[str, Any]:
    """An editor row as a step of the drip engine (``sequences.Step``'s shape)."""
    kind = row["kind"]
    if kind in ("wait", "until"):
        wait: dict[str, Any] = {}
        if row["amount"]:
            if row["unit"] not in UNITS:
                raise StepError(lazy("unknown unit %(unit)s", unit=repr(row["unit"])))
            amount = _number(row["amount"], lazy("Wait"))
            if amount <= 0:
                raise StepError(lazy("a wait must be longer than 0"))
            wait[row["unit"]] = amount
        if kind == "until":
            if not row["until"]:
                raise StepError(lazy("enter the time of day to wait until (HH:MM)"))
            wait["until"] = row["until"]
        elif not wait:
            raise StepError(lazy("enter how long to wait"))
        return {"wait": wait}
    if kind == "send":
        if not row["template"]:
            raise StepError(lazy("choose the mail template to send"))
        return {"send": row["template"]}
    if kind == "branch":
        if not (row["event"] or row["attribute"]):
            raise StepError(lazy("a branch needs an event or a contact attribute"))
        goto = db_id(row["goto"])
        if not goto:
            raise StepError(lazy("enter the step number to go to (1 or more)"))
        branch: dict[str, Any] = {"goto": goto - 1}
        if row["event"]:
            branch["event"] = row["event"]
        else:
            branch["attribute"] = row["attribute"]
            if row["equals"]:
                branch["equals"] = row["equals"]
        return {"branch": branch}
    if kind == "exit":
        return {"exit": row["reason"] or "exit step"}
    raise StepError(lazy("unknown kind of step %(kind)s", kind=repr(kind)))


def read_rows(form: Form) -> list[dict[str, str]]:
    """The editor's rows as typed (``s<i>_<field>``), at most MAX_ROWS."""
    n = min(db_id(form_str(form, "rows")) or 0, MAX_ROWS)
    return [{f: form_str(form, f"s{i}_{f}") for f in ROW_FIELDS} for i in range(n)]


def to_steps(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The kept rows (not removed, not blank) in their order, as steps; StepError naming
    the row (by its place in the editor) that is wrong."""
    kept: list[tuple[float, int, dict[str, str]]] = []
    for i, row in enumerate(rows):
        if row["remove"] or not row["kind"]:
            continue
        try:
            order = _number(row["order"] or str(i + 1), lazy_p("sequence step", "Order"))
        except StepError as exc:
            raise StepError(lazy("Row %(row)s: %(problem)s.", row=i + 1, problem=exc.args[0])) \
                from None
        kept.append((order, i, row))
    steps = []
    for _order, i, row in sorted(kept, key=lambda k: (k[0], k[1])):
        try:
            steps.append(to_step(row))
        except StepError as exc:
            raise StepError(lazy("Row %(row)s: %(problem)s.", row=i + 1, problem=exc.args[0])) \
                from None
    if not steps:
        raise StepError(lazy("A sequence needs at least one step."))
    return steps


FIELD_LABELS = {"key": lazy("Key"), "name": lazy("Name"), "trigger": lazy("Starts on"),
                "exit_on": lazy("Ends early on"), "steps": lazy("Steps")}
PATTERNS = {"key": lazy("2 to 64 lowercase letters (a-z), digits or _"),
            "until": lazy("a time of day from 00:00 to 23:59")}


def where(loc: tuple[int | str, ...]) -> str:
    """The label of a field of the sequence's model (or of its step list) on the page."""
    if loc[:1] == ("steps",) and len(loc) > 1:
        loc = loc[1:]
    if loc and isinstance(loc[0], int):
        return _("Step %(num)s", num=loc[0] + 1)
    return str(FIELD_LABELS.get(str(loc[0]), loc[0])) if loc else _("Form")


def invalid(exc: ValidationError) -> str:
    """What the model refused, in the page's language."""
    return explain_all(exc, where, PATTERNS)


async def _editor(request: web.Request, seq: Sequence, rows: list[dict[str, str]] | None = None,
                  status: int = 200, error: str = "", name: str | None = None,
                  exit_on: list[str] | None = None) -> web.Response:
    shown = rows if rows is not None else [to_row(s, i) for i, s in enumerate(seq.steps)]
    shown = [*shown, *({**dict.fromkeys(ROW_FIELDS, ""), "unit": "hours",
                        "order": str(len(shown) + k + 1)} for k in range(BLANK_ROWS))]
    funnel = await tracking.sequence_funnel(seq.id, len(seq.steps))
    top = max((f.entered for f in funnel), default=0)
    return render(request, "web/sequence.html", status=status, seq=seq, rows=shown,
                  error=error, kinds=KINDS, units=UNITS, templates=sequences.templates(),
                  events=get_args(EventKind), funnel=funnel, top=top,
                  labels=[describe(s) for s in seq.steps],
                  seq_name=seq.name if name is None else name,
                  exit_on=seq.exit_on if exit_on is None else exit_on)


def describe(step: dict[str, Any]) -> str:
    """A stored step in words (the funnel's rows)."""
    row = to_row(step, 0)
    if row["kind"] in ("wait", "until"):
        wait = f"wait {row['amount']} {row['unit']}" if row["amount"] else "wait"
        return f"{wait} until {row['until']}" if row["until"] else wait
    if row["kind"] == "send":
        return f"send {row['template']}"
    if row["kind"] == "branch":
        on = f"event {row['event']}" if row["event"] else f"attribute {row['attribute']}" + (
            f" = {row['equals']}" if row["equals"] else "")
        return f"branch on {on} → step {row['goto']}"
    return f"exit: {row['reason']}"


async def _sequence(request: web.Request) -> Sequence | None:
    return await Sequence.filter(id=path_id(request, "sequence_id")).first()


@page(Perm.MARKETING_READ)
async def sequences_page(request: web.Request) -> web.Response:
    rows = await sequences.all_sequences()
    active = await sequences.active_counts()
    return render(request, "web/sequences.html", sequences=rows, active=active)


@page(Perm.MARKETING_READ)
async def sequence_page(request: web.Request) -> web.Response:
    seq = await _sequence(request)
    if seq is None:
        return error_page(request, 404, _("No such sequence."))
    return await _editor(request, seq)


@page(Perm.MARKETING_WRITE)
async def save(request: web.Request) -> web.StreamResponse:
    seq = await _sequence(request)
    if seq is None:
        return error_page(request, 404, _("No such sequence."))
    form = request[FORM]
    rows = [r for r in read_rows(form) if r["kind"] or r["remove"]]
    name = form_str(form, "name")
    exit_on = [e for e in form.getall("exit_on", []) if isinstance(e, str)]
    again: dict[str, Any] = {"rows": rows, "name": name, "exit_on": exit_on}
    try:  # checked as the API checks a PATCH (sequences.SequencePatch)
        patch = SequencePatch.model_validate({"name": name, "exit_on": exit_on,
                                              "steps": Steps.validate_python(to_steps(rows))})
        await sequences.update(seq.id, name=patch.name, steps=patch.steps,
                               exit_on=list(patch.exit_on))
    except StepError as exc:
        return await _editor(request, seq, status=422, error=str(exc), **again)
    except ValidationError as exc:
        return await _editor(request, seq, status=422, error=invalid(exc), **again)
    except InboxError as exc:  # an unknown template, a branch past the last step
        return await _editor(request, seq, status=exc.status, error=str(exc), **again)
    raise web.HTTPSeeOther(f"/sequences/{seq.id}")


async def _set_enabled(request: web.Request, enabled: bool) -> web.StreamResponse:
    try:
        seq = await sequences.update(path_id(request, "sequence_id"), enabled=enabled)
    except InboxError as exc:
        return error_page(request, exc.status, str(exc))
    raise web.HTTPSeeOther(f"/sequences/{seq.id}")


@page(Perm.MARKETING_WRITE)
async def enable(request: web.Request) -> web.StreamResponse:
    return await _set_enabled(request, True)


@page(Perm.MARKETING_WRITE)
async def pause(request: web.Request) -> web.StreamResponse:
    return await _set_enabled(request, False)


@page(Perm.MARKETING_WRITE)
async def delete(request: web.Request) -> web.StreamResponse:
    """Delete a paused sequence nobody is going through (:func:`sequences.delete`); a
    refusal is the sequence's page again with the reason."""
    seq = await _sequence(request)
    if seq is None:
        return error_page(request, 404, _("No such sequence."))
    try:
        await sequences.delete(seq.id)
    except InboxError as exc:
        return await _editor(request, seq, status=exc.status, error=str(exc))
    raise web.HTTPSeeOther("/sequences")


def setup(app: web.Application) -> None:
    app.router.add_get("/sequences", sequences_page)
    app.router.add_get("/sequences/{sequence_id:\\d+}", sequence_page)
    app.router.add_post("/sequences/{sequence_id:\\d+}", save)
    app.router.add_post("/sequences/{sequence_id:\\d+}/enable", enable)
    app.router.add_post("/sequences/{sequence_id:\\d+}/pause", pause)
    app.router.add_post("/sequences/{sequence_id:\\d+}/delete", delete)
