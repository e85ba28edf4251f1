"""Issue 19 point 10: a marketer's template or an admin's regex cannot freeze the server.
Templates render off the event loop within limits on time, size, loops and range(); a
render out of time stops its own thread; a rule's regex runs with a timeout."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import TemplateError

from bot.core import bounded
from bot.models import Broadcast, ChannelAccount, Contact, MailSend
from bot.services.replies import contact_context
from channels.email.mailer import MAILER
from scheduler.marketing.broadcasts import BroadcastRunner
from tests.conftest import Shop

NESTED = ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}"
          "{% endfor %}")
SLOW = ("{% for i in range(10000) %}{% for j in range(9) %}{{ range(10000)|sum }}"
        "{% endfor %}{% endfor %}")  # within range() and nowhere near the output cap


@pytest.fixture
def limits() -> Iterator[bounded.Limits]:
    saved = bounded.Limits(**vars(bounded.LIMITS))
    yield bounded.LIMITS
    for key, value in vars(saved).items():
        setattr(bounded.LIMITS, key, value)


@pytest.mark.parametrize("source", [
    NESTED,
    "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 999999999 }}", "{{ 'a'|center(999999999) }}", "{{ 'a'.ljust(999999999) }}",
    "{{ '%0999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}", "{{ 9 ** 99999999 }}",
    "{% set a = 'x' * 400000 %}{{ a ~ a }}", "{% set a = 'x' * 400000 %}{{ a + a }}",
    "{{ ('a' * 500000)|replace('a', 'aaaa') }}",
    "{% for i in range(9000) %}{{ 'y' * 100 }}{% endfor %}",  # the output cap
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
])
def test_each_limit_stops_a_render(source: str) -> None:
    with pytest.raises(bounded.TemplateLimit):  # each would run for minutes or eat GBs
        bounded.render(source, {})


def test_ordinary_templates_render_as_before() -> None:
    out = bounded.render("Hi {{ contact.name }} {{ range(3)|join(',') }} "
                         "{% for x in [1, 2] %}{{ loop.index }}{% endfor %} "
                         "{{ '%.1f'|format(2.25) }} {{ '{:,}'.format(1234567) }} {{ 'a' ~ 1 }}",
                         {"contact": {"name": "Ann"}})
    assert out == "Hi Ann 0,1,2 12 2.2 1,234,567 a1"
    with pytest.raises(TemplateError):
        bounded.render("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateError):
        bounded.render("{{ ''.__class__.__mro__ }}", {})


async def test_a_render_out_of_time_stops_its_thread_and_never_blocks_the_loop(
        limits: bounded.Limits) -> None:
    limits.timeout = 0.3
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(bounded.render_async(SLOW, {}) for _ in range(2)),
                                   return_exceptions=True)
    assert all(isinstance(r, bounded.TemplateLimit) and "longer than" in str(r)
               for r in results), results
    assert ticks >= 3  # the loop kept running meanwhile (on the loop it would be 0)
    # Both of the pool's threads are free again: the slow renders really stopped in their
    # threads (SLOW alone runs for tens of seconds; had only the wait's backstop given up,
    # its threads would still be busy and these two renders would queue behind them).
    assert await asyncio.wait_for(
        asyncio.gather(*(bounded.render_async("ok", {}) for _ in range(2))), 8) == \
        ["ok", "ok"]
    task.cancel()


def test_the_template_limits_follow_the_settings(limits: bounded.Limits) -> None:
    limits.max_bytes = 100
    with pytest.raises(bounded.TemplateLimit, match="100 bytes"):
        bounded.render("{{ 'x' * 101 }}", {})
    contact = Contact(id=1, name="Ann")
    with pytest.raises(bounded.TemplateLimit, match="100 bytes"):
        bounded.render("{% for i in range(50) %}ab{% endfor %}x", contact_context(contact))


def test_a_regex_out_of_time_is_no_match_logged_once(
        limits: bounded.Limits, caplog: pytest.LogCaptureFixture) -> None:
    limits.regex_timeout = 0.02
    evil, text = r"^(a|aa)+$", "a" * 60 + "b"
    caplog.set_level(logging.WARNING, "switchboard.templates")
    assert bounded.search(evil, text) is False  # 2**60 steps without the timeout
    assert bounded.search(evil, text + "?") is False
    assert len([r for r in caplog.records if "ran out of time" in r.message]) == 1
    assert bounded.search(r"(?i)^thanks?[.!]*$", "Thanks!") is True
    with pytest.raises(ValueError, match="not a valid regular expression"):
        bounded.check_pattern("(")


async def test_rules_refuse_bad_regexes_and_template_bombs_when_saved(shop: Shop) -> None:
    rule: dict[str, Any] = {"name": "r", "event": "message_received", "conditions": {},
                            "actions": [{"type": "reply", "template": "Hi"}]}
    for bad, where in (({"conditions": {"regex": "(?<"}}, "regex"),
                       ({"conditions": {"regex": "a{2,1}"}}, "regex"),
                       ({"actions": [{"type": "reply", "template": NESTED}]}, "range()"),
                       ({"actions": [{"type": "notify", "template": "{{ 'a' * 10**9 }}"}]},
                        "bytes")):
        status, err = await shop.api("POST", "/api/v1/rules", json={**rule, **bad})
        assert status in (400, 422), (bad, err)
        assert where in err["error"]["message"], err


async def test_a_broadcast_template_bomb_is_refused_when_saved_and_recorded_when_sent(
        shop: Shop) -> None:
    await Contact.create(name="Vic", email="vic@example.test", tags=["bomb"],
                         attributes={"n": "99999"})
    status, seg = await shop.api("POST", "/api/v1/segments", json={
        "name": "bombs", "rules": {"conditions": [{"tag": "bomb"}]}})
    assert status == 201, seg
    base = {"name": "b", "segment_id": seg["id"], "subject_a": "Hi", "body": "Body"}
    for field in ("subject_a", "subject_b", "body"):
        status, err = await shop.api("POST", "/api/v1/broadcasts",
                                     json={**base, field: NESTED})
        assert status == 422 and err["error"]["field"] == field, err
        assert "range()" in err["error"]["message"]
    assert await Broadcast.all().count() == 0

    # fine for the sample contact, over the limits for this one: a failed send, recorded
    await ChannelAccount.create(kind="email", name="mail", secret="e" * 64, settings={
        "address": "shop@example.test"})
    status, b = await shop.api("POST", "/api/v1/broadcasts", json={
        **base, "body": "{% for i in range(contact.attributes.n|int) %}.{% endfor %}"})
    assert status == 201, b
    mailer = shop.client.server.app[MAILER]  # type: ignore[attr-defined]
    await BroadcastRunner(mailer).advance(b["id"])
    mail = await MailSend.get(broadcast_id=b["id"])
    assert mail.state == "failed" and "range()" in mail.error
    assert (await Broadcast.get(id=b["id"])).state == "sent"


async def test_a_canned_reply_bomb_is_refused_when_saved(shop: Shop) -> None:
    for body in (NESTED, "{{ 'a' * 10**9 }}"):
        status, err = await shop.api("POST", "/api/v1/canned-replies", json={
            "shortcut": "bomb", "title": "Bomb", "body": body})
        assert status in (400, 422), err
        assert "template" in err["error"]["message"], err
    status, ok = await shop.api("POST", "/api/v1/canned-replies", json={
        "shortcut": "hi", "title": "Hi", "body": "Hi {{ contact.first_name }}"})
    assert status == 201, ok


async def test_renders_waiting_for_the_pool_do_not_count_the_wait(
        limits: bounded.Limits) -> None:
    """The deadline runs from when a render starts: renders well within the limit, queued
    on the pool's two threads, all finish though the last ones wait longer than it."""
    limits.timeout = 1.5
    slowish = "{% for i in range(9000) %}{{ range(1000)|sum }}{% endfor %}"
    started = time.monotonic()
    bounded.render(slowish, {})
    one = time.monotonic() - started
    limits.timeout = max(1.5, 3 * one)  # one render well in time, however loaded the machine
    n = max(8, int(2 * (limits.timeout + 1.0) / one) + 4)  # the queue outlasts the wait
    results = await asyncio.gather(*(bounded.render_async(slowish, {}) for _ in range(n)),
                                   return_exceptions=True)
    assert not [r for r in results if isinstance(r, Exception)], results[:3]
