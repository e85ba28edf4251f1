"""Text from outside cut to fit its column, with a marker (bot.core.clean.fit), and made
storable (bot.core.clean.storable)."""

from __future__ import annotations

from bot.core.clean import fit, fit_key, storable


def test_fit_cuts_with_a_marker_inside_the_limit() -> None:
    assert fit("a" * 300, 200) == "a" * 199 + "…"
    assert len(fit("a" * 300, 200)) == 200
    assert fit("abcdef", 4, "...") == "a..."
    assert fit("abcdef", 2, "...") == "ab"


def test_fit_leaves_short_values_and_none_alone() -> None:
    value = "x" * 200
    assert fit(value, 200) is value
    assert fit("", 5) == ""
    assert fit(None, 5) is None


def test_storable_text() -> None:
    assert storable(b"caf\xc3\xa9 \xff\x00end") == "café \ufffdend"
    assert storable("a\x00b\udc80c") == "ab\ufffdc"
    assert storable("plain") == "plain"


def test_fit_key_keeps_long_ids_apart_and_stable() -> None:
    one, two = "<" + "a" * 300 + "1@x>", "<" + "a" * 300 + "2@x>"
    assert len(fit_key(one, 255)) == 255
    assert fit_key(one, 255) != fit_key(two, 255)
    assert fit_key(one, 255) == fit_key(one, 255)
    assert fit_key(one, 255).startswith("<aaa") and "…" in fit_key(one, 255)
    assert fit_key("<short@x>", 255) == "<short@x>"
