"""A report's filters as a person or a program asks for them, shared by the reports page
and the REST API: which reports a user may read, the choices of each filter (from the
database), and :func:`parse_filters`, which turns a query (``from``, ``to``, ``range``,
``channel``, ``account``, ``agent``, ``label`` and the report's own extra filters) into
:class:`~bot.services.reports.Filters`, or refuses it with a clear
:class:`~bot.core.errors.InboxError` (400, the field named; 404 for an unknown report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.core.auth import has_perm
from bot.core.clean import db_id
from bot.core.errors import InboxError, NotFound
from bot.core.i18n import N_, lazy
from bot.core.time import utcnow
from bot.models import ChannelAccount, Label, Role, User
from bot.services.reports import REPORTS, Filters, ReportSpec

MAX_DAYS = 400  # the longest range one report covers (a year and its edges)
DEFAULT_RANGE = "30"
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9000, 12, 31)  # the previous period fits too
# The range presets (the form's select), in the order shown.
PRESETS: tuple[tuple[str, str], ...] = (
    ("today", N_("Today")), ("7", N_("Last 7 days")), ("30", N_("Last 30 days")),
    ("90", N_("Last 90 days")), ("month", N_("This month")), ("365", N_("Last 365 days")),
    ("custom", N_("Custom dates")))
MAX_EXTRA = 200  # characters of a report-specific filter's value


def today_in(timezone: str) -> date:
    """Today in the shop's timezone."""
    return utcnow().astimezone(ZoneInfo(timezone)).date()


def preset_range(name: str, today: date) -> tuple[date, date]:
    """The days a preset covers, both included, ending today."""
    if name == "today":
        return today, today
    if name == "month":
        return today.replace(day=1), today
    if name in ("7", "30", "90", "365"):
        return today - timedelta(days=int(name) - 1), today
    raise InboxError(lazy("unknown range %(name)s: use one of %(choices)s", name=repr(name),
                          choices=", ".join(p for p, _ in PRESETS)), "invalid", "range")


def readable(user: User) -> list[ReportSpec]:
    """The reports ``user`` may read, by group then title."""
    return sorted((s for s in REPORTS.values() if has_perm(user, s.perm)),
                  key=lambda s: (s.group, s.title.lower(), s.key))


def spec_of(key: str) -> ReportSpec:
    spec = REPORTS.get(key)
    if spec is None:
        raise NotFound(f"report {key!r}", "key")
    return spec


@dataclass
class Choice:
    value: str
    label: str


async def choices(spec: ReportSpec) -> dict[str, list[Choice]]:
    """The values each of the report's filters may take (its select's options)."""
    out: dict[str, list[Choice]] = {}
    if "channel" in spec.filters:
        out["channel"] = [Choice(k, k) for k in await channel_values(spec)]
    if "account" in spec.filters:
        out["account"] = [Choice(str(a.id), f"{a.name} ({a.kind})")
                          for a in await ChannelAccount.all().order_by("name", "id")]
    if "agent" in spec.filters:
        out["agent"] = [Choice(str(u.id), u.name or u.email) for u in await User.filter(
            role__in=[Role.AGENT, Role.ADMIN]).order_by("email")]
    if "label" in spec.filters:
        names = await Label.all().order_by("name").values_list("name", flat=True)
        out["label"] = [Choice(str(n), str(n)) for n in names]
    return out


async def channel_values(spec: ReportSpec) -> list[str]:
    """What the report's ``channel`` filter takes: its own values (``spec.channels``) or the
    kinds of the channel accounts."""
    if spec.channels is not None:
        return sorted(set(await spec.channels()))
    kinds = await ChannelAccount.all().distinct().values_list("kind", flat=True)
    return sorted({str(k) for k in kinds})


