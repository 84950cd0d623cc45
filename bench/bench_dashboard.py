"""Dashboard page load times for a journey with 100,000 enrollments.

Run: python bench/bench_dashboard.py [--enrollments 100000] [--requests 20] [--database-url URL]

Rows are bulk-inserted with SQL (contacts, enrollments, their moves, messages and events,
spread over the last year along the sample wedding timeline's own transitions), then
`nurture serve` runs in its own process on 127.0.0.1 and the journeys list, the journey page
and a contact page are fetched one at a time. Prints the first load (which computes the
figures) and the median and 90th percentile of the loads after it (figures kept for a minute)
per page; the first load and the 90th percentile must both stay under the 300 ms target. Then
the journey page over as many other 30-day ranges, each computing its figures afresh (what
every load costs once the kept figures expire), by median and 90th percentile. On PostgreSQL
the rows go to a private schema, dropped after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text
from support import free_port, private_schema

from service.engine.loader import load_catalog
from service.store.migrate import upgrade
from service.store.models import (
    PATH_SEPARATOR,
    Contact,
    Enrollment,
    Event,
    Message,
    TransitionRecord,
    VisitEnd,
)

ROOT = Path(__file__).parents[1]
JOURNEY = "bride-wedding-timeline"
TARGET_MS = 300
BATCH = 5_000
STATUSES = ["active"] * 62 + ["converted"] * 12 + ["exited"] * 8 + ["completed"] * 18
DELIVERY = [None, "delivered", "delivered", "opened", "opened", "clicked", "bounced"]


def _walk(rng: random.Random, journey: Any) -> list[tuple[str, str]]:
    """Up to five moves along the journey's own ways out: (stage, trigger that led there)."""
    stage = journey.initial
    path = [(stage, "entry:web.form_submitted")]
    for _ in range(rng.randint(0, 4)):
        ways = journey.stages[stage].on
        if not ways:
            break
        way = rng.choice(ways)
        stage = way.to
        path.append((stage, way.key()))
    return path


def _facts(moves: list[dict[str, Any]], status: str) -> tuple[datetime | None, str]:
    """The facts the unit of work keeps with her moves (enrollments/visits.py): each visit's
    end, next stage and length; her first goal and her stages in first-visit order."""
    visits = [m for m in moves if not m["trigger"].startswith(("goal:", "exit:"))]
    for visit, after in zip(visits, moves[1:], strict=False):
        kind = after["trigger"].split(":", 1)[0]
        end = kind if kind in ("goal", "exit") else VisitEnd.VISIT
        visit["visit_end"] = end
        visit["next_stage"] = after["to_stage"] if end == VisitEnd.VISIT else None
        visit["seconds"] = (after["at"] - visit["at"]).total_seconds()
    last = visits[-1]
    if len(visits) == len(moves):
        last["visit_end"] = VisitEnd.COMPLETED if status == "completed" else VisitEnd.OPEN
    for move in moves:
        move.setdefault("visit_end", None)
        move.setdefault("next_stage", None)
        move.setdefault("seconds", None)
    goal_at = next((m["at"] for m in moves if m["trigger"].startswith("goal:")), None)
    return goal_at, PATH_SEPARATOR.join(dict.fromkeys(m["to_stage"] for m in visits))


def _rows(count: int, journey: Any, version: str, now: datetime) -> Iterator[dict[str, list[Any]]]:
    """Batches of rows per table for `count` brides, each with one enrollment."""
    rng = random.Random(12)
    batch: dict[str, list[Any]] = {
        "contacts": [],
        "enrollments": [],
        "transitions": [],
        "messages": [],
        "events": [],
    }
    for index in range(count):
        contact_id, enrollment_id = str(uuid.uuid4()), str(uuid.uuid4())
        started = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        path = _walk(rng, journey)
        final = journey.stages[path[-1][0]].final
        status = "completed" if final else rng.choice([s for s in STATUSES if s != "completed"])
        at = started
        seq = 0
        previous: str | None = None
        moves: list[dict[str, Any]] = []
        for stage, trigger in path:
            seq += 1
            moves.append(
                {
                    "id": str(uuid.uuid4()),
                    "enrollment_id": enrollment_id,
                    "contact_id": contact_id,
                    "journey_id": JOURNEY,
                    "version": version,
                    "from_stage": previous,
                    "to_stage": stage,
                    "trigger": trigger,
                    "at": at,
                    "seq": seq,
                }
            )
            send = journey.stages[stage].send
            if send is not None:
                delivered = rng.choice(DELIVERY)
                batch["messages"].append(
                    {
                        "id": str(uuid.uuid4()),
                        "idempotency_key": f"{enrollment_id}:{stage}:{seq}",
                        "contact_id": contact_id,
                        "enrollment_id": enrollment_id,
                        "journey_id": JOURNEY,
                        "version": version,
                        "stage": stage,
                        "visit": seq,
                        "channel": send.channel,
                        "template": send.template,
                        "due_at": at,
                        "status": "sent",
                        "subject": "Hello",
                        "text": "Hello",
                        "html": "<p>Hello</p>",
                        "delivery_status": delivered if send.channel == "email" else None,
                        "attempts": 1,
                        "sent_at": at,
                        "created_at": at,
                    }
                )
            batch["events"].append(
                {
                    "id": str(uuid.uuid4()),
                    "source": "bench",
                    "event_id": f"{enrollment_id}-{seq}",
                    "type": "email.clicked" if seq > 1 else "web.form_submitted",
                    "time": at,
                    "contact_id": contact_id,
                    "properties": {},
                    "received_at": at,
                }
            )
            previous = stage
            at = min(at + timedelta(seconds=rng.uniform(3600, 20 * 86400)), now)
        ended = None
        if status in ("converted", "exited"):
            seq += 1
            trigger = "goal:order.completed" if status == "converted" else "exit:email.unsubscribed"
            moves.append(
                {
                    "id": str(uuid.uuid4()),
                    "enrollment_id": enrollment_id,
                    "contact_id": contact_id,
                    "journey_id": JOURNEY,
                    "version": version,
                    "from_stage": previous,
                    "to_stage": previous,
                    "trigger": trigger,
                    "at": at,
                    "seq": seq,
                }
            )
            ended = at
        elif status == "completed":
            ended = at
        goal_at, visited = _facts(moves, status)
        batch["transitions"].extend(moves)
        timers = status == "active" and any(t.is_timer for t in journey.stages[previous].on)
        batch["contacts"].append(
            {
                "id": contact_id,
                "email": f"bride{index}@example.com",
                "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
                "history_seq": seq,
                "created_at": started,
                "updated_at": started,
            }
        )
        batch["enrollments"].append(
            {
                "id": enrollment_id,
                "contact_id": contact_id,
                "journey_id": JOURNEY,
                "version": version,
                "stage": previous,
                "status": status,
                "visit": len(path),
                "holdout": False,
                "entered_at": at,
                "started_at": started,
                "ended_at": ended,
                "goal_at": goal_at,
                "path": visited,
                "next_due_at": now + timedelta(days=rng.uniform(1, 60)) if timers else None,
            }
        )
        if len(batch["enrollments"]) >= BATCH:
            yield batch
            batch = {name: [] for name in batch}
    if batch["enrollments"]:
        yield batch


