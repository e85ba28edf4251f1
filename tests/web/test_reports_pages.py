"""The reports front end (issue 21), against a known report of the test's own registered in
the registry: the pages, their roles, the filters as parsed and passed to the report, bad
input as a clear 4xx page, the CSV (raw values, Excel's BOM, formulas defused) and the REST
API against its OpenAPI document."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator

from bot.core.keys import SETTINGS
from bot.models import Label
from bot.services.reports import REPORTS, Filters
from bot.services.reports.query import today_in
from tests.conftest import Shop
from tests.web.known_report import KEY, MARKETING_KEY, known_reports
from tests.web.test_web import as_admin, login

NAV = '<a href="/reports"'


async def _text(shop: Shop, path: str, status: int = 200) -> str:
    resp = await shop.client.get(path)
    text = await resp.text()
    assert resp.status == status, (path, resp.status, text[:2000])
    return text


async def test_roles_decide_which_reports_a_user_sees(shop: Shop) -> None:
    agent, marketer = await shop.add_user("agent"), await shop.add_user("marketer")
    with known_reports():
        await as_admin(shop)
        index = await _text(shop, "/reports")
        assert NAV in index and "Known test report" in index
        assert "Known marketing report" in index and "Marketing" in index
        await _text(shop, f"/reports/{KEY}")
        await _text(shop, f"/reports/{MARKETING_KEY}")
        await shop.client.post("/logout", data={"csrf_token": await _csrf(shop)})

        await login(shop, agent["email"], agent["password"])
        index = await _text(shop, "/reports")
        assert NAV in index and "Known test report" in index
        assert "Known marketing report" not in index
        assert "may not read marketing reports" in await _text(
            shop, f"/reports/{MARKETING_KEY}", 403)
        await _text(shop, f"/reports/{MARKETING_KEY}/x.csv", 403)
        await shop.client.post("/logout", data={"csrf_token": await _csrf(shop)})

        await login(shop, marketer["email"], marketer["password"])
        index = await _text(shop, "/reports")
        assert "Known marketing report" in index and "Known test report" not in index
        await _text(shop, f"/reports/{KEY}", 403)
        await _text(shop, f"/reports/{KEY}/by_day.csv", 403)
        await shop.client.post("/logout", data={"csrf_token": await _csrf(shop)})
        resp = await shop.client.get(f"/reports/{KEY}", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    # a user who may read no report has no Reports in the nav, and /reports says so
    with known_reports(MARKETING_KEY):
        await login(shop, agent["email"], agent["password"])
        inbox = await _text(shop, "/inbox")
        assert NAV not in inbox and "Inbox" in inbox
        await _text(shop, "/reports", 403)


async def _csrf(shop: Shop) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', await _text(shop, "/account"))
    assert found
    return found.group(1)


async def test_filters_are_parsed_and_passed_to_the_report(shop_any_db: Shop) -> None:
    shop = shop_any_db  # SQLite and PostgreSQL: the filters' choices and checks
    agent = await shop.add_user("agent")
    await Label.create(name="vip")
    account = shop.seed["api_account_id"]
    with known_reports() as seen:
        await as_admin(shop)
        page = await _text(shop, f"/reports/{KEY}?range=custom&from=2026-01-01&to=2026-01-10"
                                 f"&channel=api&account={account}&agent={agent['id']}"
                                 "&label=vip&source=web")
        assert seen[-1] == Filters(date(2026, 1, 1), date(2026, 1, 10), "api", account,
                                   agent["id"], "vip", (("source", "web"),))
        # the form shows what was asked, its selects filled from the database
        assert 'value="2026-01-01"' in page and 'value="2026-01-10"' in page
        assert '<option value="vip" selected>vip</option>' in page
        assert f'<option value="{agent["id"]}" selected>' in page
        assert '<option value="api" selected>api</option>' in page
        # the figures against the previous period (30 now, 20 then: up 50%)
        assert "30" in page and "▲ 50%" in page
        assert "up 50% from 20 in the previous period" in page
        assert "down 17% from 2 min 30 s in the previous period" in page  # 125 s vs 150 s
        assert "1,234.50" in page
        assert "2025-12-22 – 2025-12-31" in page  # the previous period
        # the chart: a canvas with a label, its data for the script, and its table
        assert re.search(r'<canvas id="chart-0" role="img" aria-label="Opened per day: bar '
                         r'chart of Opened by Day', page)
        assert '<script type="application/json" id="report-charts">' in page
        assert "<caption>Opened per day: the values</caption>" in page
        assert "1 min 30 s" in page and "25.0%" in page  # seconds and percent, readable
        # the heatmap: a table, a value in each coloured cell
        heat = page.split('id="table-heat"', 1)[1].split("</table>", 1)[0]
        assert heat.count("<td") == 7 * 24 and "rgba(37, 99, 235" in heat
        assert "<th scope=\"row\">Mon</th>" in heat
        # a CSV link per table, with the filters
        for table in ("by_day", "heat", "agents"):
            assert f'href="/reports/{KEY}/{table}.csv?range=custom&amp;from=2026-01-01' in page
        # the report's JSON cannot end the data block early
        assert "</script>" not in page.split('id="report-charts">', 1)[1].split(
            "</script>", 1)[0]

        today = today_in(shop.client.server.app[SETTINGS].shop_timezone)
        await _text(shop, f"/reports/{KEY}")  # by default the last 30 days
        assert seen[-1].days == 30 and seen[-1].channel is None and seen[-1].extra == ()
        end = seen[-1].end
        assert abs((end - today).days) <= 1
        for preset, days in (("today", 1), ("7", 7), ("90", 90), ("365", 365)):
            await _text(shop, f"/reports/{KEY}?range={preset}&from=2020-01-01")
            assert seen[-1].days == days and seen[-1].end == end, preset
        await _text(shop, f"/reports/{KEY}?range=month")
        assert seen[-1].start == end.replace(day=1) and seen[-1].end == end
        # an empty select is "all"
        await _text(shop, f"/reports/{KEY}?from=2026-02-01&to=2026-02-01&channel=&agent=")
        assert seen[-1] == Filters(date(2026, 2, 1), date(2026, 2, 1))


async def test_bad_input_is_a_clear_4xx_page(shop_any_db: Shop) -> None:
    shop = shop_any_db  # SQLite and PostgreSQL: the filters' choices and checks
    await Label.create(name="vip")
    with known_reports() as seen:
        await as_admin(shop)
        bad = {"from=2026-02-10&to=2026-02-01": "is after to",
               "from=2026-13-01": "is not a date",
               "from=yesterday": "is not a date",
               "from=2024-01-01&to=2025-06-01": "at most 400",
               "from=0001-01-01&to=0001-01-02": "give a day from",
               "range=fortnight": "unknown range",
               "channel=fax": "no channel account of kind &#39;fax&#39;",
               "account=999999": "no account",
               "account=abc": "no account",
               "agent=999999": "no agent",
               "label=nope": "no label &#39;nope&#39;"}
        for qs, words in bad.items():
            page = await _text(shop, f"/reports/{KEY}?{qs}", 400)
            assert words in page and 'role="alert"' in page, qs
            assert 'id="report-filters"' in page  # the form, to correct it
        assert seen == []  # the report never ran
        page = await _text(shop, f"/reports/{MARKETING_KEY}?agent=1", 400)
        assert "has no agent filter" in page
        assert "no such report" in await _text(shop, "/reports/nope", 404)
        await _text(shop, "/reports/nope/by_day.csv", 404)
        assert "no such table" in await _text(shop, f"/reports/{KEY}/nope.csv", 404)
        await _text(shop, f"/reports/{KEY}/by_day.csv?from=2026-13-01", 400)


async def test_csv_is_raw_values_with_a_bom_and_no_formula(shop: Shop) -> None:
    with known_reports():
        await as_admin(shop)
        resp = await shop.client.get(f"/reports/{KEY}/by_day.csv?from=2026-01-01"
                                     "&to=2026-01-03&channel=api")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == (
            f'attachment; filename="{KEY}-by_day-2026-01-01-2026-01-03.csv"')
        body = await resp.read()
        assert body.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert rows[0] == ["Day", "Opened", "First response", "Revenue", "Answered", "Note"]
        assert rows[1] == ["2026-01-01", "1", "90", "10.01", "0.25",
                           "'=HYPERLINK(\"http://evil.test\")"]
        assert rows[2] == ["2026-01-02", "2", "91", "20.01", "0.25", "plain"]
        assert rows[3] == ["2026-01-03", "3", "92", "30.02", "", "plain"]
        assert len(rows) == 4
        agents = await (await shop.client.get(
            f"/reports/{KEY}/agents.csv?from=2026-01-01&to=2026-01-03&channel=api")).read()
        rows = list(csv.reader(io.StringIO(agents.decode("utf-8-sig"))))
        assert rows[1:] == [["channel=api label=any", "3"], ["'@sum(A1)", "0"]]


def _check(doc: dict[str, Any], path: str, status: int, body: Any) -> None:
    op = doc["paths"][path]["get"]
    schema = {**op["responses"][str(status)]["content"]["application/json"]["schema"],
              "components": doc["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [e.message[:300] for e in errors[:3]]


async def test_the_api_gives_the_report_as_json_and_csv(shop: Shop) -> None:
    doc = await (await shop.client.get("/api/v1/openapi.json")).json()
    agent, marketer = await shop.add_user("agent"), await shop.add_user("marketer")
    registered = dict(REPORTS)  # the catalog's
    with known_reports() as seen:
        status, listed = await shop.api("GET", "/api/v1/reports")
        assert status == 200 and [r["key"] for r in listed] == [KEY, MARKETING_KEY]
        _check(doc, "/api/v1/reports", 200, listed)
        assert listed[0]["extra"] == ["source"] and listed[1]["filters"] == ["channel"]
        status, listed = await shop.api("GET", "/api/v1/reports", token=agent["api_token"])
        assert [r["key"] for r in listed] == [KEY]
        status, listed = await shop.api("GET", "/api/v1/reports", token=marketer["api_token"])
        assert [r["key"] for r in listed] == [MARKETING_KEY]

        status, report = await shop.api(
            "GET", f"/api/v1/reports/{KEY}?from=2026-01-01&to=2026-01-02&channel=api"
                   "&source=shop")
        assert status == 200, report
        _check(doc, "/api/v1/reports/{key}", 200, report)
        assert seen[-1] == Filters(date(2026, 1, 1), date(2026, 1, 2), "api",
                                   extra=(("source", "shop"),))
        assert report["filters"] == {"from": "2026-01-01", "to": "2026-01-02",
                                     "channel": "api", "account": None, "agent": None,
                                     "label": None, "extra": {"source": "shop"}}
        figures = {f["key"]: f for f in report["figures"]}
        assert figures["opened"]["value"] == 6 and figures["opened"]["previous"] == 4
        assert figures["revenue"]["value"] == 1234.5 and figures["revenue"]["kind"] == "money"
        by_day = next(t for t in report["tables"] if t["key"] == "by_day")
        assert by_day["rows"][0] == {"day": "2026-01-01", "opened": 1, "first_response": 90,
                                     "revenue": 10.01, "share": 0.25,
                                     "note": "=HYPERLINK(\"http://evil.test\")"}
        assert by_day["rows"][1]["share"] is None
        assert report["charts"][0] == {"kind": "bar", "table": "by_day", "x": "day",
                                       "series": ["opened"], "title": "Opened per day"}

        resp = await shop.client.get(f"/api/v1/reports/{KEY}/by_day.csv?from=2026-01-01"
                                     "&to=2026-01-01", headers=shop.auth())
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        assert (await resp.read()).decode("utf-8-sig").splitlines()[1].startswith(
            "2026-01-01,1,90,10.01,,\"'=HYPERLINK")  # one day: the last row, no share

        # roles, unknown keys and tables, bad input: JSON errors
        for token, path, code in (
                (agent["api_token"], f"/api/v1/reports/{MARKETING_KEY}", 403),
                (marketer["api_token"], f"/api/v1/reports/{KEY}", 403),
                (marketer["api_token"], f"/api/v1/reports/{KEY}/by_day.csv", 403),
                (None, "/api/v1/reports/nope", 404),
                (None, f"/api/v1/reports/{KEY}/nope.csv", 404),
                (None, f"/api/v1/reports/{KEY}?from=2026-02-02&to=2026-02-01", 400),
                (None, f"/api/v1/reports/{KEY}?channel=fax", 400),
                (None, f"/api/v1/reports/{MARKETING_KEY}?label=x", 400),
                (None, f"/api/v1/reports/{KEY}?from=2026-13-01", 422),
                (None, f"/api/v1/reports/{KEY}?range=fortnight", 422),
                (None, f"/api/v1/reports/{KEY}?chanel=api", 400),  # misspelt: refused
                (None, f"/api/v1/reports/{KEY}?model=first", 400)):  # not its filter
            status, err = await shop.api("GET", path, token=token)
            assert status == code and "message" in err["error"], (path, status, err)
        # the document states the report endpoints, the CSV's path parameters included
        csv_op = doc["paths"]["/api/v1/reports/{key}/{table}.csv"]["get"]
        assert {p["name"] for p in csv_op["parameters"] if p["in"] == "path"} == {"key",
                                                                                 "table"}
        assert "404" in doc["paths"]["/api/v1/reports/{key}"]["get"]["responses"]
        # every registered report by name, and every report's own filters
        for path in ("/api/v1/reports/{key}", "/api/v1/reports/{key}/{table}.csv"):
            params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
            assert params["key"]["schema"]["enum"] == sorted(registered)
            assert {"sla", "listening-sentiment", "attribution"} <= set(registered)
            assert {"source", "lang", "model"} <= set(params)
            assert {x for r in registered.values() for x in r.extra} <= set(params)
    # an empty registry: an empty list, and every key unknown
    with known_reports("none"):
        assert await shop.api("GET", "/api/v1/reports") == (200, [])
        assert (await shop.api("GET", f"/api/v1/reports/{KEY}"))[0] == 404
