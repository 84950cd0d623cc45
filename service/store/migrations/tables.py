"""How the migrations spell a table, frozen here so that later model changes never alter them.

Every table has a 36-character `id` primary key; constraints and indexes carry the names
the models' naming convention gives them, so later migrations can address them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

T = TypeVar("T")


def column(name: str, kind: sa.types.TypeEngine[T], *, nullable: bool = False) -> sa.Column[T]:
    """A column, NOT NULL unless said otherwise."""
    return sa.Column(name, kind, nullable=nullable)


def string(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    """A string column of at most `length` characters."""
    return column(name, sa.String(length=length), nullable=nullable)


def key(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """A column holding a row id (see `service.store.models.new_id`)."""
    return string(name, 36, nullable=nullable)


def moment(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    """A timezone-aware timestamp column."""
    return column(name, sa.DateTime(timezone=True), nullable=nullable)


def create_table(
    name: str,
    *columns: SchemaItem,
    references: Mapping[str, str] | None = None,
    unique: Sequence[Sequence[str]] = (),
    indexed: Sequence[str] = (),
    indexes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Create a table keyed by `id`, with its cascading references (column: referred table),
    unique column groups, one-column indexes and named indexes, the indexes in name order."""
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            [column],
            [f"{referred}.id"],
            name=op.f(f"fk_{name}_{column}_{referred}"),
            ondelete="CASCADE",
        )
        for column, referred in (references or {}).items()
    ]
    constraints.append(sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")))
    constraints += [
        sa.UniqueConstraint(*group, name=op.f(f"uq_{name}_{'_'.join(group)}")) for group in unique
    ]
    op.create_table(name, key("id"), *columns, *constraints)
    named = {f"ix_{name}_{column}": [column] for column in indexed} | dict(indexes or {})
    for index in sorted(named):
        op.create_index(op.f(index), name, list(named[index]), unique=False)
