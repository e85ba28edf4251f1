"""``python run.py …`` as a user runs it: real subprocesses on real database files."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, Postgres
from tests.fakes.graph_api import FakeGraph
from tests.fakes.telegram_api import FakeTelegram


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (the file closed again: warnings are errors)."""
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def run(data: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_LOG_LEVEL": "WARNING",
            **(env or {})}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=full, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_user_add_prints_token_last_and_it_works(tmp_path: Path) -> None:
    out = run(tmp_path, "user", "add", "--email", "Lan@Shop.test", "--role", "agent")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("sbt_") and " " not in token
    assert "user add: 100%" in out.stderr  # the progress bar (tqdm)
    listed = run(tmp_path, "user", "list")
    assert "lan@shop.test\tagent\tactive" in listed.stdout and "1 users" in listed.stdout
    dup = run(tmp_path, "user", "add", "--email", "lan@shop.test", "--role", "agent")
    assert dup.returncode == 2 and "already exists" in dup.stderr
    bad = run(tmp_path, "user", "add", "--email", "nope", "--role", "agent")
    assert bad.returncode == 2 and "not an e-mail" in bad.stderr
    role = run(tmp_path, "user", "add", "--email", "a@b.cd", "--role", "owner")
    assert role.returncode == 2 and "invalid choice" in role.stderr
    off = run(tmp_path, "user", "disable", "--email", "lan@shop.test")
    assert off.returncode == 0 and "disabled" in off.stdout
    assert "disabled" in run(tmp_path, "user", "list").stdout


def test_channel_add_and_list(tmp_path: Path) -> None:
    private = run(tmp_path, "channel", "add", "api", "--name", "ERP",
                  "--callback-url", "http://127.0.0.1:9/hook")  # the outbound URL policy
    assert private.returncode == 2 and "127.0.0.1 is a loopback address" in private.stderr
    out = run(tmp_path, "channel", "add", "api", "--name", "ERP",
              "--callback-url", "https://erp.example.com/hook")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].isdigit()  # the account id alone on the last line
    secret = next(ln for ln in lines if "secret" in ln).rsplit(" ", 1)[-1]
    assert len(secret) == 64
    listed = run(tmp_path, "channel", "list")
    assert f"{lines[-1]}\tapi\tERP\tenabled" in listed.stdout
    assert secret not in listed.stdout
    bad = run(tmp_path, "channel", "add", "fax", "--name", "x")
    assert bad.returncode == 2 and "unknown channel kind" in bad.stderr


