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
from service.enrollments.actions import run_timer
from service.runtime import Runtime

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 50


@dataclass
class RunReport:
    """What one pass did, for logs and tests."""

    timers: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


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
        self.dispatcher = Dispatcher(
            runtime, channels or default_channels(runtime.settings.outbox_path), jitter
        )
        self.running = asyncio.Lock()

    async def tick(self) -> None:
        """The interval job: one pass now, never two at once in this process."""
        if self.running.locked():
            return
        try:
            report = await self.run_once()
        except Exception:
            logger.exception("scheduler pass failed; due work stays queued for the next one")
            return
        if report.timers or report.sent or report.failed:
            logger.info(
                "scheduler pass: %d timers, %d sent, %d failed, %d skipped",
                report.timers,
                report.sent,
                report.failed,
                report.skipped,
            )

    async def run_once(self, now: datetime | None = None) -> RunReport:
        """Fire every due timer, then send every due message, as of `now` (default: clock)."""
        async with self.running:
            moment = now or self.runtime.clock.now()
            report = RunReport(timers=await asyncio.to_thread(self._run_timers, moment))
            for outcome in await self.dispatcher.send_due(moment):
                if outcome == Outcome.SENT:
                    report.sent += 1
                elif outcome == Outcome.FAILED:
                    report.failed += 1
                else:
                    report.skipped += 1
            return report

    def _run_timers(self, now: datetime) -> int:
        fired = 0
        batch = self.runtime.settings.scheduler_batch
        for _ in range(MAX_BATCHES_PER_RUN):
            with self.runtime.db.write() as session:
                claimed = enrollments_repo.claim_due_enrollments(
                    session, now=now, lease_until=self.dispatcher.lease(now), limit=batch
                )
            for enrollment_id, contact_id in claimed:
                try:
                    outcome = run_timer(
                        self.runtime, enrollment_id=enrollment_id, contact_id=contact_id, now=now
                    )
                    fired += bool(outcome.moved)
                except Exception:
                    logger.exception("timer of enrollment %s failed; retried later", enrollment_id)
            if len(claimed) < batch:
                break
        return fired
