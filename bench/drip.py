"""Drip sending throughput: 20,000 due steps sent by one process to a local SMTP sink.

The sink is aiosmtpd on 127.0.0.1, in a process of its own (it accepts, counts and keeps
the Message-IDs; it stores nothing), so it does not share a core with the sender. The
baseline, in the same run, is the naive loop: one SMTP connection per mail (connect,
EHLO, MAIL, RCPT, DATA, QUIT), one mail after another. Switchboard runs its real drip
runner (``scheduler.marketing.drips.DripRunner`` with ``channels.email.mailer.Mailer``)
on SQLite (the default): claim with a lease, MailSend committed before each send, the
mail rendered from the templates, sent over the e-mail account's pooled connections.

    python bench/drip.py [--steps 20000] [--baseline 2000] [--synchronous FULL|NORMAL]

Target (issue 5): >= 400 mails/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import MailSink, free_port  # noqa: E402


async def naive(port: int, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "shop@bench.test", f"c{i}@bench.test", "Hi"
        mail.set_content("Hello from the naive loop.")
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)
    return n / (time.perf_counter() - started)


async def switchboard(port: int, n: int, synchronous: str) -> tuple[float, int]:
    from bot.core import db
    from bot.core.channel import ChannelContext
    from bot.models import ChannelAccount, Contact, Enrollment, Sequence
    from channels.email.adapter import EmailChannel
    from channels.email.mailer import Mailer
    from config import load_settings
    from scheduler.marketing.drips import DripRunner

    data = Path(tempfile.mkdtemp(prefix="sb-drip-bench-"))
    settings = load_settings({"SWITCHBOARD_DATA_DIR": str(data),
                              "SWITCHBOARD_SQLITE_SYNCHRONOUS": synchronous,
                              "SWITCHBOARD_LOG_LEVEL": "WARNING"})
    from config import ensure_secret_key

    settings = ensure_secret_key(settings)
    await db.apply_migrations(settings)
    ctx = await db.open_db(settings)
    try:
        await ChannelAccount.create(
            kind="email", name="Bench shop", secret="x", settings={
                "address": "shop@bench.test", "smtp_host": "127.0.0.1", "smtp_port": port,
                "smtp_tls": "none", "rate_per_sec": 0, "concurrency": 8})
        seq = await Sequence.create(key="bench", name="Bench", trigger="none",
                                    steps=[{"send": "welcome_1"}])
        await Contact.bulk_create([Contact(name=f"Customer {i}", email=f"c{i}@bench.test",
                                           locale=("en", "vi", "th", "pl", "ru", "km")[i % 6])
                                   for i in range(n)], batch_size=1000)
        ids = await Contact.all().order_by("id").values_list("id", flat=True)
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        await Enrollment.bulk_create([Enrollment(sequence_id=seq.id, contact_id=cid,
                                                 started_at=now, due_at=now)
                                      for cid in ids], batch_size=1000)
        adapter = EmailChannel(ChannelContext(ingest=None,  # type: ignore[arg-type]
                                              settings=settings, get_account=None,  # type: ignore[arg-type]
                                              render=None, contact_history=None,  # type: ignore[arg-type]
                                              update_contact=None))  # type: ignore[arg-type]
        runner = DripRunner(Mailer({"email": adapter}, settings))
        started = time.perf_counter()
        await runner.run_due(limit=400)
        elapsed = time.perf_counter() - started
        await adapter.stop()
        done = await Enrollment.filter(state="completed").count()
        return done / elapsed, done
    finally:
        await db.close_db(ctx)


def serve_sink(port: int) -> None:
    """The sink process: counts until stdin closes, then prints its count and ids."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(json.dumps({"count": sink.count, "ids": len(set(sink.ids))}), flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--baseline", type=int, default=2000,
                    help="mails the naive loop sends (its rate is per mail)")
    ap.add_argument("--synchronous", default="FULL")
    args = ap.parse_args()
    if args.sink:
        serve_sink(args.sink)
        return
    port = free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdin is not None
    sink.stdout.readline()  # ready
    try:
        print(f"{args.steps} due drip steps to a local SMTP sink (aiosmtpd, its own "
              f"process), sent by one process")
        base = await naive(port, args.baseline)
        print(f"naive loop   {args.baseline} mails, one connection each: {base:7.0f} mails/s")
        rate, done = await switchboard(port, args.steps, args.synchronous)
    finally:
        sink.stdin.close()
        counted = json.loads(sink.stdout.readline() or "{}")
        sink.wait()
    got = counted.get("count", 0) - args.baseline
    print(f"switchboard  {done} steps done, {got} mails at the sink, "
          f"{counted.get('ids', 0)} distinct Message-IDs: {rate:7.0f} mails/s")
    print(f"ratio to the naive loop {rate / base:.2f}x; target >= 400 mails/s: "
          f"{'met' if rate >= 400 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
