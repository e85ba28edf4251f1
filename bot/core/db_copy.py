"""``python run.py db copy --to postgres://…``: the configured database (normally SQLite)
copied into an empty PostgreSQL database.

How it goes:

1. The target URL is checked and connected to; a target that is not PostgreSQL, cannot be
   reached, is the source itself, or already holds rows is refused with one line.
2. Migrations are applied to the target (it gets the schema and its own ``tortoise_migrations``
   rows) and to the source (both at the same version, as every command does).
3. The source is read in one snapshot (a read transaction), table by table, in batches: a
   million messages are never held in memory. Each value is converted to the target
   column's type (SQLite keeps datetimes and JSON as text and booleans as integers).
4. The rows go into the target in ONE transaction, with COPY: its foreign keys are dropped
   first and added back at the end (PostgreSQL checks every row then), so the tables can be
   loaded in any order, self-references included. Every sequence is set past the highest
   id. A failure rolls everything back: the target is left migrated and empty, and the
   command can simply be run again.
5. After the commit, every table's rows are counted again on both sides and printed; any
   difference is an error (exit 1).

The migrations' bookkeeping table is not copied: the target's own migrate filled it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from bot.core.console import Progress
from bot.core.db_values import CONVERTERS
from bot.core.relay import asyncpg_dsn
from config import Settings

BOOKKEEPING = "tortoise_migrations"  # tortoise's record of applied migrations
BATCH = 2000
CONNECT_TIMEOUT = 15.0
PG_SCHEMES = ("postgres", "postgresql", "asyncpg")


class CopyError(Exception):
    """A one-line reason the copy stopped, and the exit status to return."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    # Neither the URLs nor the password show in its repr (a traceback, a log line).
    url: str = field(repr=False)  # as Tortoise takes it (postgres://…)
    dsn: str = field(repr=False)  # as asyncpg takes it (no Tortoise pool options)
    label: str  # host:port/db, no user or password: safe to print
    password: str = field(repr=False)
    # The password as it may appear in a message: plain, and percent-encoded as in the URL
    secrets: tuple[str, ...] = field(repr=False, default=())


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def parse_pg_url(url: str, what: str = "--to") -> Target:
    """Check a PostgreSQL URL's shape (not reachability); CopyError says what is wrong."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CopyError(f"{what}: not a valid URL ({exc}); expected "
                        "postgres://user:password@host:5432/database") from None
    scheme = parts.scheme.lower()
    if scheme not in PG_SCHEMES:
        kind = f"a {scheme}: URL" if scheme else "not a URL"
        raise CopyError(f"{what} must be a PostgreSQL URL "
                        f"(postgres://user:password@host:5432/database); this is {kind}")
    database = unquote(parts.path.lstrip("/"))
    if not parts.netloc or not database or "/" in database:
        raise CopyError(f"{what}: the URL needs a host and a database name, e.g. "
                        "postgres://user:password@host:5432/database")
    rest = url[len(parts.scheme):]
    label = f"{parts.hostname or 'localhost'}:{port or 5432}/{database}"
    password = unquote(parts.password or "")
    secrets = {password, parts.password or "", quote(password, safe="")} - {""}
    return Target(url="postgres" + rest, dsn=asyncpg_dsn("postgres" + rest), label=label,
                  password=password, secrets=tuple(sorted(secrets, key=len, reverse=True)))


def _redact(message: str, *targets: Target | None) -> str:
    for t in targets:
        for secret in t.secrets if t else ():
            message = message.replace(secret, "***")
    return " ".join(message.split())  # one line


async def _connect(target: Target, role: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(dsn=target.dsn, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        raise CopyError(f"cannot connect to the {role} {target.label}: no answer within "
                        f"{CONNECT_TIMEOUT:g} s") from None
    except Exception as exc:  # refused, unknown host, bad password, no such database…
        reason = _redact(str(exc) or type(exc).__name__, target)
        raise CopyError(f"cannot connect to the {role} {target.label}: {reason}") from None


# --- the source: SQLite or PostgreSQL, read in one snapshot ----------------------------------

class Source(Protocol):
    """What the copy reads: a SQLite file or a PostgreSQL database, in one snapshot."""

    label: str

    async def tables(self) -> set[str]: ...

    async def columns(self, table: str) -> set[str]: ...

    async def count(self, table: str) -> int: ...

    def rows(self, table: str, columns: list[str], batch: int) -> AsyncIterator[list[Any]]: ...

    async def close(self) -> None: ...


class SqliteSource(Source):
    def __init__(self, path: str) -> None:
        self.label = path
        try:
            # read-only: the copy never writes the shop's database
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                        isolation_level=None, timeout=30)
            self.conn.execute("BEGIN")  # one snapshot for every read below
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise CopyError(f"cannot read the source {path}: {exc}") from None

    async def tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}

    async def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({q(table)})")}

    async def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0])

    async def rows(self, table: str, columns: list[str], batch: int
                   ) -> AsyncIterator[list[Any]]:
        cur = self.conn.execute(f"SELECT {', '.join(map(q, columns))} FROM {q(table)}")
        try:
            while chunk := cur.fetchmany(batch):
                yield chunk
                await asyncio.sleep(0)
        finally:
            cur.close()

    async def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.close()


class PostgresSource(Source):
    def __init__(self, conn: Any, label: str) -> None:
        self.conn, self.label = conn, label
        self.tx = conn.transaction(isolation="repeatable_read", readonly=True)

    async def begin(self) -> None:
        await self.tx.start()

    async def tables(self) -> set[str]:
        return await _pg_tables(self.conn)

    async def columns(self, table: str) -> set[str]:
        return {c for c, _ in await _pg_columns(self.conn, table)}

    async def count(self, table: str) -> int:
        return int(await self.conn.fetchval(f"SELECT count(*) FROM {q(table)}"))

    async def rows(self, table: str, columns: list[str], batch: int
                   ) -> AsyncIterator[list[Any]]:
        cur = await self.conn.cursor(f"SELECT {', '.join(map(q, columns))} FROM {q(table)}")
        while chunk := await cur.fetch(batch):
            yield [tuple(r) for r in chunk]

    async def close(self) -> None:
        await self.tx.rollback()
        await self.conn.close()


async def _pg_tables(conn: Any) -> set[str]:
    return {r[0] for r in await conn.fetch(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")}


async def _pg_columns(conn: Any, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in await conn.fetch(
        "SELECT column_name, udt_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 "
        "ORDER BY ordinal_position", table)]


async def _pg_rows_in(conn: Any, tables: set[str]) -> dict[str, bool]:
    return {t: bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {q(t)})"))
            for t in sorted(tables - {BOOKKEEPING})}


async def _same_database(source: Any, target: Any) -> bool:
    """True when both connections reach one database (whatever the URLs say: localhost
    and 127.0.0.1, two ports of a proxy…): the source's session is visible in the
    target's pg_stat_activity, in the target's database."""
    pid, started = await source.fetchrow(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()")
    return bool(await target.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 "
        "AND backend_start = $2 AND datname = current_database())", pid, started))


# --- the copy -------------------------------------------------------------------------------

@dataclass
class Copied:
    table: str
    source: int
    target: int


async def copy_database(settings: Settings, to: str, batch: int = BATCH) -> list[Copied]:
    """Copy the configured database into the empty PostgreSQL database at ``to``.

    Returns the row counts per table, source and target; raises CopyError (one line).
    """
    import asyncpg

    target = parse_pg_url(to)
    source_url = settings.resolved_database_url
    source_pg = None if source_url.startswith("sqlite://") else parse_pg_url(
        source_url, "SWITCHBOARD_DATABASE_URL")
    try:
        return await _copy(settings, target, source_pg, batch)
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # a connection lost midway, a disk full…: the target's transaction rolled back
        reason = _redact(str(exc) or type(exc).__name__, target, source_pg)
        raise CopyError(f"the copy stopped: {reason}") from None


async def _copy(settings: Settings, target: Target, source_pg: Target | None,
                batch: int) -> list[Copied]:
    import asyncpg

    from bot.core import db

    source_url = settings.resolved_database_url
    if source_pg and source_pg.dsn == target.dsn:
        raise CopyError(f"the target {target.label} is the configured database itself; "
                        "give --to another, empty, database")
    if source_pg is None:
        path = source_url[len("sqlite://"):]
        if path == ":memory:" or not Path(path).is_file():
            raise CopyError(f"the configured database {path} does not exist: nothing to copy "
                            "(is SWITCHBOARD_DATA_DIR the server's?)")

    conn = await _connect(target, "target")
    source: Source | None = None
    try:
        if source_pg:
            src_conn = await _connect(source_pg, "source")
            if await _same_database(src_conn, conn):
                await src_conn.close()
                raise CopyError(f"the target {target.label} is the configured database "
                                "itself; give --to another, empty, database")
            await src_conn.close()
        _refuse_rows(await _pg_rows_in(conn, await _pg_tables(conn)), target)

        for which, s in (("target", settings.with_(database_url=target.url)),
                         ("source", settings)):
            try:
                await db.apply_migrations(s)
            except Exception as exc:
                reason = _redact(str(exc) or type(exc).__name__, target, source_pg)
                raise CopyError(f"migrating the {which} failed: {reason}") from None

        tables = sorted(await _pg_tables(conn) - {BOOKKEEPING})
        columns = {t: await _pg_columns(conn, t) for t in tables}
        if source_pg:
            src = PostgresSource(await _connect(source_pg, "source"), source_pg.label)
            await src.begin()
            source = src
        else:
            source = SqliteSource(source_url[len("sqlite://"):])
        missing = [t for t in tables if t not in await source.tables()]
        if missing:
            raise CopyError(f"the source has no table {', '.join(missing)}: is it a "
                            "Switchboard database?")
        for t in tables:
            lacking = [c for c, _ in columns[t] if c not in await source.columns(t)]
            if lacking:
                raise CopyError(f"the source's table {t} has no column {', '.join(lacking)}")
        counts = {t: await source.count(t) for t in tables}

        try:
            async with conn.transaction():
                await _load(conn, source, tables, columns, counts, target, batch)
        except asyncpg.PostgresError as exc:
            raise CopyError(f"the copy failed and was rolled back (the target is left "
                            f"empty): {_redact(str(exc), target, source_pg)}") from None
        await source.close()
        source = None

        return [Copied(t, counts[t], int(await conn.fetchval(f"SELECT count(*) FROM {q(t)}")))
                for t in tables]
    finally:
        if source is not None:
            await source.close()
        await conn.close()


def _refuse_rows(has_rows: dict[str, bool], target: Target) -> None:
    full = [t for t, yes in has_rows.items() if yes]
    if full:
        shown = ", ".join(full[:5]) + (f" and {len(full) - 5} more" if len(full) > 5 else "")
        raise CopyError(f"the target {target.label} already holds data (in {shown}); "
                        "copy into an empty database")


async def _load(conn: Any, source: Source, tables: list[str],
                columns: dict[str, list[tuple[str, str]]], counts: dict[str, int],
                target: Target, batch: int) -> None:
    """Inside the target's transaction: every table's rows, then keys and sequences."""
    schema = str(await conn.fetchval("SELECT current_schema()"))
    await conn.execute(f"LOCK TABLE {', '.join(map(q, tables))} IN ACCESS EXCLUSIVE MODE")
    _refuse_rows(await _pg_rows_in(conn, set(tables)), target)  # nobody wrote meanwhile
    fkeys = await conn.fetch(
        "SELECT conrelid::regclass::text AS rel, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = current_schema()::regnamespace ORDER BY conname")
    for fk in fkeys:
        await conn.execute(f"ALTER TABLE {fk['rel']} DROP CONSTRAINT {q(fk['conname'])}")

    for table in tables:
        names = [c for c, _ in columns[table]]
        convert = [CONVERTERS.get(udt) for _, udt in columns[table]]
        bar = Progress(counts[table], f"copy {table}") if counts[table] else None
        async for chunk in source.rows(table, names, batch):
            records = []
            for row in chunk:
                try:
                    records.append(tuple(
                        v if v is None or f is None else f(v)
                        for v, f in zip(row, convert, strict=True)))
                except (ValueError, TypeError, ArithmeticError):
                    bad = next(n for n, v, f in zip(names, row, convert, strict=True)
                               if v is not None and f is not None and _fails(f, v))
                    udt = dict(columns[table])[bad]
                    raise CopyError(f"{table}.{bad}: a value of the source is not a valid "
                                    f"{udt} (row {_row_ref(names, row)}); nothing was "
                                    "copied") from None
            await conn.copy_records_to_table(table, records=records, columns=names,
                                             schema_name=schema)
            if bar:
                bar.step(len(records))

    for fk in fkeys:  # PostgreSQL checks every copied row against each key here
        await conn.execute(f"ALTER TABLE {fk['rel']} ADD CONSTRAINT {q(fk['conname'])} "
                           f"{fk['def']}")
    serials = await conn.fetch(
        "SELECT table_name, column_name, pg_get_serial_sequence("
        "  format('%I.%I', table_schema, table_name), column_name) AS seq "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ANY($1::text[])", tables)
    for s in serials:
        if s["seq"]:
            await conn.execute(
                f"SELECT setval($1, COALESCE((SELECT max({q(s['column_name'])}) "
                f"FROM {q(s['table_name'])}), 0) + 1, false)", s["seq"])


def _fails(f: Callable[[Any], Any], v: Any) -> bool:
    try:
        f(v)
    except (ValueError, TypeError, ArithmeticError):
        return True
    return False


def _row_ref(names: list[str], row: Any) -> str:
    if "id" in names:
        return f"id {row[names.index('id')]}"
    return "without an id"
