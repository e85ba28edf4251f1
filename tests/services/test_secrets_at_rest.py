"""Issue 19 point 14: channel secrets are sealed at rest (the raw row holds none of them),
opened where used (the account still works), and a stored secret is never sent to a new
destination (a changed host needs the secret typed again)."""

from __future__ import annotations

from typing import Any

from tortoise import connections

from bot.core import vault
from bot.core.keys import ADAPTERS
from bot.models import ChannelAccount
from bot.services import accounts
from bot.services.account_cache import forget_accounts
from bot.services.replies import account_info
from tests.conftest import Shop, message

GOOGLE = "ya29.google-access-token-abcd"
PASSWORD = "imap-password-1234"


async def raw_rows() -> list[dict[str, Any]]:
    conn: Any = connections.get("default")
    return list(await conn.execute_query_dict(
        "SELECT id, secret, settings FROM channel_accounts ORDER BY id"))


async def test_the_raw_rows_hold_no_plaintext_secret_and_the_account_still_works(
        shop: Shop) -> None:
    status, created = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "shop hook", "settings": {
            "google_access_token": GOOGLE, "google_api_url": "https://google.example",
            "password": "hunter2-password", "note": "plain"}})
    assert status == 201, created
    assert created["settings"]["google_access_token"] == "…" + GOOGLE[-4:]
    plain = [GOOGLE, "hunter2-password", created["secret"], shop.seed["api_account_secret"]]
    rows = await raw_rows()
    assert rows, "no accounts"
    for row in rows:
        for secret in plain:
            assert secret not in str(row), (row["id"], secret)
        assert str(row["secret"]).startswith(vault.PREFIX)
    assert "plain" in str(rows[-1]["settings"])  # only secrets are sealed

    # the seeded account (stored in the clear by the seed, sealed at start-up) and the new
    # one still take signed messages: the secret is opened where it is used
    assert (await shop.inbound(message())).status == 202
    resp = await shop.inbound(message(), account=created["id"], secret=created["secret"])
    assert resp.status == 202, await resp.text()
    info = account_info(await ChannelAccount.get(id=created["id"]))
    assert info.secret == created["secret"]
    assert info.settings["google_access_token"] == GOOGLE

    # a masked value sent back keeps the stored secret, still sealed
    status, patched = await shop.api("PATCH", f"/api/v1/channels/{created['id']}", json={
        "name": "renamed", "settings": created["settings"]})
    assert status == 200, patched
    assert GOOGLE not in str(await raw_rows())
    info = account_info(await ChannelAccount.get(id=created["id"]))
    assert info.settings["google_access_token"] == GOOGLE


async def test_a_row_stored_in_the_clear_is_sealed_and_keeps_working(shop: Shop) -> None:
    old = await ChannelAccount.create(kind="webchat", name="old", secret="c" * 64,
                                      settings={"password": PASSWORD, "title": "Hi"})
    assert account_info(old).settings["password"] == PASSWORD  # read before sealing
    adapters = shop.client.server.app[ADAPTERS]  # type: ignore[attr-defined]
    assert await accounts.seal_stored(adapters) == 1
    row = [r for r in await raw_rows() if r["id"] == old.id][0]
    assert PASSWORD not in str(row) and "c" * 64 not in str(row)
    info = account_info(await ChannelAccount.get(id=old.id))
    assert (info.secret, info.settings) == ("c" * 64, {"password": PASSWORD, "title": "Hi"})
    assert await accounts.seal_stored(adapters) == 0


async def test_a_changed_host_needs_the_password_typed_again(shop: Shop) -> None:
    settings = {"address": "shop@example.test", "imap_host": "imap.example.test",
                "imap_user": "shop", "imap_password": PASSWORD,
                "smtp_host": "smtp.example.test", "smtp_password": PASSWORD}
    account = await ChannelAccount.create(kind="email", name="mail", secret="d" * 64,
                                          settings=settings, enabled=False)
    status, listed = await shop.api("GET", "/api/v1/channels")
    shown = next(a for a in listed if a["id"] == account.id)["settings"]
    assert shown["imap_password"] == "…" + PASSWORD[-4:]

    path = f"/api/v1/channels/{account.id}"
    for change in ({**shown, "imap_host": "evil.example"},  # the masked password
                   {"imap_host": "evil.example"},  # the password left out
                   {"smtp_port": 2525, "imap_password": "new-imap-pass"},  # not smtp's
                   {"imap_tls": False}):
        status, body = await shop.api("PATCH", path, json={"settings": change})
        assert status in (400, 422), (change, body)
        assert body["error"]["code"] == "secret_required", body
        assert body["error"]["field"] in ("settings.imap_password", "settings.smtp_password")
        assert "again" in body["error"]["message"]
    stored = account_info(await ChannelAccount.get(id=account.id)).settings
    assert stored["imap_host"] == "imap.example.test"

    status, body = await shop.api("PATCH", path, json={"settings": {
        **shown, "imap_host": "imap2.example.test", "imap_password": "new-imap-pass",
        "smtp_password": "new-smtp-pass"}})
    assert status == 200, body
    stored = account_info(await ChannelAccount.get(id=account.id)).settings
    assert (stored["imap_host"], stored["imap_password"]) == ("imap2.example.test",
                                                              "new-imap-pass")
    # the same host again with the masked secrets is fine
    status, body = await shop.api("PATCH", path, json={"settings": {
        **body["settings"], "folder": "INBOX"}})
    assert status == 200, body


async def test_after_a_secret_key_change_the_channels_page_asks_for_the_secrets_again(
        shop: Shop) -> None:
    status, created = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "hook", "settings": {"google_access_token": GOOGLE}})
    assert status == 201, created
    vault.use_key("another-secret-key-than-before")  # as if secret_key were changed
    status, listed = await shop.api("GET", "/api/v1/channels")
    assert status == 200, listed
    shown = next(a for a in listed if a["id"] == created["id"])["settings"]
    assert shown["google_access_token"] == "…"
    # its messages are refused as for an unknown account (404), not with a crash
    forget_accounts()
    resp = await shop.inbound(message(), account=created["id"], secret=created["secret"])
    assert resp.status == 404, await resp.text()
    # its signing secret cannot be typed again: a clear refusal, not a crash
    status, body = await shop.api("PATCH", f"/api/v1/channels/{created['id']}", json={
        "settings": {"google_access_token": "ya29.typed-again-after-the-change"}})
    assert status in (400, 409, 422) and body["error"]["code"] == "secret_unreadable", body
    # an account without a sealed signing secret takes its settings' secrets again
    account = await ChannelAccount.create(kind="api", name="plain", secret="",
                                          settings={"google_access_token": vault.seal(
                                              "ya29.sealed-under-the-new-key")})
    vault.use_key("yet-another-secret-key-here")
    status, body = await shop.api("PATCH", f"/api/v1/channels/{account.id}", json={
        "settings": {"google_access_token": "ya29.typed-again-after-the-change"}})
    assert status == 200, body
    info = account_info(await ChannelAccount.get(id=account.id))
    assert info.settings["google_access_token"] == "ya29.typed-again-after-the-change"
