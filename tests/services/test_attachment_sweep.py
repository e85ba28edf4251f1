"""The clock's sweep of kept files no message holds (bot.services.attachments.sweep).

Files under ``<data_dir>/attachments`` are named by their SHA-256 and shared between
messages, so a file is never removed when a request is done with it: another request may
be storing a row for the same bytes at that moment. The sweep removes a file once it is
older than ``attachment_orphan_grace_seconds`` and no ``message_attachments`` row names
it; a writer of bytes kept already touches the file, and the sweep sets a file aside and
checks its time and the rows again before it removes it. Times are set with os.utime."""

from __future__ import annotations

import asyncio
import logging
import operator
import os
import time
from pathlib import Path
from typing import Any

import pytest

from bot.core import attachments
from bot.core.channel import ContactInfo, InboundMessage
from bot.core.keys import SETTINGS
from bot.models import MessageAttachment
from bot.services.attachments import SWEEP_SECONDS, sweep
from bot.services.inbox import INTAKE
from config import ConfigError, load_settings
from scheduler.clock import CLOCK
from tests.conftest import Shop

HELD = b"\x89PNG\r\n\x1a\n" + b"\x07" * 40  # a customer's photo, in a stored message
LOOSE = b"%PDF-1.4 nobody's" * 5  # written for a reply that was then refused


def set_time(path: Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(path, (when, when))


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()}


async def test_old_files_no_message_holds_go_and_nothing_else(shop_any_db: Shop) -> None:
    app = shop_any_db.client.app
    settings = app[SETTINGS]
    held = attachments.store(settings, HELD, "cat.png", "image/png", "photo")
    stored = await app[INTAKE].ingest(InboundMessage(
        channel_account_id=shop_any_db.seed["api_account_id"], external_id="sweep-1",
        contact=ContactInfo("cust-s"), text="my cat", attachments=(held,)))
    assert stored.created
    held_path = attachments.path_of(settings, held["sha256"])
    loose = attachments.write(settings, LOOSE)
    loose_path = attachments.path_of(settings, loose)
    young = attachments.write(settings, b"just written, its row on its way")
    folder = attachments.folder(settings)
    # an unfinished write (the process stopped before the rename), old and young; a file
    # this module never writes
    stale_part = loose_path.with_name(f".{loose}.0badf00d.part")
    fresh_part = loose_path.with_name(f".{loose}.0000beef.part")
    stray, hidden = folder / "README", loose_path.with_name(".mine.aside")
    for path in (stale_part, fresh_part, stray, hidden):
        path.write_bytes(b"partial")
    for path in (held_path, loose_path, stale_part, stray, hidden):
        set_time(path, 10 * 365 * 86400)
    set_time(fresh_part, 60)

    assert await sweep(settings) == 2  # the loose file and the stale part
    assert names(folder) == {held["sha256"], young, fresh_part.name, "README", hidden.name}
    assert held_path.read_bytes() == HELD
    assert await sweep(settings) == 0  # nothing more: a second run changes nothing

    # At a later moment (the clock's own time passed in) the young file is old too.
    later = time.time() + settings.attachment_orphan_grace_seconds + 60
    assert await sweep(settings, now=later) == 2  # the young file and the fresh part
    assert names(folder) == {held["sha256"], "README", hidden.name}


async def test_a_file_written_again_or_set_aside_half_way_is_kept(shop: Shop) -> None:
    settings = shop.client.app[SETTINGS]
    old = settings.attachment_orphan_grace_seconds + 60
    before = time.time() - settings.attachment_orphan_grace_seconds
    digest = attachments.write(settings, LOOSE)
    path = attachments.path_of(settings, digest)
    set_time(path, old)
    # Another reply with the same bytes: write() finds the file and touches it, so the
    # sweep keeps it while that reply stores its row.
    assert attachments.write(settings, LOOSE) == digest
    assert path.stat().st_mtime >= before
    assert attachments.set_aside(settings, digest, before) is None and path.exists()
    assert await sweep(settings) == 0 and path.exists()

    # Set aside, then touched through the rename (a writer got there first): put back.
    set_time(path, old)
    aside = attachments.set_aside(settings, digest, before)
    assert aside is not None and not path.exists()
    set_time(aside, 0)
    assert not attachments.remove_aside(aside, before)
    assert path.read_bytes() == LOOSE and not aside.exists()

    # A sweep that stopped with the file set aside: the next scan puts it back first.
    aside = attachments.set_aside(settings, digest, time.time() + 1)
    assert aside is not None and not path.exists()
    old_files, parts = attachments.scan(settings, before)
    assert old_files == [] and parts == 0  # put back, and only just touched
    assert path.read_bytes() == LOOSE and not aside.exists()


