"""Analytics facts written with each move: on the move that began a stage visit, how, when
and where to it ended; on the enrollment, her first goal and her stages in first-visit
order; backfilled from the history; the visits, their lengths and first goals by index."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0008", "0007"

# 0007's index of each enrollment's moves in order, which the backfill below still reads.
ORDERED_MOVES = (
    "ix_transitions_journey_enrollment_seq",
    "transitions",
    ["journey_id", "enrollment_id", "seq", "version", "at", "to_stage", "trigger"],
)
INDEXES = [
    (
        "ix_enrollments_journey_goal",
        "enrollments",
        ["journey_id", "version", "goal_at", "started_at"],
        "goal_at IS NOT NULL",
    ),
    (
        "ix_transitions_visits",
        "transitions",
        ["journey_id", "version", "at", "to_stage", "visit_end", "next_stage", "seconds"],
        "visit_end IS NOT NULL",
    ),
    (
        "ix_transitions_visit_lengths",
        "transitions",
        ["journey_id", "to_stage", "seconds", "version", "at", "visit_end", "next_stage"],
        "visit_end IS NOT NULL",
    ),
]
# Seconds from `at` to the next move's, as each database subtracts times.
SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM (next_at - at))",
    "sqlite": "((julianday(next_at) - julianday(at)) * 86400.0)",
}

# Every move but a version migration, with its kind, in her order; a goal is a way out of a
# visit only as her last move in an enrollment it converted (`ends: false` passes through).
_MOVES = """
SELECT t.id, t.enrollment_id, t.seq, t.at, t.to_stage, e.status,
       CASE WHEN t.trigger LIKE 'goal:%' THEN 'goal'
            WHEN t.trigger LIKE 'exit:%' THEN 'exit' ELSE 'visit' END AS kind,
       LEAD(t.seq) OVER (PARTITION BY t.enrollment_id ORDER BY t.seq) AS later
FROM transitions AS t JOIN enrollments AS e ON e.id = t.enrollment_id
WHERE t.trigger NOT LIKE 'migrate:%'
"""
_VISITS = f"""
SELECT id, status, kind, at,
       LEAD(kind) OVER w AS next_kind, LEAD(to_stage) OVER w AS next_stage,
       LEAD(at) OVER w AS next_at
FROM ({_MOVES}) AS moves
WHERE kind <> 'goal' OR (later IS NULL AND status = 'converted')
WINDOW w AS (PARTITION BY enrollment_id ORDER BY seq)
"""


def _facts(dialect: str) -> str:
    """Each visit's end, next stage and length."""
    return f"""
    SELECT id,
           CASE WHEN next_kind IS NOT NULL THEN next_kind
                WHEN status = 'completed' THEN 'completed' ELSE 'open' END AS visit_end,
           CASE WHEN next_kind = 'visit' THEN next_stage END AS next_stage,
           {SECONDS[dialect]} AS seconds
    FROM ({_VISITS}) AS steps
    WHERE kind = 'visit'
    """


def _paths(concat: str) -> str:
    """Each enrollment's stages in the order of their first visit, joined by ' > '."""
    return f"""
    SELECT DISTINCT enrollment_id, {concat}(to_stage, ' > ') OVER (PARTITION BY enrollment_id
           ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS path
    FROM (SELECT enrollment_id, to_stage, MIN(seq) AS seq FROM transitions
          WHERE visit_end IS NOT NULL GROUP BY enrollment_id, to_stage) AS firsts
    """


def _backfill() -> None:
    """The facts, from the history already written, as the unit of work keeps them."""
    dialect = op.get_bind().dialect.name
    op.execute(
        f"""UPDATE transitions SET visit_end = facts.visit_end, next_stage = facts.next_stage,
        seconds = facts.seconds FROM ({_facts(dialect)}) AS facts
        WHERE facts.id = transitions.id"""
    )
    op.execute(
        """UPDATE enrollments SET goal_at = goals.at
        FROM (SELECT enrollment_id, MIN(at) AS at FROM transitions
              WHERE trigger LIKE 'goal:%' GROUP BY enrollment_id) AS goals
        WHERE goals.enrollment_id = enrollments.id"""
    )
    concat = "string_agg" if dialect == "postgresql" else "group_concat"
    op.execute(
        f"""UPDATE enrollments SET path = paths.path FROM ({_paths(concat)}) AS paths
        WHERE paths.enrollment_id = enrollments.id"""
    )


def upgrade() -> None:
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("visit_end", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("next_stage", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("goal_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("path", sa.Text(), nullable=True))
    _backfill()
    for name, table, columns, condition in INDEXES:
        where = sa.text(condition)
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)
    # Figures read the facts now, not each enrollment's moves in order: the index 0007 made
    # for that would only slow every move down.
    op.drop_index(ORDERED_MOVES[0], table_name=ORDERED_MOVES[1])


def downgrade() -> None:
    op.create_index(*ORDERED_MOVES)
    for name, table, _columns, _condition in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("path")
        batch.drop_column("goal_at")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("seconds")
        batch.drop_column("next_stage")
        batch.drop_column("visit_end")
