"""``python run.py …``: serve, migrate, users, channels, import, export and db copy.

Every command that works through rows shows a progress bar on stderr and ends with a
one-line summary on stdout. ``user add`` prints the API token alone on the last stdout line
and ``channel add`` the new account id, so scripts can capture them with ``tail -n1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.core.clean import without_nul
from bot.core.console import Progress, database
from bot.core.console import fail as _fail
from config import ConfigError, Settings, load_settings

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONTACT_COLUMNS = ["id", "name", "email", "phone", "locale", "tags", "attributes"]


# --- commands -------------------------------------------------------------------------------

def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.core.serve import serve

    def show_seed(created: dict[str, Any]) -> None:
        print("\n=== Demo shop created. This login is shown ONCE; keep it. ===", flush=True)
        print(f"  log in at   http://{settings.host}:{settings.port}/login")
        print(f"  e-mail      {created['email']}")
        print(f"  password    {created['password']}")
        print(f"  API token   {created['api_token']}")
        print(f"  web chat    http://{settings.host}:{settings.port}/chat?account="
              f"{created['webchat_account_id']}")
        print(f"  API inbound POST /api/v1/inbound/{created['api_account_id']} "
              f"(secret {created['api_account_secret']})")
        print("=" * 64, flush=True)

    app = create_app(settings, on_seed=show_seed)
    try:
        asyncio.run(serve(app, settings.host, settings.port, settings.shutdown_timeout,
                          on_started=lambda: print("Switchboard serving on http://"
                                                   f"{settings.host}:{settings.port}",
                                                   flush=True)))
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    return 0


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core import db

    bar = Progress(0, "migrate")

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            bar.total += 1
            bar.step()

    applied = await db.apply_migrations(settings, progress)
    if not applied:
        bar.step(0)
    print(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied
                                                   else ", database is up to date"))
    return 0


async def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.errors import InboxError
    from bot.models import Role, User
    from bot.services.users import add_user

    async with database(settings):
        if args.action == "add":
            if not EMAIL.match(args.email or ""):
                return _fail(f"--email: {args.email!r} is not an e-mail address")
            bar = Progress(1, "user add")
            try:
                created = await add_user(args.email, Role(args.role), args.name or "",
                                         args.password)
            except InboxError as exc:
                return _fail(str(exc))
            bar.step()
            print(f"user added: {created['email']} ({created['role'].value}), "
                  f"password: {created['password']}")
            print(created["api_token"])
        elif args.action == "list":
            users = await User.all().order_by("id")
            for u in Progress(len(users), "users").wrap(users):
                print(f"{u.id}\t{u.email}\t{u.role.value}\t"
                      f"{'active' if u.is_active else 'disabled'}")
            print(f"{len(users)} users")
        else:
            bar = Progress(1, "user disable")
            n = await User.filter(email=args.email.strip().lower()).update(is_active=False)
            bar.step()
            if not n:
                return _fail(f"no user with e-mail {args.email}")
            from bot.models import Session

            await Session.filter(user__email=args.email.strip().lower()).delete()
            print(f"user disabled: {args.email}")
    return 0


async def cmd_channel(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.errors import InboxError
    from bot.models import ChannelAccount
    from bot.services.accounts import add_channel
    from channels import registry

    async with database(settings):
        if args.action == "add":
            bar = Progress(1, "channel add")
            try:
                async with offline_adapters(settings) as adapters:
                    created = await add_channel(
                        adapters, args.kind, args.name, args.callback_url or "",
                        channel_settings(args), allow_private=settings.allow_private_urls)
            except InboxError as exc:
                return _fail(str(exc))
            bar.step()
            print(f"channel added: {created['kind']} {created['name']!r}")
            if args.kind == "telegram":
                print(f"  mode {created['settings'].get('mode')}; a running server picks it "
                      f"up within {settings.channel_refresh_seconds:g} s")
            else:
                print(f"  secret (shown once; signs inbound bodies and callbacks): "
                      f"{created['secret']}")
            print("  account id on the last line:")
            print(created["id"])
        else:
            accounts = await ChannelAccount.all().order_by("id")
            for a in Progress(len(accounts), "channels").wrap(accounts):
                print(f"{a.id}\t{a.kind}\t{a.name}\t{'enabled' if a.enabled else 'disabled'}")
            print(f"{len(accounts)} channel accounts ({', '.join(registry.kinds())} available)")
    return 0


def channel_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Per-kind settings from ``channel add`` flags (only the ones given)."""
    pairs = {"token": args.token, "api_base_url": args.api_base_url, "mode": args.mode,
             "page_id": args.page_id, "ig_user_id": args.ig_user_id,
             "access_token": args.access_token, "app_secret": args.app_secret}
    out: dict[str, Any] = {k: v for k, v in pairs.items() if v}
    for item in args.setting:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--setting takes KEY=VALUE, e.g. imap_host=imap.example.com "
                             f"(got {item!r})")
        out[key.strip()] = value
    if args.kind == "telegram":
        out.setdefault("mode", "polling")
    return out


