"""Group commit: one thread stores the events of every request waiting, in one transaction.

A commit costs a round trip and, on SQLite, the one write lock; taken once for all the
requests that arrived meanwhile, accepting keeps up with the web framework.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from service.clock import Clock
from service.enrollments.inbox import Accepted, store_requests
from service.errors import Conflict
from service.schemas import EventIn
from service.store.db import Database

logger = logging.getLogger(__name__)
# Rows one transaction takes at most; the requests beyond wait for the next one.
GROUP_ROWS = 5000


@dataclass
class _Request:
    events: Sequence[EventIn]
    add_only: bool = False
    answer: Future[list[Accepted] | Conflict] = field(default_factory=Future)


class Acceptor:
    """Stores accepted events for the requests of one process, many per transaction."""

    def __init__(self, db: Database, clock: Clock, *, on_stored: Callable[[], None]) -> None:
        self._db = db
        self._clock = clock
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="nurture-acceptor", daemon=True)

    def start(self) -> None:
        """Begin storing."""
        self._thread.start()

    def stop(self) -> None:
        """Store what was handed in so far, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    async def accept(
        self, events: Sequence[EventIn], *, add_attributes_only: bool = False
    ) -> list[Accepted]:
        """Store one request's events (once each): what the inbox did with each. An unproven
        sender's events (`add_attributes_only`) may add attributes, never change one."""
        outcome = await asyncio.wrap_future(self._submit(events, add_attributes_only).answer)
        return _accepted(outcome)

    def store(
        self, events: Sequence[EventIn], *, add_attributes_only: bool = False
    ) -> list[Accepted]:
        """`accept` for code running in a worker thread: blocks until they are stored."""
        return _accepted(self._submit(events, add_attributes_only).answer.result())

    def store_each(self, events: Sequence[EventIn]) -> list[Accepted | Conflict]:
        """Each event stored on its own (in one transaction all the same), from a worker
        thread: one reusing an id for another type is refused alone, the others count."""
        requests = [self._submit([event], False) for event in events]
        outcomes: list[Accepted | Conflict] = []
        for request in requests:
            outcome = request.answer.result()
            outcomes.append(outcome if isinstance(outcome, Conflict) else outcome[0])
        return outcomes

    def _submit(self, events: Sequence[EventIn], add_only: bool) -> _Request:
        request = _Request(events, add_only)
        self._queue.put(request)
        return request

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group, rows = [first], len(first.events)
            while rows < GROUP_ROWS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
                rows += len(more.events)
            self._store(group)

    def _store(self, group: list[_Request]) -> None:
        # A request whose caller went away (cancelled) is not stored: nobody hears its answer.
        group = [request for request in group if request.answer.set_running_or_notify_cancel()]
        if not group:
            return
        try:
            outcomes = store_requests(
                self._db,
                [request.events for request in group],
                now=self._clock.now(),
                add_only=[request.add_only for request in group],
            )
        except Exception as exc:  # each request's caller is told (a 503 when unreachable)
            logger.warning("storing %d requests' events failed: %s", len(group), type(exc).__name__)
            for request in group:
                request.answer.set_exception(exc)
            return
        for request, outcome in zip(group, outcomes, strict=True):
            request.answer.set_result(outcome)
        self._on_stored()


def _accepted(outcome: list[Accepted] | Conflict) -> list[Accepted]:
    if isinstance(outcome, Conflict):
        raise outcome
    return outcome
