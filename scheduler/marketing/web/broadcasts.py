"""Staff pages of broadcasts: the list, the compose form (a segment, an optional A/B
subject test, a preview in each language the mails speak, a time typed in the shop's
timezone), cancelling one not yet started, and its results.

Thin: the form's fields are checked by the same model the REST API takes
(``broadcasts.BroadcastIn``), then the broadcasts service creates, previews or cancels;
a refusal shows the form again with its message (4xx), never an error page.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from bot.core import i18n
from bot.core.auth import FORM, Form, Perm
from bot.core.clean import db_id
from bot.core.errors import InboxError
from bot.core.i18n import _, lazy, lazy_p
from bot.core.keys import SETTINGS
from bot.core.pages import error_page, form_str, page, path_id, render
from bot.models import Broadcast, Segment
from channels.email.mailer import MAILER
from scheduler.marketing import broadcasts, segments, tracking
from scheduler.marketing.broadcasts import BroadcastIn
from scheduler.marketing.clock import now
from scheduler.marketing.web.numbers import finite

FIELDS = ("name", "segment_id", "subject_a", "subject_b", "split_percent", "metric",
          "decide_after_hours", "body", "send_date", "send_time", "ab")
LABELS = {"name": lazy("Name"), "segment_id": lazy("Segment"), "subject_a": lazy("Subject"),
          "subject_b": lazy("Subject B"), "split_percent": lazy("Test sample"),
          "metric": lazy("Winner by"), "decide_after_hours": lazy("Decide after"),
          "body": lazy("Message"), "send_at": lazy("Send at")}
GONE = lazy("(deleted segment)")  # a sent broadcast whose segment was deleted since
i18n.labels("broadcast_state", {  # a broadcast's state, on its page and in the list
    "scheduled": lazy_p("broadcast", "scheduled"), "testing": lazy_p("broadcast", "testing"),
    "sent": lazy_p("broadcast", "sent"), "cancelled": lazy_p("broadcast", "cancelled")})
DEFAULTS = {"split_percent": "20", "metric": "opens", "decide_after_hours": "4"}


class FormError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def shop_tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].shop_timezone)


def local(at: datetime | None, tz: ZoneInfo) -> str:
    """A time as the shop reads it: in its timezone, to the minute."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""


def send_at(day: str, clock: str, tz: ZoneInfo) -> datetime | None:
    """The date and time typed in the shop's timezone, in UTC; None (as soon as possible)
    when both are blank. FormError for a date or time that is not one, or has passed."""
    if not day and not clock:
        return None
    if not day or not clock:
        raise FormError(_("Send at: enter both a date and a time, or neither to send now."))
    try:
        local_at = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tz)
        at = local_at.astimezone(ZoneInfo("UTC"))
    except (ValueError, OverflowError):
        raise FormError(_("Send at: %(day)s %(clock)s is not a date (YYYY-MM-DD) and a time "
                          "(HH:MM).", day=day, clock=clock)) from None
    if at < now() - timedelta(minutes=1):
        raise FormError(_("Send at: %(day)s %(clock)s (%(tz)s) has passed.", day=day,
                          clock=clock, tz=tz.key), 422)
    return at


def _number(raw: dict[str, str], key: str, kind: type[int] | type[float]) -> Any:
    value = raw.get(key) or DEFAULTS[key]
    number = finite(value, kind)
    if number is None:
        raise FormError(_("%(field)s: %(value)r is not a number.", field=LABELS[key],
                          value=value))
    return number


def parse(raw: dict[str, str], tz: ZoneInfo) -> BroadcastIn:
    """The form's fields as the API's model; FormError saying what is wrong."""
    segment_id = db_id(raw.get("segment_id", ""))
    if segment_id is None:
        raise FormError(_("Segment: choose one."))
    ab = bool(raw.get("ab"))
    data: dict[str, Any] = {
        "name": raw.get("name", ""), "segment_id": segment_id,
        "subject_a": raw.get("subject_a", ""), "body": raw.get("body", ""),
        "subject_b": raw.get("subject_b", "") if ab else "",
        "split_percent": _number(raw, "split_percent", int) if ab else 0,
        "metric": raw.get("metric") or "opens",
        "decide_after_hours": _number(raw, "decide_after_hours", float),
        "send_at": send_at(raw.get("send_date", ""), raw.get("send_time", ""), tz)}
    if ab and (not data["subject_b"] or data["split_percent"] < 1):
        raise FormError(_("A/B test: enter subject B and a test sample of 1 to 100 %."), 422)
    try:
        return BroadcastIn.model_validate(data)
    except ValidationError as exc:
        raise FormError("; ".join(
            f"{LABELS.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else _('Form')}: {e['msg']}"
            for e in exc.errors()), 422) from None


async def _compose(request: web.Request, raw: dict[str, str], status: int = 200,
                   error: str = "", previews: list[dict[str, str]] | None = None,
                   editing: int | None = None) -> web.Response:
    return render(request, "web/broadcast_new.html", status=status, f=raw, error=error,
                  segments=await segments.all_counted(), previews=previews or [],
                  tz=request.app[SETTINGS].shop_timezone, editing=editing)


@page(Perm.MARKETING_READ)
async def broadcasts_page(request: web.Request) -> web.Response:
    rows = await broadcasts.recent()
    stats, first = await tracking.broadcasts_stats([b.id for b in rows])
    tz = shop_tz(request)
    items = [{"b": b, "segment": b.segment.name if b.segment else GONE, "stats": stats[b.id],
              "rates": stats[b.id].rates(),
              "when": local(b.due_at if b.state != "sent" else first.get(b.id), tz)}
             for b in rows]
    return render(request, "web/broadcasts.html", rows=items, tz=tz.key)


