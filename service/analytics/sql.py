"""The few SQL expressions SQLite and PostgreSQL spell differently, each compiled per dialect
here and nowhere else, and the filters every figure shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, func, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
        """Rows of this journey (and version, when one is chosen)."""
        condition = model.journey_id == self.journey_id
        if self.version is not None:
            condition = and_(condition, model.version == self.version)
        return condition

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
