"""Soak: three processes behind nginx on one PostgreSQL under mixed load, one of them killed
with SIGKILL every 30 s and started again (issue 20, point 6).

The set-up is the deploy recipe's, as the tests run it (``tests.proxy.Cluster``: Debian's
nginx with deploy/nginx/switchboard.conf, ``run.py serve`` processes, a throwaway Debian
PostgreSQL). For ``--seconds`` it keeps up, all through nginx:

- inbound on two channels: signed POSTs to the API channel, and web-chat visitors sending
  over their sockets (a visitor whose socket dies reconnects and sends its unacknowledged
  message again, with the same client id, as the widget does);
- a keyword rule (keyword -> reply) that a third of the API messages trigger, each from a
  contact of its own, so each must get exactly one reply from the rule;
- staff replies (API) to the web-chat visitors' conversations, which the visitor's socket
  should receive live;
- posts falling due a few seconds after they are made, published to a fake Bot API;
- drip steps falling due, mailed to a local SMTP sink (aiosmtpd).

Then it waits for the work to settle and prints counts (acknowledged, stored, lost,
duplicated, rule actions expected and done, replies delivered, posts and drip mails) and
latencies (ingest p99, reply delivery p99, publish lateness p99, also only over posts due
while no process was dying).

    python bench/soak.py [--seconds 120] [--kill-every 30] [--processes 3]

Goals (issue 20): 0 lost, 0 duplicated; publish p99 <= 100 ms while no process is dying.

This file starts the rig and reports; the load generators and the shop's set-up are in
bench/soak_load.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SWITCHBOARD_SENTIMENT_ENABLED", "false")
from bench.common import MailSink, free_port, pct  # noqa: E402
from bench.soak_load import (  # noqa: E402
    KEYWORD,
    TOKEN,
    Figures,
    Visitor,
    api_inbound,
    killer,
    posts,
    seed,
    setup_drips,
    staff_replies,
)
from tests.conftest import Postgres  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.proxy import Cluster  # noqa: E402


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:8.1f} ms" if values else "     n/a"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--kill-every", type=float, default=30)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--visitors", type=int, default=6)
    ap.add_argument("--api-rate", type=float, default=20, help="API messages a second")
    ap.add_argument("--reply-rate", type=float, default=4, help="staff replies a second")
    ap.add_argument("--post-rate", type=float, default=4, help="posts made a second")
    ap.add_argument("--post-lead", type=float, default=5, help="seconds until a post is due")
    ap.add_argument("--drips", type=int, default=2000, help="drip steps due over the run")
    ap.add_argument("--settle", type=float, default=90,
                    help="longest wait, after the load, for the work to settle")
    args = ap.parse_args()

    from aiosmtpd.controller import Controller

    from bot.core import db
    from bot.models import Enrollment, Message
    from config import load_settings

    pg = Postgres()
    pg.start()
    root = Path(tempfile.mkdtemp(prefix="sb-soak-"))
    fake = FakeTelegram()
    bot = fake.add_bot(TOKEN)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    sink = MailSink()
    smtp_port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    url = pg.create_db()
    cluster = Cluster(root, url, n=args.processes,
                      SWITCHBOARD_CHANNEL_REFRESH_SECONDS="1",
                      SWITCHBOARD_TELEGRAM_POLL_TIMEOUT="1",
                      SWITCHBOARD_PUBLIC_LIMIT_ADDRESS="100000/minute")
    print(f"soak: {args.processes} processes behind nginx on PostgreSQL, "
          f"{args.seconds:.0f} s, one SIGKILL every {args.kill_every:.0f} s; logs in {root}",
          flush=True)
    ctx = None
    fig = Figures()
    try:
        await asyncio.to_thread(cluster.start)
        settings = load_settings({"SWITCHBOARD_DATA_DIR": str(root / "bench"),
                                  "SWITCHBOARD_DATABASE_URL": url,
                                  "SWITCHBOARD_SECRET_KEY":
                                      cluster.servers[0].env["SWITCHBOARD_SECRET_KEY"],
                                  "SWITCHBOARD_LOG_LEVEL": "WARNING"})
        ctx = await db.open_db(settings)
        tg_id = await seed(cluster, fake_port)
        started = time.time() + 3
        if args.drips:
            await setup_drips(settings, smtp_port, args.drips, started, args.seconds)

        stop, quit_ = asyncio.Event(), asyncio.Event()
        visitors = [Visitor(cluster, fig, i) for i in range(args.visitors)]
        tasks = [asyncio.create_task(api_inbound(cluster, fig, stop, args.api_rate)),
                 asyncio.create_task(staff_replies(cluster, fig, visitors, stop,
                                                   args.reply_rate)),
                 asyncio.create_task(posts(cluster, fig, tg_id, stop, args.post_rate,
                                           args.post_lead)),
                 asyncio.create_task(killer(cluster, fig, stop, args.kill_every)),
                 ]
        talking = [asyncio.create_task(v.run(stop, quit_)) for v in visitors]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.gather(*tasks)
        print(f"  load over; waiting up to {args.settle:.0f} s for the work to settle",
              flush=True)

        load_over = time.time()
        deadline = load_over + args.settle

        async def settled() -> bool:
            """Every post published and every drip step done; the rules' replies all
            there, or 20 s gone by (a lost one never comes)."""
            published = {s["text"] for s in bot.sent}
            drips_done = await Enrollment.filter(state="active").count() == 0
            rules = await Message.filter(origin="rule").count()
            replies = set(fig.replies_seen) | fig.replies_recovered
            return (set(fig.posts_acked) <= published and drips_done
                    and set(fig.replies_acked) <= replies
                    and (rules >= len(fig.keyword_acked) or time.time() > load_over + 20))
        while time.time() < deadline and not await settled():
            await asyncio.sleep(1)
        quit_.set()
        await asyncio.gather(*talking)

        # --- counts ---------------------------------------------------------------------
        acked = {**{("api", k): v for k, v in fig.api_acked.items()},
                 **{("chat", k): v for k, v in fig.chat_acked.items()}}
        stored_rows = await Message.filter(direction="in").values(
            "id", "external_id", "channel_account_id")
        stored_ext: dict[str, int] = {}
        for row in stored_rows:
            key = str(row["external_id"])
            stored_ext[key] = stored_ext.get(key, 0) + 1
        lost = [k for k in acked if k[1] not in stored_ext]
        dup_in = sum(c - 1 for c in stored_ext.values() if c > 1)
        rule_rows = await Message.filter(origin="rule").values("conversation_id")
        per_conv: dict[int, int] = {}
        for row in rule_rows:
            per_conv[row["conversation_id"]] = per_conv.get(row["conversation_id"], 0) + 1
        kw_convs = await Message.filter(
            direction="in", external_id__in=[
                e for e, _ in fig.api_acked.items()]).filter(
            text__contains=KEYWORD).values_list("conversation_id", flat=True)
        rules_done = sum(1 for c in set(kw_convs) if per_conv.get(c, 0) >= 1)
        rules_twice = sum(1 for c in set(kw_convs) if per_conv.get(c, 0) > 1)
        sent_texts = [s["text"] for s in bot.sent if s.get("chat_id") == "@soak"]
        published = {t: s["received_at"] for s in bot.sent
                     for t in [s["text"]] if t in fig.posts_acked}
        post_dups = len(sent_texts) - len(set(sent_texts))
        lateness = [published[t] - fig.posts_acked[t] for t in published]
        calm = [published[t] - d for t, d in fig.posts_acked.items() if t in published
                and not any(a - args.post_lead - 2 <= d <= b for a, b in fig.dying)]
        delivered = [fig.replies_seen[t] - s for t, s in fig.replies_acked.items()
                     if t in fig.replies_seen]
        drip_done = await Enrollment.filter(state="completed").count() if args.drips else 0
        drip_dups = len(sink.ids) - len(set(sink.ids))

        print()
        print(f"processes {args.processes}, {fig.kills} killed with SIGKILL and restarted, "
              f"{args.seconds:.0f} s of load")
        print(f"inbound   acknowledged {len(acked):6d} (API {len(fig.api_acked)}, web chat "
              f"{len(fig.chat_acked)}); not acknowledged {fig.api_refused} (tried again "
              "by a real sender)")
        print(f"          stored {len(acked) - len(lost):6d}   lost {len(lost)}   "
              f"duplicated {dup_in}")
        print(f"rules     actions expected {len(fig.keyword_acked):6d}   done {rules_done}   "
              f"missing {len(fig.keyword_acked) - rules_done}   ran twice {rules_twice}")
        recovered = {t for t in fig.replies_acked if t in fig.replies_recovered
                     and t not in fig.replies_seen}
        never = len(fig.replies_acked) - len(delivered) - len(recovered)
        print(f"replies   acknowledged {len(fig.replies_acked):6d}   delivered live to the "
              f"visitor {len(delivered)}   in the history after a reconnect "
              f"{len(recovered)}   never {never}   (refused {fig.replies_refused})")
        print(f"posts     acknowledged {len(fig.posts_acked):6d}   published "
              f"{len(published)}   missing {len(fig.posts_acked) - len(published)}   "
              f"published twice {post_dups}   (refused {fig.posts_refused})")
        if args.drips:
            print(f"drips     due {args.drips:6d}   completed {drip_done}   mails at the "
                  f"sink {len(sink.ids)}   sent twice {drip_dups}")
        print(f"latency   ingest p50 {ms(fig.ingest, 0.5)}  p99 {ms(fig.ingest, 0.99)}")
        print(f"          reply delivery p50 {ms(delivered, 0.5)}  p99 {ms(delivered, 0.99)}")
        print(f"          publish lateness p50 {ms(lateness, 0.5)}  p99 "
              f"{ms(lateness, 0.99)}  ({len(lateness)} posts)")
        print(f"          publish lateness while no process is dying p50 {ms(calm, 0.5)}  "
              f"p99 {ms(calm, 0.99)}  ({len(calm)} posts; goal p99 <= 100 ms: "
              f"{'met' if calm and pct(calm, 0.99) <= 0.1 else 'NOT met'})")
        goal = not lost and not dup_in and not rules_twice and not post_dups and not drip_dups \
            and not never and rules_done == len(fig.keyword_acked)
        print(f"goal 0 lost, 0 duplicated: {'met' if goal else 'NOT met'}")
    finally:
        if ctx is not None:
            await db.close_db(ctx)
        await asyncio.to_thread(cluster.stop)
        smtp.stop()
        await runner.cleanup()
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
