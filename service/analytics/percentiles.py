"""Median and 90th percentile computed in the database, so no rows are read into Python: the
median averages the middle one or two values, the 90th percentile is the nearest rank (the
ceil(0.9 n)-th value). PostgreSQL picks them from each group's values sorted into an array
(fed in order by an index where one fits); SQLite ranks them with window functions."""

from __future__ import annotations

from collections.abc import Mapping
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


def counted_percentiles(
    session: Session, values: Any, *, value: str, by: str, counts: Mapping[str, int]
) -> dict[str, tuple[float, float]]:
    """Per group of `by` (one column) with its number of non-NULL values already counted in
    the same transaction: the median and 90th percentile of `value`. SQLite reads back only
    the values at the ranks those counts pick, sorted once and with no second pass to count
    them."""
    if session.get_bind().dialect.name == "postgresql":
        spread = _sorted(values, value=value, by=[by])
        return {group: (median, p90) for group, median, p90 in session.execute(select(spread))}
    picks = {group: (*_middle(n), _ninetieth(n)) for group, n in counts.items() if n}
    if not picks:
        return {}
    column, group_column = values.c[value], values.c[by]
    ranked = (
        select(
            group_column.label("group"),
            column.label("value"),
            func.row_number().over(partition_by=group_column, order_by=column).label("rank"),
        )
        .where(column.is_not(None))
        .subquery("ranked")
    )
    wanted = sorted({rank for ranks in picks.values() for rank in ranks})
    found = {
        (group, rank): found_value
        for group, found_value, rank in session.execute(
            select(ranked).where(ranked.c.rank.in_(wanted))
        )
    }
    return {
        group: ((found[group, low] + found[group, high]) / 2, found[group, p90])
        for group, (low, high, p90) in picks.items()
    }


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
    # Ranks and counts over one window (the count's frame the whole group), so the values are
    # sorted once; only the picked ranks reach the grouping.
    window = {"partition_by": groups or None, "order_by": column}
    ranked = (
        select(
            *groups,
            column.label("value"),
            func.row_number().over(**window).label("rank"),
            func.count().over(**window, rows=(None, None)).label("n"),
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
        .where(rank.in_([*_middle(n), _ninetieth(n)]))
        .group_by(*(ranked.c[name] for name in by))
        .subquery("percentiles")
    )