def _fill(url: str, count: int, now: datetime) -> tuple[str, float]:
    """Insert the brides; the contact id a page is timed for, and the seconds it took."""
    compiled = load_catalog([ROOT / "journeys"]).journeys[JOURNEY]
    tables = {
        "contacts": Contact,
        "enrollments": Enrollment,
        "transitions": TransitionRecord,
        "messages": Message,
        "events": Event,
    }
    engine = create_engine(url)
    start = time.perf_counter()
    sample = ""
    with engine.begin() as connection:
        for batch in _rows(count, compiled.journey, compiled.version, now):
            sample = sample or batch["contacts"][0]["id"]
            for name in ("contacts", "enrollments", "transitions", "messages", "events"):
                if batch[name]:
                    connection.execute(insert(tables[name].__table__), batch[name])  # type: ignore[attr-defined]
    if engine.dialect.name == "postgresql":
        # What autovacuum leaves after a load this size: statistics, and a visibility map
        # that lets index-only scans skip the table.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return sample, time.perf_counter() - start


@contextlib.contextmanager
def _database(given: str | None, folder: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a private PostgreSQL schema."""
    if given is None:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        yield url
        return
    with private_schema(given, "bench_dashboard") as url:
        upgrade(url)
        yield url


def _time(client: httpx.Client, path: str, requests: int) -> tuple[float, float, float]:
    """The first GET (which computes the page's figures) and the median and 90th percentile
    in ms of `requests` sequential GETs after it (figures kept for a minute)."""
    start = time.perf_counter()
    assert client.get(path).status_code == 200, path
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    samples.sort()
    return first, statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def _time_fresh(client: httpx.Client, now: datetime, requests: int) -> tuple[float, float]:
    """The median and 90th percentile in ms of `requests` journey page loads that each
    compute the figures: every one over another 30 days (ending a day earlier than the one
    before), so none is served from the figures kept for a minute."""
    samples = []
    for back in range(1, requests + 1):
        last = (now - timedelta(days=back)).date()
        first = last - timedelta(days=29)
        start = time.perf_counter()
        response = client.get(
            f"/ui/journeys/{JOURNEY}", params={"from": first.isoformat(), "to": last.isoformat()}
        )
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:200]
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, Path(tmp)) as url:
        contact_id, seconds = _fill(url, args.enrollments, now)
        print(f"inserted {args.enrollments:,} enrollments with their rows in {seconds:.0f} s")
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")},
            "NURTURE_DATABASE_URL": url,
            "NURTURE_JOURNEYS_DIR": str(ROOT / "journeys"),
            "NURTURE_CONTENT_DIR": str(ROOT / "content"),
            "NURTURE_OUTBOX_PATH": str(Path(tmp) / "outbox.jsonl"),
            "NURTURE_RUN_SCHEDULER": "false",
            "NURTURE_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                for _ in range(300):  # bounded wait for start-up
                    with contextlib.suppress(httpx.TransportError):
                        if client.get("/readyz").status_code == 200:
                            break
                    time.sleep(0.1)
                pages = {
                    "journeys list": "/ui/journeys",
                    "journey page": f"/ui/journeys/{JOURNEY}",
                    "contact page": f"/ui/contacts/{contact_id}",
                }
                for name, path in pages.items():
                    first, median, p90 = _time(client, path, args.requests)
                    verdict = "ok" if max(first, p90) < TARGET_MS else "over target"
                    figures = f"first {first:6.0f} ms  median {median:6.0f} ms  p90 {p90:6.0f} ms"
                    print(f"{name:14} {figures}  ({verdict}, target {TARGET_MS} ms)")
                median, p90 = _time_fresh(client, now, args.requests)
                verdict = "ok" if p90 < TARGET_MS else "over target"
                figures = f"median {median:6.0f} ms  p90 {p90:6.0f} ms"
                print(f"{'journey, fresh':14} {'':16}{figures}  ({verdict}, target {TARGET_MS} ms)")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
