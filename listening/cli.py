"""The sentiment and review commands of ``python run.py``:

* ``sentiment-eval FILE.tsv [--json]``: accuracy and macro-F1 per language and overall
  (with ``--json`` the last line of stdout is one JSON object), then the model against
  the staff's corrections when the database has any;
* ``sentiment-train [--out DIR]``: rebuild the default model's trained artifact;
* ``sentiment-backfill``: score every stored item the current model has not scored;
* ``sentiment-corrections FILE.tsv``: export staff corrections as training rows;
* ``import reviews FILE.csv`` (through ``bot.cli``): reviews from a file.

The progress bar, the error exit and the database come from ``bot.core.console``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import Settings

if TYPE_CHECKING:
    from listening.sentiment import SentimentModel

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sentiment"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ev = sub.add_parser("sentiment-eval", help="score the sentiment model on labelled rows")
    ev.add_argument("file", help="rows of text<TAB>label<TAB>lang")
    ev.add_argument("--json", action="store_true", help="end with one JSON line")
    tr = sub.add_parser("sentiment-train", help="rebuild the built-in model's artifact")
    tr.add_argument("--train", default=str(SHARED_DATA / "train.tsv"))
    tr.add_argument("--val", default=str(SHARED_DATA / "val.tsv"))
    tr.add_argument("--out", default=str(Path(__file__).parent / "model"))
    tr.add_argument("--per-language", type=int, default=None)
    tr.add_argument("--epochs", type=float, default=None)
    tr.add_argument("--with-corrections", action="store_true",
                    help="add the staff's corrections to the training rows")
    sub.add_parser("sentiment-backfill", help="score stored items the model has not scored")
    co = sub.add_parser("sentiment-corrections", help="export corrections as training rows")
    co.add_argument("file")


def _model(settings: Settings) -> SentimentModel:
    from listening.runtime import load_model
    return load_model(settings)


async def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.console import Progress, fail
    from listening import evaluate
    from listening.train import Row, read_tsv
    path = Path(args.file)
    if not path.is_file():
        return fail(f"{path}: no such file")
    rows: list[Row] = []
    for n, row in read_tsv(path):
        if isinstance(row, str):
            print(f"line {n}: {row} (skipped)", file=sys.stderr)
        else:
            rows.append(row)
    if not rows:
        return fail(f"{path}: no usable rows")
    model = _model(settings)
    bar = Progress(len(rows), "sentiment-eval")
    predicted: list[str] = []
    for start in range(0, len(rows), 512):
        chunk = rows[start:start + 512]
        predicted.extend(s.label for s in model.predict([r.text for r in chunk]))
        bar.step(len(chunk))
    result: dict[str, Any] = evaluate.report([r.label for r in rows], predicted,
                                             [r.lang for r in rows])
    print(f"model {model.version}")
    print(evaluate.table(result))
    corrections = await _corrections(settings)
    if corrections:
        got = [s.label for s in model.predict([c["text"] for c in corrections])]
        result["corrections"] = evaluate.scores([c["label"] for c in corrections], got)
        changed = sum(1 for c in corrections if c["model_label"] and
                      c["model_label"] != c["label"])
        print(f"staff corrections: {len(corrections)} ({changed} disagreed with the model "
              f"when corrected); the model now agrees on "
              f"{result['corrections']['accuracy']:.1%}, macro-F1 "
              f"{result['corrections']['macro_f1']:.3f}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0


async def _corrections(settings: Settings) -> list[dict[str, Any]]:
    from bot.core.console import database
    from listening.corrections import training_rows
    if settings.is_sqlite and not (settings.data_dir / "switchboard.sqlite3").exists():
        return []
    async with database(settings):
        return await training_rows()


async def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from listening.runtime import models_dir
    from listening.train import Recipe, Row, build
    recipe = Recipe()
    if args.per_language:
        recipe.per_language = args.per_language
    if args.epochs:
        recipe.epochs = args.epochs
    extra = [Row(c["text"], c["label"], c["lang"] or "en", "staff-corrections")
             for c in await _corrections(settings)] if args.with_corrections else []
    val = Path(args.val) if args.val else None
    meta = build(models_dir(settings), Path(args.train), val if val and val.is_file()
                 else None, recipe, Path(args.out), extra,
                 log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"artifact {meta['version']} in {args.out}")
    if "val" in meta:
        print(f"val macro-F1 (all): {meta['val']['all']['macro_f1']}")
    return 0


async def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.console import Progress, database
    from bot.models import Direction, Mention, Message, Review
    from listening.sentiment import BatchingService, in_torch_thread
    from listening.service import backfill
    model = await in_torch_thread(_model, settings)  # where the service will run it
    service = BatchingService(model, max_batch=settings.sentiment_batch, max_wait=0.0)
    async with database(settings):
        total = await Message.filter(direction=Direction.INBOUND).count() + \
            await Review.all().count() + await Mention.all().count()
        bar = Progress(total, "sentiment-backfill")
        done = await backfill(service, progress=bar.step)
        if bar.done < bar.total:
            bar.step(bar.total - bar.done)  # the rest were scored already
    await service.close()
    print(f"sentiment-backfill: {done} items scored with {model.version}, "
          f"{total - done} had a score from it")
    return 0


async def cmd_corrections(settings: Settings, args: argparse.Namespace) -> int:
    rows = await _corrections(settings)
    with Path(args.file).open("w", encoding="utf-8") as f:
        for c in rows:
            text = " ".join(str(c["text"]).split())
            f.write(f"{text}\t{c['label']}\t{c['lang'] or 'en'}\tstaff-corrections\n")
    print(f"sentiment-corrections: {len(rows)} rows written to {args.file}")
    return 0


async def cmd_import_reviews(settings: Settings, path: Path) -> int:
    from bot.core.console import Progress, database, fail
    from listening.alerts import Alerter
    from listening.reviews import import_csv, read_csv
    from listening.runtime import ListeningRuntime
    if not path.is_file():
        return fail(f"{path}: no such file")
    total = sum(1 for _ in read_csv(path))
    runtime = ListeningRuntime(settings, Alerter())
    async with database(settings):
        runtime.start()
        bar = Progress(total, "import reviews")
        added, same, bad = await import_csv(path, runtime.service, progress=bar.step,
                                            tries=settings.quarantine_tries)
        await runtime.close()
    for n, why in bad:
        print(f"row {n}: {why}", file=sys.stderr)
    print(f"import reviews: {total} rows, {added} added, {same} already there, "
          f"{len(bad)} rejected")
    return 1 if bad and not (added or same) else 0


HANDLERS = {"sentiment-eval": cmd_eval, "sentiment-train": cmd_train,
            "sentiment-backfill": cmd_backfill, "sentiment-corrections": cmd_corrections}
