"""The databases of bench/reports.py: a seeded SQLite file or PostgreSQL database, cached.

``prepare(kind, scale, seed)`` returns Settings on a fresh copy of a seeded database:

- SQLite: the seeded file is kept in the cache directory and copied for each run.
- PostgreSQL: a cluster of Debian's package (as tests/conftest.py starts one) lives in the
  cache directory; the seeded database is kept there as a template and each run gets
  ``CREATE DATABASE ... TEMPLATE``. ``SB_BENCH_PG_URL`` uses a server of your own instead
  (its database named in the URL is the maintenance one; needs CREATE DATABASE rights).
  A cluster already up (another run, or one a killed run left) is shared and left up:
  ``pg_ctl -D $SB_BENCH_CACHE/pg/data stop`` (as user postgres) stops it.

The cache key is the scale, the seed, today's date, the migrations' names and the seeder's
source: a new migration, a changed seeder or a new day seeds again. The cache lives in
``$SB_BENCH_CACHE`` (default ``/tmp/switchboard-bench-cache``); delete it to start over;
older entries of the same scale and seed are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import hashlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, free_port  # noqa: E402
from bench.reports_seed import Shop, today_midnight  # noqa: E402
from config import Settings, load_settings  # noqa: E402

CACHE = Path(os.environ.get("SB_BENCH_CACHE", "/tmp/switchboard-bench-cache"))


def cache_key(scale: float, seed: int) -> str:
    names = sorted(p.name for p in (ROOT / "bot" / "migrations").glob("0*.py"))
    seeder = (ROOT / "bench" / "reports_seed.py").read_text()
    digest = hashlib.sha1("\n".join([*names, seeder]).encode()).hexdigest()[:8]
    return f"s{scale:g}_r{seed}_{today_midnight():%Y%m%d}_{digest}".replace(".", "p")


def bench_settings(data: Path, database_url: str = "") -> Settings:
    env = {"SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    return load_settings(env, database_url=database_url, sentiment_enabled=False)


class Cluster:
    """A PostgreSQL cluster kept in the cache directory between runs, on a free port."""

    def __init__(self) -> None:
        self.url = os.environ.get("SB_BENCH_PG_URL", "")
        self.dir = CACHE / "pg"
        self.started = False

    def _run(self, *args: object) -> str:
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:  # initdb refuses root; run the cluster as 'postgres'
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def start(self) -> None:
        if self.url or self.started:
            return
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (Debian's postgresql package)")
        self.bin = Path(bins[-1]).parent
        data = self.dir / "data"
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._run(self.bin / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C.UTF-8")
        pid = data / "postmaster.pid"
        if pid.exists() and subprocess.run(
                [str(self.bin / "pg_ctl"), "status", "-D", str(data)],
                capture_output=True).returncode == 0:
            # Another run (e.g. bench/reports_seed.py) has it up: share it, leave it up.
            self.url = f"postgres://postgres@127.0.0.1:{pid.read_text().split()[3]}/postgres"
            return
        port = free_port()
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c fsync=off "
                  "-c full_page_writes=off -c synchronous_commit=off "
                  "-c shared_buffers=512MB -c maintenance_work_mem=256MB", "start")
        self.url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        self.started = True

    def stop(self) -> None:
        if self.started:
            self._run(self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")
            self.started = False

    def db_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + name

    async def sql(self, *statements: str) -> list[str]:
        import asyncpg
        conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        try:
            out = []
            for s in statements:
                out += [r[0] for r in await conn.fetch(s)] if s.startswith("SELECT") else []
                if not s.startswith("SELECT"):
                    await conn.execute(s)
            return out
        finally:
            await conn.close()


async def migrate(settings: Settings) -> None:
    from bot.core.db import apply_migrations
    await apply_migrations(settings)


def write_sqlite(path: Path, shop: Shop) -> None:
    sqlite3.register_adapter(datetime, lambda v: v.isoformat(" "))  # as Tortoise stores it
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("BEGIN")
    for table, cols, rows in shop.chunks():
        if rows:
            marks = ", ".join("?" * len(cols))
            names = ", ".join(f'"{c}"' for c in cols)
            db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


async def write_postgres(url: str, shop: Shop) -> None:
    import asyncpg
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        async with conn.transaction():
            # Foreign-key triggers off for this session only: the rows respect them.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table, cols, rows in shop.chunks():
                if rows:
                    await conn.copy_records_to_table(table, records=rows, columns=list(cols))
            for table in shop.counts:
                if table != "conversation_labels":
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table}\"), false)")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def report(kind: str, shop: Shop, seconds: float) -> None:
    counts = ", ".join(f"{t} {n:,}" for t, n in shop.counts.items()
                       if t in ("messages", "conversations", "contacts", "shop_events",
                                "mail_sends", "csat_ratings", "mentions", "reviews"))
    print(f"[{kind}] seeded in {seconds:.1f} s: {counts}", flush=True)


async def seed_sqlite(scale: float, seed: int, data: Path) -> Settings:
    key = cache_key(scale, seed)
    cached = CACHE / f"reports-{key}.sqlite3"
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob(f"reports-{key.rsplit('_', 2)[0]}_*"):
            old.unlink()
        work = Path(str(cached) + ".tmp")
        tmp = bench_settings(CACHE / "sqlite-tmp", f"sqlite://{work}")
        work.unlink(missing_ok=True)
        t0 = time.perf_counter()
        await migrate(tmp)
        shop = Shop(scale, seed)
        await asyncio.to_thread(write_sqlite, work, shop)
        report("sqlite", shop, time.perf_counter() - t0)
        for extra in ("-wal", "-shm"):
            Path(str(work) + extra).unlink(missing_ok=True)
        work.rename(cached)
    else:
        print(f"[sqlite] seeded database from the cache: {cached}", flush=True)
    data.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, data / "switchboard.sqlite3")
    return bench_settings(data)


async def seed_postgres(scale: float, seed: int, data: Path, cluster: Cluster) -> Settings:
    cluster.start()
    key = cache_key(scale, seed)
    template = f"tpl_{key}".lower()
    have = await cluster.sql("SELECT datname FROM pg_database WHERE datname LIKE "
                             f"'{template.rsplit('_', 2)[0]}\\_%'")
    if template not in have:
        await cluster.sql(*[f'DROP DATABASE IF EXISTS "{old}"' for old in have])
        await cluster.sql(f'CREATE DATABASE "{template}"')
        url = cluster.db_url(template)
        t0 = time.perf_counter()
        await migrate(bench_settings(data, url))
        shop = Shop(scale, seed)
        await write_postgres(url, shop)
        report("postgres", shop, time.perf_counter() - t0)
    else:
        print(f"[postgres] seeded database from the cache: template {template}", flush=True)
    name = "run_" + uuid.uuid4().hex[:10]
    t0 = time.perf_counter()
    await cluster.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    print(f"[postgres] copied the template in {time.perf_counter() - t0:.1f} s", flush=True)
    return bench_settings(data, cluster.db_url(name))


async def prepare(kind: str, scale: float, seed: int, data: Path,
                  cluster: Cluster) -> Settings:
    """Settings on a fresh seeded database, migrated to the code's latest migration."""
    settings = await (seed_sqlite(scale, seed, data) if kind == "sqlite"
                      else seed_postgres(scale, seed, data, cluster))
    await migrate(settings)  # a no-op unless the code has a migration the cache lacks
    return settings


async def drop(settings: Settings, cluster: Cluster) -> None:
    if not settings.is_sqlite:
        name = settings.resolved_database_url.rsplit("/", 1)[1]
        await cluster.sql(f'DROP DATABASE IF EXISTS "{name}"')


def main_seed() -> None:
    ap = argparse.ArgumentParser(description="Seed (and cache) the reports bench databases.")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default="sqlite,postgres")
    args = ap.parse_args()

    async def run() -> None:
        cluster = Cluster()
        try:
            for kind in args.db.split(","):
                data = CACHE / "runs" / uuid.uuid4().hex[:8]
                settings = await prepare(kind, args.scale, args.seed, data, cluster)
                await drop(settings, cluster)
                shutil.rmtree(data, ignore_errors=True)
        finally:
            cluster.stop()
    asyncio.run(run())
