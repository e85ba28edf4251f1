"""``python run.py db copy --to postgres://…``: a shop on SQLite moves to PostgreSQL.

A real shop is built on SQLite through the app (the demo seed, conversations in Thai,
Khmer and Vietnamese, JSON fields, time-zoned datetimes, booleans, a post with a variant,
a drip enrolment, a user with a password and an API token), copied by the command in a
subprocess into a fresh database of a real PostgreSQL, compared field by field, and then
served from PostgreSQL by a real server process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import (
    ROOT,
    Postgres,
    ServerProcess,
    free_port,
    make_settings,
    message,
    start_shop,
)
from tests.fakes.telegram_api import FakeTelegram

TEXTS = ["สวัสดีครับ อยากสอบถามเรื่องสินค้า",  # Thai
         "សួស្តី ខ្ញុំចង់ទិញអាវនេះ",  # Khmer
         "Xin chào, tôi muốn đổi size áo được không?",  # Vietnamese
         "Emoji 🎉 and quotes \"'\\ and a tab\there"]
TOKEN = "5151:copy-bot"


async def run(data: Path, *args: str, **env: str) -> tuple[int, str, str]:
    full = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_LOG_LEVEL": "WARNING",
            **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", *args, cwd=ROOT, env=full, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode(), err.decode()


async def build_shop(data: Path, aiohttp_client: Any, aiohttp_server: Any) -> dict[str, Any]:
    """A shop on SQLite with real data, made through the app; the app is closed after."""
    fake = FakeTelegram()
    fake.add_bot(TOKEN)
    api = await aiohttp_server(fake.app())
    shop = await start_shop(aiohttp_client, make_settings(data))
    made: dict[str, Any] = {"seed": dict(shop.seed)}

    status, user = await shop.api("POST", "/api/v1/users", json={
        "email": "linh@shop.test", "role": "agent", "name": "Linh Nguyễn",
        "password": "correct horse battery"})
    assert status == 201, user
    made["agent_token"] = user["api_token"]

    status, contact = await shop.api("POST", "/api/v1/contacts", json={
        "name": "สมชาย ใจดี", "email": "somchai@customer.test", "locale": "th",
        "tags": ["vip", "ลูกค้าประจำ"],
        "attributes": {"size": "M", "orders": 3, "nested": {"ok": True, "list": [1, 2.5]}}})
    assert status == 201, contact

    for i, text in enumerate(TEXTS):
        resp = await shop.inbound(message(f"m-{i}", contact=f"cust-{i % 2}", text=text))
        assert resp.status in (200, 201, 202), await resp.text()
    status, page = await shop.api("GET", "/api/v1/conversations")
    assert status == 200 and len(page["items"]) == 2, page
    conv = page["items"][0]["id"]
    status, sent = await shop.api("POST", f"/api/v1/conversations/{conv}/reply",
                                  json={"text": "ขอบคุณครับ — cảm ơn — អរគុណ"})
    assert status == 201, sent

    status, account = await shop.api("POST", "/api/v1/channels", json={
        "kind": "telegram", "name": "news",
        "settings": {"token": TOKEN, "api_base_url": str(api.make_url("")).rstrip("/"),
                     "channel": "@shopnews"}})
    assert status == 201, account
    due = (datetime.now(UTC) + timedelta(days=30)).astimezone().isoformat()
    status, post = await shop.api("POST", "/api/v1/posts", json={
        "text": "Sale ลดราคา 🎉", "due_at": due,
        "variants": [{"channel_account_id": account["id"], "target": "@shopnews"}]})
    assert status == 201, post

    status, event = await shop.api("POST", "/api/v1/events", json={
        "id": "signup-1", "type": "signup",
        "contact": {"email": "new@customer.test", "name": "Trần Thị B"}})
    assert status in (200, 201, 202), event
    await shop.client.close()  # the server stops before the copy, as the README says

    with sqlite3.connect(data / "switchboard.sqlite3") as db:
        counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in
                  ("users", "messages", "conversations", "posts", "post_variants",
                   "enrollments", "contacts", "identities", "sessions")}
    db.close()
    assert counts["users"] == 2 and counts["messages"] == len(TEXTS) + 1
    assert counts["posts"] == 1 and counts["post_variants"] == 1
    assert counts["enrollments"] >= 1, "the signup enrolled the contact in a sequence"
    made["counts"] = counts
    return made


def sqlite_rows(path: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute(f'SELECT * FROM "{table}" ORDER BY 1')]
    db.close()
    return rows


async def pg_rows(url: str, table: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        rows = [dict(r) for r in await conn.fetch(f'SELECT * FROM "{table}" ORDER BY 1')]
        types = {r[0]: r[1] for r in await conn.fetch(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_name = $1", table)}
    finally:
        await conn.close()
    return rows, types


def as_sqlite_meant(value: Any, udt: str) -> Any:
    """What a SQLite value means, in the terms asyncpg gives for the PostgreSQL type."""
    if value is None:
        return None
    if udt == "timestamptz":
        return datetime.fromisoformat(value)
    if udt == "bool":
        return bool(value)
    if udt in ("json", "jsonb"):
        return json.loads(value) if isinstance(value, str) else value
    return value


def same_table(sqlite_path: Path, table: str, pg: list[dict[str, Any]],
               types: dict[str, str]) -> None:
    src = sqlite_rows(sqlite_path, table)
    assert len(src) == len(pg), table
    for a, b in zip(src, pg, strict=True):
        assert set(a) == set(b), (table, set(a) ^ set(b))
        for col, value in a.items():
            got = b[col]
            if types[col] in ("json", "jsonb") and got is not None:
                got = json.loads(got)
            want = as_sqlite_meant(value, types[col])
            assert got == want, (table, col, want, got)
            if types[col] == "timestamptz" and want is not None:
                assert got.utcoffset() is not None


async def login(url: str, email: str, password: str) -> bool:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(url + "/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:500]
        resp = await http.post(url + "/login", data={
            "csrf_token": token.group(1), "email": email, "password": password},
            headers={"Origin": url}, allow_redirects=False)
        if resp.status not in (302, 303):
            return False
        inbox = await http.get(url + "/inbox", allow_redirects=False)
        return inbox.status == 200


@pytest.mark.slow  # a shop built, a subprocess copy, a server process on PostgreSQL
async def test_sqlite_shop_moves_to_postgres(tmp_path: Path, postgres: Postgres,
                                             aiohttp_client: Any, aiohttp_server: Any) -> None:
    data = tmp_path / "data"
    made = await build_shop(data, aiohttp_client, aiohttp_server)
    target = postgres.create_db()

    code, out, err = await run(data, "db", "copy", "--to", target)
    assert code == 0, err
    assert "Traceback" not in err
    assert "copy messages: 100%" in err  # the progress bar (tqdm), per table
    printed = {m[1]: (int(m[2]), int(m[3])) for m in
               re.finditer(r"^(\w+)\s+(\d+)\s+(\d+)$", out, re.M)}
    for table, n in made["counts"].items():
        assert printed[table] == (n, n), (table, printed.get(table))
    assert "tortoise_migrations" not in printed
    assert "every count matches" in out.strip().splitlines()[-1]

    sqlite_path = data / "switchboard.sqlite3"
    for table in ("users", "contacts", "conversations", "messages", "posts", "post_variants",
                  "enrollments", "channel_accounts", "sequences", "conversation_labels"):
        rows, types = await pg_rows(target, table)
        same_table(sqlite_path, table, rows, types)
    rows, _ = await pg_rows(target, "tortoise_migrations")  # filled by the target's migrate
    assert rows and all(r["app"] == "models" for r in rows)

    # a second copy into the now full target is refused, and changes nothing
    code, out2, err2 = await run(data, "db", "copy", "--to", target)
    assert code == 2 and "already holds data" in err2, (out2, err2)
    assert len(err2.strip().splitlines()) == 1 and "Traceback" not in err2

    # the same shop served from PostgreSQL (same data dir: same secret key)
    srv = ServerProcess(data, SWITCHBOARD_DATABASE_URL=target)
    await asyncio.to_thread(srv.start)
    try:
        assert "Demo shop created" not in srv.output  # no second seed: the shop is there
        srv.seed = {"api_token": made["seed"]["api_token"]}
        page = await asyncio.to_thread(srv.call, "GET", "/api/v1/conversations")
        assert len(page["items"]) == 2
        texts = []
        for item in page["items"]:
            thread = await asyncio.to_thread(
                srv.call, "GET", f"/api/v1/conversations/{item['id']}/messages")
            texts += [t.get("text") for t in thread]
        for text in TEXTS:
            assert text in texts
        assert "ขอบคุณครับ — cảm ơn — អរគុណ" in texts

        assert await login(srv.url, made["seed"]["email"], made["seed"]["password"])
        assert await login(srv.url, "linh@shop.test", "correct horse battery")
        assert not await login(srv.url, "linh@shop.test", "wrong password here")
        srv.seed = {"api_token": made["agent_token"]}
        assert await asyncio.to_thread(srv.call, "GET", "/api/v1/conversations")
        srv.seed = {"api_token": made["seed"]["api_token"]}

        # new rows take new ids: every sequence was moved past the copied rows
        contacts, _ = await pg_rows(target, "contacts")
        new = await asyncio.to_thread(srv.call, "POST", "/api/v1/contacts",
                                      {"name": "Người mới", "email": "moi@customer.test"})
        assert new["id"] == max(c["id"] for c in contacts) + 1
        user = await asyncio.to_thread(srv.call, "POST", "/api/v1/users",
                                       {"email": "tam@shop.test", "role": "marketer"})
        assert user["id"] == 3
        conv = page["items"][0]["id"]
        reply = await asyncio.to_thread(srv.call, "POST", f"/api/v1/conversations/{conv}/reply",
                                        {"text": "ស្វាគមន៍ — after the move"})
        assert reply["id"] == made["counts"]["messages"] + 1
    finally:
        srv.stop()


async def test_bad_targets_are_one_line(tmp_path: Path) -> None:
    code, out, err = await run(tmp_path, "db", "copy", "--to", "postgres://h:5432/db")
    assert code == 2 and "does not exist: nothing to copy" in err, (out, err)
    assert len(err.strip().splitlines()) == 1
    code, _, err = await run(tmp_path, "migrate")  # a source (an empty shop) on SQLite
    assert code == 0, err
    port = free_port()  # nothing listens there
    for url, says in [
            ("sqlite:///tmp/other.sqlite3", "must be a PostgreSQL URL"),
            ("mysql://root@127.0.0.1/shop", "must be a PostgreSQL URL"),
            ("postgres://u:pw@127.0.0.1:notaport/db", "not a valid URL"),
            ("postgres://127.0.0.1:5432", "needs a host and a database name"),
            (f"postgres://sb:Secret-pw-1@127.0.0.1:{port}/shop", "cannot connect")]:
        code, out, err = await run(tmp_path, "db", "copy", "--to", url)
        assert code == 2, (url, out, err)
        assert err.strip().startswith("error: ") and says in err, (url, err)
        assert len(err.strip().splitlines()) == 1, (url, err)
        assert "Secret-pw-1" not in err


@pytest.mark.slow  # real PostgreSQL
async def test_postgres_source(tmp_path: Path,
                                                      postgres: Postgres) -> None:
    source = postgres.create_db()
    code, _, err = await run(tmp_path, "user", "add", "--email", "an@shop.test", "--role",
                             "admin", SWITCHBOARD_DATABASE_URL=source)
    assert code == 0, err
    # the same database spelled differently (localhost for 127.0.0.1)
    same = source.replace("127.0.0.1", "localhost")
    code, out, err = await run(tmp_path, "db", "copy", "--to", same,
                               SWITCHBOARD_DATABASE_URL=source)
    assert code == 2 and "is the configured database itself" in err, (out, err)
    assert len(err.strip().splitlines()) == 1
    code, _, err = await run(tmp_path, "db", "copy", "--to", postgres.create_db() + "_nope",
                             SWITCHBOARD_DATABASE_URL=source)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    other = postgres.create_db()  # another database: a PostgreSQL to PostgreSQL move works
    # Tortoise's pool options in the URLs are not handed to asyncpg
    code, out, err = await run(tmp_path, "db", "copy", "--to", other + "?minsize=1&maxsize=5",
                               SWITCHBOARD_DATABASE_URL=source + "?minsize=1&maxsize=3")
    assert code == 0 and "every count matches" in out, (out, err)
    assert re.search(r"^users\s+1\s+1$", out, re.M), out
    rows, _ = await pg_rows(other, "users")
    assert [r["email"] for r in rows] == ["an@shop.test"] and rows[0]["is_active"] is True


@pytest.mark.slow  # real PostgreSQL
async def test_count_mismatch_is_exit_1(tmp_path: Path, postgres: Postgres) -> None:
    """The counts are taken again after the commit: a target whose rows are not the
    source's (here a trigger someone left on it adds a row) fails the check, loudly."""
    code, _, err = await run(tmp_path, "user", "add", "--email", "an@shop.test", "--role",
                             "admin")
    assert code == 0, err
    target = postgres.create_db()
    code, _, err = await run(tmp_path, "migrate", SWITCHBOARD_DATABASE_URL=target)
    assert code == 0, err  # migrated but empty: a valid target
    conn = await asyncpg.connect(target.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("""
            CREATE FUNCTION dup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
              IF NEW.email NOT LIKE 'dup-%' THEN
                INSERT INTO users (id, email, name, role, password_hash, is_active, created_at)
                VALUES (NEW.id + 1000, 'dup-' || NEW.email, NEW.name, NEW.role,
                        NEW.password_hash, NEW.is_active, NEW.created_at);
              END IF; RETURN NEW; END $$;
            CREATE TRIGGER dup AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION dup();""")
    finally:
        await conn.close()
    code, out, err = await run(tmp_path, "db", "copy", "--to", target)
    assert code == 1, (out, err)
    assert re.search(r"^users\s+1\s+2  MISMATCH$", out, re.M), out
    assert "row counts differ in users (1 in the source, 2 in the target)" in err
    assert "Traceback" not in err


def test_target_hides_its_password() -> None:
    """Neither a Target's repr nor an error line shows the password, plain or as the URL
    spells it (percent-encoded), the target's or the source's; asyncpg's DSN has no pool
    options."""
    from bot.core.db_copy import _redact, parse_pg_url

    target = parse_pg_url("postgres://sb:p%40ss%2Fw0rd-X@db.test:5432/shop?minsize=1&maxsize=5")
    source = parse_pg_url("postgresql://sb:S%C3%B6urce-pw@src.test/old", "source")
    assert target.password == "p@ss/w0rd-X" and target.label == "db.test:5432/shop"
    for t in (target, source):
        assert "w0rd" not in repr(t) and "urce-pw" not in repr(t) and t.label in repr(t)
    assert "minsize" not in target.dsn and "maxsize" not in target.dsn
    assert "minsize=1" in target.url  # Tortoise takes them
    line = _redact("cannot reach postgres://sb:p%40ss%2Fw0rd-X@db.test/shop (p@ss/w0rd-X) "
                   "from postgresql://sb:S%C3%B6urce-pw@src.test/old as Söurce-pw",
                   target, source, None)
    assert "w0rd" not in line and "urce-pw" not in line, line
    assert line.count("***") == 4
