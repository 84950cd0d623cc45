"""The applier of one process: a thread applying accepted events as soon as they are stored.

Woken by this process's acceptor, and every `inbox_poll_seconds` for events other processes
stored; it also drops applied events past the inbox retention.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from service.enrollments import repository as enrollments_repo
from service.enrollments.inbox import ChunkSize, apply_pending
from service.runtime import Runtime

logger = logging.getLogger(__name__)
FORGET_EVERY_SECONDS = 60.0
FORGET_BATCH = 10_000
# On SQLite, a batch's time budget while requests arrive (they share the one write lock with
# it), and otherwise: when none has for a second, or on PostgreSQL.
BUSY_BATCH_SECONDS = 0.01
IDLE_BATCH_SECONDS = 0.2
BUSY_FOR_SECONDS = 1.0


class Applier:
    """Applies pending inbox events until stopped; any number run side by side."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nurture-applier", daemon=True)
        self._forgotten_at = 0.0
        self._nudged_at = 0.0
        self._chunk = ChunkSize()

    def start(self) -> None:
        """Begin applying."""
        self._thread.start()

    def nudge(self) -> None:
        """New events are stored: apply them now rather than at the next poll."""
        self._nudged_at = time.monotonic()
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in progress and end the thread; the rest stay pending."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        settings = self._runtime.settings
        while not self._stopping.is_set():
            self._wake.clear()
            started = time.monotonic()
            busy = self._runtime.db.sqlite and started - self._nudged_at < BUSY_FOR_SECONDS
            budget = BUSY_BATCH_SECONDS if busy else IDLE_BATCH_SECONDS
            try:
                applied = apply_pending(
                    self._runtime, limit=settings.inbox_batch, budget=budget, chunk=self._chunk
                )
                self._forget()
            except Exception:
                logger.exception("applying inbox events failed; they stay pending")
                applied = 0
            if not applied:
                self._wake.wait(settings.inbox_poll_seconds)
            elif busy:
                # Requests are arriving and share SQLite's one write lock (and the process)
                # with this thread: leave them as much time as the batch took.
                self._stopping.wait(time.monotonic() - started)

    def _forget(self) -> None:
        moment = time.monotonic()
        if moment - self._forgotten_at < FORGET_EVERY_SECONDS:
            return
        self._forgotten_at = moment
        before = self._runtime.clock.now() - timedelta(
            hours=self._runtime.settings.inbox_keep_hours
        )
        with self._runtime.db.write() as session:
            enrollments_repo.forget_applied(session, before=before, limit=FORGET_BATCH)
