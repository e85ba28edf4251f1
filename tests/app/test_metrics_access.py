"""Issue 19 point 16: /metrics answers only with the bearer token when one is set, else
only loopback and ``metrics_addresses`` (the client address honours trusted_proxies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config import Secret
from tests.conftest import Shop, make_settings, start_shop


async def app(aiohttp_client: Any, tmp_path: Path, **over: Any) -> Shop:
    return await start_shop(aiohttp_client, make_settings(tmp_path, **over))


async def test_loopback_reads_metrics_without_a_token(shop: Shop) -> None:
    resp = await shop.client.get("/metrics")
    assert resp.status == 200 and "switchboard" in await resp.text()


async def test_a_client_behind_the_proxy_is_not_loopback(aiohttp_client: Any,
                                                         tmp_path: Path) -> None:
    """The proxy itself is on loopback; the client it names is not: 403."""
    shop = await app(aiohttp_client, tmp_path, trusted_proxies="127.0.0.1")
    resp = await shop.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 403
    assert "switchboard" not in await resp.text()


async def test_metrics_addresses_let_a_network_in(aiohttp_client: Any,
                                                  tmp_path: Path) -> None:
    shop = await app(aiohttp_client, tmp_path, trusted_proxies="127.0.0.1",
                     metrics_addresses="10.0.0.0/8, 192.0.2.7")
    for addr, status in (("10.1.2.3", 200), ("192.0.2.7", 200), ("192.0.2.8", 403)):
        resp = await shop.client.get("/metrics", headers={"X-Forwarded-For": addr})
        assert resp.status == status, addr


async def test_token_is_required_when_set(aiohttp_client: Any, tmp_path: Path) -> None:
    shop = await app(aiohttp_client, tmp_path, metrics_token=Secret("s3cret-metrics-token"))
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "s3cret-metrics-token"},
                    {"Authorization": "Basic czNjcmV0LW1ldHJpY3MtdG9rZW4="},
                    {"Authorization": "Bearer s3cret-metrics-tokeñ"}):
        resp = await shop.client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "switchboard" not in await resp.text()
    resp = await shop.client.get("/metrics",
                                 headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert resp.status == 200 and "switchboard" in await resp.text()


async def test_a_forwarded_request_is_not_loopback(shop: Shop) -> None:
    """A proxy on this host (nginx in front, trusted_proxies not set) makes every client
    look like loopback; the forwarding headers it adds give it away: 403."""
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        resp = await shop.client.get("/metrics", headers={header: "203.0.113.9"})
        assert resp.status == 403, header
