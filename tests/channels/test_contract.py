"""One contract, every channel. A new adapter joins by adding a driver below that knows how
to reach it through its public entry point; the test itself does not change.

The contract: the adapter declares its limits; an inbound message through the entry point
is stored before it is acknowledged; a redelivery is stored once; unauthenticated input is
refused and stores nothing; a staff reply reaches the customer's side and is marked sent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Protocol

import aiohttp
import pytest
from aiohttp import web

from bot.core.channel import ChannelAdapter
from bot.core.outfiles import FileLimits
from bot.models import Message
from channels import registry
from channels.signing import sign
from tests.conftest import Shop
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram


class Driver(Protocol):
    async def setup(self, shop: Shop, aiohttp_server: Any) -> None: ...
    async def deliver(self, external_id: str, text: str) -> int:
        """Send inbound through the entry point; return the acknowledged message id."""
    async def deliver_unauthenticated(self, text: str) -> None:
        """Send inbound without valid credentials; must be refused."""
    async def received(self) -> list[str]:
        """Texts the customer's side has received from staff so far."""
    async def close(self) -> None: ...


class ApiDriver:
    async def setup(self, shop: Shop, aiohttp_server: Any) -> None:
        self.shop, self.got = shop, []

        async def hook(request: web.Request) -> web.Response:
            self.got.append(json.loads(await request.read())["text"])
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        srv = await aiohttp_server(app)
        _, self.account = await shop.api("POST", "/api/v1/channels", json={
            "kind": "api", "name": "contract", "callback_url": str(srv.make_url("/hook"))})

    async def deliver(self, external_id: str, text: str) -> int:
        body = {"external_id": external_id, "contact": {"external_id": "contract-customer"},
                "text": text}
        resp = await self.shop.inbound(body, account=self.account["id"],
                                       secret=self.account["secret"])
        assert resp.status in (200, 202)
        return int((await resp.json())["id"])

    async def deliver_unauthenticated(self, text: str) -> None:
        body = {"external_id": uuid.uuid4().hex, "contact": {"external_id": "x"}, "text": text}
        resp = await self.shop.inbound(body, account=self.account["id"], secret="wrong")
        assert resp.status == 403

    async def received(self) -> list[str]:
        return list(self.got)

    async def close(self) -> None:
        pass


class WebChatDriver:
    async def setup(self, shop: Shop, aiohttp_server: Any) -> None:
        self.shop = shop
        self.account = shop.seed["webchat_account_id"]
        page = await shop.client.get(f"/chat?account={self.account}")
        assert page.status == 200
        self.ws = await shop.client.ws_connect(f"/chat/ws?account={self.account}")
        hello = await self.ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        self.inbox: list[dict[str, Any]] = []

    async def _frame(self, want: str) -> dict[str, Any]:
        while True:
            frame = await self.ws.receive_json(timeout=5)
            if frame["type"] == want:
                return dict(frame)
            self.inbox.append(frame)

    async def deliver(self, external_id: str, text: str) -> int:
        await self.ws.send_json({"type": "message", "client_id": external_id, "text": text})
        ack = await self._frame("ack")
        assert ack["client_id"] == external_id
        return int(ack["id"])

    async def deliver_unauthenticated(self, text: str) -> None:
        async with aiohttp.ClientSession() as fresh:  # no visitor cookie
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await fresh.ws_connect(self.shop.client.make_url(
                    f"/chat/ws?account={self.account}"))
            assert err.value.status == 403

    async def received(self) -> list[str]:
        try:
            while True:
                self.inbox.append(await self.ws.receive_json(timeout=0.2))
        except TimeoutError:
            pass
        return [f["text"] for f in self.inbox if f["type"] == "message"]

    async def close(self) -> None:
        await self.ws.close()


