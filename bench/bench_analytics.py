"""Analytics query times over 1,000,000 transitions, 1,000,000 messages and 200,000 contacts.

Run: python bench/bench_analytics.py [--database-url URL] [--contacts 200000] [--repeat 3]

Without --database-url the rows go to a SQLite file; with a PostgreSQL URL to a private schema,
dropped after. Rows are made in the database from a numbers table (insert-from-select): per
contact one enrollment of the sample wedding timeline (10% held out) with five moves and five
messages; 12% reach the goal with an order, 8% exit; 30% of messages are opened. Each endpoint's
figures are computed through the same functions the API answers with, and timed (best of
--repeat) against the 1 s target and against a baseline measured in the same run: COUNT(*) over
the transitions and the messages. The rows are loaded at the schema before the analytics
migrations, which then run and backfill the facts the figures read (each message's feedback
times and next goal; each order's credit; each stage visit's end, next stage and length; each
enrollment's first goal and path), as they would on an existing database; their time is printed
too.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from support import private_schema

from service.analytics import report
from service.analytics.sql import Scope
from service.engine.loader import JourneySource, load_catalog
from service.store.migrate import alembic_config, upgrade

ROOT = Path(__file__).parents[1]
BEFORE = "0006"  # the schema the rows are loaded at, before the analytics migration
JOURNEY = "bride-wedding-timeline"
TARGET_S = 1.0
MOVES = 5  # per enrollment, and as many messages


def _time(dialect: str, seconds: str) -> str:
    """SQL for START plus `seconds` seconds, as each database stores times."""
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '2026-01-01 00:00:00+00' + ({seconds}) * INTERVAL '1 second')"
    return f"strftime('%Y-%m-%d %H:%M:%f', '2026-01-01 00:00:00', '+' || ({seconds}) || ' seconds')"


def _fill(engine: Engine, contacts: int, source: JourneySource) -> None:
    dialect = engine.dialect.name
    stages, version = list(source.journey.stages), source.version
    rows = contacts * MOVES
    stage = "CASE k " + " ".join(
        f"WHEN {k} THEN '{stages[(k - 1) % len(stages)]}'" for k in range(1, MOVES + 1)
    )
    stage += " END"
    prior = "CASE k " + " ".join(
        f"WHEN {k} THEN '{stages[(k - 2) % len(stages)]}'" for k in range(2, MOVES + 1)
    )
    prior += " END"
    # e: the enrollment (and contact) number; k: its k-th move and message.
    numbered = f"SELECT n, (n - 1) / {MOVES} + 1 AS e, (n - 1) % {MOVES} + 1 AS k FROM numbers"
    outcome = (
        "CASE WHEN e % 100 < 12 THEN 'converted' WHEN e % 100 < 20 THEN 'exited' ELSE 'active' END"
    )
    started = _time(dialect, "e * 60")
    statements = [
        f"""INSERT INTO contacts (id, attributes, history_seq, created_at, updated_at)
        SELECT 'c' || n, '{{}}', {MOVES}, {_time(dialect, "n * 60")}, {_time(dialect, "n * 60")}
        FROM numbers WHERE n <= {contacts}""",
        f"""INSERT INTO enrollments (id, contact_id, journey_id, version, stage, status, visit,
        holdout, entered_at, started_at, ended_at)
        SELECT 'e' || e, 'c' || e, '{JOURNEY}', '{version}', '{stages[(MOVES - 1) % len(stages)]}',
        {outcome}, {MOVES}, e % 10 = 0, {started}, {started},
        CASE WHEN e % 100 < 20 THEN {_time(dialect, f"e * 60 + {MOVES} * 3600")} END
        FROM ({numbered}) AS x WHERE k = 1""",
        f"""INSERT INTO transitions (id, enrollment_id, contact_id, journey_id, version,
        from_stage, to_stage, trigger, at, seq)
        SELECT 't' || n, 'e' || e, 'c' || e, '{JOURNEY}', '{version}',
        CASE WHEN k = 1 THEN NULL WHEN k = {MOVES} AND e % 100 < 20 THEN {prior} ELSE {prior} END,
        CASE WHEN k = {MOVES} AND e % 100 < 20 THEN {prior} ELSE {stage} END,
        CASE WHEN k = 1 THEN 'entry:web.form_submitted'
             WHEN k = {MOVES} AND e % 100 < 12 THEN 'goal:order.completed'
             WHEN k = {MOVES} AND e % 100 < 20 THEN 'exit:email.unsubscribed'
             ELSE 'after:' || k END,
        {_time(dialect, "e * 60 + (k - 1) * 3600")}, k
        FROM ({numbered}) AS x WHERE e <= {contacts}""",
        f"""INSERT INTO messages (id, idempotency_key, contact_id, enrollment_id, journey_id,
        version, stage, visit, channel, template, due_at, status, attempts, sent_at, created_at)
        SELECT 'm' || n, 'm' || n, 'c' || e, 'e' || e, '{JOURNEY}', '{version}', {stage}, 1,
        'email', 'bride/' || {stage}, {_time(dialect, "e * 60 + (k - 1) * 3600")},
        CASE WHEN e % 10 = 0 THEN 'held' ELSE 'sent' END, 1,
        {_time(dialect, "e * 60 + (k - 1) * 3600 + 1")}, {_time(dialect, "e * 60 + (k - 1) * 3600")}
        FROM ({numbered}) AS x WHERE e <= {contacts}""",
        f"""INSERT INTO events (id, source, event_id, type, time, contact_id, properties,
        received_at, message_id, journey_id, stage)
        SELECT 'o' || e, 'bench', 'o' || e, 'order.completed',
        {_time(dialect, f"e * 60 + ({MOVES} - 1) * 3600")}, 'c' || e, '{{"revenue": 40}}',
        {_time(dialect, f"e * 60 + ({MOVES} - 1) * 3600")}, NULL, NULL, NULL
        FROM ({numbered}) AS x WHERE k = 1 AND e % 100 < 12 AND e <= {contacts}""",
        f"""INSERT INTO events (id, source, event_id, type, time, contact_id, properties,
        received_at, message_id, journey_id, stage)
        SELECT 'f' || n, 'bench', 'f' || n, 'email.opened',
        {_time(dialect, "e * 60 + (k - 1) * 3600 + 600")}, 'c' || e, '{{}}',
        {_time(dialect, "e * 60")}, 'm' || n, '{JOURNEY}', {stage}
        FROM ({numbered}) AS x WHERE n % 10 < 3 AND e <= {contacts}""",
    ]
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE numbers (n INTEGER PRIMARY KEY)"))
        if dialect == "postgresql":
            connection.execute(text(f"INSERT INTO numbers SELECT generate_series(1, {rows})"))
        else:
            connection.execute(
                text(
                    f"""INSERT INTO numbers WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL
                    SELECT n + 1 FROM r WHERE n < {rows}) SELECT n FROM r"""
                )
            )
        connection.execute(
            text(
                """INSERT INTO journey_versions (id, journey_id, version, source, path, created_at,
                current) VALUES ('v1', :journey, :version, :source, :path, :now, TRUE)"""
            ),
            {
                "journey": JOURNEY,
                "version": version,
                "source": source.text,
                "path": source.path,
                "now": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )
        for statement in statements:
            connection.execute(text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))


@contextlib.contextmanager
def _database(given: str | None, folder: Path) -> Iterator[str]:
    """An empty database at schema BEFORE: a SQLite file, or a private PostgreSQL schema."""
    if given is None:
        url = f"sqlite:///{folder}/bench.db"
        command.upgrade(alembic_config(url), BEFORE)
        yield url
        return
    with private_schema(given, "bench_analytics") as url:
        command.upgrade(alembic_config(url), BEFORE)
        yield url


def _best(repeat: int, work: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog([ROOT / "journeys"])
    compiled = catalog.journeys[JOURNEY]
    stages = list(compiled.journey.stages)
    with tempfile.TemporaryDirectory() as tmp, _database(args.database_url, Path(tmp)) as url:
        engine = create_engine(url)
        start = time.perf_counter()
        _fill(engine, args.contacts, catalog.sources[JOURNEY])
        print(
            f"{engine.dialect.name}: {args.contacts:,} contacts, {args.contacts * MOVES:,} "
            f"transitions and messages loaded in {time.perf_counter() - start:.0f} s"
        )
        start = time.perf_counter()
        upgrade(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(
                text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
            )
        print(f"analytics migrations with their backfills: {time.perf_counter() - start:.0f} s")
        scope = Scope(JOURNEY, None, None, None, compiled.journey.attribution.window)
        with Session(engine) as session:

            def baseline() -> None:
                session.execute(text("SELECT COUNT(*) FROM transitions")).one()
                session.execute(text("SELECT COUNT(*) FROM messages")).one()

            base = _best(args.repeat, baseline)
            print(f"baseline COUNT(*) of transitions and messages: {base * 1000:.0f} ms")
            for figure in ("analytics", "stages", "messages", "channels", "paths", "lift"):
                seconds = _best(
                    args.repeat,
                    lambda f=figure: report.answer(session, f, scope, stages),  # type: ignore[misc]
                )
                verdict = "ok" if seconds < TARGET_S else "over target"
                print(
                    f"{figure:10} {seconds * 1000:7.0f} ms  {seconds / base:6.1f}x baseline  "
                    f"({verdict}, target {TARGET_S * 1000:.0f} ms)"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
