"""The Channels page's edit form (review of issue 19): every declared secret has an input
(so a change of where an account connects can be saved with the secret typed again), the
refusal names the secret to type again, an emptied optional field clears the setting,
and a pasted sealed value is refused."""

from __future__ import annotations

from typing import Any

from bot.core import vault
from bot.models import ChannelAccount
from bot.services.replies import account_info
from tests.conftest import Shop
from tests.web.test_web import as_admin

TOKEN = "123456:telegram-token-abcdefgh"


async def telegram(**settings: Any) -> ChannelAccount:
    return await ChannelAccount.create(
        kind="telegram", name="tg", secret=vault.seal("e" * 64), enabled=False,
        settings={"token": vault.seal(TOKEN), "mode": "polling", **settings})


async def edit(shop: Shop, csrf: str, account: ChannelAccount, **fields: str) -> Any:
    return await shop.client.post(f"/admin/channels/{account.id}",
                                  data={"csrf_token": csrf, **fields}, allow_redirects=False)


async def test_the_edit_form_offers_every_secret_and_a_moved_url_needs_it(shop: Shop
                                                                          ) -> None:
    csrf = await as_admin(shop)
    account = await telegram(api_base_url="https://tg.example")
    page = await (await shop.client.get("/admin/channels")).text()
    form = page.split(f'action="/admin/channels/{account.id}"', 1)[1].split("</form>")[0]
    assert 'name="token"' in form and TOKEN not in page and TOKEN[-4:] not in form

    moved = {"mode": "polling", "api_base_url": "https://tg2.example"}
    resp = await edit(shop, csrf, account, **moved, token="")
    assert resp.status == 400
    text = await resp.text()
    assert "token must be entered again" in text and "api_base_url" in text
    assert account_info(await ChannelAccount.get(id=account.id)).settings[
        "api_base_url"] == "https://tg.example"

    resp = await edit(shop, csrf, account, **moved, token="123456:typed-again-token")
    assert resp.status == 302, await resp.text()
    info = account_info(await ChannelAccount.get(id=account.id))
    assert (info.settings["api_base_url"], info.settings["token"]) == (
        "https://tg2.example", "123456:typed-again-token")

    # emptied: back to Telegram's own address (a move too, so the token again)
    resp = await edit(shop, csrf, account, mode="polling", api_base_url="", token=TOKEN)
    assert resp.status == 302, await resp.text()
    info = account_info(await ChannelAccount.get(id=account.id))
    assert "api_base_url" not in info.settings and info.settings["token"] == TOKEN
    # an empty secret field keeps the stored secret
    resp = await edit(shop, csrf, account, mode="webhook", api_base_url="", token="")
    assert resp.status == 302, await resp.text()
    info = account_info(await ChannelAccount.get(id=account.id))
    assert (info.settings["mode"], info.settings["token"]) == ("webhook", TOKEN)


async def test_emptied_origins_and_folder_are_cleared(shop: Shop) -> None:
    csrf = await as_admin(shop)
    chat = await ChannelAccount.create(kind="webchat", name="w", secret="", enabled=False,
                                       settings={"origins": "https://shop.example"})
    resp = await edit(shop, csrf, chat, origins="")
    assert resp.status == 302, await resp.text()
    assert "origins" not in (await ChannelAccount.get(id=chat.id)).settings

    mail = await ChannelAccount.create(
        kind="email", name="m", secret="", enabled=False,
        settings={"address": "a@shop.example", "folder": "Support",
                  "imap_password": vault.seal("imap-secret-pw")})
    resp = await edit(shop, csrf, mail, folder="", imap_password="", smtp_password="")
    assert resp.status == 302, await resp.text()
    info = account_info(await ChannelAccount.get(id=mail.id))
    assert "folder" not in info.settings and info.settings["imap_password"] == "imap-secret-pw"


async def test_a_pasted_sealed_value_is_refused(shop: Shop) -> None:
    csrf = await as_admin(shop)
    victim = await telegram()
    sealed = (await ChannelAccount.get(id=victim.id)).settings["token"]
    assert sealed.startswith(vault.PREFIX)
    other = await telegram(api_base_url="https://tg.example")
    # on the page: the stolen ciphertext as the "typed again" token with a new URL
    resp = await edit(shop, csrf, other, mode="polling", api_base_url="https://evil.example",
                      token=sealed)
    assert resp.status in (400, 422)
    assert "sealed" in await resp.text()
    assert account_info(await ChannelAccount.get(id=other.id)).settings[
        "api_base_url"] == "https://tg.example"
    # on the API: into a secret, or into a setting shown in the clear
    for settings in ({"token": sealed, "api_base_url": "https://evil.example"},
                     {"note": sealed}):
        status, body = await shop.api("PATCH", f"/api/v1/channels/{other.id}",
                                      json={"settings": settings})
        assert status in (400, 422) and body["error"]["code"] == "sealed_value", body
    status, body = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "x", "settings": {"google_access_token": sealed}})
    assert status in (400, 422) and body["error"]["code"] == "sealed_value", body
    assert TOKEN not in str(body)
