"""Issue 22 point 1: the staff app's catalogs and Babel formats.

* every message of ``messages.pot`` is in every locale's ``.po``, translated (English is
  the source: its msgstr may stay empty), not fuzzy, with the same ``%(name)s``
  placeholders (Babel's own checkers); and the ``.pot`` is what the code and the templates
  hold now (``make messages`` was run);
* the locale a request gets: the user's setting, else ``Accept-Language``, else English;
* dates, numbers, money and durations differ per locale as Babel's CLDR data says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from bot.core import i18n, l10n
from tests.core.untranslated import unwrapped

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "en"  # the texts are written in English: its catalog may leave msgstr empty


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _po(locale: str) -> Path:
    return i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@pytest.fixture
def in_locale() -> Iterator[None]:
    token = i18n.current.set("en")
    yield
    i18n.current.reset(token)


def test_the_pot_holds_what_the_code_and_templates_say_now(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.chdir(ROOT)
    fresh = tmp_path / "messages.pot"
    CommandLineInterface().run([  # the same as `make messages`
        "pybabel", "-q", "extract", "-F", "babel.cfg", "-k", "lazy", "-k", "lazy_p:1c,2",
        "-k", "N_", "--no-location", "--sort-output", "--omit-header", "-o", str(fresh), "."])
    now = {(m.context, m.id) for m in _read(fresh) if m.id}
    kept = {(m.context, m.id) for m in _read(i18n.LOCALE_DIR / "messages.pot") if m.id}
    assert now - kept == set(), "new texts: run `make messages` and translate them"
    assert kept - now == set(), "texts no longer used: run `make messages`"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_is_translated_in_every_locale(locale: str) -> None:
    pot = {(m.context, m.id) for m in _read(i18n.LOCALE_DIR / "messages.pot") if m.id}
    catalog = _read(_po(locale), locale)
    have = {(m.context, m.id): m for m in catalog if m.id}
    assert pot - set(have) == set(), f"{locale}: missing, run `make messages`"
    fuzzy = [m.id for m in have.values() if m.fuzzy]
    assert fuzzy == [], f"{locale}: fuzzy (check them and drop the flag)"
    if locale != SOURCE:
        empty = [m.id for m in have.values()
                 if not (all(m.string) if isinstance(m.string, tuple) else m.string)]
        assert empty == [], f"{locale}: {len(empty)} not translated, e.g. {empty[:3]}"
    errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check()]
    assert errors == [], f"{locale}: placeholders differ from the English"


def test_the_staff_templates_have_no_unwrapped_text() -> None:
    found = {p.name: unwrapped(p) for p in sorted((ROOT / "templates" / "web").glob("*.html"))
             + sorted((ROOT / "templates" / "widget").glob("*.html"))}
    assert {name: texts for name, texts in found.items() if texts} == {}


def test_the_scanner_flags_text_and_attributes_but_not_code(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text('<p title="Hover me">Hello {{ name }} there</p><code>GET /api</code>'
                    '<p>{% trans %}Wrapped {{ x }}{% endtrans %} {{ _("Also") }}</p>'
                    '<input placeholder="hello@shop.example"><b>Switchboard</b>'
                    '<input placeholder="tomorrow 9:00" translate="no">')
    assert unwrapped(page) == ["Hover me", "Hello", "there"]


@pytest.mark.parametrize(("setting", "accept", "expected"), [
    ("vi", "ru,en;q=0.5", "vi"),  # the user's setting wins
    (None, "fr-FR,ru;q=0.8,en;q=0.5", "ru"),  # the browser's best among the six
    (None, "en;q=0.3,th-TH;q=0.9", "th"),  # by quality, not by order
    (None, "vi-VN", "vi"),
    (None, "pl;q=0,km", "km"),  # q=0: not wanted
    (None, "fr-FR,de", "en"),  # none of the six: English
    (None, None, "en"),
    ("xx", "km", "km"),  # an unknown setting is no setting
])
def test_the_locale_is_the_setting_then_the_browser_then_english(
        setting: str | None, accept: str | None, expected: str) -> None:
    assert i18n.choose(setting, accept) == expected


def test_the_language_names_are_in_their_own_language() -> None:
    names = dict(i18n.names())
    assert names["vi"] == "Tiếng Việt" and names["ru"] == "русский"
    assert names["pl"] == "polski" and names["th"] == "ไทย" and names["km"] == "ខ្មែរ"


def test_a_text_is_translated_in_the_current_locale(in_locale: None) -> None:
    assert i18n._("Please log in again.") == "Please log in again."
    i18n.current.set("vi")
    vi = i18n._("Please log in again.")
    assert vi != "Please log in again." and vi.strip()
    title = i18n.lazy("Please log in again.")
    assert str(title) == vi
    i18n.current.set("en")
    assert str(title) == "Please log in again."


def test_plural_forms_come_from_the_catalog(in_locale: None) -> None:
    one, many = ("Signed out everywhere else: %(num)d session ended.",
                 "Signed out everywhere else: %(num)d sessions ended.")
    assert i18n.ngettext(one, many, 1) == "Signed out everywhere else: 1 session ended."
    assert i18n.ngettext(one, many, 3) == "Signed out everywhere else: 3 sessions ended."
    i18n.current.set("vi")  # one form for every number (Plural-Forms: nplurals=1)
    assert i18n.ngettext(one, many, 1).replace("1", "3") == i18n.ngettext(one, many, 3)
    assert "3" in i18n.ngettext(one, many, 3)


def test_dates_numbers_and_money_follow_the_locale(in_locale: None) -> None:
    l10n.configure("Asia/Ho_Chi_Minh")
    try:
        at = dt.datetime(2026, 3, 7, 17, 30, tzinfo=dt.UTC)  # 00:30 on the 8th in Saigon
        shown = {}
        for locale in ("en", "vi", "ru", "pl"):
            i18n.current.set(locale)
            shown[locale] = (l10n.format_datetime(at), l10n.format_number(1234567.5),
                             l10n.format_money(1234.5, "EUR"), l10n.format_percent(0.25),
                             l10n.format_date(at), l10n.format_duration(3 * 3600))
    finally:
        l10n.configure("UTC")
    assert shown["en"] == ("3/8/26, 12:30\u202fAM", "1,234,567.5", "€1,234.50", "25%",
                           "Mar 8, 2026", "3 hours")
    assert shown["vi"] == ("00:30 8/3/26", "1.234.567,5", "1.234,50\xa0€", "25%",
                           "8 thg 3, 2026", "3 tiếng")
    assert shown["ru"][1:4] == ("1\xa0234\xa0567,5", "1\xa0234,50\xa0€", "25\xa0%")
    assert shown["pl"][0] == "8.03.2026, 00:30" and shown["pl"][5] == "3 godziny"


def test_a_placeholder_may_have_any_name_and_lazy_texts_hash_as_they_compare() -> None:
    """``_``'s own parameters are positional-only, so a placeholder called ``message`` or
    ``num`` is a placeholder (it was a TypeError); two lazy texts are equal when their
    message and values are, and then hash alike (a str compared by its translation hashed
    by its English)."""
    assert i18n._("%(message)s!", message="Hi") == "Hi!"
    assert i18n.ngettext("%(num)d %(plural)s", "%(num)d %(plural)s", 2, plural="x") == "2 x"
    one, two = i18n.lazy("Inbox"), i18n.lazy("Inbox")
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1
    assert one != i18n.lazy("Inbox %(n)s", n=1) and str(one) == "Inbox"


def test_contexts_keep_the_senses_of_one_english_word_apart(in_locale: None) -> None:
    """``pgettext`` (and ``lazy_p``, and the templates' ``pgettext``): "Order" as a funnel
    stage is a purchase, as a sequence step's field a position; "Name" of a person."""
    i18n.current.set("ru")
    assert i18n.pgettext("funnel stage", "Order") == "Заказ"
    assert i18n.pgettext("sequence step", "Order") == "Порядок"
    assert i18n.pgettext("person", "Name") == "Имя" and i18n._("Name") == "Название"
    assert str(i18n.lazy_p("sequence state", "enabled")) == "активна"
    assert i18n.pgettext("channel account", "enabled") == "включён"
    env = jinja2.Environment(autoescape=True)
    i18n.install(env)
    page = env.from_string('{{ pgettext("assignee", "Me") }}|{{ label("role", "marketer") }}'
                           '|{{ npgettext("x", "%(num)d day", "%(num)d days", 2) }}')
    import bot.core.auth  # noqa: F401  (registers the roles' labels)
    assert page.render() == "Мне|маркетолог|2 days"  # no such message: the English plural
    i18n.current.set("en")
    assert i18n.pgettext("funnel stage", "Order") == "Order"
    assert i18n.npgettext("x", "%(num)d day", "%(num)d days", 1) == "1 day"
    assert str(i18n.lazy("%(context)s!", context="Hi")) == "Hi!"  # a placeholder, not msgctxt
