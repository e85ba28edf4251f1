"""Outside URLs as hrefs (only http, https, mailto and paths here) and the CSP text."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core import csp
from bot.core.links import check_web_url, safe_href, web_url
from tests.conftest import make_settings

BAD = ["javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)",
       "java\tscript:alert(1)", "java\nscript:alert(1)", "\x01javascript:alert(1)",
       "jav\x00ascript:alert(1)", "javascript\r:alert(1)", "JaVaScRiPt:alert(1)",
       "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>",
       "file:///etc/passwd", "javascript://%0aalert(1)", "\\\\evil.example/x",
       "  \t  ", "", "ftp://files.example/a"]
GOOD = {"https://shop.example/p/1": "https://shop.example/p/1",
        "HTTP://shop.example": "HTTP://shop.example",
        "  https://shop.example/a b ": "https://shop.example/a b",
        "https://shop.ex\tample/": "https://shop.example/",
        "mailto:ann@shop.example": "mailto:ann@shop.example",
        "/reviews/5": "/reviews/5", "/listening?rule=1": "/listening?rule=1"}


@pytest.mark.parametrize("url", BAD)
def test_other_schemes_are_no_link(url: str) -> None:
    assert safe_href(url) is None
    assert web_url(url) == ""


@pytest.mark.parametrize(("url", "href"), GOOD.items())
def test_web_links_are_kept_as_a_browser_reads_them(url: str, href: str) -> None:
    assert safe_href(url) == href


def test_only_absolute_http_urls_are_stored() -> None:
    assert web_url("https://news.example/a1") == "https://news.example/a1"
    assert web_url("mailto:ann@shop.example") == "" and web_url("/reviews/5") == ""
    assert safe_href(None) is None and safe_href(5) is None
    assert check_web_url("") == ""
    with pytest.raises(ValueError, match="http"):
        check_web_url("javascript:alert(1)")


def test_mention_and_review_bodies_refuse_javascript_links() -> None:
    from listening.api.mentions import MentionIn
    from listening.reviews import ReviewIn

    with pytest.raises(ValidationError):
        MentionIn(id="1", text="x", url="javascript:alert(1)")
    with pytest.raises(ValidationError):
        ReviewIn(id="1", url="java\tscript:alert(1)")
    assert ReviewIn(id="1", url="https://shop.example/r/1").url == "https://shop.example/r/1"


def test_policy_runs_script_files_only_and_frames_nowhere(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://inbox.shop.example/",
                             allowed_origins="https://shop.example, https://Blog.Shop.example:8443,"
                                             " javascript:alert(1), not a url")
    page = dict(d.split(" ", 1) for d in csp.for_path("/inbox", settings).split("; "))
    assert page["script-src"] == "'self'" and "unsafe" not in page["script-src"]
    assert page["object-src"] == "'none'" and page["base-uri"] == "'none'"
    assert page["frame-ancestors"] == "'none'" and page["default-src"] == "'self'"
    chat = dict(d.split(" ", 1) for d in csp.for_path("/chat", settings).split("; "))
    assert chat["frame-ancestors"] == ("'self' https://blog.shop.example:8443"
                                       " https://inbox.shop.example https://shop.example")
    assert chat["script-src"] == "'self'"
    extra = csp.embeddable_policy(settings, ["https://other.example/x"])
    assert extra.endswith("https://other.example https://shop.example")



@pytest.mark.parametrize(("url", "button"), [
    ("javascript:alert(1)", False), ("JavaScript:alert(1)", False), ("data:text/html,x", False),
    ("https://shop.example/cart", True), ("HTTP://shop.example/cart", True)])
def test_a_mail_button_links_only_to_a_web_page(url: str, button: bool) -> None:
    from channels.email.mailer import _layout

    html = _layout.get_template("layout.html").render(
        lang="en", subject="s", shop="Shop", body="Hi", items=[], items_heading="",
        button_url=url, button="Open your cart", note="", unsubscribe="", unsubscribe_url="",
        pixel_url="")
    assert ("Open your cart" in html) is button and (f'href="{url}"' in html) is button


@pytest.mark.parametrize("url", ["//evil.example/x", "/\t/evil.example", "/\\evil.example",
                                 "\\\\evil.example", "/\x7f/x"])
def test_a_reference_without_a_scheme_stays_on_this_site(url: str) -> None:
    """A scheme-less href is followed only as a path on this site: //host (however spelt)
    is another site, not a path."""
    assert safe_href(url) is None
    assert safe_href("/reviews/5") == "/reviews/5"
