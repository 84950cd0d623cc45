"""Processes that migrate one new database at the same moment (`serve` and `worker` started
together) all succeed: one migrates, the others wait for it and find the schema done."""

from __future__ import annotations

import multiprocessing
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.store.migrate import alembic_config
from tests.conftest import BACKENDS, PG_URL

PROCESSES = 3
ROUNDS = 4


def _migrate(urls: list[str], barrier: Any, results: Any) -> None:
    """One process: for each new database, wait until all are ready, then upgrade at once."""
    from service.store.migrate import upgrade

    for url in urls:
        try:
            barrier.wait(timeout=60)
            results.put((url, "ok", upgrade(url)))
        except Exception:
            results.put((url, "error", traceback.format_exc(limit=3)))


def _race(urls: list[str]) -> None:
    """Every process upgrades every database, all processes at the same moment."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_migrate, args=(urls, barrier, results)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=120) for _ in range(PROCESSES * len(urls)))
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == sorted((url, "ok", 0) for url in urls for _ in workers), outcomes
    assert all(_at_head(url) for url in urls)


def _at_head(url: str) -> bool:
    engine = create_engine(url)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return current == head


@pytest.fixture(params=BACKENDS)
def new_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """URLs of new, empty databases: SQLite files, or PostgreSQL schemas (dropped after)."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path}/new-{n}.db" for n in range(ROUNDS)]
        return
    assert PG_URL is not None
    admin = create_engine(PG_URL)
    names = [f"nurture_race_{uuid.uuid4().hex[:8]}" for _ in range(ROUNDS)]
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    urls = [
        make_url(PG_URL)
        .update_query_dict({"options": f"-csearch_path={name}"})
        .render_as_string(hide_password=False)
        for name in names
    ]
    try:
        yield urls
    finally:
        with admin.begin() as connection:
            for name in names:
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def test_concurrent_upgrades_of_a_new_database(new_databases: list[str]) -> None:
    _race(new_databases)