async def test_a_row_stored_after_the_first_look_keeps_its_file(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows are asked again once the file is set aside: a row committed between the
    sweep's first look and the rename (a message that waited past the grace between its
    file and its row) keeps the file."""
    app = shop.client.app
    settings = app[SETTINGS]
    stored = await app[INTAKE].ingest(InboundMessage(
        channel_account_id=shop.seed["api_account_id"], external_id="sweep-late",
        contact=ContactInfo("cust-l"), text="the invoice follows"))
    digest = attachments.write(settings, LOOSE)
    path = attachments.path_of(settings, digest)
    set_time(path, settings.attachment_orphan_grace_seconds + 60)
    loop, real = asyncio.get_running_loop(), attachments.set_aside

    def row_then_set_aside(*args: Any) -> Any:  # in the sweep's worker thread
        asyncio.run_coroutine_threadsafe(MessageAttachment.create(
            message_id=stored.message_id, file_name="late.pdf",
            content_type="application/pdf", size=len(LOOSE), sha256=digest), loop
        ).result(timeout=30)
        return real(*args)

    monkeypatch.setattr(attachments, "set_aside", row_then_set_aside)
    assert await sweep(settings) == 0
    assert path.read_bytes() == LOOSE
    assert names(attachments.folder(settings)) == {digest}  # put back, nothing aside


async def hold(shop: Shop, data: bytes, external_id: str) -> Path:
    """A customer's message holding a file of ``data``; the file's path."""
    app = shop.client.app
    held = attachments.store(app[SETTINGS], data, "cat.png", "image/png", "photo")
    stored = await app[INTAKE].ingest(InboundMessage(
        channel_account_id=shop.seed["api_account_id"], external_id=external_id,
        contact=ContactInfo("cust-h"), text="my cat", attachments=(held,)))
    assert stored.created
    return attachments.path_of(app[SETTINGS], held["sha256"])


async def test_the_clock_sweeps_hourly_in_one_process(shop: Shop) -> None:
    app = shop.client.app
    settings = app[SETTINGS]
    job = app[CLOCK].jobs["attachments"]
    assert job.alone and job.seconds == SWEEP_SECONDS == 3600
    await hold(shop, HELD, "sweep-clock")  # a shop with messages (an empty one: below)
    path = attachments.path_of(settings, attachments.write(settings, LOOSE))
    set_time(path, settings.attachment_orphan_grace_seconds + 60)
    await app[CLOCK].run("attachments")
    assert not path.exists()


async def test_an_empty_table_or_mostly_orphans_removes_nothing(
        shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    """The app pointed at an empty (or another) database, or a staging copy sharing the
    data_dir: the sweep would take every customer's file. It removes none and says why,
    in one warning with counts and no paths."""
    settings = shop.client.app[SETTINGS]
    old = settings.attachment_orphan_grace_seconds + 60
    paths = [attachments.path_of(settings, attachments.write(settings, b"photo %d" % i))
             for i in range(3)]
    for path in paths:
        set_time(path, old)
    assert await MessageAttachment.all().count() == 0
    with caplog.at_level(logging.WARNING, logger="switchboard.attachments"):
        assert await sweep(settings) == 0
    assert all(p.exists() for p in paths)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("attachment sweep skipped")
    counts = operator.itemgetter("old", "orphans", "empty_table")
    assert counts(vars(warning)) == (3, 3, True)
    assert str(attachments.folder(settings)) not in warning.getMessage()

    # A shop whose table has rows, but 21 of its 22 old files held by none: the same.
    set_time(await hold(shop, HELD, "sweep-most"), old)
    paths += [attachments.path_of(settings, attachments.write(settings, b"more %d" % i))
              for i in range(18)]
    for path in paths:
        set_time(path, old)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="switchboard.attachments"):
        assert await sweep(settings) == 0
    assert all(p.exists() for p in paths)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert counts(vars(warning)) == (22, 21, False)

    # At most 20 loose files, or at most half of the old ones: removed as before.
    for path in paths[20:]:
        path.unlink()
    assert await sweep(settings) == 20
    assert not any(p.exists() for p in paths)


def test_a_file_not_ours_to_touch_is_written_anew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file kept already that this process may not touch (restored by another user):
    written again, so its time is now and the sweep leaves it while its row is stored."""
    settings = load_settings({"SWITCHBOARD_DATA_DIR": str(tmp_path)})
    path = attachments.path_of(settings, attachments.write(settings, LOOSE))
    set_time(path, 10 * 365 * 86400)
    before = time.time() - 1

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(attachments.os, "utime", refused)
    assert attachments.write(settings, LOOSE) == path.name
    assert path.stat().st_mtime >= before and path.read_bytes() == LOOSE
    assert names(attachments.folder(settings)) == {path.name}  # no temporary file left


def test_the_grace_is_a_setting_of_at_least_ten_minutes(tmp_path: Path) -> None:
    env = {"SWITCHBOARD_DATA_DIR": str(tmp_path)}
    assert load_settings(env).attachment_orphan_grace_seconds == 3600
    assert load_settings({**env, "SWITCHBOARD_ATTACHMENT_ORPHAN_GRACE_SECONDS": "86400"}
                         ).attachment_orphan_grace_seconds == 86400
    with pytest.raises(ConfigError) as err:
        load_settings({**env, "SWITCHBOARD_ATTACHMENT_ORPHAN_GRACE_SECONDS": "5"})
    assert str(err.value) == ("SWITCHBOARD_ATTACHMENT_ORPHAN_GRACE_SECONDS: must be at "
                              "least 600 (got 5.0)")
