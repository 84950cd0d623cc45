"""Due work throughput: messages dispatched and timers fired by one worker.

Run: python bench/bench_dispatch.py messages [--size N] [--database-url URL] [--lateness]
                                             [--interval SECONDS]
     python bench/bench_dispatch.py timers [--size N] [--database-url URL]

`messages` (benchmark 3): N due emails (default 100,000) of the wedding timeline's stages
on the log channel, for enrolled contacts, drained by one `Scheduler` (the code path of
`nurture worker`: claim, rules, render, mark sending, send, record). Baseline: rendering
the same templates with the same contexts alone (`ContentLibrary.render`) in the same
process. Ratio: worker / render alone, target >= 0.5x. `--lateness` then offers half the
measured rate as messages falling due steadily, to a pass every `--interval` seconds
(default 0.25; a pass can only start that often), and reports sent-minus-due p50/p99,
target p99 < 1 s, "sent" being the moment the channel is handed the message.

`timers` (benchmark 4): N enrollments whose welcome timer is due (a move to the next
stage, no message), fired by one `Scheduler`'s timer step. Baseline: the engine alone
(`CompiledJourney.on_clock`) on the same enrollments. Ratio target >= 0.25x.

PostgreSQL runs in a fresh schema of the given database, dropped at the end; SQLite in a
temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col

from service.config import Settings
from service.contacts.profile import contact_view
from service.delivery.channels import Channel, DeliveryResult, LogChannel, OutgoingMessage
from service.engine.core import CompiledJourney, Status
from service.engine.render import stage_context
from service.enrollments.unit import enrollment_state
from service.runtime import Runtime, build_runtime
from service.scheduler.loop import Scheduler
from service.store.columns import new_id
from service.store.migrate import upgrade
from service.store.models import Contact, Enrollment, Message, MessageStatus
from service.tracking.links import SignedLinks, link_secret

sys.path.insert(0, str(Path(__file__).parent))
from support import private_schema

ROOT = Path(__file__).parents[1]

JOURNEY = "bride-wedding-timeline"
DISPATCH_TARGET = 0.5
LATENESS_TARGET = 1.0
TIMERS_TARGET = 0.25
SEED_CHUNK = 5000
DEFAULT_BATCH = 100  # NURTURE_SCHEDULER_BATCH's default
LATENESS_SECONDS = 20.0
LATENESS_INTERVAL = 0.25  # NURTURE_SCHEDULER_INTERVAL for the lateness run (default 1s)
WEDDING = "2028-09-16"  # far enough out that the welcome timer moves her to a wait stage


class NoonClock:
    """Wall-clock time moved to 12:00 UTC today, inside every contact's send window."""

    def __init__(self) -> None:
        real = datetime.now(UTC)
        self.offset = real.replace(hour=12, minute=0, second=0, microsecond=0) - real

    def now(self) -> datetime:
        """The shifted moment; elapsed time stays real, so lateness is real."""
        return datetime.now(UTC) + self.offset


class TimedChannel:
    """The log channel, noting when each message is handed to it (for lateness)."""

    def __init__(self, log: LogChannel, clock: NoonClock) -> None:
        self.log = log
        self.clock = clock
        self.concurrency = log.concurrency
        self.handed: dict[str, datetime] = {}

    async def ready(self) -> None:
        """As the log channel: no rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Note the moment, then write the line."""
        self.handed[message.id] = self.clock.now()
        return await self.log.send(message)


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


def _runtime(url: str, tmp: str, clock: NoonClock, batch: int) -> Runtime:
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
        scheduler_batch=batch,
        log_level="WARNING",
    )
    return build_runtime(settings, clock)


def _sending_stages(compiled: CompiledJourney) -> list[tuple[str, str, str]]:
    """(stage, channel, template) of every email stage, so the run mixes templates."""
    stages: list[tuple[str, str, str]] = []
    for name, stage in compiled.journey.stages.items():
        send = stage.send
        if send is not None and send.channel == "email":
            stages.append((name, send.channel, send.template))
    return stages


