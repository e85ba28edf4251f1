"""Channel accounts over the REST API: a secret setting is masked whatever the account's
kind, and a masked value sent back keeps the stored secret."""

from __future__ import annotations

from bot.models import ChannelAccount
from bot.services.replies import account_info
from tests.conftest import Shop

SECRETS = {"access_token": "EAAG-long-page-token-1234", "app_secret": "shh-app-secret-5678",
           "token": "123:telegram-bot-token-9abc", "password": "hunter2-pass",
           "imap_password": "imap-pw-4321", "smtp_password": "smtp-pw-8765"}


async def test_secrets_masked_on_any_kind_and_kept_when_sent_back(shop: Shop) -> None:
    status, created = await shop.api("POST", "/api/v1/channels", json={
        "kind": "api", "name": "hook", "settings": {**SECRETS, "note": "plain"}})
    assert status == 201, created
    for key, value in SECRETS.items():
        assert created["settings"][key] == "…" + value[-4:]
    assert created["settings"]["note"] == "plain"

    webchat = await ChannelAccount.create(kind="webchat", name="site", secret="s" * 64,
                                          settings=dict(SECRETS))
    status, listed = await shop.api("GET", "/api/v1/channels")
    assert status == 200, listed
    shown = {a["id"]: a["settings"] for a in listed}
    for account_id in (created["id"], webchat.id):
        for key, value in SECRETS.items():
            assert shown[account_id][key] == "…" + value[-4:], (account_id, key)
            assert value not in str(listed)

    status, patched = await shop.api("PATCH", f"/api/v1/channels/{created['id']}", json={
        "settings": {**shown[created["id"]], "access_token": "EAAG-new-token-0000"}})
    assert status == 200, patched
    stored = account_info(await ChannelAccount.get(id=created["id"])).settings  # unsealed
    assert stored == {**SECRETS, "note": "plain", "access_token": "EAAG-new-token-0000"}