def test_import_export_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "name,email,phone,locale,tags,city\n"
        "Ann Lee,ann@shop.test,+48 600 100 200,pl,vip|wholesale,Kraków\n"
        "Bảo Trần,bao@shop.test,,vi,,Hà Nội\n"
        ",,,,,\n"
        "Bad Mail,not-an-email,,,,\n"
        "Сергей,,+7 900 000,ru,,\n", encoding="utf-8")
    out = run(tmp_path, "import", "contacts", str(src))
    assert out.returncode == 0, out.stderr
    assert "row 4: needs at least a name" in out.stderr
    assert "row 5: email 'not-an-email' is not an e-mail address" in out.stderr
    assert "import: 5 rows, 3 created, 0 updated, 2 rejected" in out.stdout
    assert "import: 100%" in out.stderr
    exported = tmp_path / "out.csv"
    out = run(tmp_path, "export", "contacts", str(exported))
    assert out.returncode == 0 and "export: 3 contacts" in out.stdout
    rows = read_csv(exported)
    assert [r["name"] for r in rows] == ["Ann Lee", "Bảo Trần", "Сергей"]
    assert rows[0]["tags"] == "vip|wholesale" and '"city": "Kraków"' in rows[0]["attributes"]
    # Round trip: import the export into a fresh shop and export again: same rows.
    fresh = tmp_path / "fresh"
    assert run(fresh, "import", "contacts", str(exported)).returncode == 0
    again = tmp_path / "again.csv"
    run(fresh, "export", "contacts", str(again))
    assert read_csv(again) == rows
    # Re-importing updates by e-mail instead of duplicating.
    out = run(tmp_path, "import", "contacts", str(src))
    assert "2 updated" in out.stdout and "1 created" in out.stdout  # Сергей has no e-mail
    missing = run(tmp_path, "import", "contacts", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_export_conversations(tmp_path: Path) -> None:
    out = run(tmp_path, "export", "conversations", str(tmp_path / "c.csv"))
    assert out.returncode == 0 and "export: 0 conversations" in out.stdout
    header = (tmp_path / "c.csv").read_text().splitlines()[0]
    assert header.startswith("id,channel,channel_account_id,contact_id")


def test_migrate_on_fresh_sqlite(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert ("migrations: 26 applied (models.0001_initial, models.0002_telegram, "
            "models.0003_bot_rules_groups, models.0004_posts, models.0005_chat_flows, "
            "models.0006_email, models.0007_drips, models.0008_tracking, "
            "models.0009_segments, models.0010_broadcasts, models.0011_listening, "
            "models.0012_quarantine_secrets, models.0013_work, models.0014_reports, "
            "models.0015_shop_reports, models.0016_dashboard_indexes, models.0017_post_clicks, "
            "models.0018_dashboard_speed, models.0019_report_speed, "
            "models.0020_report_people, models.0021_saved_views, "
            "models.0022_attachments, models.0023_user_language, "
            "models.0024_segment_delete, models.0025_note_delete, models.0026_error_i18n)"
            ) in first.stdout
    assert (tmp_path / "switchboard.sqlite3").exists()
    again = run(tmp_path, "migrate")
    assert "database is up to date" in again.stdout


def test_migrate_on_fresh_postgres(tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.create_db()
    first = run(tmp_path, "migrate", env={"SWITCHBOARD_DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    assert "26 applied" in first.stdout
    again = run(tmp_path, "migrate", env={"SWITCHBOARD_DATABASE_URL": url})
    assert "up to date" in again.stdout
    out = run(tmp_path, "user", "add", "--email", "pg@shop.test", "--role", "admin",
              env={"SWITCHBOARD_DATABASE_URL": url})
    assert out.returncode == 0 and out.stdout.splitlines()[-1].startswith("sbt_")


def test_models_match_migrations(tmp_path: Path) -> None:
    """A model change without a migration fails here: makemigrations finds nothing new.
    (It has no dry run: a migration it writes is read into the failure and removed, so the
    checkout is left as it was.)"""
    folder = ROOT / "bot" / "migrations"
    before = set(folder.iterdir())
    try:
        out = subprocess.run([str(Path(sys.executable).parent / "tortoise"), "makemigrations"],
                             cwd=ROOT, text=True, capture_output=True, timeout=120,
                             env={**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path)})
    finally:
        written = {p: p.read_text() for p in set(folder.iterdir()) - before if p.is_file()}
        for p in written:
            p.unlink()
    assert out.returncode == 0, out.stderr
    assert "No changes detected" in out.stdout and not written, (out.stdout, written)


@pytest.mark.parametrize("env,needle", [
    ({"SWITCHBOARD_PORT": "eighty"}, "SWITCHBOARD_PORT"),
    ({"SWITCHBOARD_PORT": "70000"}, "SWITCHBOARD_PORT"),
    ({"SWITCHBOARD_DATABASE_URL": "mysql://x"}, "SWITCHBOARD_DATABASE_URL"),
    ({"SWITCHBOARD_LOG_LEVEL": "LOUD"}, "SWITCHBOARD_LOG_LEVEL"),
    ({"SWITCHBOARD_CONFIG": "/nonexistent.toml"}, "SWITCHBOARD_CONFIG"),
])
def test_bad_setting_stops_startup_with_one_line(tmp_path: Path, env: dict[str, str],
                                                 needle: str) -> None:
    out = run(tmp_path, "serve", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("config error:")


async def test_channel_add_telegram_checks_the_token(tmp_path: Path, aiohttp_server: Any
                                                    ) -> None:
    """getMe runs against the account's API base URL (a local fake Bot API) before the
    account is enabled; a bad token is refused with a clear error and nothing is added."""
    fake = FakeTelegram()
    fake.add_bot("123456:good-token")
    server = await aiohttp_server(fake.app())
    base = str(server.make_url("")).rstrip("/")

    async def arun(*args: str) -> tuple[int, str, str]:
        env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path),
               "SWITCHBOARD_LOG_LEVEL": "WARNING",
               "SWITCHBOARD_ALLOW_PRIVATE_URLS": "true"}  # the fake is on 127.0.0.1
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "run.py", *args, cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await arun("channel", "add", "telegram", "--name", "Shop bot",
                                "--token", "123456:good-token", "--api-base-url", base)
    assert code == 0, err
    account_id = out.strip().splitlines()[-1]
    assert account_id.isdigit() and "good-token" not in out
    assert [m for _, m, _ in fake.calls] == ["getMe"]

    code, out, err = await arun("channel", "add", "telegram", "--name", "Typo",
                                "--token", "123456:wrong", "--api-base-url", base)
    assert code == 2 and "Telegram rejected the token" in err and "not enabled" in err
    code, out, err = await arun("channel", "add", "telegram", "--name", "Nobody home",
                                "--token", "1:x", "--api-base-url", "http://127.0.0.1:9")
    assert code == 2 and "cannot reach the Bot API" in err
    code, listed, _ = await arun("channel", "list")
    assert f"{account_id}\ttelegram\tShop bot\tenabled" in listed
    assert "Typo" not in listed and "Nobody home" not in listed


async def test_channel_checks_use_the_outbound_policy(tmp_path: Path, aiohttp_server: Any
                                                     ) -> None:
    """The CLI's account checks fetch under the server's outbound URL policy: a Graph API
    URL on 127.0.0.1 is refused unless SWITCHBOARD_ALLOW_PRIVATE_URLS is set."""
    fake = FakeGraph()
    fake.add_page("1001", "page-token")
    base = str((await aiohttp_server(fake.app())).make_url("/v21.0"))

    async def add(name: str, **env_over: str) -> tuple[int, str, str]:
        env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(tmp_path),
               "SWITCHBOARD_LOG_LEVEL": "WARNING", **env_over}
        if not env_over:
            env.pop("SWITCHBOARD_ALLOW_PRIVATE_URLS", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "run.py", "channel", "add", "facebook", "--name", name,
            "--page-id", "1001", "--access-token", "page-token", "--app-secret", "s3cret",
            "--api-base-url", base, cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    code, _, err = await add("Refused")
    assert code == 2 and "127.0.0.1" in err, err
    assert fake.calls == []
    code, _, err = await add("Allowed", SWITCHBOARD_ALLOW_PRIVATE_URLS="true")
    assert code == 0, err
    assert len(fake.calls) == 1
