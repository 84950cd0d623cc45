"""Engines and sessions: SQLite tuned for one writer at a time, PostgreSQL pooled."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import Table, bindparam, event, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, SQLModel, create_engine

logger = logging.getLogger(__name__)
T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Reads of a large file go through the OS page cache instead of a copy per connection, so
# the dashboard's range scans over a journey's history stay fast.
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
WRITE_ATTEMPTS = 3


def is_sqlite(url: str) -> bool:
    """Whether the URL points at SQLite, which needs its own locking and pragmas."""
    return make_url(url).get_backend_name() == "sqlite"


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and foreign keys; writers take the lock at BEGIN IMMEDIATE.

    The driver's own transaction handling is switched off so that SQLAlchemy's BEGIN is
    the one that counts: a read-then-write transaction that started deferred could fail
    to upgrade its lock, while an immediate one waits its turn.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def insert_ignoring_conflicts(
    session: Session, model: type[SQLModel], values: dict[str, Any]
) -> bool:
    """Insert a row unless a unique key already holds it; True when it was inserted."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = model.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(**values).on_conflict_do_nothing()
    result = session.execute(statement.returning(table.c.id))
    return result.first() is not None


def dump_json(value: Any) -> str:
    """JSON columns written by orjson, several times faster than the standard library on the
    inbox's and events' bodies; read back by the standard library, which keeps integers
    wider than 64 bits exact (orjson would refuse them)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # such an integer: written as the standard library writes it
        return json.dumps(value)


@cache
def _insert(table: Table, dialect: str, ignore_conflicts: bool) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table)
    return statement.on_conflict_do_nothing() if ignore_conflicts else statement


def insert_many(
    session: Session,
    model: type[SQLModel],
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Insert rows of one shape with one statement built once, which the driver sends as
    multi-row batches: a thousand rows cost a few round trips, not a thousand."""
    if rows:
        table = model.__table__  # type: ignore[attr-defined]
        statement = _insert(table, session.get_bind().dialect.name, ignore_conflicts)
        session.execute(statement, list(rows))


@cache
def _update(table: Table, columns: tuple[str, ...]) -> Any:
    return (
        update(table)
        .where(table.c.id == bindparam("_id", type_=table.c.id.type))
        .values({name: bindparam(f"_{name}", type_=table.c[name].type) for name in columns})
    )


def update_many(session: Session, model: type[SQLModel], rows: Sequence[Mapping[str, Any]]) -> None:
    """Set the same columns of many rows by id, in the order given, with one statement built
    once (an identifier one row frees may be taken by a later row)."""
    if rows:
        table = model.__table__  # type: ignore[attr-defined]
        statement = _update(table, tuple(name for name in rows[0] if name != "id"))
        session.execute(
            statement, [{f"_{name}": value for name, value in row.items()} for row in rows]
        )


def create_db_engine(url: str) -> Engine:
    """An engine for the URL with the settings each backend needs."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=dump_json,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=dump_json
    )


class FairLock:
    """First come, first served. SQLite's busy handler sleeps and retries, so a writer that
    just let go can take the lock again before one that has long waited; a process's
    writers queue here instead and take SQLite's lock one after another. A thread already
    holding it passes (SQLite's own lock then decides, as without this one)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: deque[threading.Lock] = deque()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._guard:
            if self._owner in (None, me):
                self._owner = me
                self._depth += 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._queue.append(turn)
        turn.acquire()  # released by the holder handing over
        with self._guard:
            self._owner, self._depth = me, 1

    def __exit__(self, *_exc: object) -> None:
        with self._guard:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._queue:
                self._owner = -1  # handed over: nobody else may take it in between
                self._queue.popleft().release()


class Database:
    """One database: read sessions, and write transactions serialised where needed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self.sqlite = is_sqlite(url)
        self._write_engine = (
            self.engine.execution_options(sqlite_immediate=True) if self.sqlite else self.engine
        )
        self._writers = FairLock() if self.sqlite else None

    def session(self) -> Session:
        """A session for reads (a deferred transaction on SQLite)."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any error."""
        with (
            self._writers or nullcontext(),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def write_retrying(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a write transaction, again if a concurrent writer won a unique race."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write() as session:
                    return work(session)
            except (IntegrityError, OperationalError):
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                logger.info("write conflict, retrying (attempt %d)", attempt + 2)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
