"""Issue 22 point 1, through the pages: a staff page is served in the user's language, else
in the browser's (``Accept-Language``), else in English; the account page sets it; dates
on a page are in the locale's format."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from bot.core import i18n
from bot.models import User
from bot.web import dashboard
from bot.web.reports import show
from tests.conftest import Shop
from tests.web.test_web import as_admin

LANG = re.compile(r'<html lang="([a-z]+)">')
SESSION_TIMES = re.compile(r'<table id="sessions">.*?<td>([^<]+)</td>', re.S)


async def _get(shop: Shop, path: str, accept: str | None = None) -> str:
    resp = await shop.client.get(path, headers={"Accept-Language": accept} if accept else {})
    assert resp.status == 200
    return await resp.text()


async def test_the_login_page_speaks_the_browsers_language(shop: Shop) -> None:
    vi = await _get(shop, "/login", "vi-VN,vi;q=0.9,en;q=0.5")
    assert LANG.search(vi).group(1) == "vi"  # type: ignore[union-attr]
    assert "Đăng nhập" in vi and ">Log in<" not in vi and "Mật khẩu" in vi
    en = await _get(shop, "/login", "de-DE")
    assert LANG.search(en).group(1) == "en" and ">Log in<" in en  # type: ignore[union-attr]


async def test_the_users_setting_beats_the_browser(shop: Shop) -> None:
    csrf = await as_admin(shop)
    ru = await _get(shop, "/account", "ru")
    assert LANG.search(ru).group(1) == "ru"  # type: ignore[union-attr]
    assert 'lang="vi"' in ru and "Tiếng Việt" in ru and "ខ្មែរ" in ru  # the choices
    en_time = SESSION_TIMES.search(await _get(shop, "/account")).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{2}, \d{1,2}:\d{2}\s[AP]M", en_time), en_time

    resp = await shop.client.post("/account/language",
                                  data={"csrf_token": csrf, "language": "vi"})
    assert resp.status == 200
    saved = await resp.text()
    assert "Đã lưu ngôn ngữ của bạn." in saved and LANG.search(saved).group(1) == "vi"  # type: ignore[union-attr]
    user = await User.get(email=shop.seed["email"])
    assert user.language == "vi"

    page = await _get(shop, "/inbox", "ru")  # the browser asks Russian: the setting wins
    assert LANG.search(page).group(1) == "vi" and "Hộp thư" in page  # type: ignore[union-attr]
    home = await _get(shop, "/", "ru")  # the reports' titles (marked in the services) too
    assert "Hội thoại đang mở" in home and "Open conversations" not in home
    report = await _get(shop, "/reports/inbox-overview", "ru")
    assert "Tổng quan hộp thư" in report and "30 ngày qua" in report
    vi_time = SESSION_TIMES.search(await _get(shop, "/account", "ru")).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"\d{2}:\d{2} \d{1,2}/\d{1,2}/\d{2}", vi_time), vi_time

    resp = await shop.client.post("/account/language",
                                  data={"csrf_token": csrf, "language": ""})
    assert resp.status == 200 and (await User.get(id=user.id)).language is None
    assert LANG.search(await _get(shop, "/inbox", "ru")).group(1) == "ru"  # type: ignore[union-attr]


async def test_a_language_not_offered_is_refused(shop: Shop) -> None:
    csrf = await as_admin(shop)
    resp = await shop.client.post("/account/language",
                                  data={"csrf_token": csrf, "language": "xx"})
    assert resp.status == 400
    assert (await User.get(email=shop.seed["email"])).language is None
    resp = await shop.client.post("/account/language", data={"language": "vi"})
    assert resp.status == 403  # no CSRF token


async def test_an_error_page_is_translated_too(shop: Shop) -> None:
    resp = await shop.client.post("/account/language", data={"language": "vi"},
                                  headers={"Accept-Language": "vi"})
    assert resp.status == 401
    assert "Vui lòng đăng nhập lại." in await resp.text()


async def test_the_web_chat_speaks_the_visitors_language(shop: Shop) -> None:
    account = int(shop.seed["webchat_account_id"])
    vi = await _get(shop, f"/chat?account={account}", "vi")
    assert LANG.search(vi).group(1) == "vi"  # type: ignore[union-attr]
    assert "Nhập tin nhắn…" in vi and 'data-reconnecting="Đang kết nối lại…"' in vi
    en = await _get(shop, f"/chat?account={account}", "en-GB")
    assert "Type a message…" in en and "Hi! How can we help you today?" in en


def test_report_values_use_the_locales_separators() -> None:
    assert (show(1234567, "int"), show(1234.5, "money"), show(0.125, "percent"),
            show(3.14159, "float")) == ("1,234,567", "1,234.50", "12.5%", "3.14")
    token = i18n.current.set("vi")
    try:
        assert (show(1234567, "int"), show(1234.5, "money"), show(0.125, "percent"),
                show(3.14159, "float")) == ("1.234.567", "1.234,50", "12,5%", "3,14")
        assert dashboard.shown(1234.5, "money", ZoneInfo("UTC")) == "1.234,50"
    finally:
        i18n.current.reset(token)


async def test_a_services_refusal_reads_in_the_page_language(shop: Shop) -> None:
    csrf = await as_admin(shop)
    resp = await shop.client.post("/account/password", headers={"Accept-Language": "vi"},
                                  data={"csrf_token": csrf, "current": "not it",
                                        "new": "n" * 20, "confirm": "n" * 20})
    assert resp.status == 400 and "Mật khẩu hiện tại không đúng." in await resp.text()
