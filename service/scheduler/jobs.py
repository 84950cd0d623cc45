"""The APScheduler wiring: one interval job that runs a scheduler pass."""

from __future__ import annotations

from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from service.scheduler.loop import Scheduler

JOB_ID = "nurture-due-work"


def start_interval_job(scheduler: Scheduler, *, interval: float) -> AsyncIOScheduler:
    """Start the job on the running event loop; overlapping runs are coalesced, never doubled."""
    aps = AsyncIOScheduler(timezone=UTC)
    aps.add_job(
        scheduler.tick,
        "interval",
        seconds=interval,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    aps.start()
    return aps


async def stop_interval_job(aps: AsyncIOScheduler, scheduler: Scheduler, *, grace: float) -> None:
    """Stop scheduling, then stop the pass in progress gracefully (see `Scheduler.stop`)."""
    aps.shutdown(wait=False)  # the job only starts passes, so this cancels none
    await scheduler.stop(grace)
