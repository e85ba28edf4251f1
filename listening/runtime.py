"""Listening in a running server: the model (loaded in the background, so the server
answers at once), the batching service, the pipeline, alerts, and the clock's jobs
(feeds, spikes, review deadlines, the scoring sweep)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.events import EventBus, MessageReceived
from bot.core.leases import cancel_and_wait
from config import Settings
from listening import feeds, trends
from listening.alerts import Alerter
from listening.reviews import Replier, warn_due
from listening.sentiment import BatchingService, Score, SentimentModel, in_torch_thread
from listening.service import Listening
from listening.trends import Segmenter, SpikeSettings

log = logging.getLogger("switchboard.listening")


def models_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) if settings.models_dir else settings.data_dir / "models"


def load_model(settings: Settings) -> SentimentModel:
    """The configured model (blocking: run it in a thread)."""
    from listening.sentiment import TransformersSentiment, default_model_dir
    directory = Path(settings.sentiment_model_dir) if settings.sentiment_model_dir else \
        default_model_dir(models_dir(settings))
    return TransformersSentiment(directory, threads=settings.sentiment_threads,
                                 batch_size=settings.sentiment_batch,
                                 precision=settings.sentiment_precision)


class _Pending:
    """The scorer until the model has loaded: scoring waits for it."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.service: BatchingService | None = None
        self.failed = ""

    @property
    def version(self) -> str:
        assert self.service is not None
        return self.service.version

    async def score_many(self, texts: Sequence[str]) -> list[Score]:
        await self.ready.wait()
        if self.service is None:
            raise RuntimeError(f"the sentiment model did not load: {self.failed}")
        return await self.service.score_many(texts)


class _Live(Listening):
    """The pipeline as a new message's followup sees it: no message's automation waits
    for the model. While it is still loading, a message is not scored in its followup
    but remembered, and scored once the model is ready (:meth:`catch_up`); if it failed
    to load, nothing is. A message remembered by a process that stopped first (or past
    ``LATER``) is scored by the sweep."""

    LATER = 10_000

    def __init__(self, scorer: _Pending | None, bus: EventBus | None) -> None:
        super().__init__(scorer, bus)
        self.pending = scorer
        self.later: list[int] = []

    def wants(self, event: MessageReceived) -> bool:
        if self.pending is not None and self.pending.service is None:
            if not self.pending.ready.is_set() and len(self.later) < self.LATER:
                self.later.append(event.message_id)
            return False
        return super().wants(event)

    async def catch_up(self) -> None:
        """Score the messages that came while the model was loading."""
        while self.later:
            message_id = self.later.pop(0)
            try:
                await self.message(message_id)
            except Exception:
                log.exception("listening: scoring a message that came while the model "
                              "loaded failed", extra={"message_id": message_id})


class ListeningRuntime:
    def __init__(self, settings: Settings, alerter: Alerter, replier: Replier | None = None,
                 bus: EventBus | None = None) -> None:
        self.settings = settings
        self.alerter = alerter
        self.replier = replier  # sends a review reply back to its source, when it can
        self.scorer: _Pending | None = _Pending() if settings.sentiment_enabled else None
        self._live = _Live(self.scorer, bus)
        self.service: Listening = self._live
        self.spikes = SpikeSettings(settings.spike_factor, settings.spike_min_count,
                                    settings.spike_baseline_days)
        self._loader: asyncio.Task[None] | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._tokenizer: Any = None

    def start(self, model: SentimentModel | None = None) -> None:
        """Load the model in a thread (or take the one given)."""
        if self.scorer is None:
            return
        if model is not None:
            self._ready(model)
            return
        self._loader = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        assert self.scorer is not None
        try:
            # in the thread that will run it (see torch_thread)
            model = await in_torch_thread(load_model, self.settings)
        except Exception as exc:
            log.exception("sentiment model did not load")
            self.scorer.failed = str(exc)
            self.scorer.ready.set()
            self._live.later.clear()
            return
        self._ready(model)
        if self._live.later:
            self._catching_up = asyncio.get_running_loop().create_task(self._live.catch_up())
        log.info("sentiment model ready", extra={"version": model.version})

    def _ready(self, model: SentimentModel) -> None:
        assert self.scorer is not None
        self.scorer.service = BatchingService(model, self.settings.sentiment_batch,
                                              self.settings.sentiment_wait_ms / 1000)
        self._tokenizer = getattr(model, "tokenizer", None)
        self.scorer.ready.set()

    async def ready(self) -> None:
        if self.scorer is not None:
            await self.scorer.ready.wait()

    async def close(self) -> None:
        if self._loader is not None and not self._loader.done():
            try:
                await self._loader
            except Exception:
                pass
        if self._catching_up is not None:
            await cancel_and_wait(self._catching_up)
        if self.scorer is not None and self.scorer.service is not None:
            await self.scorer.service.close()

    def segmenter(self) -> Segmenter | None:
        """Thai and Khmer words for the term counts: the model's own pieces."""
        tok = self._tokenizer
        if tok is None:
            return None
        return lambda text: [p.lstrip("▁") for p in tok.tokenize(text)]

    async def tick(self, http: aiohttp.ClientSession | None, now: datetime | None = None,
                   ) -> None:
        """The clock's listening jobs (each guarded: one failing does not stop others)."""
        now = now or datetime.now(UTC)
        jobs: list[tuple[str, Coroutine[Any, Any, object]]] = [
            ("spikes", trends.check_spikes(self.alerter, now, self.spikes)),
            ("reviews", warn_due(self.alerter, now,
                                 timedelta(hours=self.settings.review_warn_hours)))]
        if http is not None:
            jobs.append(("feeds", feeds.poll_due(http, self.service, now,
                                                     tries=self.settings.quarantine_tries)))
        if self.scorer is not None and self.scorer.service is not None:
            jobs.append(("sweep", self.service.sweep()))
        for name, job in jobs:
            try:
                await job
            except Exception:
                log.exception("listening job failed", extra={"job": name})


LISTENING: web.AppKey[ListeningRuntime] = web.AppKey("listening")
