"""The due-work loop: timers first, so their messages go out in the same pass."""

# Timers are leased like messages (`claimed_until`, `FOR UPDATE SKIP LOCKED` on PostgreSQL),
# so any number of workers can run passes side by side.

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from service.delivery.channels import Channel, default_channels
from service.delivery.dispatch import Dispatcher
from service.delivery.status import Outcome
from service.enrollments import repository as enrollments_repo
from service.enrollments.actions import run_timers
from service.enrollments.inbox import ChunkSize, drain
from service.runtime import Runtime

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 50
# After the grace period a pass is cut short; its hand-back then gets this long to land.
HAND_BACK_SECONDS = 10.0


@dataclass
class RunReport:
    """What one pass did, for logs and tests."""

    applied: int = 0  # accepted events applied
    timers: int = 0
    sent: int = 0
    held: int = 0  # holdout contacts' messages, recorded and handed to no channel
    failed: int = 0
    skipped: int = 0


def _log_pass(task: asyncio.Task[RunReport]) -> None:
    """Say what a pass did, or why it failed; its due work stays queued either way."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("scheduler pass failed; due work stays queued for the next", exc_info=error)
        return
    report = task.result()
    if report.applied or report.timers or report.sent or report.held or report.failed:
        logger.info(
            "scheduler pass: %d events applied, %d timers, %d sent, %d held, %d failed, %d skipped",
            report.applied,
            report.timers,
            report.sent,
            report.held,
            report.failed,
            report.skipped,
        )


class Scheduler:
    """The due-work loop of one process; `run_once` is one pass at a given moment."""

    def __init__(
        self,
        runtime: Runtime,
        channels: dict[str, Channel] | None = None,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.runtime = runtime
        self._chunk = ChunkSize()  # kept from pass to pass, as an applier keeps its own
        self.dispatcher = Dispatcher(
            runtime, channels or default_channels(runtime.settings.outbox_path), jitter
        )
        self.running = asyncio.Lock()
        self.closed = False
        self._pass: asyncio.Task[RunReport] | None = None

    async def tick(self) -> None:
        """The interval job: start a pass unless one runs; stopping the job never cuts it."""
        # The pass is its own task: the job never waits for it, so the interval never finds
        # the job still running, and only `stop` may cancel it, once its grace period is over.
        if self.closed or self.running.locked() or (self._pass and not self._pass.done()):
            return
        self._pass = asyncio.ensure_future(self.run_once())
        self._pass.add_done_callback(_log_pass)

    async def stop(self, grace: float) -> None:
        """End the pass in progress losing nothing: hand back the unsent, let the rest finish."""
        # Those still with a provider after `grace` seconds are cut short: outcome unknown.
        self.closed = True
        self.dispatcher.request_stop()
        task = self._pass
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if done:
            return
        logger.warning(
            "messages still with their provider after %ss: stopping without their answers; "
            "they will be marked failed (outcome unknown)",
            grace,
        )
        task.cancel()
        await asyncio.wait({task}, timeout=HAND_BACK_SECONDS)

    async def run_once(self, now: datetime | None = None) -> RunReport:
        """Apply accepted events, fire every due timer, then send every due message, as of
        `now` (default: clock)."""
        async with self.running:
            moment = now or self.runtime.clock.now()
            report = RunReport(applied=await asyncio.to_thread(self._apply_events))
            report.timers = await asyncio.to_thread(self._run_timers, moment)
            if self.dispatcher.stopping:
                return report
            for outcome in await self.dispatcher.send_due(moment):
                if outcome == Outcome.SENT:
                    report.sent += 1
                elif outcome == Outcome.HELD:
                    report.held += 1
                elif outcome == Outcome.FAILED:
                    report.failed += 1
                else:
                    report.skipped += 1
            return report

    def _apply_events(self) -> int:
        """Accepted events first, so timers and messages see what they did; a failure here
        leaves them pending and never holds up timers and sending."""
        try:
            return drain(
                self.runtime,
                limit=self.runtime.settings.inbox_batch,
                rounds=MAX_BATCHES_PER_RUN,
                chunk=self._chunk,
            )
        except Exception:
            logger.exception("applying accepted events failed; they stay pending")
            return 0

    def _run_timers(self, now: datetime) -> int:
        fired = 0
        batch = self.runtime.settings.scheduler_batch
        for _ in range(MAX_BATCHES_PER_RUN):
            if self.dispatcher.stopping:
                break
            with self.runtime.db.write() as session:
                claimed = enrollments_repo.claim_due_enrollments(
                    session, now=now, lease_until=self.dispatcher.lease(now), limit=batch
                )
            if not claimed:
                break
            try:
                outcomes = run_timers(
                    self.runtime,
                    claimed=claimed,
                    now=now,
                    stopping=lambda: self.dispatcher.stopping,
                )
            except Exception:
                logger.exception("a batch of %d timers failed; retried later", len(claimed))
                outcomes = {}
            for enrollment_id, outcome in outcomes.items():
                if isinstance(outcome, Exception):
                    logger.error(
                        "timer of enrollment %s failed; retried later",
                        enrollment_id,
                        exc_info=outcome,
                    )
                else:
                    fired += bool(outcome.moved)
            if len(claimed) < batch:
                break
        return fired
