"""`nurture worker`: the scheduler alone, for scaling due work out beside the API."""

from __future__ import annotations

import asyncio
import logging
import signal

from service.clock import SystemClock
from service.config import get_settings
from service.delivery.providers import http_client
from service.delivery.setup import build_channels
from service.errors import NurtureError
from service.logs import configure_logging
from service.runtime import Runtime, build_runtime
from service.scheduler.applier import Applier
from service.scheduler.jobs import start_interval_job, stop_interval_job
from service.scheduler.loop import Scheduler

logger = logging.getLogger(__name__)


async def _run() -> None:
    settings = get_settings()
    clock = SystemClock()
    settings.check_link_secret()
    async with http_client(settings) as client:
        channels = build_channels(settings, client=client, now=clock.now)
        runtime = await asyncio.to_thread(build_runtime, settings, clock)
        await _serve(runtime, Scheduler(runtime, channels))


async def _serve(runtime: Runtime, scheduler: Scheduler) -> None:
    settings = runtime.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    applier = Applier(runtime)
    applier.start()
    aps = start_interval_job(scheduler, interval=settings.scheduler_interval)
    logger.info("worker started: a pass every %ss", settings.scheduler_interval)
    try:
        await stop.wait()
        logger.info(
            "stopping: handing back unsent messages, up to %ss for those with a provider",
            settings.shutdown_grace_seconds,
        )
    finally:
        await stop_interval_job(aps, scheduler, grace=settings.shutdown_grace_seconds)
        await asyncio.to_thread(applier.stop)
        runtime.close()
        logger.info("worker stopped")


def run_worker() -> int:
    """Run until SIGINT/SIGTERM; the exit code of the process."""
    configure_logging(get_settings().log_level)
    try:
        asyncio.run(_run())
    except NurtureError as exc:
        logger.error("cannot start: %s", exc.message)
        return 2
    return 0
