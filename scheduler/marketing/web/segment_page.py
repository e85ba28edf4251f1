"""A segment's own page: edit its name and rules (a plain form, one row per condition)
and see the contacts it chooses now, paginated, with their count. The saving and the
counting are :mod:`scheduler.marketing.segments`' (the API's too). It is deleted from its
page too, unless a broadcast still to go out uses it (the page says which)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.core.auth import FORM, Form, Perm
from bot.core.errors import InboxError
from bot.core.http import api_status
from bot.core.i18n import _
from bot.core.pages import form_str, page, path_id, render
from bot.models import Segment
from scheduler.marketing import segments
from scheduler.marketing.segments import Condition, Rules

PER_PAGE = 50
KINDS = ("tag", "attribute", "consent", "channel", "event", "replied")
BLANK_ROWS = 2


def row_of(c: Condition) -> dict[str, Any]:
    """A condition as the form's row shows it (the reverse of :func:`condition`)."""
    if c.attribute is not None:
        kind, value = "attribute", c.attribute + (f"={c.equals}" if c.equals is not None
                                                  else "")
    elif c.replied is not None:
        kind, value = "replied", ""
    else:
        kind = next(k for k in KINDS if getattr(c, k) is not None)
        value = str(getattr(c, kind))
    return {"kind": kind, "value": value, "days": c.days, "not": c.negate}


def condition(kind: str, value: str, days: str, negate: bool) -> dict[str, Any]:
    if kind not in KINDS:
        raise InboxError(_("unknown condition %(kind)s", kind=kind[:30]), "invalid", "kind")
    out: dict[str, Any] = {}
    if kind == "attribute":
        name, eq, equals = value.partition("=")
        out = {"attribute": name.strip(), **({"equals": equals.strip()} if eq else {})}
    elif kind == "replied":
        out = {"replied": True}
    else:
        out = {kind: value}
    if kind in ("replied", "event"):
        if not days.isdigit():
            raise InboxError(_("days must be a whole number"), "invalid", "days")
        out["days"] = int(days)
    if negate:
        out["not"] = True
    return out


def rows_of(form: Form) -> list[dict[str, Any]]:
    """The form's condition rows as typed (to show them again)."""
    rows, i = [], 0
    while f"kind_{i}" in form and i < 60:
        rows.append({"kind": form_str(form, f"kind_{i}"), "value": form_str(form, f"value_{i}"),
                     "days": form_str(form, f"days_{i}") or "30",
                     "not": form.get(f"not_{i}") == "on"})
        i += 1
    return rows


def rules_of(form: Form, rows: list[dict[str, Any]]) -> Rules:
    """The rules the form describes."""
    try:
        return Rules.model_validate({
            "match": form_str(form, "match") or "all",
            "conditions": [condition(r["kind"], r["value"], r["days"], r["not"])
                           for r in rows if r["kind"]]})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InboxError(_("Rules: %(where)s: %(why)s", where=where, why=first["msg"]),
                         "invalid", "rules") from None


async def _show(request: web.Request, sid: int, name: str, match: str,
                rows: list[dict[str, Any]], rules: Rules, status: int = 200,
                error: str = "") -> web.Response:
    try:
        page_no = max(1, int(request.query.get("page", "1")))
    except ValueError:
        raise InboxError(_("page must be a number"), "invalid", "page") from None
    total, contacts = await segments.member_page(rules, (page_no - 1) * PER_PAGE, PER_PAGE)
    blank = {"kind": "", "value": "", "days": 30, "not": False}
    return render(request, "web/segment.html", status=status, sid=sid, seg_name=name,
                  match=match, rows=[*rows, *([blank] * BLANK_ROWS)], kinds=KINDS,
                  error=error, total=total, contacts=contacts, page=page_no,
                  pages=max(1, -(-total // PER_PAGE)))


@page(Perm.MARKETING_READ)
async def segment_page(request: web.Request) -> web.Response:
    seg = await segments.get(path_id(request, "sid"))
    return await _show(request, seg.id, seg.name, seg.rules.match,
                       [row_of(c) for c in seg.rules.conditions], seg.rules)


@page(Perm.MARKETING_WRITE)
async def segment_save(request: web.Request) -> web.StreamResponse:
    sid, form = path_id(request, "sid"), request[FORM]
    seg = await Segment.filter(id=sid).first()
    if seg is None:
        raise web.HTTPNotFound(text=_("segment not found"))
    name, rows = form_str(form, "name"), rows_of(form)
    try:
        rules = rules_of(form, rows)
    except InboxError as exc:
        stored = Rules.model_validate(seg.rules)
        return await _show(request, sid, name, form_str(form, "match"), rows, stored,
                           api_status(exc), str(exc))
    try:
        await segments.update(sid, name, rules)
    except InboxError as exc:
        if api_status(exc) == 404:
            raise
        return await _show(request, sid, name, rules.match, rows, rules, api_status(exc),
                           str(exc))
    raise web.HTTPFound(f"/segments/{sid}")


@page(Perm.MARKETING_WRITE)
async def segment_delete(request: web.Request) -> web.StreamResponse:
    sid = path_id(request, "sid")
    try:
        await segments.delete(sid)
    except InboxError as exc:
        if api_status(exc) == 404:
            raise
        seg = await segments.get(sid)
        return await _show(request, seg.id, seg.name, seg.rules.match,
                           [row_of(c) for c in seg.rules.conditions], seg.rules,
                           api_status(exc), str(exc))
    raise web.HTTPFound("/segments")


def setup(app: web.Application) -> None:
    app.router.add_get("/segments/{sid}", segment_page)
    app.router.add_post("/segments/{sid}", segment_save)
    app.router.add_post("/segments/{sid}/delete", segment_delete)
