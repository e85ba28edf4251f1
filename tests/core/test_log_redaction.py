"""Issue 19 point 9, the filter itself: every part of a record (message, arguments, extra
fields, exception text, stack) loses each known secret and token-shaped URL part."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import make_dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.core import db, logs, vault
from bot.models import ChannelAccount
from config import Secret
from tests.conftest import make_settings

SECRET = "pa55-word-only-we-know"


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RedactSecrets())
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield stream
    log.removeHandler(handler)


def test_every_part_of_a_record_is_redacted(out: io.StringIO) -> None:
    logs.add_secret(SECRET)
    log = logging.getLogger("test.redaction")
    log.info("login %s at %s", SECRET, "https://api.telegram.org/bot123:AAE-x_y/getMe",
             extra={"password": SECRET, "obj": {"nested": SECRET},
                    "url": "postgres://sb:pg-pass-word@db/sb?access_token=EAAGtoken123"})
    try:
        raise RuntimeError(f"refused with {SECRET}; Authorization: Bearer abcdefghijk123")
    except RuntimeError:
        log.exception("failed", stack_info=True)
    text = out.getvalue()
    assert SECRET not in text and "AAE-x_y" not in text and "pg-pass-word" not in text
    assert "EAAGtoken123" not in text and "abcdefghijk123" not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["msg"] == ("login [redacted] at https://api.telegram.org/bot[redacted]/getMe")
    assert first["password"] == "[redacted]"
    assert first["url"] == "postgres://sb:[redacted]@db/sb?access_token=[redacted]"
    assert "RuntimeError: refused with [redacted]" in second["exc"]
    assert "stack" in second



@pytest.mark.parametrize("query", ["apikey=K3yValue", "api_key=K3yValue", "auth=K3yValue",
                                   "X-Amz-Signature=K3yValue", "refresh_token=K3yValue",
                                   "client_secret=K3yValue", "hub.verify_token=K3yValue"])
def test_token_shaped_query_values_are_redacted(out: io.StringIO, query: str) -> None:
    """A secret no one configured (another service's key in a URL we log) by its shape,
    also when a known secret is a word of the parameter's name."""
    known = set(logs._known)
    logs.add_secret("secret", "verify")
    try:
        logging.getLogger("test.redaction").info("fetched https://api.example/v1?page=2&%s",
                                                 query)
    finally:
        logs._known.clear()
        logs._known.update(known)
        logs._pattern = None
    assert "K3yValue" not in out.getvalue() and "page=2" in out.getvalue()

def test_settings_secrets_and_sealed_values_are_known(out: io.StringIO) -> None:
    settings = make_dataclass("S", [("token", Secret), ("name", str)])(
        Secret("metrics-token-from-settings"), "shop-name-is-public")
    logs.add_settings_secrets(settings)
    vault.use_key("a-secret-key-for-this-test")
    sealed = vault.seal("channel-password-sealed")
    assert vault.unseal(sealed) == "channel-password-sealed"
    logging.getLogger("test.redaction").warning(
        "%s %s %s %s", "metrics-token-from-settings", "shop-name-is-public",
        "channel-password-sealed", "a-secret-key-for-this-test")
    msg = json.loads(out.getvalue())["msg"]
    assert msg == "[redacted] shop-name-is-public [redacted] [redacted]"
    assert logs.redact("short") == "short"  # a value this short is never taken as a secret


async def test_every_stored_account_secret_is_known_to_the_logs_from_start_up(
        tmp_path: Path, aiohttp_client: Any) -> None:
    settings = make_settings(tmp_path, seed_demo=False)
    await db.apply_migrations(settings)
    ctx = await db.open_db(settings)
    try:
        await ChannelAccount.create(kind="api", name="unused", secret="x" * 64,
                                    enabled=False, settings={
                                        "google_access_token": vault.seal("ya29.never-used")})
    finally:
        await db.close_db(ctx)
    logs._known.clear()  # as in a fresh process
    logs._pattern = None
    assert logs.redact("token ya29.never-used") == "token ya29.never-used"
    await aiohttp_client(create_app(settings))
    assert logs.redact("token ya29.never-used") == "token [redacted]"