@contextlib.asynccontextmanager
async def offline_adapters(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """Adapters for the checks the CLI runs (credential tests) while no server runs."""
    from bot.core.channel import ChannelContext
    from bot.core.outbound import client_session
    from channels import registry

    async def nothing(*a: Any) -> Any:
        return None

    # under the server's outbound URL policy: the URLs checked were typed by someone
    async with client_session(settings) as session:
        ctx = ChannelContext(ingest=nothing, session=session, settings=settings,
                             get_account=nothing, render=lambda n, d: "",
                             contact_history=nothing, update_contact=nothing)
        yield dict(registry.build_all(ctx))


def _row_error(row: dict[str, str]) -> str | None:
    if not any((row.get(k) or "").strip() for k in ("name", "email", "phone")):
        return "needs at least a name, an e-mail or a phone"
    email = (row.get("email") or "").strip()
    if email and not EMAIL.match(email):
        return f"email {email!r} is not an e-mail address"
    if len(row.get("name") or "") > 200:
        return "name is longer than 200 characters"
    attrs = (row.get("attributes") or "").strip()
    if attrs:
        try:
            if not isinstance(json.loads(attrs), dict):
                return "attributes must be a JSON object"
        except ValueError:
            return "attributes is not valid JSON"
    return None


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.models import Contact

    path = Path(args.file)
    if args.what == "reviews":
        from listening.cli import cmd_import_reviews
        return await cmd_import_reviews(settings, path)
    if not path.is_file():
        return _fail(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"name", "email", "phone"} & set(reader.fieldnames):
            return _fail(f"{path}: the header needs a name, email or phone column")
        rows = [without_nul(row) for row in reader]  # see bot.clean
    extra_cols = [c for c in (reader.fieldnames or []) if c not in CONTACT_COLUMNS]
    created = updated = 0
    errors: list[str] = []
    async with database(settings):
        for number, row in Progress(len(rows), "import").wrap(enumerate(rows, start=2)):
            problem = _row_error(row)
            if problem:
                errors.append(f"row {number}: {problem}")
                continue
            email = (row.get("email") or "").strip().lower() or None
            attrs = json.loads(row["attributes"]) if (row.get("attributes") or "").strip() else {}
            attrs.update({c: row[c] for c in extra_cols if row.get(c)})
            fields: dict[str, Any] = {"name": (row.get("name") or "").strip(), "email": email,
                      "phone": (row.get("phone") or "").strip() or None,
                      "locale": (row.get("locale") or "").strip() or None,
                      "tags": sorted({t.strip() for t in re.split(r"[|;]", row.get("tags") or "")
                                      if t.strip()}),
                      "attributes": attrs}
            existing = await Contact.filter(email=email).first() if email else None
            if existing:
                for k, v in fields.items():
                    if v:
                        setattr(existing, k, v)
                await existing.save()
                updated += 1
            else:
                await Contact.create(**fields)
                created += 1
    for line in errors:
        print(line, file=sys.stderr)
    print(f"import: {len(rows)} rows, {created} created, {updated} updated, "
          f"{len(errors)} rejected")
    return 1 if errors and not (created or updated) else 0


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.models import Contact, Conversation

    path = Path(args.file)
    async with database(settings):
        if args.what == "contacts":
            rows: list[Any] = await Contact.all().order_by("id")
            header = CONTACT_COLUMNS

            def line(c: Any) -> list[Any]:
                return [c.id, c.name, c.email or "", c.phone or "", c.locale or "",
                        "|".join(c.tags or []),
                        json.dumps(c.attributes, ensure_ascii=False, sort_keys=True)
                        if c.attributes else ""]
        else:
            rows = await Conversation.all().order_by("id").prefetch_related(
                "contact", "assignee", "labels")
            header = ["id", "channel", "channel_account_id", "contact_id", "contact_name",
                      "contact_email", "status", "assignee_email", "labels", "created_at",
                      "last_message_at"]

            def line(c: Any) -> list[Any]:
                return [c.id, c.channel_kind, c.channel_account_id, c.contact.id,
                        c.contact.name, c.contact.email or "", c.status.value,
                        c.assignee.email if c.assignee else "",
                        "|".join(sorted(lb.name for lb in c.labels)),
                        c.created_at.isoformat(), c.last_message_at.isoformat()]
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for item in Progress(len(rows), "export").wrap(rows):
                writer.writerow(line(item))
    print(f"export: {len(rows)} {args.what} written to {path}")
    return 0


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    """``db copy --to postgres://…``: this shop's database into an empty PostgreSQL one."""
    from bot.core.db_copy import CopyError, copy_database, parse_pg_url

    try:
        label = parse_pg_url(args.to).label
        counts = await copy_database(settings, args.to)
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    width = max([len("table"), *(len(c.table) for c in counts)])
    print(f"{'table':<{width}}  {'source':>9}  {'target':>9}")
    for c in counts:
        flag = "" if c.source == c.target else "  MISMATCH"
        print(f"{c.table:<{width}}  {c.source:>9}  {c.target:>9}{flag}")
    wrong = [c for c in counts if c.source != c.target]
    if wrong:
        print("error: row counts differ in " + ", ".join(
            f"{c.table} ({c.source} in the source, {c.target} in the target)" for c in wrong),
            file=sys.stderr)
        return 1
    print(f"db copy: {sum(c.source for c in counts)} rows in {len(counts)} tables copied to "
          f"{label}; every count matches, sequences reset")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description="Switchboard: a shop's inbox.")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the server (the default)")
    sub.add_parser("migrate", help="apply database migrations")
    u = sub.add_parser("user", help="staff users").add_subparsers(dest="action", required=True)
    ua = u.add_parser("add")
    ua.add_argument("--email", required=True)
    ua.add_argument("--role", required=True, choices=["admin", "agent", "marketer"])
    ua.add_argument("--name", default="")
    ua.add_argument("--password", default=None)
    u.add_parser("list")
    ud = u.add_parser("disable")
    ud.add_argument("--email", required=True)
    c = sub.add_parser("channel", help="channel accounts").add_subparsers(dest="action",
                                                                          required=True)
    ca = c.add_parser("add")
    ca.add_argument("kind")
    ca.add_argument("--name", required=True)
    ca.add_argument("--callback-url", default="", help="api: where staff replies are POSTed")
    ca.add_argument("--token", default="", help="telegram: the bot token from @BotFather")
    ca.add_argument("--api-base-url", default="",
                    help="telegram: Bot API server (default https://api.telegram.org); "
                         "facebook/instagram: Graph API URL with version")
    ca.add_argument("--mode", choices=["polling", "webhook"], default=None,
                    help="telegram: how updates arrive (default polling)")
    ca.add_argument("--page-id", default="", help="facebook: the Page's id")
    ca.add_argument("--ig-user-id", default="", help="instagram: the business account's id")
    ca.add_argument("--access-token", default="", help="facebook/instagram: a Page token")
    ca.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="any other setting of the channel (repeatable), e.g. "
                         "imap_host=imap.example.com for e-mail")
    ca.add_argument("--app-secret", default="",
                    help="facebook/instagram: the Meta app's secret (signs webhooks)")
    c.add_parser("list")
    i = sub.add_parser("import", help="import rows from CSV")
    i.add_argument("what", choices=["contacts", "reviews"])
    i.add_argument("file")
    e = sub.add_parser("export", help="export rows to CSV")
    e.add_argument("what", choices=["contacts", "conversations"])
    e.add_argument("file")
    d = sub.add_parser("db", help="the database as a whole").add_subparsers(dest="action",
                                                                            required=True)
    dc = d.add_parser("copy", help="copy this shop's database (e.g. SQLite) into an empty "
                                   "PostgreSQL database, migrated first; counts checked")
    dc.add_argument("--to", required=True, metavar="postgres://user:password@host:5432/db",
                    help="the target database; it must exist and hold no rows")
    from listening.cli import add_parsers
    add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "serve"
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    from bot.core import logs

    logs.setup(settings.log_level, settings.log_format)
    if command == "serve":
        return cmd_serve(settings, args)
    from listening.cli import HANDLERS
    handler = {"migrate": cmd_migrate, "user": cmd_user, "channel": cmd_channel,
               "import": cmd_import, "export": cmd_export, "db": cmd_db, **HANDLERS}[command]

    return asyncio.run(handler(settings, args))
