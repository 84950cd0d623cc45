"""Event ingestion throughput: single events over HTTP, and batches of 1,000.

Run: python bench/bench_ingest.py single [--database-url URL]
     python bench/bench_ingest.py batch [--database-url URL]
     python bench/bench_ingest.py scaleout --database-url postgresql+psycopg://...

`single`: POST /events of one signup (a new contact who enrols) at a time over 32
keep-alive connections (bench/loadgen.py), against the real service (`nurture serve` in
its own process, scheduler on) and against a bare FastAPI async endpoint with the same
pydantic model under the same uvicorn settings (bench/bare_app.py). Ratio: nurture / bare,
target >= 0.5x; also request latency, and event-to-applied latency p50/p99 both after
that full load and at a moderate offered load (`--steady-rate`, default 50/s; target p99
under 1 s).

`batch`: batches of 1,000 signups that enrol, then 1,000 page views of those existing
contacts, then provider feedback on each bride's welcome email (email.delivered, then
email.opened, naming it by `message_id`). Accepted events/s (until the answer) and applied
events/s (until every event is applied), each / a raw batch INSERT of the same rows into a
plain table of the same database in the same run. Targets: accept >= 0.5x, apply page
views >= 0.25x.

`scaleout`: signups accepted by an API that applies nothing, then applied by one `nurture
worker` and, on fresh events, by two; applied events/s from the first to the last applied,
2 / 1 (target >= 1.5x), with the workers' and PostgreSQL's processor time. The workers
also send each new bride's welcome email, as they would in production.

PostgreSQL runs in a fresh schema of the given database, dropped at the end; SQLite in a
temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Load, post_load
from support import free_port, private_schema

ROOT = Path(__file__).parents[1]
SINGLE_TARGET = 0.5
ACCEPT_TARGET = 0.5
APPLY_TARGET = 0.25
STEADY_P99_TARGET_MS = 1000
SCALE_TARGET = 1.5


@dataclass
class Database:
    """Where one run stores: the URL the service uses and an engine for the bench's reads."""

    url: str
    engine: Engine


@contextlib.contextmanager
def _database(url: str | None, tmp: str) -> Iterator[Database]:
    """A fresh, migrated database: a SQLite file, or a new schema of the PostgreSQL URL."""
    if url is None or make_url(url).get_backend_name() == "sqlite":
        url = url or f"sqlite:///{tmp}/bench.db"
        _migrate(url, tmp)
        engine = create_engine(url)
        yield Database(url, engine)
        engine.dispose()
        return
    with private_schema(url, "bench") as scoped_url:
        _migrate(scoped_url, tmp)
        engine = create_engine(scoped_url)
        yield Database(scoped_url, engine)
        engine.dispose()


def _env(url: str, tmp: str) -> dict[str, str]:
    return {
        **os.environ,
        "NURTURE_DATABASE_URL": url,
        "NURTURE_JOURNEYS_DIR": str(ROOT / "journeys"),
        "NURTURE_CONTENT_DIR": str(ROOT / "content"),
        "NURTURE_OUTBOX_PATH": str(Path(tmp) / "outbox.jsonl"),
        "NURTURE_LOG_LEVEL": "WARNING",
    }