def _seed(
    runtime: Runtime, size: int, *, at: datetime, messages: bool, spread: float = 0.0
) -> list[tuple[Contact, Enrollment, Message | None]]:
    """Contacts enrolled in the timeline, each with one due message or one due timer."""
    compiled = runtime.journeys.current_of(JOURNEY)
    stages = _sending_stages(compiled)
    rows: list[tuple[Contact, Enrollment, Message | None]] = []
    run = new_id()[:8]
    for index in range(size):
        contact = Contact(
            email=f"bride{index}-{run}@example.com",
            timezone="UTC",
            persona="bride",
            attributes={"first_name": "Ava", "partner_name": "Noah", "wedding_date": WEDDING},
            created_at=at,
            updated_at=at,
        )
        stage, channel, template = stages[index % len(stages)] if messages else stages[0]
        entered = at - timedelta(days=4)
        enrollment = Enrollment(
            contact_id=contact.id,
            journey_id=JOURNEY,
            version=compiled.version,
            stage=stage,
            status=Status.ACTIVE,
            entered_at=entered,
            started_at=entered,
            next_due_at=None if messages else at - timedelta(minutes=1),
        )
        message = None
        if messages:
            message = Message(
                idempotency_key=f"{enrollment.id}:{stage}:1",
                contact_id=contact.id,
                enrollment_id=enrollment.id,
                journey_id=JOURNEY,
                version=compiled.version,
                stage=stage,
                channel=channel,
                template=template,
                due_at=at + timedelta(seconds=spread * index / size),
                status=MessageStatus.PENDING,
                created_at=at,
            )
        rows.append((contact, enrollment, message))
    engine = runtime.db.engine
    for start in range(0, size, SEED_CHUNK):
        chunk = rows[start : start + SEED_CHUNK]
        with engine.begin() as connection:
            for table, index in (("contacts", 0), ("enrollments", 1), ("messages", 2)):
                models = (row[index] for row in chunk)
                values = [model.model_dump() for model in models if model is not None]
                if values:
                    connection.execute(SQLModel.metadata.tables[table].insert(), values)
    return rows


def _render_alone(runtime: Runtime, rows: list[Any], now: datetime) -> float:
    """Messages/s for rendering the same templates with the same contexts, nothing else."""
    compiled = runtime.journeys.current_of(JOURNEY)
    secret = link_secret(runtime.settings.secret_key)
    contexts = []
    for contact, _enrollment, message in rows:
        links = SignedLinks(
            base_url=runtime.settings.public_base_url,
            secret=secret,
            message_id=message.id,
            contact_id=contact.id,
        )
        context = stage_context(
            compiled,
            message.stage,
            contact=contact_view(contact),
            event=None,
            links=links,
            today=now.date(),
        )
        contexts.append((message.channel, message.template, context))
    start = time.perf_counter()
    for channel, template, context in contexts:
        runtime.content.render(channel, template, context)
    return len(contexts) / (time.perf_counter() - start)


def _count(runtime: Runtime, status: str) -> int:
    with runtime.db.engine.connect() as connection:
        query = select(func.count()).select_from(Message).where(col(Message.status) == status)
        return int(connection.execute(query).scalar_one())


async def _drain(scheduler: Scheduler, clock: NoonClock, size: int) -> tuple[float, int]:
    """Seconds one scheduler takes to send `size` due messages; how many passes it ran."""
    start = time.perf_counter()
    sent = passes = 0
    while sent < size:
        report = await scheduler.run_once(clock.now())
        passes += 1
        if report.failed or report.skipped:
            raise SystemExit(f"pass {passes}: {report}")
        if not report.sent:
            raise SystemExit(f"only {sent} of {size} sent")
        sent += report.sent
    return time.perf_counter() - start, passes


async def _lateness(
    runtime: Runtime, clock: NoonClock, rate: float, interval: float
) -> tuple[float, float, int]:
    """Offer `rate` messages/s falling due steadily to passes every `interval` seconds, as
    the interval job runs them; sent-minus-due p50, p99 (s), count."""
    size = int(rate * LATENESS_SECONDS)
    start = clock.now()
    rows = _seed(runtime, size, at=start, messages=True, spread=LATENESS_SECONDS)
    due = {message.id: message.due_at for _c, _e, message in rows if message is not None}
    channel = TimedChannel(LogChannel(runtime.settings.outbox_path), clock)
    channels: dict[str, Channel] = {"email": channel, "sms": channel, "webhook": channel}
    scheduler = Scheduler(runtime, channels)
    deadline = time.perf_counter() + LATENESS_SECONDS * 3
    while len(channel.handed) < size and time.perf_counter() < deadline:
        began = time.perf_counter()
        await scheduler.run_once(clock.now())
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
    lags = sorted((channel.handed[i] - due[i]).total_seconds() for i in channel.handed)
    if not lags:
        raise SystemExit("nothing was sent")
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(0.99 * len(lags)))], len(lags)


