"""The template sandbox measures sizes in characters through lists, tuples and dicts, and
refuses a value over ``template_max_bytes`` before it builds it: each payload below once
built gigabytes (or ran for minutes) before any check. Ordinary templates still render."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from jinja2 import TemplateError

from bot.core import bounded
from bot.models import Contact
from bot.services.replies import contact_context

DEEP = ("{% set x = 'a' * 400000 %}{% set a = [x, x, x, x] %}{% set a = [a, a, a, a] %}"
        "{% set a = [a, a, a, a] %}{% set a = [a, a, a, a] %}{% set b = [a, a, a, a] %}")
BOMBS = [
    "{{ (['a' * 500000] * 100000)|join }}",
    "{{ (['a' * 500000] * 100000)|join(', ') }}",
    "{{ ' '.join(['a' * 500000] * 100000) }}",
    "{{ ('\t' * 16000).expandtabs(500000) }}",
    "{{ ('\t' * 400).expandtabs(500000) }}",
    "{{ ['a' * 500000] * 100000 }}",
    "{% set x = ['a' * 500000] %}{{ x * 100000 }}",
    "{{ '%s' % (['a' * 500000] * 100000,) }}",
    "{% set x = ['a' * 300000] %}{{ '%s%s' % (x, x) }}",
    "{% set x = ['a' * 300000] %}{{ '{0}{0}'.format(x) }}",
    "{% set x = ['a' * 300000] %}{{ '%(a)s%(a)s'|format(a=x) }}",
    "{% set x = ['a' * 300000] %}{{ [x, x] }}",
    "{% set x = ['a' * 300000] %}{{ [x, x]|string }}",
    "{% set x = ['a' * 300000] %}{{ x ~ x }}",
    "{% set x = {'a': 'b' * 300000} %}{{ [x, x]|list }}",
    "{% set ns = namespace(a='a' * 300000) %}{% set ns.b = [ns.a, ns.a] %}{{ ns }}",
    "{{ ('a' * 300000).replace('a', 'bb') }}",
    "{{ ('a' * 300000)|replace('a', 'bb') }}",
    "{{ ('a\n' * 200000)|indent(10) }}",
    "{{ ('a ' * 200000)|wordwrap(1, wrapstring='xxxx') }}",
    "{{ ('a' * 300000).center(600000) }}",
    "{{ ('a' * 500000).translate({97: 'b' * 500000}) }}",
    "{{ [1]|slice(10**9)|list }}",
    # a value repeated through list literals: 4**5 references to 400 kB (400 MB as text)
    *(DEEP + tail for tail in ("{{ b|string }}", "{{ b|tojson }}", "{{ b|e }}", "{{ b }}",
                               "{{ b|join }}", "{{ b|sum(start=[])|length }}",
                               "{{ '%s' % (b,) }}", "{{ b ~ '' }}")),
]


@pytest.mark.parametrize("source", BOMBS)
def test_a_value_over_the_limit_is_refused_before_it_is_built(source: str) -> None:
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(bounded.TemplateLimit, match="over 524288 bytes"):
            bounded.render(source, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 0.5
    assert peak < 16 * 2**20, peak  # never built: a few values of 512 kB at most


@pytest.mark.parametrize("source", ["{{ lipsum(10**7) }}", "{{ lipsum(1) }}",
                                    "{{ [1]|pprint }}",
                                    "{{ ('http://a ' * 50000)|urlize(target='x' * 99999) }}",
                                    "{% set x = [] %}{{ x.append(1) }}"])
def test_unbounded_globals_filters_and_in_place_growth_are_gone(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError):
        bounded.render(source, {})
    assert time.monotonic() - started < 0.5


def test_ordinary_templates_still_render() -> None:
    ann = contact_context(Contact(id=1, name="Ann Lee", email="ann@example.com",
                                  attributes={"city": "Kyiv"}, tags=["vip", "spring"]))
    cases = {  # the demo shop's canned replies, rules and broadcasts, and a few more
        "Thanks {{ contact.first_name or 'for writing' }}! We'll get back to you shortly.":
            "Thanks Ann! We'll get back to you shortly.",
        "Hi {{ contact.first_name }}, we answer Mon-Sat, 9:00-18:00.":
            "Hi Ann, we answer Mon-Sat, 9:00-18:00.",
        "{{ contact.first_name }}, 20% off sandals": "Ann, 20% off sandals",
        "Hi {{ contact.first_name }}, your e-mail is {{ contact.email or 'unknown' }}.":
            "Hi Ann, your e-mail is ann@example.com.",
        "{{ contact.tags|join(', ') }} {{ contact.attributes.city|upper }}":
            "vip, spring KYIV",
        "{% set ns = namespace(n=0) %}{% for t in contact.tags %}{% set ns.n = ns.n + 1 %}"
        "{% endfor %}{{ ns.n }} {{ [1, 2] * 2 }} {{ '%s-%s' % (1, 'a') }}":
            "2 [1, 2, 1, 2] 1-a",
        "{{ '{:>5}|'.format('x') }}{{ 'a\tb'.expandtabs(4) }}|{{ 'ab'|center(6) }}|"
        "{{ 'one two three'|truncate(9, leeway=0) }}|{{ 'x'.replace('x', 'yy') }}":
            "    x|a   b|  ab  |one...|yy",
        "{{ range(3)|list }} {{ dict(a=1) }} {{ ('a' * 1000)|length }}":
            "[0, 1, 2] {'a': 1} 1000",
    }
    for source, expected in cases.items():
        assert bounded.render(source, ann) == expected
