"""The database every service test runs against: SQLite always, PostgreSQL when
NURTURE_TEST_DATABASE_URL is set (and then it must be reachable: no silent skips)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from service.enrollments.acceptor import Acceptor
from service.runtime import Runtime
from service.store.migrate import upgrade
from tests.factories import (
    FakeClock,
    Harness,
    accepting,
    make_settings,
    open_runtime,
    running_app,
)

PG_URL = os.environ.get("NURTURE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "nurture.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[tuple[str, Engine]]:
    """A private, freshly migrated schema for this test run; dropped at the end."""
    assert PG_URL is not None
    schema = f"nurture_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        pytest.fail(f"NURTURE_TEST_DATABASE_URL is set but unreachable: {exc}", pytrace=False)
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    upgrade(rendered)
    try:
        yield rendered, create_engine(rendered)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "nurture.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url, engine = request.getfixturevalue("postgres_schema")
    _truncate(engine)
    yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def harness(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    """The app with its lifespan running, no API keys, scheduler driven by the test."""
    async with running_app(make_settings(database_url, tmp_path), clock) as running:
        yield running


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    """The service without HTTP, on the fixture journeys and the fake clock."""
    with open_runtime(make_settings(database_url, tmp_path), clock) as built:
        yield built


@pytest.fixture
def acceptor(runtime: Runtime) -> Iterator[Acceptor]:
    """The inbox writer of `runtime`, for driving the edges that store events without HTTP."""
    with accepting(runtime) as running:
        yield running
