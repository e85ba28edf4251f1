"""bot.core.said: a reason Switchboard writes is kept as its English text (the API's) and
as data a page shows in the reader's language; data it cannot read shows the text."""

from __future__ import annotations

from bot.core import i18n, said
from bot.core.said import Code, Joined, Said


def test_a_reason_is_english_data_and_translated() -> None:
    problem = Said("%(network)s: %(problem)s", network=Code("network", "nowhere"),
                   problem=Said("%(network)s rejected it: %(detail)s", network="Facebook",
                                detail="(#200) Permissions error"))
    reason = Joined("; ", (problem, "a text of its own"))
    text = "nowhere: Facebook rejected it: (#200) Permissions error; a text of its own"
    assert said.english(reason) == text and said.data("just text") is None
    token = i18n.current.set("vi")
    try:
        assert said.shown(text, said.data(reason)) == (
            "nowhere: Facebook từ chối: «(#200) Permissions error»; a text of its own")
        for broken in (None, {"m": 3}, {"sep": "; ", "all": [{"nope": 1}]}, "text", [1]):
            assert said.shown("kept as written", broken) == "kept as written"
    finally:
        i18n.current.reset(token)