class TelegramDriver:
    """A customer writing to the shop's bot; Telegram (a local fake of the Bot API) posts
    the update to our webhook with the account's secret token."""

    async def setup(self, shop: Shop, aiohttp_server: Any) -> None:
        self.shop, self.fake = shop, FakeTelegram()
        self.bot = self.fake.add_bot("777:contract")
        srv = await aiohttp_server(self.fake.app())
        _, self.account = await shop.api("POST", "/api/v1/channels", json={
            "kind": "telegram", "name": "contract", "settings": {
                "token": "777:contract", "api_base_url": str(srv.make_url("")).rstrip("/"),
                "mode": "webhook"}})
        self.updates: dict[str, dict[str, Any]] = {}

    async def _post(self, update: dict[str, Any], secret: str) -> aiohttp.ClientResponse:
        resp: aiohttp.ClientResponse = await self.shop.client.post(
            f"/api/v1/telegram/{self.account['id']}/webhook", json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret})
        return resp

    async def deliver(self, external_id: str, text: str) -> int:
        update = self.updates.setdefault(external_id, self.fake.push(
            "777:contract", self.fake.private_message(5005, text)))
        resp = await self._post(update, self.account["secret"])
        assert resp.status == 200
        stored = await Message.get(
            channel_account_id=self.account["id"],
            external_id=f"5005:{update['message']['message_id']}")
        return stored.id

    async def deliver_unauthenticated(self, text: str) -> None:
        update = self.fake.private_message(5005, text)
        assert (await self._post({"update_id": 1, **update}, "guess")).status == 403

    async def received(self) -> list[str]:
        return [s["result"]["text"] for s in self.bot.sent if str(s["chat_id"]) == "5005"]

    async def close(self) -> None:
        pass


class MetaDriver:
    """A customer writing to the shop's Page (Messenger) or Instagram account; Meta (a local
    fake of the Graph API for the replies) posts the signed webhook."""

    kind = "facebook"
    obj, id_setting = "page", "page_id"

    async def setup(self, shop: Shop, aiohttp_server: Any) -> None:
        self.shop, self.fake = shop, FakeGraph()
        self.own = self.fake.add_page("1001", "page-token") if self.kind == "facebook" \
            else self.fake.add_instagram("1001", "page-token")
        srv = await aiohttp_server(self.fake.app())
        _, self.account = await shop.api("POST", "/api/v1/channels", json={
            "kind": self.kind, "name": "contract", "settings": {
                self.id_setting: "1001", "access_token": "page-token",
                "app_secret": "app-secret", "api_base_url": str(srv.make_url("/v21.0"))}})

    async def _post(self, body: dict[str, Any], secret: str) -> aiohttp.ClientResponse:
        raw, headers = FakeGraph.signed(body, secret)
        resp: aiohttp.ClientResponse = await self.shop.client.post(
            f"/api/v1/{self.kind}/{self.account['id']}/webhook", data=raw, headers=headers)
        return resp

    async def deliver(self, external_id: str, text: str) -> int:
        body = FakeGraph.dm("1001", "psid-77", text, f"m_{external_id}", self.obj)
        resp = await self._post(body, "app-secret")
        assert resp.status == 200, await resp.text()
        return (await Message.get(channel_account_id=self.account["id"],
                                  external_id=f"m_{external_id}")).id

    async def deliver_unauthenticated(self, text: str) -> None:
        body = FakeGraph.dm("1001", "psid-77", text, f"m_{uuid.uuid4().hex}", self.obj)
        assert (await self._post(body, "not-the-app-secret")).status == 403

    async def received(self) -> list[str]:
        return [m["message"]["text"] for m in self.own.messages if m["recipient"] == "psid-77"]

    async def close(self) -> None:
        pass


class InstagramDriver(MetaDriver):
    kind = "instagram"
    obj, id_setting = "instagram", "ig_user_id"


class EmailDriver:
    """A customer mailing the shop through a real Postfix; the shop's mailbox is read over
    IMAP from Dovecot, and replies land in the customer's own mailbox."""

    async def setup(self, shop: Shop, aiohttp_server: Any) -> None:
        from tests.channels.test_email import connect_mailbox, customer

        self.shop = shop
        self.mail = _SERVER[0]
        self.account, self.address = await connect_mailbox(shop, self.mail)
        self.customer = customer(self.mail)

    async def deliver(self, external_id: str, text: str) -> int:
        from email.message import EmailMessage

        mid = f"<{external_id}@customer.test>"
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Message-ID"] = self.customer, self.address, mid
        mail["In-Reply-To"] = "<contract-thread@customer.test>"  # no subject line added
        mail.set_content(text)
        known = await Message.filter(external_id=mid).first()
        await asyncio.to_thread(self.mail.send, mail)
        if known is not None:  # a second copy of a mail already stored
            before = len(await asyncio.to_thread(self.mail.inbox, self.address))
            await asyncio.to_thread(self.mail.wait_for, self.address, before)
            await asyncio.sleep(1.0)  # the mailbox loop reads it (IDLE) and drops it
            return known.id
        for _ in range(200):
            stored = await Message.filter(external_id=mid).first()
            if stored is not None:
                return stored.id
            await asyncio.sleep(0.1)
        raise AssertionError("the mail never reached the inbox")

    async def deliver_unauthenticated(self, text: str) -> None:
        # E-mail has no per-message credentials: what guards the inbox is the mailbox
        # login, and a wrong one is refused before an account exists.
        from tests.channels.test_email import account_settings

        status, err = await self.shop.api("POST", "/api/v1/channels", json={
            "kind": "email", "name": "intruder",
            "settings": account_settings(self.mail, self.address, "guess")})
        assert status == 400 and err["error"]["code"] == "invalid_auth"

    async def received(self) -> list[str]:
        mails = await asyncio.to_thread(self.mail.inbox, self.customer)
        return [m.get_content().strip() for m in mails]

    async def close(self) -> None:
        pass


