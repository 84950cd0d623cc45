"""The app factory and `nurture serve`: API plus, in the same process, the scheduler."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from service.api.auth import parse_api_keys
from service.api.errors import BodyLimitMiddleware, install_error_handlers
from service.api.routes import (
    analytics,
    contacts,
    context,
    events,
    health,
    journeys,
    links,
    segment,
    track,
    webhooks,
)
from service.catalog.watch import watch_journeys
from service.clock import Clock, SystemClock
from service.config import Settings, get_settings
from service.delivery.providers import http_client
from service.delivery.setup import build_channels
from service.enrollments.acceptor import Acceptor
from service.errors import NurtureError
from service.inbound.receive import Inbound
from service.logs import configure_logging
from service.runtime import build_runtime
from service.scheduler.applier import Applier
from service.scheduler.jobs import start_interval_job, stop_interval_job
from service.scheduler.loop import Scheduler
from service.segment.auth import parse_write_keys
from service.store.db import is_sqlite
from service.ui.app import build_ui
from service.ui.journey_page import warm_figures

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    warm_dashboard: bool = False,
) -> FastAPI:
    """Build the app; the database and journeys are opened when its lifespan starts.

    `http_transport` replaces the network for the inbound side's own requests (SNS), in tests;
    `warm_dashboard` has start-up read the dashboard's figures once, as `serve` does.
    """
    settings = settings or get_settings()
    clock = clock or SystemClock()
    api_keys = parse_api_keys(settings.api_keys)
    write_keys = parse_write_keys(settings.segment_write_keys, api_keys=[k.key for k in api_keys])
    inbound = Inbound(settings, timeout=settings.http_timeout, transport=http_transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = http_client(settings)
        try:
            settings.check_link_secret()
            channels = build_channels(settings, client=client, now=clock.now)
            runtime = await asyncio.to_thread(build_runtime, settings, clock)
        except NurtureError as exc:
            await client.aclose()
            logger.error("cannot start: %s", exc.message)
            raise
        if warm_dashboard:
            await asyncio.to_thread(warm_figures, runtime)
        scheduler = Scheduler(runtime, channels)
        applier = Applier(runtime) if settings.run_scheduler else None
        acceptor = Acceptor(runtime.db, clock, on_stored=applier.nudge if applier else lambda: None)
        acceptor.start()
        if applier is not None:
            applier.start()
        app.state.runtime = runtime
        app.state.scheduler = scheduler
        app.state.acceptor = acceptor
        if not api_keys:
            logger.warning("no API keys configured (NURTURE_API_KEYS): only loopback clients")
        aps = (
            start_interval_job(scheduler, interval=settings.scheduler_interval)
            if settings.run_scheduler
            else None
        )
        stop_watching = asyncio.Event()
        watcher = (
            asyncio.create_task(watch_journeys(runtime, stop_watching))
            if settings.watch_journeys
            else None
        )
        try:
            yield
        finally:
            stop_watching.set()
            if watcher is not None:
                await watcher
            if aps is not None:
                grace = settings.shutdown_grace_seconds
                await stop_interval_job(aps, scheduler, grace=grace)
            await asyncio.to_thread(acceptor.stop)
            if applier is not None:
                await asyncio.to_thread(applier.stop)
            await client.aclose()
            await inbound.aclose()
            runtime.close()

    app = FastAPI(
        title="nurture",
        version="0.1.0",
        summary="Behaviour-triggered nurture journeys: events in, timed messages out.",
        lifespan=lifespan,
    )
    app.state.api_keys = api_keys
    app.state.write_keys = write_keys
    app.state.inbound = inbound
    install_error_handlers(app)
    # Webhooks stream their bodies under each provider's own cap (service.api.routes.webhooks).
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, exempt_prefixes=("/webhooks/",)
    )
    # `context` before `contacts`: /contacts/lookup must not be read as a contact id.
    for module in (
        events,
        context,
        contacts,
        journeys,
        analytics,
        health,
        links,
        webhooks,
        track,
        segment,
    ):
        app.include_router(module.router)
    app.mount("/ui", build_ui(app, settings))
    return app


def app_from_environment() -> FastAPI:
    """The app of one of `serve --workers` processes, from the environment's settings."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_app(settings, warm_dashboard=True)
    _freeze_start_up()
    return app


def _freeze_start_up() -> None:
    """What start-up built lives as long as the process: frozen, the collector no longer
    walks it, so its first full pass (100-200 ms) does not land on the first requests."""
    gc.collect()
    gc.freeze()


def serve(host: str, port: int, *, workers: int = 1) -> int:
    """Run the API (and the scheduler) with uvicorn until stopped; the exit code."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if workers > 1 and is_sqlite(settings.database_url):
        logger.error(
            "cannot start: --workers needs PostgreSQL; SQLite has one writer, which one "
            "process's writers share best"
        )
        return 2
    if workers < 1:
        logger.error("cannot start: --workers must be at least 1")
        return 2
    try:
        settings.check_link_secret()
        app = create_app(settings, warm_dashboard=True)
        # Open the database and load the journeys once before uvicorn starts, so a bad set-up
        # stops with one line instead of a server traceback.
        build_runtime(settings, SystemClock()).close()
    except NurtureError as exc:
        logger.error("cannot start: %s", exc.message)
        return 2
    except SQLAlchemyError as exc:
        logger.error(
            "cannot start: the database is unusable (%s); for PostgreSQL run `nurture db upgrade`",
            type(exc).__name__,
        )
        return 2
    # uvicorn raises the stop signal again once it has shut down gracefully; these handlers
    # take it, so a SIGTERM (a deploy) or Ctrl-C ends the process with 0 rather than killed.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _signal, _frame: None)
    # More than one process: each builds its own app from the environment.
    several = workers > 1
    if not several:
        _freeze_start_up()
    uvicorn.run(
        "service.main:app_from_environment" if several else app,
        factory=several,
        workers=workers if several else None,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=max(int(settings.shutdown_grace_seconds), 1),
    )
    return 0