def _day(query: Mapping[str, str], name: str) -> date | None:
    text = (query.get(name) or "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise InboxError(lazy("%(field)s: %(text)s is not a date (YYYY-MM-DD)", field=name,
                              text=repr(text[:40])), "invalid", name) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InboxError(lazy("%(field)s: give a day from %(first)s to %(last)s", field=name,
                              first=FIRST_DAY, last=LAST_DAY), "invalid", name)
    return day


def resolve_range(query: Mapping[str, str], today: date) -> tuple[str, date, date]:
    """The preset chosen (``custom`` for dates typed) and the days, checked."""
    preset = (query.get("range") or "").strip()
    start, end = _day(query, "from"), _day(query, "to")
    if preset and preset != "custom":
        start, end = preset_range(preset, today)
    elif start is None and end is None:
        preset = preset or DEFAULT_RANGE
        if preset == "custom":
            preset = DEFAULT_RANGE
        start, end = preset_range(preset, today)
    else:
        preset = "custom"
        if end is None:
            end = max(today, start) if start is not None else today
        if start is None:
            start = end - timedelta(days=int(DEFAULT_RANGE) - 1)
    if start > end:
        raise InboxError(lazy("from (%(start)s) is after to (%(end)s)", start=start, end=end),
                         "invalid", "from")
    if (end - start).days + 1 > MAX_DAYS:
        raise InboxError(lazy("the range is %(days)s days: at most %(most)s",
                              days=(end - start).days + 1, most=MAX_DAYS), "invalid", "to")
    if start - timedelta(days=(end - start).days + 1) < FIRST_DAY:
        raise InboxError(lazy("from: give a day after %(first)s (the previous period must "
                              "fit too)", first=FIRST_DAY), "invalid", "from")
    return preset, start, end


async def parse_filters(spec: ReportSpec, query: Mapping[str, str], today: date) -> Filters:
    """The filters ``query`` asks of ``spec``'s report; a value that names nothing stored,
    or a filter the report does not honour, is refused (400, the field named)."""
    _, start, end = resolve_range(query, today)
    given = {name: (query.get(name) or "").strip()
             for name in ("channel", "account", "agent", "label")}
    for name, value in given.items():
        if value and name not in spec.filters:
            raise InboxError(lazy("the report %(report)r has no %(name)s filter",
                                  report=spec.key, name=name), "invalid", name)
    channel = given["channel"] or None
    if channel is not None and spec.channels is not None:
        if channel not in await channel_values(spec):
            raise InboxError(lazy("channel: the report has no channel %(channel)r",
                                  channel=channel[:40]), "invalid", "channel")
    elif channel is not None and not await ChannelAccount.filter(kind=channel).exists():
        raise InboxError(lazy("channel: no channel account of kind %(kind)r",
                              kind=channel[:40]), "invalid", "channel")
    account_id = await _existing(given["account"], "account", ChannelAccount)
    agent_id = await _existing(given["agent"], "agent", User)
    label = given["label"] or None
    if label is not None and not await Label.filter(name=label).exists():
        raise InboxError(lazy("label: no label %(label)r", label=label[:64]), "invalid",
                         "label")
    for name in sorted({x for r in REPORTS.values() for x in r.extra} - set(spec.extra)):
        if (query.get(name) or "").strip():
            raise InboxError(lazy("the report %(report)r has no %(name)s filter",
                                  report=spec.key, name=name), "invalid", name)
    extra = tuple((name, value.strip()[:MAX_EXTRA]) for name in spec.extra
                  if (value := query.get(name) or "").strip())
    return Filters(start, end, channel, account_id, agent_id, label, extra)


async def _existing(text: str, name: str, model: type[ChannelAccount] | type[User]
                    ) -> int | None:
    if not text:
        return None
    value = db_id(text)
    if value is None or not await model.filter(id=value).exists():
        raise InboxError(lazy("agent: no agent %(value)r", value=text[:20]) if name == "agent"
                         else lazy("account: no account %(value)r", value=text[:20]),
                         "invalid", name)
    return value
