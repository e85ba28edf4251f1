"""Sentiment: the batching service against a naive loop, and scoring freshness under load.

1. Throughput, same model (as the server runs it) and same texts in one run: the naive
   loop calls a transformers ``pipeline`` once per text; the batching service
   (``listening.sentiment``) gets them all at once and runs micro-batches sorted by
   length. Both run ``--rounds`` times, alternating which goes first (this machine is
   shared and its speed drifts by tens of per cent within a minute). Prints texts/s for
   each, the ratio (target >= 4x) and how many labels agree.
2. Freshness: a real server (``run.py serve``, SQLite, the built-in model) takes signed
   API-channel messages at 100 a second for ``--seconds``; for every message, the time
   from the message row's ``created_at`` to its score row's ``created_at``. Target: p99
   <= 2 s.

Texts: rows of ../shared/data/sentiment/val.tsv in the shop languages (en vi th pl ru km)
up to 280 characters, the same sample for both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, api_account, pct, start, stop  # noqa: E402
from channels.signing import sign  # noqa: E402

VAL = ROOT.parent / "shared" / "data" / "sentiment" / "val.tsv"
SHOP_LANGS = {"en", "vi", "th", "pl", "ru", "km"}


def sample(n: int, seed: int = 7) -> list[str]:
    rows = [line.split("\t")[0] for line in VAL.read_text(encoding="utf-8").splitlines()
            if line.count("\t") >= 2 and line.split("\t")[2] in SHOP_LANGS]
    rows = [r for r in rows if 0 < len(r) <= 280]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def model_dir() -> Path:
    from listening.sentiment import default_model_dir
    return default_model_dir(ROOT / "data" / "models")


def throughput(n: int, threads: int, rounds: int) -> tuple[float, float, int, list[float]]:
    """Both sides ``rounds`` times over the same texts, alternating which goes first, so
    that a burst of load from elsewhere on this shared machine falls on both alike.
    Rates are total texts over total time; the per-round ratios are returned too."""
    from transformers import pipeline

    from listening.sentiment import BatchingService, TransformersSentiment, torch_thread
    texts = sample(n)
    directory = model_dir()
    # Every torch call runs in the process's one torch thread, as in the server (see
    # listening.sentiment.torch_thread): the model loads there, the service runs its
    # batches there, and the naive loop runs there too. The same model object on both
    # sides, in the precision the server picks by default.
    worker = torch_thread()
    model = worker.submit(TransformersSentiment, directory, threads=threads,
                         precision="auto").result()
    pipe = worker.submit(pipeline, "text-classification", model=model.model,
                        tokenizer=model.tokenizer, device=-1).result()
    prefixed = [model.prefix + t for t in texts]

    def classify(batch: list[str]) -> list[str]:
        return [pipe(t, truncation=True, max_length=model.max_tokens)[0]["label"]
                for t in batch]

    # One service for the whole run, as the server keeps one for its lifetime, on one
    # event loop. Both sides are first warmed on one same sample drawn with another seed,
    # so each has met the input shapes it will see (oneDNN builds a kernel per new shape),
    # as a running server has.
    loop = asyncio.new_event_loop()
    service = BatchingService(model, max_batch=32, max_wait=0.05)
    warm = sample(n, seed=3)
    worker.submit(classify, [model.prefix + t for t in warm]).result()
    loop.run_until_complete(service.score_many(warm))

    def naive() -> tuple[float, list[str]]:
        started = time.perf_counter()
        labels = worker.submit(classify, prefixed).result()
        return time.perf_counter() - started, labels

    def batched() -> tuple[float, list[str]]:
        started = time.perf_counter()
        labels = [s.label for s in loop.run_until_complete(service.score_many(texts))]
        return time.perf_counter() - started, labels

    spent = {"naive": 0.0, "ours": 0.0}
    ratios, agree = [], n
    try:
        for r in range(rounds):
            sides = [("naive", naive), ("ours", batched)]
            got = {name: side() for name, side in (sides if r % 2 == 0 else sides[::-1])}
            for name, (seconds, _) in got.items():
                spent[name] += seconds
            ratios.append(got["naive"][0] / got["ours"][0])
            agree = min(agree, sum(1 for a, b in zip(got["naive"][1], got["ours"][1],
                                                     strict=True) if a == b))
    finally:
        loop.run_until_complete(service.close())
        loop.close()
    return n * rounds / spent["naive"], n * rounds / spent["ours"], agree, ratios


async def send_paced(port: int, account: str, secret: str, texts: list[str],
                     per_second: float) -> float:
    import aiohttp
    url = f"http://127.0.0.1:{port}/api/v1/inbound/{account}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        async def one(i: int, text: str) -> None:
            raw = json.dumps({"external_id": f"f{i}", "text": text, "contact": {
                "external_id": f"c{i % 300}", "name": f"Customer {i % 300}"}}).encode()
            async with http.post(url, data=raw, headers={
                    "X-Switchboard-Signature": sign(secret, raw),
                    "Content-Type": "application/json"}) as resp:
                if resp.status not in (200, 202):
                    raise RuntimeError(f"HTTP {resp.status}: {await resp.text()}")
        started = time.perf_counter()
        tasks = []
        for i, text in enumerate(texts):
            delay = started + i / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, text)))
        await asyncio.gather(*tasks)
        return len(texts) / (time.perf_counter() - started)


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def freshness(seconds: int, per_second: float) -> tuple[float, list[float], int]:
    models = model_dir().parent
    proc, port, log = start(["run.py", "serve"], {
        "SWITCHBOARD_SENTIMENT_ENABLED": "true", "SWITCHBOARD_MODELS_DIR": str(models),
        "SWITCHBOARD_LOG_LEVEL": "INFO"})
    db = log.parent / "data" / "switchboard.sqlite3"
    try:
        account, secret = api_account(log, also="sentiment model ready", timeout=300)
        texts = sample(int(seconds * per_second), seed=11)
        rate = asyncio.run(send_paced(port, account, secret, texts, per_second))
        deadline = time.time() + 120
        while time.time() < deadline:
            with sqlite3.connect(db) as conn:
                done = conn.execute("SELECT count(*) FROM sentiment_scores WHERE "
                                    "item_kind = 'message'").fetchone()[0]
            if done >= len(texts):
                break
            time.sleep(0.5)
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT m.created_at, s.created_at FROM messages m JOIN sentiment_scores s "
                "ON s.item_kind = 'message' AND s.item_id = m.id "
                "WHERE m.direction = 'in'").fetchall()
        lags = [_ts(s) - _ts(m) for m, s in rows]
        return rate, lags, len(texts)
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-freshness", action="store_true", help="the throughput part only")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rate", type=float, default=100.0)
    args = ap.parse_args()
    naive, ours, agree, ratios = throughput(args.texts, args.threads, args.rounds)
    print(f"{args.texts} texts in the shop languages, {args.threads} torch threads, "
          f"{args.rounds} alternating rounds (ratio per round: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"naive pipeline(text) loop: {naive:7.1f} texts/s")
    print(f"batching service:          {ours:7.1f} texts/s")
    ratio = ours / naive
    print(f"ratio {ratio:.2f}x (target >= 4x: {'met' if ratio >= 4 else 'missed'}); "
          f"labels agree on {agree}/{args.texts} (the worst round)")
    if args.no_freshness:
        return
    rate, lags, sent = freshness(args.seconds, args.rate)
    p99 = pct(lags, 0.99) if lags else float("inf")
    print(f"freshness at {rate:.0f} messages/s for {args.seconds} s: {len(lags)}/{sent} "
          f"scored, p50 {pct(lags, 0.5):.3f} s, p99 {p99:.3f} s, max {max(lags):.3f} s "
          f"(target p99 <= 2 s: {'met' if p99 <= 2 and len(lags) == sent else 'missed'})")


if __name__ == "__main__":
    main()
