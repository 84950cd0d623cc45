"""`NURTURE_WATCH_JOURNEYS=true`: reload when a file in journeys/ or content/ changes, the same
way `POST /journeys/reload` does (an invalid edit is logged and changes nothing)."""

from __future__ import annotations

import asyncio
import logging

from watchfiles import awatch

from service.catalog.reload import reload_journeys
from service.errors import NurtureError
from service.runtime import Runtime

logger = logging.getLogger(__name__)


async def watch_journeys(runtime: Runtime, stop: asyncio.Event) -> None:
    """Reload after each burst of changes until `stop` is set."""
    settings = runtime.settings
    folders = [settings.journeys_dir, settings.content_dir]
    logger.info("watching %s for changes", ", ".join(map(str, folders)))
    async for _changes in awatch(*folders, stop_event=stop):
        try:
            await asyncio.to_thread(reload_journeys, runtime)
        except NurtureError as exc:
            logger.error("journeys not reloaded: %s", exc.message)
        except Exception:
            logger.exception("journeys not reloaded")