async def messages(args: argparse.Namespace) -> None:
    """Benchmark 3: due messages drained by one worker / rendering alone."""
    clock = NoonClock()
    with tempfile.TemporaryDirectory() as tmp, _database_url(args.database_url, tmp) as url:
        runtime = _runtime(url, tmp, clock, args.batch)
        try:
            now = clock.now()
            seed_start = time.perf_counter()
            rows = _seed(runtime, args.size, at=now - timedelta(minutes=1), messages=True)
            seeded = time.perf_counter() - seed_start
            cpu = time.process_time()
            render = _render_alone(runtime, rows, now)
            render_cpu = time.process_time() - cpu
            scheduler = Scheduler(runtime)
            cpu = time.process_time()
            seconds, passes = await _drain(scheduler, clock, args.size)
            worker_cpu = time.process_time() - cpu
            assert _count(runtime, MessageStatus.SENT) == args.size
            lines = sum(1 for _ in (Path(tmp) / "outbox.jsonl").open(encoding="utf-8"))
            assert lines == args.size, f"{lines} lines in the outbox log for {args.size} sends"
            rate = args.size / seconds
            lateness = (
                await _lateness(runtime, clock, rate / 2, args.interval) if args.lateness else None
            )
        finally:
            runtime.close()
    backend = make_url(url).get_backend_name()
    print(f"dispatch on {backend}: {args.size:,} due emails, batch {args.batch}, log channel")
    print(f"seeded in {seeded:.1f}s")
    print(f"render alone (ContentLibrary):  {render:9,.0f} messages/s")
    print(f"one worker (Scheduler):         {rate:9,.0f} messages/s   ({passes} passes)")
    print(f"ratio worker / render alone: {rate / render:.3f}x   (target >= {DISPATCH_TARGET}x)")
    print(_cpu_line("render alone", render_cpu, "worker", worker_cpu, args.size))
    if lateness is not None:
        p50, p99, count = lateness
        print(
            f"lateness at {rate / 2:,.0f} messages/s offered, a pass every {args.interval}s "
            f"({count:,} sent): "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms   (target p99 < {LATENESS_TARGET}s)"
        )


def _cpu_line(base: str, base_cpu: float, measured: str, measured_cpu: float, size: int) -> str:
    """This process's CPU per item in each phase: a check on the wall-clock ratio when other
    load shares the machine (the database server's own work is not in it)."""
    per = 1e6 / size
    return (
        f"process CPU per item: {base} {base_cpu * per:,.0f} us, {measured} "
        f"{measured_cpu * per:,.0f} us; CPU ratio {base_cpu / measured_cpu:.3f}x"
    )


def _engine_alone(runtime: Runtime, rows: list[Any], now: datetime) -> float:
    """Decisions/s for the engine alone on the same enrollments' due timers."""
    compiled = runtime.journeys.current_of(JOURNEY)
    cases = [(enrollment_state(e), contact_view(c)) for c, e, _m in rows]
    start = time.perf_counter()
    for state, view in cases:
        compiled.on_clock(state, view, now=now)
    return len(cases) / (time.perf_counter() - start)


def _moved(runtime: Runtime) -> int:
    with runtime.db.engine.connect() as connection:
        moved = col(Enrollment.stage) != "welcome"
        query = select(func.count()).select_from(Enrollment).where(moved)
        return int(connection.execute(query).scalar_one())


async def timers(args: argparse.Namespace) -> None:
    """Benchmark 4: due timers fired by one worker / the engine alone."""
    clock = NoonClock()
    with tempfile.TemporaryDirectory() as tmp, _database_url(args.database_url, tmp) as url:
        runtime = _runtime(url, tmp, clock, args.batch)
        try:
            now = clock.now()
            seed_start = time.perf_counter()
            rows = _seed(runtime, args.size, at=now, messages=False)
            seeded = time.perf_counter() - seed_start
            cpu = time.process_time()
            engine = _engine_alone(runtime, rows, now)
            engine_cpu = time.process_time() - cpu
            scheduler = Scheduler(runtime)
            cpu = time.process_time()
            start = time.perf_counter()
            fired = passes = 0
            while fired < args.size:
                report = await scheduler.run_once(clock.now())
                passes += 1
                if not report.timers:
                    raise SystemExit(f"only {fired} of {args.size} timers fired")
                fired += report.timers
            seconds = time.perf_counter() - start
            worker_cpu = time.process_time() - cpu
            assert _moved(runtime) == args.size
        finally:
            runtime.close()
    rate = args.size / seconds
    backend = make_url(url).get_backend_name()
    print(f"timers on {backend}: {args.size:,} due welcome timers, batch {args.batch}")
    print(f"seeded in {seeded:.1f}s")
    print(f"engine alone (on_clock):        {engine:9,.0f} timers/s")
    print(f"one worker (Scheduler):         {rate:9,.0f} timers/s   ({passes} passes)")
    print(f"ratio worker / engine alone: {rate / engine:.3f}x   (target >= {TIMERS_TARGET}x)")
    print(_cpu_line("engine alone", engine_cpu, "worker", worker_cpu, args.size))


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="benchmark", required=True)
    for name, help_text in (
        ("messages", "due messages sent by one worker vs rendering alone"),
        ("timers", "due timers fired by one worker vs the engine alone"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--size", type=int, default=100_000)
        command.add_argument("--batch", type=int, default=DEFAULT_BATCH)
        command.add_argument("--database-url")
        if name == "messages":
            command.add_argument("--lateness", action="store_true")
            command.add_argument("--interval", type=float, default=LATENESS_INTERVAL)
    args = parser.parse_args()
    asyncio.run(messages(args) if args.benchmark == "messages" else timers(args))


if __name__ == "__main__":
    main()
