"""Bulk enrolment: `nurture import` of N new contacts, each enrolled in a journey.

Run: python bench/bench_import.py [--contacts N] [--database-url URL]

N contacts (default 100,000) with a first name, a wedding date spread over two years and a
time zone, imported and enrolled in the wedding timeline by the import's own code path
(`imports.import_contacts`: batches of 1,000, each one transaction of bulk statements).
Baseline: a raw batch INSERT of as many rows as the import wrote (contacts, enrollments,
history, visit facts and messages together) into a plain table of the same database, in
batches of 1,000, one transaction each, in the same run. Ratio: the import's rows/s / the
raw INSERT's; target: 100,000 contacts in under 60 s.

PostgreSQL runs in a fresh schema of the given database, dropped at the end; SQLite in a
temporary file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, create_engine, func, select
from sqlalchemy.engine import make_url

from service.clock import SystemClock
from service.config import Settings
from service.enrollments.imports import BATCH, import_contacts
from service.runtime import build_runtime
from service.store.migrate import upgrade
from service.store.models import Contact, Enrollment, Message, TransitionRecord

sys.path.insert(0, str(Path(__file__).parent))
from support import private_schema

ROOT = Path(__file__).parents[1]
JOURNEY = "bride-wedding-timeline"
TARGET_SECONDS = 60.0
ZONES = ("America/New_York", "Europe/London", "Europe/Paris", "America/Los_Angeles", "")
WRITTEN = (Contact, Enrollment, TransitionRecord, Message)


@contextlib.contextmanager
def _database_url(url: str | None, tmp: str) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a new schema of the PostgreSQL URL."""
    if url is None or make_url(url).get_backend_name() == "sqlite":
        url = url or f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        yield url
        return
    with private_schema(url, "bench") as scoped_url:
        upgrade(scoped_url)
        yield scoped_url


def _csv(count: int) -> str:
    """One bride a line, her wedding 2 to 26 months from today."""
    today = date.today()
    lines = ["email,timezone,attributes.first_name,attributes.wedding_date"]
    for n in range(count):
        wedding = today + timedelta(days=60 + n % 730)
        lines.append(f"bride{n}@example.com,{ZONES[n % len(ZONES)]},Bride {n},{wedding}")
    return "\n".join(lines) + "\n"


def _rows_written(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = [
            connection.execute(select(func.count()).select_from(model.__table__)).scalar_one()  # type: ignore[attr-defined]
            for model in WRITTEN
        ]
    engine.dispose()
    return sum(counts)


def _raw_insert(url: str, rows: int) -> float:
    """Seconds for a raw batch INSERT of `rows` contact-sized rows into a plain table."""
    engine = create_engine(url)
    metadata = MetaData()
    table = Table(
        "bench_raw_rows",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("email", String(320), nullable=False),
        Column("attributes", JSON, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    metadata.create_all(engine)
    now = datetime.now(UTC)
    start = time.perf_counter()
    for first in range(0, rows, BATCH):
        batch: list[dict[str, Any]] = [
            {
                "id": str(uuid.uuid4()),
                "email": f"raw{n}@example.com",
                "attributes": {"first_name": f"Raw {n}", "wedding_date": "2027-09-18"},
                "created_at": now,
            }
            for n in range(first, min(first + BATCH, rows))
        ]
        with engine.begin() as connection:
            connection.execute(table.insert(), batch)
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, _database_url(args.database_url, tmp) as url:
        settings = Settings(
            _env_file=None,
            database_url=url,
            journeys_dir=ROOT / "journeys",
            content_dir=ROOT / "content",
            outbox_path=Path(tmp) / "outbox.jsonl",
            run_scheduler=False,
            api_keys="",
            public_base_url="http://127.0.0.1:8000",
            secret_key="bench-secret-key",
            log_level="WARNING",
        )
        runtime = build_runtime(settings, SystemClock())
        text = _csv(args.contacts)
        marks: list[tuple[int, float]] = []
        start, cpu = time.perf_counter(), time.process_time()
        report = import_contacts(
            runtime,
            text,
            journey_id=JOURNEY,
            progress=lambda done, _total: marks.append((done, time.perf_counter())),
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        runtime.close()
        assert not report.errors and report.enrolled == args.contacts, report.summary()
        rows = _rows_written(url)
        raw = _raw_insert(url, rows)
    backend = make_url(url).get_backend_name()
    print(f"{backend}: {report.summary()}")
    print(
        f"import + enrol:   {seconds:7.1f} s  {args.contacts / seconds:9,.0f} contacts/s"
        f"  {rows / seconds:9,.0f} rows/s ({rows:,} rows), {cpu:.1f} s of this process's CPU"
    )
    if len(marks) >= 2:
        tenth = max(len(marks) // 10, 1)
        (first_done, first_at), (last_done, last_at) = marks[tenth - 1], marks[-tenth - 1]
        print(
            f"  first tenth {first_done / (first_at - start):,.0f} contacts/s, last tenth"
            f" {(args.contacts - last_done) / (marks[-1][1] - last_at):,.0f} contacts/s"
        )
    print(f"raw batch INSERT: {raw:7.1f} s  {rows / raw:9,.0f} rows/s (the same number of rows)")
    target = TARGET_SECONDS * args.contacts / 100_000
    print(
        f"ratio import / raw INSERT: {raw / seconds:.2f}x   "
        f"(target: {args.contacts:,} contacts in under {target:.0f} s: "
        f"{'met' if seconds < target else 'missed'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--database-url")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
