"""How the tables spell their keys, times, JSON, references and partial indexes, and the
constraint names migrations address them by."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, text
from sqlmodel import Field, SQLModel

from service.store.types import UTCDateTime

# Named constraints, so migrations can address them on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A random identifier, unique across processes and shards."""
    return str(uuid.uuid4())


def time_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def json_column() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def contact_fk() -> Any:
    return Field(
        sa_column=Column(
            String(36), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


def enrollment_fk(*, index: bool = True) -> Any:
    return Field(
        sa_column=Column(
            String(36),
            ForeignKey("enrollments.id", ondelete="CASCADE"),
            nullable=False,
            index=index,
        )
    )


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of the rows meeting `where` alone, spelled the same on both databases."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))