_SERVER: list[Any] = []  # the session's mail server, for the e-mail driver


@pytest.fixture(autouse=True)
def _share_mailserver(request: pytest.FixtureRequest) -> None:
    """Start the real mail server only for the e-mail run of the contract."""
    if request.node.name.endswith("[email]"):
        _SERVER[:] = [request.getfixturevalue("mailserver")]


DRIVERS: dict[str, type] = {"api": ApiDriver, "webchat": WebChatDriver,
                            "telegram": TelegramDriver, "facebook": MetaDriver,
                            "instagram": InstagramDriver, "email": EmailDriver}


def test_every_registered_channel_has_a_driver() -> None:
    assert set(DRIVERS) == set(registry.kinds())


@pytest.mark.parametrize("kind", [
    pytest.param(k, marks=pytest.mark.slow) if k == "email" else k  # real Postfix and Dovecot
    for k in registry.kinds()])
async def test_channel_contract(kind: str, shop: Shop, aiohttp_server: Any) -> None:
    from bot.core.keys import ADAPTERS

    adapter = shop.client.server.app[ADAPTERS][kind]
    assert isinstance(adapter, ChannelAdapter) and adapter.kind == kind
    assert adapter.display_name and adapter.max_text_length > 0
    assert isinstance(adapter.supports_media, bool)
    assert isinstance(adapter.file_limits, FileLimits)  # what its replies' files may weigh

    driver = DRIVERS[kind]()
    await driver.setup(shop, aiohttp_server)
    try:
        ext = uuid.uuid4().hex
        mid = await driver.deliver(ext, "contract hello")
        # Acknowledged means committed: it is readable the moment the ack arrives.
        stored = await Message.get(id=mid)
        assert stored.text == "contract hello" and stored.direction.value == "in"
        assert await driver.deliver(ext, "contract hello") == mid  # redelivery
        assert await Message.filter(text="contract hello").count() == 1

        before = await Message.all().count()
        await driver.deliver_unauthenticated("should not be stored")
        assert await Message.all().count() == before

        status, sent = await shop.api(
            "POST", f"/api/v1/conversations/{stored.conversation_id}/reply",  # type: ignore[attr-defined]
            json={"text": f"reply via {kind}"})
        assert status == 201
        for _ in range(50):
            if f"reply via {kind}" in await driver.received():
                break
            await asyncio.sleep(0.1)
        assert f"reply via {kind}" in await driver.received()
        for _ in range(20):
            if (await Message.get(id=sent["id"])).status.value == "sent":
                break
            await asyncio.sleep(0.05)
        assert (await Message.get(id=sent["id"])).status.value == "sent"
        too_long = "x" * (adapter.max_text_length + 1)
        status, err = await shop.api(
            "POST", f"/api/v1/conversations/{stored.conversation_id}/reply",  # type: ignore[attr-defined]
            json={"text": too_long} if len(too_long) <= 20000 else {"text": "x" * 20000})
        if adapter.max_text_length < 20000:
            assert status == 400 and err["error"]["code"] == "too_long"
    finally:
        await driver.close()


async def test_webchat_signature_is_per_account(shop: Shop) -> None:
    """A visitor cookie from one web-chat account does not open another's history."""
    _, second = await shop.api("POST", "/api/v1/channels", json={"kind": "webchat",
                                                                 "name": "2nd"})
    first = shop.seed["webchat_account_id"]
    await shop.client.get(f"/chat?account={first}")
    cookie = shop.client.session.cookie_jar.filter_cookies(shop.client.make_url("/"))
    value = cookie[f"sb_v{first}"].value
    async with aiohttp.ClientSession(cookies={f"sb_v{second['id']}": value}) as other:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await other.ws_connect(shop.client.make_url(f"/chat/ws?account={second['id']}"))


def test_signing_is_shared() -> None:
    assert sign("k", b"x").startswith("sha256=")
