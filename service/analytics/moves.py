"""How the history of moves reads: which transitions reach the goal, end an enrollment
early or began a stage visit (whose end the unit of work keeps on it, enrollments/visits.py)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, literal_column
from sqlmodel import col

from service.store.models import TransitionRecord

T = TransitionRecord
OPERATOR, RESTART, ERASURE = "exit:manual", "exit:restart", "exit:erased"


def _kind(prefix: str) -> ColumnElement[bool]:
    """A trigger of one kind, spelled as SQL text (never a bound parameter) so the partial
    indexes of goals and exits (models.py, migration 0007) match it on both databases."""
    return col(T.trigger).like(literal_column(f"'{prefix}:%'"))


def is_goal() -> ColumnElement[bool]:
    """A move that reached the journey's goal (whether or not it ended the enrollment)."""
    return _kind("goal")


def is_exit() -> ColumnElement[bool]:
    """A move that ended an enrollment early: an exit rule, an operator or a restart."""
    return _kind("exit")


def is_visit() -> ColumnElement[bool]:
    """A move that began a stage visit: entry or a stage's transition (not the goal, an exit
    or a version migration, which keep her where she is); the partial index of visits
    (models.py, migration 0008) holds exactly these."""
    return col(T.visit_end).is_not(None)
