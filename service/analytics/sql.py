"""The few SQL expressions SQLite and PostgreSQL spell differently, each compiled per dialect
here and nowhere else, and the filters every figure shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVarTuple

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    Table,
    and_,
    column,
    func,
    select,
    text,
)
from sqlalchemy import table as lightweight_table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

Row = TypeVarTuple("Row")
GOAL = "(goal)"
EXIT = "(exit)"
COMPLETED = "(completed)"


@dataclass(frozen=True)
class Scope:
    """One journey's figures: which version, which range (half-open [since, until)) and the
    attribution window of the version read."""

    journey_id: str
    version: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    window: timedelta = timedelta(days=5)

    def of(self, model: Any) -> ColumnElement[bool]:
        """Rows of this journey (and version, when one is chosen). Across versions over a
        range, SQLite is told the versions its rows carry (where an index leads by journey
        and version), so it seeks each version's rows in the range instead of reading every
        row of the journey."""
        condition = model.journey_id == self.journey_id
        if self.version is not None:
            return and_(condition, model.version == self.version)
        table = model.__table__
        if self.ranged and _led_by_version(table):
            return and_(
                condition, for_sqlite(model.version.in_(versions(table.name, self.journey_id)))
            )
        return condition

    @property
    def ranged(self) -> bool:
        """Whether the range has a bound (else it covers the whole history)."""
        return self.since is not None or self.until is not None

    def during(self, column: Any) -> ColumnElement[bool]:
        """A time inside the range; every time when the range is open."""
        parts = [column.is_not(None)]
        if self.since is not None:
            parts.append(column >= self.since)
        if self.until is not None:
            parts.append(column < self.until)
        return and_(*parts)


def tune(session: Session) -> None:
    """Settings for one analytics read, on PostgreSQL: no JIT (its compile time costs more
    than these queries run) and room to sort and hash in memory. This transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL random_page_cost = 1.1"))


def _led_by_version(table: Table) -> bool:
    """Whether one of the table's indexes leads by journey and then version."""
    return any(
        [c.name for c in index.columns][:2] == ["journey_id", "version"] for index in table.indexes
    )


@lru_cache(maxsize=256)
def versions(table_name: str, journey_id: str) -> Select[str]:
    """The versions a journey's rows in a table carry, each found by one seek of an index
    that leads by journey and version (the next one above the last, until there is none).
    Read through a two-column view of the table (aliasing the table itself would proxy its
    every column) and built once per table and journey: statements are immutable."""
    first = lightweight_table(table_name, column("journey_id"), column("version")).alias()
    found = (
        select(func.min(first.c.version).label("version"))
        .where(first.c.journey_id == journey_id)
        .cte(f"{table_name}_versions", recursive=True, nesting=True)
    )
    later = lightweight_table(table_name, column("journey_id"), column("version")).alias()
    following = (
        select(func.min(later.c.version))
        .where(later.c.journey_id == journey_id, later.c.version > found.c.version)
        .scalar_subquery()
    )
    found = found.union_all(select(following).where(found.c.version.is_not(None)))
    return select(found.c.version)


def read_first(statement: Select[*Row], name: str) -> CTE:
    """A statement's rows read on their own before the query that ranks or sorts them: SQLite,
    with no statistics to go by, would otherwise walk a whole history in an index's order to
    spare the sort rather than seek the few rows of a range (PostgreSQL plans it as before)."""
    return statement.cte(name).prefix_with("MATERIALIZED", dialect="sqlite")


class for_sqlite(FunctionElement[bool]):
    """A condition the others already imply, given to SQLite's planner alone (which has no
    statistics to find the better plan by); PostgreSQL plans better without it. Untyped, so
    SQLite is given the condition itself, not a comparison of it with 1 that no index serves."""

    inherit_cache = True


@compiles(for_sqlite, "sqlite")
def _for_sqlite_sqlite(element: for_sqlite, compiler: SQLCompiler, **kw: Any) -> str:
    (condition,) = element.clauses
    return str(compiler.process(condition, **kw))


@compiles(for_sqlite)
def _for_sqlite_postgresql(element: for_sqlite, compiler: SQLCompiler, **kw: Any) -> str:
    return "true"


class seconds_between(FunctionElement[float]):
    """Seconds from the second time to the first."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between)
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def count_if(condition: ColumnElement[bool]) -> Any:
    """How many rows meet a condition (0, never NULL): an aggregate's FILTER, which both
    databases evaluate more cheaply than a sum over CASE."""
    return func.count().filter(condition)
