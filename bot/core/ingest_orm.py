"""The ingest writer on the ORM's connection (PostgreSQL, or anything Tortoise speaks):
:func:`bot.core.ingest.ingest_batch` run by a single writer task with group commit."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta

from bot.core.channel import InboundMessage, IngestResult
from bot.core.ingest import Job, Outcome, ingest_batch, settle, sqlite_ts

log = logging.getLogger("switchboard.ingest")
_PARAM = re.compile(r"\?")


class TortoiseDriver:
    """Runs the same steps on the ORM's connection (``?`` becomes ``$n`` on PostgreSQL)."""

    def __init__(self, dialect: str, followups: bool = True) -> None:
        self.dialect = dialect
        self.followups = followups  # False: the ingest benchmark's baseline only
        self._sql: dict[str, str] = {}

    def _q(self, sql: str) -> str:
        if self.dialect != "postgres":
            return sql
        out = self._sql.get(sql)
        if out is None:
            counter = iter(range(1, 1000))
            out = self._sql[sql] = _PARAM.sub(lambda _: f"${next(counter)}", sql)
        return out

    async def run(self, jobs: list[Job]) -> list[IngestResult]:
        from tortoise.transactions import in_transaction

        ts = (lambda d: d) if self.dialect == "postgres" else sqlite_ts
        async with in_transaction() as conn:
            steps = ingest_batch(jobs, ts, self.followups)
            try:
                step = next(steps)
                while True:
                    sql, params = step
                    # execute_query drops RETURNING rows of INSERTs on asyncpg
                    for one in params if isinstance(params, list) else [params]:
                        found = await conn.execute_query_dict(self._q(sql), list(one))
                    step = steps.send([tuple(r.values()) for r in found])
            except StopIteration as done:
                results: list[IngestResult] = done.value
                return results


class Ingestor:
    """The ingest writer on PostgreSQL (or anything Tortoise speaks): a single writer task
    with group commit; each batch is one transaction on the ORM's connection."""

    def __init__(self, driver: TortoiseDriver, max_batch: int = 256) -> None:
        self.driver, self.max_batch = driver, max_batch
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[IngestResult]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def submit(self, msg: InboundMessage, kind: str, reopen_window: timedelta
                     ) -> IngestResult:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._writer())
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((Job(msg, kind, datetime.now(UTC), reopen_window), fut))
        return await fut

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._busy = True
            try:
                outcomes = await self._batch([job for job, _ in batch])
                for (_, fut), outcome in zip(batch, outcomes, strict=True):
                    settle(fut, outcome)
            finally:
                self._busy = False

    async def _batch(self, jobs: list[Job]) -> list[Outcome]:
        """As :func:`write_with_fallback`, on the event loop."""
        if len(jobs) > 1:
            try:
                return list(await self.driver.run(jobs))
            except Exception:
                log.warning("ingest batch failed; storing its messages one by one",
                            extra={"batch": len(jobs)})
        return [await self._one(job) for job in jobs]

    async def _one(self, job: Job) -> Outcome:
        for attempt in (1, 2):  # a lost race on a unique key succeeds on the second pass
            try:
                return (await self.driver.run([job]))[0]
            except Exception as exc:
                if attempt == 2:
                    return exc
        raise AssertionError("unreachable")

    async def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued (for at most ``timeout`` seconds), then stop the writer."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (not self._queue.empty() or self._busy) and self._task is not None \
                and not self._task.done():
            if asyncio.get_running_loop().time() > deadline:
                log.warning("ingest writer still busy at shutdown",
                            extra={"queued": self._queue.qsize()})
                break
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