def _migrate(url: str, tmp: str) -> None:
    command = [sys.executable, "-m", "service.cli", "db", "upgrade"]
    subprocess.run(command, env=_env(url, tmp), cwd=tmp, check=True, stdout=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def _server(command: list[str], env: dict[str, str], cwd: str, ready: str) -> Any:
    """A server process on a free port, up once `ready` answers; stopped afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [*command, str(port)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(600):  # bounded wait for start-up (migrations, journeys)
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(ready)).status_code in (200, 405):
                        break
                await asyncio.sleep(0.1)
            yield port, client
    finally:
        process.terminate()
        process.wait(timeout=60)


def _nurture(env: dict[str, str], cwd: str) -> Any:
    command = [sys.executable, "-m", "service.cli", "serve", "--port"]
    return _server(command, env, cwd, "/readyz")


def _bare(env: dict[str, str], cwd: str) -> Any:
    return _server([sys.executable, str(ROOT / "bench" / "bare_app.py")], env, cwd, "/docs")


def _signup(run: str, index: int) -> dict[str, Any]:
    return {
        "id": f"{run}-signup-{index}",
        "source": f"bench-{run}",
        "type": "web.form_submitted",
        "contact": {"email": f"bride{index}-{run}@example.com"},
        "properties": {"form": "wedding-signup"},
        "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
    }


def _page_view(run: str, index: int) -> dict[str, Any]:
    return {
        "id": f"{run}-view-{index}",
        "source": f"bench-{run}",
        "type": "web.page_viewed",
        "contact": {"email": f"bride{index}-{run}@example.com"},
        "properties": {"page": "/favors/kraft", "title": "Kraft favor boxes"},
    }


def _feedback(run: str, message_ids: dict[str, str]) -> list[dict[str, Any]]:
    """A campaign's provider feedback: each welcome email delivered, then opened."""
    return [
        {
            "id": f"{run}-{kind}-{index}",
            "source": f"bench-{run}-feedback",
            "type": f"email.{kind}",
            "contact": {"email": email},
            "properties": {"message_id": message_id},
        }
        for kind in ("delivered", "opened")
        for index, (email, message_id) in enumerate(sorted(message_ids.items()))
    ]


def _welcome_messages(database: Database, run: str) -> dict[str, str]:
    """Each bride of the run's welcome message id, by her email."""
    with database.engine.connect() as connection:
        query = text(
            "SELECT c.email, m.id FROM messages m JOIN contacts c ON c.id = m.contact_id "
            "WHERE c.email LIKE :emails AND m.stage = 'welcome'"
        )
        found = connection.execute(query, {"emails": f"%-{run}@example.com"})
        return {email: message_id for email, message_id in found}


def _applied(database: Database, source: str) -> int:
    with database.engine.connect() as connection:
        query = text("SELECT count(*) FROM events WHERE source = :source")
        return int(connection.execute(query, {"source": source}).scalar_one())


async def _until_applied(database: Database, source: str, count: int, limit: float) -> float:
    """Wait (bounded) until `count` events of `source` are applied; the moment they were."""
    deadline = time.perf_counter() + limit
    while _applied(database, source) < count:
        if time.perf_counter() > deadline:
            raise SystemExit(f"only {_applied(database, source)} of {count} applied in {limit}s")
        await asyncio.sleep(0.05)
    return time.perf_counter()


def _apply_latency(database: Database, source: str) -> tuple[float, float]:
    """Event-to-applied p50/p99 (seconds) from the inbox, where events wait to be applied."""
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT received_at, applied_at FROM inbox WHERE source = :source"),
            {"source": source},
        ).all()
    lags = sorted(
        (_moment(applied) - _moment(received)).total_seconds()
        for received, applied in rows
        if applied is not None
    )
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(0.99 * len(lags)))]


def _moment(value: Any) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _describe(name: str, load: Load) -> str:
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load.statuses.items()))
    return (
        f"{name:<26}{load.rate:9,.0f} req/s   p50 {load.percentile(0.5) * 1000:7.1f} ms   "
        f"p99 {load.percentile(0.99) * 1000:7.1f} ms   ({statuses})"
    )


async def single(args: argparse.Namespace) -> None:
    """Benchmark 1: one event per request, nurture / bare FastAPI."""
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, tmp) as database:
        env = _env(database.url, tmp)
        run = uuid.uuid4().hex[:8]

        def body(index: int) -> dict[str, Any]:
            return _signup(run, index)

        async def measure(port: int) -> Load:
            # A short warm-up (imports, pools, caches) on other ids, then the measured run.
            warm = f"{run}w"
            await post_load(
                host="127.0.0.1",
                port=port,
                path="/events",
                count=200,
                connections=args.connections,
                body=lambda index: _signup(warm, index),
            )
            return await post_load(
                host="127.0.0.1",
                port=port,
                path="/events",
                count=args.requests,
                connections=args.connections,
                body=body,
            )

        async with _bare(env, tmp) as (port, _client):
            bare = await measure(port)
        async with _nurture(env, tmp) as (port, _client):
            # Event-to-applied at a moderate offered load first, before the full load leaves
            # thousands of welcome emails for the same process to send.
            steady = f"{run}s"
            await post_load(
                host="127.0.0.1",
                port=port,
                path="/events",
                count=args.steady_requests,
                connections=args.connections,
                body=lambda index: _signup(steady, index),
                rate=args.steady_rate,
            )
            await _until_applied(database, f"bench-{steady}", args.steady_requests, limit=300)
            steady_latency = _apply_latency(database, f"bench-{steady}")
        async with _nurture(env, tmp) as (port, _client):
            nurture = await measure(port)
            await _until_applied(database, f"bench-{run}", args.requests, limit=600)
            latency = _apply_latency(database, f"bench-{run}")
    backend = make_url(database.url).get_backend_name()
    print(f"single POST /events on {backend}, {args.connections} connections, signups that enrol")
    print(_describe("bare FastAPI endpoint", bare))
    print(_describe("nurture POST /events", nurture))
    for name, measured in (
        ("event-to-applied at full load", latency),
        (f"event-to-applied at {args.steady_rate:.0f}/s", steady_latency),
    ):
        p50, p99 = (seconds * 1000 for seconds in measured)
        print(f"{name:34} p50 {p50:9.1f} ms   p99 {p99:9.1f} ms")
    print(f"(target: p99 under {STEADY_P99_TARGET_MS} ms at a moderate load)")
    ratio = nurture.rate / bare.rate
    print(f"ratio nurture / bare: {ratio:.2f}x   (target >= {SINGLE_TARGET}x)")


