"""Median and 90th percentile computed in the database with window functions, so no rows
are read into Python: the median averages the middle one or two values, the 90th percentile
is the nearest rank (the ceil(0.9 n)-th value)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Subquery, case, func, select


def percentiles(values: Any, *, value: str, by: list[str]) -> Subquery:
    """Per group of `by`: the median and 90th percentile of `value` (NULLs left out)."""
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
    middle = rank.in_([(n + 1) // 2, (n + 2) // 2])
    return (
        select(
            *(ranked.c[name] for name in by),
            func.avg(case((middle, ranked.c.value))).label("median"),
            func.max(case((rank == (9 * n + 9) // 10, ranked.c.value))).label("p90"),
        )
        .group_by(*(ranked.c[name] for name in by))
        .subquery("percentiles")
    )