@page(Perm.MARKETING_WRITE)
async def compose_page(request: web.Request) -> web.Response:
    return await _compose(request, dict.fromkeys(FIELDS, "") | DEFAULTS)


def _raw(form: Form) -> dict[str, str]:
    raw = {k: form_str(form, k) for k in FIELDS}
    body = form.get("body", "")
    raw["body"] = body.strip("\r\n") if isinstance(body, str) else ""  # keeps its indents
    return raw


@page(Perm.MARKETING_WRITE)
async def compose(request: web.Request) -> web.StreamResponse:
    """One form, two buttons: Preview (each language) and Schedule."""
    return await _submit(request, None)


async def _submit(request: web.Request, editing: int | None) -> web.StreamResponse:
    """The compose form sent, for a new broadcast or (``editing``) one not yet sent."""
    raw = _raw(request[FORM])
    try:
        spec = parse(raw, shop_tz(request))
        if form_str(request[FORM], "action") == "preview":
            mailer = request.app[MAILER]
            shown = await broadcasts.preview(mailer, spec.subject_a, spec.body)
            subjects_b = [p.subject for p in await broadcasts.preview(
                mailer, spec.subject_b, "-", "subject_b")] if spec.subject_b else []
            previews = [{"locale": p.locale, "subject": p.subject, "text": p.text,
                         "subject_b": subjects_b[i] if subjects_b else ""}
                        for i, p in enumerate(shown)]
            return await _compose(request, raw, previews=previews, editing=editing)
        if editing is None:
            row = await broadcasts.create(**spec.model_dump())
        else:
            row = await broadcasts.update(editing, **spec.model_dump())
    except FormError as exc:
        return await _compose(request, raw, exc.status, str(exc), editing=editing)
    except InboxError as exc:  # no such segment, a template that does not render
        if exc.status == 404:
            raise
        return await _compose(request, raw, exc.status, f"{LABELS.get(exc.field or '', '')}"
                              f"{': ' if exc.field in LABELS else ''}{exc}", editing=editing)
    raise web.HTTPSeeOther(f"/broadcasts/{row.id}")


def _form_of(b: Broadcast, tz: ZoneInfo) -> dict[str, str]:
    """A stored broadcast as the compose form shows it."""
    day, _sep, clock = local(b.due_at, tz).partition(" ")
    return {"name": b.name, "segment_id": str(b.segment_id or ""),  # type: ignore[attr-defined]
            "subject_a": b.subject_a, "subject_b": b.subject_b,
            "split_percent": str(b.split_percent or DEFAULTS["split_percent"]),
            "metric": b.metric, "decide_after_hours": f"{b.decide_after_hours:g}",
            "body": b.body, "send_date": day, "send_time": clock,
            "ab": "1" if b.split_percent else ""}


@page(Perm.MARKETING_WRITE)
async def edit_page(request: web.Request) -> web.Response:
    b = await broadcasts.get(path_id(request, "broadcast_id"))
    if not await broadcasts.editable(b):
        return await _results(request, b, 409, _("The broadcast has started: only one not "
                                                 "yet sent can be changed."))
    return await _compose(request, _form_of(b, shop_tz(request)), editing=b.id)


@page(Perm.MARKETING_WRITE)
async def edit(request: web.Request) -> web.StreamResponse:
    b = await broadcasts.get(path_id(request, "broadcast_id"))
    return await _submit(request, b.id)


async def _results(request: web.Request, b: Broadcast, status: int = 200,
                   error: str = "") -> web.Response:
    total, variants = await tracking.broadcast_stats(b)
    segment = await Segment.filter(id=b.segment_id).first()  # type: ignore[attr-defined]
    _, first = await tracking.broadcasts_stats([b.id])
    tz = shop_tz(request)
    return render(request, "web/broadcast.html", status=status, b=b,
                  segment=segment.name if segment else GONE,
                  total=total, rates=total.rates(), error=error, tz=tz.key,
                  variants=[(v, v.rates()) for v in variants],
                  due=local(b.due_at, tz), first=local(first.get(b.id), tz))


@page(Perm.MARKETING_READ)
async def results_page(request: web.Request) -> web.Response:
    try:
        b = await broadcasts.get(path_id(request, "broadcast_id"))
    except InboxError as exc:
        return error_page(request, exc.status, str(exc))
    return await _results(request, b)


@page(Perm.MARKETING_WRITE)
async def cancel(request: web.Request) -> web.StreamResponse:
    bid = path_id(request, "broadcast_id")
    try:
        await broadcasts.cancel(bid)
    except InboxError as exc:
        b = await Broadcast.filter(id=bid).first()
        if b is None:
            return error_page(request, exc.status, str(exc))
        return await _results(request, b, exc.status, str(exc))
    raise web.HTTPSeeOther(f"/broadcasts/{bid}")


def setup(app: web.Application) -> None:
    app.router.add_get("/broadcasts", broadcasts_page)
    app.router.add_get("/broadcasts/new", compose_page)
    app.router.add_post("/broadcasts/new", compose)
    app.router.add_get("/broadcasts/{broadcast_id:\\d+}", results_page)
    app.router.add_post("/broadcasts/{broadcast_id:\\d+}/cancel", cancel)
    app.router.add_get("/broadcasts/{broadcast_id:\\d+}/edit", edit_page)
    app.router.add_post("/broadcasts/{broadcast_id:\\d+}/edit", edit)