def _raw_table(database: Database) -> Table:
    metadata = MetaData()
    table = Table(
        "bench_raw_events",
        metadata,
        Column("source", String(100), primary_key=True),
        Column("event_id", String(200), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("contact", JSON, nullable=False),
        Column("properties", JSON, nullable=False),
        Column("attributes", JSON, nullable=False),
    )
    metadata.create_all(database.engine)
    return table


def _raw_insert(database: Database, table: Table, batches: list[list[dict[str, Any]]]) -> float:
    """Rows per second for a raw batch INSERT of the same rows, one transaction per batch."""
    start = time.perf_counter()
    for batch in batches:
        rows = [
            {
                "source": event["source"] + "-raw",
                "event_id": event["id"],
                "type": event["type"],
                "contact": event["contact"],
                "properties": event["properties"],
                "attributes": event.get("attributes", {}),
            }
            for event in batch
        ]
        with database.engine.begin() as connection:
            connection.execute(table.insert(), rows)
    return sum(map(len, batches)) / (time.perf_counter() - start)


async def _post_batches(
    client: httpx.AsyncClient, database: Database, source: str, batches: list[list[dict[str, Any]]]
) -> tuple[float, float]:
    """Accepted and applied events/s for posting the batches one after another."""
    before = _applied(database, source)
    start = time.perf_counter()
    for batch in batches:
        response = await client.post("/events", json={"events": batch})
        response.raise_for_status()
    accepted = time.perf_counter() - start
    count = sum(map(len, batches))
    applied = await _until_applied(database, source, before + count, limit=600) - start
    return count / accepted, count / applied


async def batch(args: argparse.Namespace) -> None:
    """Benchmark 2: batches of 1,000, accepted and applied / a raw batch INSERT."""
    size = 1000
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, tmp) as database:
        env = _env(database.url, tmp)
        run = uuid.uuid4().hex[:8]
        total = args.batches * size
        signups = [[_signup(run, i) for i in range(b, b + size)] for b in range(0, total, size)]
        views = [[_page_view(run, i) for i in range(b, b + size)] for b in range(0, total, size)]
        source = f"bench-{run}"
        async with _nurture(env, tmp) as (_port, client):
            signup_rates = await _post_batches(client, database, source, signups)
            view_rates = await _post_batches(client, database, source, views)
            with database.engine.connect() as connection:
                query = text("SELECT count(*) FROM events WHERE source = :s")
                assert connection.execute(query, {"s": source}).scalar_one() == 2 * total
            message_ids = _welcome_messages(database, run)
            assert len(message_ids) == total
            reports = _feedback(run, message_ids)
            feedback = [reports[b : b + size] for b in range(0, len(reports), size)]
            feedback_rates = await _post_batches(client, database, f"{source}-feedback", feedback)
            with database.engine.connect() as connection:
                query = text(
                    "SELECT count(*) FROM messages WHERE id IN :ids AND opened_at IS NOT NULL"
                ).bindparams(bindparam("ids", expanding=True))
                assert (
                    connection.execute(query, {"ids": list(message_ids.values())}).scalar_one()
                    == total
                )
        table = _raw_table(database)
        raw_signups = _raw_insert(database, table, signups)
        raw_views = _raw_insert(database, table, views)
        raw_feedback = _raw_insert(database, table, feedback)
    backend = make_url(database.url).get_backend_name()
    print(f"batch POST /events on {backend}, {args.batches} batches of {size} each")
    print(f"raw batch INSERT, signup rows:    {raw_signups:9,.0f} rows/s")
    print(f"raw batch INSERT, page-view rows: {raw_views:9,.0f} rows/s")
    print(f"raw batch INSERT, feedback rows:  {raw_feedback:9,.0f} rows/s")
    for name, (accepted, applied), raw, apply_target in (
        ("signups that enrol", signup_rates, raw_signups, None),
        ("page views", view_rates, raw_views, APPLY_TARGET),
        ("delivered/opened", feedback_rates, raw_feedback, None),
    ):
        target = f"(target >= {apply_target}x)" if apply_target else "(no target)"
        print(
            f"{name:<20} accepted {accepted:8,.0f} events/s = {accepted / raw:.3f}x raw "
            f"(target >= {ACCEPT_TARGET}x); applied {applied:8,.0f} events/s = "
            f"{applied / raw:.3f}x raw {target}"
        )


