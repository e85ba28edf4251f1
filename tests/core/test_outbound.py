"""The outbound URL policy (issue 19 point 6): a URL someone typed never reaches a
loopback, private, link-local or metadata address, after resolution and on every redirect,
unless settings.allow_private_urls."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.core import outbound
from bot.core.outbound import (
    BadUrl,
    check_host,
    check_url,
    client_session,
    forbidden,
    refused,
)
from tests.conftest import make_settings

REFUSED = ["169.254.169.254", "127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1",
           "::ffff:169.254.169.254", "0.0.0.0", "::", "10.1.2.3", "172.16.0.1",
           "192.168.1.1", "100.64.0.1", "100.100.100.200", "fd00:ec2::254", "fc00::1",
           "fe80::1", "fec0::1", "224.0.0.1", "ff02::1", "240.0.0.1", "255.255.255.255",
           "2002:7f00:1::", "2002:a9fe:a9fe::", "64:ff9b::7f00:1", "192.0.2.1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
          "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", [
    "ftp://example.com/feed", "file:///etc/passwd", "gopher://x/", "http://", "https:///x",
    "example.com/feed", "http://exa mple.com/", "http://example.com/\nx", "javascript:1",
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/", "http://[::1]/",
    "http://localhost/", "http://LOCALHOST./x", "http://api.localhost/",
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://[fd00:ec2::254]/"])
def test_typed_urls_refused_early(url: str) -> None:
    with pytest.raises(BadUrl) as err:
        check_url(url)
    assert err.value.status == 422 and str(err.value)


def test_typed_urls_accepted() -> None:
    assert check_url(" https://news.example/feed.xml ") == "https://news.example/feed.xml"
    assert check_url("http://8.8.8.8/x")
    assert check_url("http://127.0.0.1:8080/feed", allow_private=True)
    assert check_url("http://localhost/feed", allow_private=True)
    with pytest.raises(BadUrl):
        check_url("ftp://127.0.0.1/", allow_private=True)  # the scheme is always checked


class FakeDns(AbstractResolver):
    """Names the tests made up, each resolving to an address of their choosing."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in self.names:
            raise OSError(f"no such name {host}")
        return [{"hostname": host, "host": self.names[host], "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def _server(aiohttp_server: Any, seen: list[str], redirect: str = "") -> Any:
    async def any_path(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if redirect:
            raise web.HTTPFound(redirect)
        return web.Response(text="inside")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    return await aiohttp_server(app)


async def test_default_policy_refuses_every_way_to_a_local_server(
        tmp_path: Path, aiohttp_server: Any) -> None:
    inside: list[str] = []
    server = await _server(aiohttp_server, inside)
    port = server.port
    front: list[str] = []
    # a public-looking front (trusted below only so that the test can reach it at all)
    # that sends every request on to the local server, by address and by name
    front_srv = await _server(aiohttp_server, front, f"http://127.0.0.1:{port}/secret")
    named_srv = await _server(aiohttp_server, front, f"http://inside.example:{port}/x")
    dns = FakeDns({"inside.example": "127.0.0.1", "front.example": "127.0.0.1",
                   "named.example": "127.0.0.1", "meta.example": "169.254.169.254"})
    strict = make_settings(tmp_path, allow_private_urls=False)
    urls = [f"http://169.254.169.254:{port}/latest/meta-data/", f"http://127.0.0.1:{port}/",
            f"http://localhost:{port}/", f"http://[::1]:{port}/",
            f"http://[::ffff:127.0.0.1]:{port}/", f"http://2130706433:{port}/",
            f"http://0177.0.0.1:{port}/", f"http://0.0.0.0:{port}/",
            f"http://inside.example:{port}/", f"http://meta.example:{port}/",
            f"http://front.example:{front_srv.port}/feed",
            f"http://named.example:{named_srv.port}/feed"]
    trusted = [f"http://front.example:{front_srv.port}", f"http://named.example:{named_srv.port}"]
    async with client_session(strict, trusted=trusted, resolver=_Chain(dns)) as session:
        for url in urls:
            with pytest.raises(aiohttp.ClientConnectorError) as err:
                async with session.get(url) as resp:
                    await resp.read()
            why = refused(err.value)
            assert why and why.startswith("refused: ") and "ALLOW_PRIVATE_URLS" in why, url
            assert "Cannot connect to host" in str(err.value) and "refused" in str(err.value)
            # POST (a callback) the same
            with pytest.raises(aiohttp.ClientConnectorError):
                async with session.post(url, data=b"{}") as resp:
                    await resp.read()
    assert inside == []  # nothing ever reached the local server
    assert front == ["/feed"] * 4  # the fronts were asked, then their redirects refused

    relaxed = make_settings(tmp_path, allow_private_urls=True)
    async with client_session(relaxed, resolver=_Chain(dns)) as session:
        for url in (f"http://127.0.0.1:{port}/a", f"http://localhost:{port}/b",
                    f"http://inside.example:{port}/c",
                    f"http://front.example:{front_srv.port}/feed"):
            async with session.get(url) as resp:
                assert resp.status == 200 and await resp.text() == "inside"
    assert inside == ["/a", "/b", "/c", "/secret"]


class _Chain(AbstractResolver):
    """The fake names first, then the system's resolver (localhost, numeric forms)."""

    def __init__(self, fake: FakeDns) -> None:
        self.fake, self.system = fake, aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host in self.fake.names:
            return await self.fake.resolve(host, port, family)
        return await self.system.resolve(host, port, family)

    async def close(self) -> None:
        await self.system.close()


def test_refused_reads_only_refusals() -> None:
    assert refused(ValueError("x")) is None
    assert refused(outbound.Refused("refused: because")) == "refused: because"


async def test_check_host_for_other_clients() -> None:
    """SMTP and IMAP hosts (not aiohttp) are checked the same way, after resolution."""
    dns = _Chain(FakeDns({"mail.example": "10.0.0.5", "public.example": "93.184.216.34"}))
    for host in ("127.0.0.1", "::1", "localhost", "mail.example", "2130706433"):
        with pytest.raises(outbound.Refused) as err:
            await check_host(host, 993, resolver=dns)
        assert str(err.value.strerror).startswith("refused: ")
    assert await check_host("public.example", 993, resolver=dns) == ["93.184.216.34"]
    assert await check_host("mail.example", 993, resolver=dns,
                            allow_private=True) == ["10.0.0.5"]
    assert await check_host("127.0.0.1", 25, allow_private=True) == ["127.0.0.1"]
    await dns.close()
