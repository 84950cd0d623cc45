"""Median and 90th percentile computed in the database, so no rows are read into Python: the
median averages the middle one or two values, the 90th percentile is the nearest rank (the
ceil(0.9 n)-th value). PostgreSQL picks them from each group's values sorted into an array
(fed in order by an index where one fits); SQLite ranks them with window functions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Subquery, case, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session


def _middle(n: Any) -> tuple[Any, Any]:
    """The ranks (from 1) of the one or two middle values of n."""
    return (n + 1) // 2, (n + 2) // 2


def _ninetieth(n: Any) -> Any:
    """The nearest rank of the 90th percentile of n values, ceil(0.9 n), in whole numbers."""
    return (9 * n + 9) // 10


def percentiles(session: Session, values: Any, *, value: str, by: list[str]) -> Subquery:
    """Per group of `by`: the median and 90th percentile of `value` (NULLs left out)."""
    if session.get_bind().dialect.name == "postgresql":
        return _sorted(values, value=value, by=by)
    return _ranked(values, value=value, by=by)


def _sorted(values: Any, *, value: str, by: list[str]) -> Subquery:
    column = values.c[value]
    groups = [values.c[name] for name in by]
    ordered = func.array_agg(aggregate_order_by(column, column), type_=ARRAY(Float()))
    n = func.count(column)
    low, high = _middle(n)
    return (
        select(
            *groups,
            ((ordered[low] + ordered[high]) / 2).label("median"),
            ordered[_ninetieth(n)].label("p90"),
        )
        .where(column.is_not(None))
        .group_by(*groups)
        .subquery("percentiles")
    )


def _ranked(values: Any, *, value: str, by: list[str]) -> Subquery:
    column = values.c[value]
    groups = [values.c[name] for name in by]
    ranked = (
        select(
            *groups,
            column.label("value"),
            func.row_number().over(partition_by=groups or None, order_by=column).label("rank"),
            func.count().over(partition_by=groups or None).label("n"),
        )
        .where(column.is_not(None))
        .subquery("ranked")
    )
    rank, n = ranked.c.rank, ranked.c.n
    return (
        select(
            *(ranked.c[name] for name in by),
            func.avg(case((rank.in_(_middle(n)), ranked.c.value))).label("median"),
            func.max(case((rank == _ninetieth(n), ranked.c.value))).label("p90"),
        )
        .group_by(*(ranked.c[name] for name in by))
        .subquery("percentiles")
    )