def _cpu_seconds(pids: list[int]) -> float:
    """Processor time the processes have used so far (Linux /proc), 0 for ones gone."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _command(entry).startswith("postgres")
    ]


def _command(entry: Path) -> str:
    with contextlib.suppress(OSError):
        return (entry / "comm").read_text().strip()
    return ""


def _apply_span(database: Database, source: str) -> tuple[int, float]:
    """How many of the source's events were applied, and over how many seconds."""
    with database.engine.connect() as connection:
        count, first, last = connection.execute(
            text(
                "SELECT count(*), min(applied_at), max(applied_at) FROM inbox "
                "WHERE source = :source AND applied_at IS NOT NULL"
            ),
            {"source": source},
        ).one()
    return int(count), (_moment(last) - _moment(first)).total_seconds()


async def scaleout(args: argparse.Namespace) -> None:
    """Benchmark 5: events applied per second by two `nurture worker`s / by one."""
    if args.database_url is None or make_url(args.database_url).get_backend_name() == "sqlite":
        raise SystemExit(
            "scale-out runs on PostgreSQL: give --database-url postgresql+psycopg://..."
        )
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, tmp) as database:
        env = _env(database.url, tmp)
        rates: dict[int, float] = {}
        # The API only accepts here; the workers alone apply.
        async with _nurture({**env, "NURTURE_RUN_SCHEDULER": "false"}, tmp) as (_port, client):
            for workers in (1, 2):
                run = uuid.uuid4().hex[:8]
                source = f"bench-{run}"
                for start in range(0, args.events, 1000):
                    end = min(start + 1000, args.events)
                    batch = [_signup(run, index) for index in range(start, end)]
                    (await client.post("/events", json={"events": batch})).raise_for_status()
                command = [sys.executable, "-m", "service.cli", "worker"]
                postgres_before = _cpu_seconds(_postgres_pids())
                processes = [
                    subprocess.Popen(
                        command,
                        env={**env, "PYTHONPATH": str(ROOT)},
                        cwd=tmp,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for _ in range(workers)
                ]
                try:
                    await _until_applied(database, source, args.events, limit=1800)
                    worker_cpu = _cpu_seconds([process.pid for process in processes])
                    # Backends started for the workers count from zero; they end with them.
                    postgres_cpu = _cpu_seconds(_postgres_pids()) - postgres_before
                finally:
                    for process in processes:
                        process.terminate()
                        process.wait(timeout=60)
                count, seconds = _apply_span(database, source)
                rates[workers] = count / seconds
                print(
                    f"{workers} worker(s): {rates[workers]:7,.0f} signups applied/s over "
                    f"{seconds:5.1f} s; CPU: workers {worker_cpu:5.1f} s, "
                    f"PostgreSQL {postgres_cpu:5.1f} s (2 cores here)"
                )
    ratio = rates[2] / rates[1]
    print(f"ratio 2 workers / 1: {ratio:.2f}x   (target >= {SCALE_TARGET}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="benchmark", required=True)
    one = commands.add_parser("single", help="one event per request vs a bare endpoint")
    one.add_argument("--requests", type=int, default=3000)
    one.add_argument("--connections", type=int, default=32)
    one.add_argument("--steady-rate", type=float, default=50.0, help="moderate load, req/s")
    one.add_argument("--steady-requests", type=int, default=500)
    one.add_argument("--database-url")
    many = commands.add_parser("batch", help="batches of 1,000 vs a raw batch INSERT")
    many.add_argument("--batches", type=int, default=2)
    many.add_argument("--database-url")
    wide = commands.add_parser("scaleout", help="applying with 2 workers vs 1 (PostgreSQL)")
    wide.add_argument("--events", type=int, default=3000)
    wide.add_argument("--database-url")
    args = parser.parse_args()
    run = {"single": single, "batch": batch, "scaleout": scaleout}[args.benchmark]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
