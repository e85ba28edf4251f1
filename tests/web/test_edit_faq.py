"""The bot's FAQ entries edited and deleted on the bot page."""

from __future__ import annotations

from bot.models import FaqEntry
from tests.conftest import Shop
from tests.web.test_web import as_admin, login


async def test_edit_and_delete_an_faq_entry_on_the_page(shop: Shop) -> None:
    csrf = await as_admin(shop)
    e = await FaqEntry.create(locale="en", question="When do you ship?", answer="Daily.")
    page = await (await shop.client.get("/admin/bot")).text()
    assert f'action="/admin/bot/faq/{e.id}"' in page
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}", allow_redirects=False, data={
        "csrf_token": csrf, "locale": "pl", "question": "Kiedy wysyłacie?",
        "variants": "wysyłka\nkiedy paczka", "answer": "Codziennie.", "in_menu": "on"})
    assert resp.status == 302
    e = await FaqEntry.get(id=e.id)
    assert (e.locale, e.question, e.variants, e.answer, e.in_menu) == (
        "pl", "Kiedy wysyłacie?", ["wysyłka", "kiedy paczka"], "Codziennie.", True)
    page = await (await shop.client.get("/admin/bot?q=kiedy+paczka&locale=pl")).text()
    assert "Answers with <strong>Kiedy wysyłacie?</strong>" in page  # the bot uses the edit
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}/delete", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and not await FaqEntry.exists(id=e.id)
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 404
    resp = await shop.client.post("/admin/bot/faq/999", data={
        "csrf_token": csrf, "locale": "en", "question": "q", "answer": "a"})
    assert resp.status == 404


async def test_bad_faq_edits_show_the_form_again(shop: Shop) -> None:
    csrf = await as_admin(shop)
    e = await FaqEntry.create(locale="en", question="Returns?", answer="30 days.")
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}", data={
        "csrf_token": csrf, "locale": "en", "question": "q" * 301, "answer": "typed answer"})
    text = await resp.text()
    assert resp.status == 422 and "at most 300 characters" in text and "typed answer" in text
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}", data={
        "csrf_token": csrf, "locale": "en", "question": "Returns?", "answer": ""})
    assert resp.status == 400 and "needs a question and an answer" in await resp.text()
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}", data={
        "csrf_token": csrf, "locale": "xx", "question": "Returns?", "answer": "a"})
    assert resp.status == 400
    resp = await shop.client.post("/admin/bot/faq", data={
        "csrf_token": csrf, "locale": "en", "question": "New?", "answer": "a" * 4001})
    assert resp.status == 422 and "New?" in await resp.text()
    e = await FaqEntry.get(id=e.id)
    assert (e.question, e.answer) == ("Returns?", "30 days.")
    assert not await FaqEntry.exists(question="New?")


async def test_an_agent_cannot_edit_or_delete_faq_entries(shop: Shop) -> None:
    e = await FaqEntry.create(locale="en", question="Returns?", answer="30 days.")
    agent = await shop.add_user("agent")
    csrf = await login(shop, agent["email"], agent["password"])
    page = await (await shop.client.get("/admin/bot")).text()
    assert f'action="/admin/bot/faq/{e.id}"' not in page
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}", data={
        "csrf_token": csrf, "locale": "en", "question": "Mine", "answer": "x"})
    assert resp.status == 403
    resp = await shop.client.post(f"/admin/bot/faq/{e.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 403
    assert (await FaqEntry.get(id=e.id)).question == "Returns?"
