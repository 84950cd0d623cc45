"""Attribution facts: each order's credit per journey (attributions) and each sent message's
next goal (messages.goal_at), decided when they happen and backfilled here from the history.

The backfill reads the rules as enrollments/attribution.py and delivery/status.py apply them
at this revision: an order's revenue is its `revenue`, else `total`, else `value` (JSON numbers
only); it is credited to the latest message sent or held to her by each journey at or before
the order, when that is within the window of the journey's current version (the message's
own version's, for a journey no longer current).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import yaml
from alembic import op

revision, down_revision = "0009", "0008"

ORDER = "order.completed"
REVENUE_KEYS = ("revenue", "total", "value")
DEFAULT_WINDOW = "5d"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
CREDITED = ("sent", "held")
# The attributions table as models.py declares it at this revision: no column is nullable.
COLUMNS: list[tuple[str, sa.types.TypeEngine[Any]]] = [
    ("event_id", sa.String(length=36)),
    ("journey_id", sa.String(length=200)),
    ("contact_id", sa.String(length=36)),
    ("enrollment_id", sa.String(length=36)),
    ("message_id", sa.String(length=36)),
    ("version", sa.String(length=100)),
    ("stage", sa.String(length=200)),
    ("template", sa.String(length=300)),
    ("channel", sa.String(length=20)),
    ("status", sa.String(length=20)),
    ("revenue", sa.Float()),
    ("at", sa.DateTime(timezone=True)),
]
REFERENCES = [("event_id", "events"), ("contact_id", "contacts"), ("enrollment_id", "enrollments")]


def window_of(source: str) -> timedelta:
    """A stored journey version's attribution window, as the engine reads it (a stored
    version was checked when it was loaded, so its window parses)."""
    attribution = (yaml.safe_load(source) or {}).get("attribution") or {}
    found = _DURATION.match(str(attribution.get("window", DEFAULT_WINDOW)))
    if found is None:
        raise ValueError(f"unreadable attribution window in a stored journey: {attribution}")
    amount, unit = found.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def _windows(bind: sa.Connection) -> dict[tuple[str, str], float]:
    """Seconds of the window each stored (journey, version) is credited with: its journey's
    current version's."""
    stored = bind.execute(
        sa.text("SELECT journey_id, version, source, current FROM journey_versions")
    ).all()
    own = {(j, v): window_of(source).total_seconds() for j, v, source, _ in stored}
    current = {j: own[(j, v)] for j, v, _, is_current in stored if is_current}
    return {(j, v): current.get(j, seconds) for (j, v), seconds in own.items()}


def _revenue(dialect: str) -> str:
    """The order's revenue in SQL, numbers only."""
    if dialect == "sqlite":
        member = (
            "CASE WHEN json_type(properties, '$.{0}') IN ('integer', 'real') "
            "THEN json_extract(properties, '$.{0}') END"
        )
    else:
        member = (
            "CASE WHEN json_typeof((properties)::json -> '{0}') = 'number' "
            "THEN ((properties)::json ->> '{0}')::float END"
        )
    return "COALESCE(" + ", ".join(member.format(key) for key in REVENUE_KEYS) + ")"


def _seconds(dialect: str, later: str, earlier: str) -> str:
    if dialect == "sqlite":
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def _backfill_credits(bind: sa.Connection) -> None:
    """Each recorded order's credit per journey, from the messages sent before it."""
    windows = _windows(bind)
    if not windows:
        return
    dialect = bind.dialect.name
    values = ", ".join(f"(:j{n}, :v{n}, :s{n})" for n in range(len(windows)))
    params: dict[str, Any] = {"order": ORDER}
    for n, ((journey, version), seconds) in enumerate(windows.items()):
        params |= {f"j{n}": journey, f"v{n}": version, f"s{n}": seconds}
    touch = ", ".join(f"'{status}'" for status in CREDITED)
    columns = "journey_id, enrollment_id, message_id, version, stage, template, channel, status"
    bind.execute(
        sa.text(
            f"""INSERT INTO attributions (event_id, contact_id, revenue, at, {columns})
            WITH windows (journey_id, version, seconds) AS (VALUES {values}),
            orders AS (
                SELECT id, contact_id, time, received_at, {_revenue(dialect)} AS revenue
                FROM events WHERE type = :order
            ),
            touches AS (
                SELECT o.id AS event_id, o.contact_id, o.revenue, o.time AS at,
                    m.journey_id, m.enrollment_id, m.id AS message_id, m.version, m.stage,
                    m.template, m.channel, m.status, m.sent_at,
                    ROW_NUMBER() OVER (
                        PARTITION BY o.id, m.journey_id ORDER BY m.sent_at DESC, m.id DESC
                    ) AS nth
                FROM orders o JOIN messages m
                    ON m.contact_id = o.contact_id AND m.status IN ({touch})
                    AND m.sent_at <= o.time AND m.sent_at <= o.received_at
                WHERE o.revenue IS NOT NULL
            )
            SELECT t.event_id, t.contact_id, t.revenue, t.at,
                t.journey_id, t.enrollment_id, t.message_id, t.version, t.stage, t.template,
                t.channel, t.status
            FROM touches t
            JOIN windows w ON w.journey_id = t.journey_id AND w.version = t.version
            WHERE t.nth = 1 AND {_seconds(dialect, "t.at", "t.sent_at")} <= w.seconds"""
        ),
        params,
    )


def _backfill_goals(bind: sa.Connection) -> None:
    """Each sent message's first goal of its enrollment at or after it was sent."""
    bind.execute(
        sa.text(
            """UPDATE messages SET goal_at = firsts.at
            FROM (SELECT m.id AS id, MIN(t.at) AS at
                  FROM messages m JOIN transitions t
                      ON t.enrollment_id = m.enrollment_id AND t.trigger LIKE :goal
                      AND t.at >= m.sent_at
                  WHERE m.status = 'sent' GROUP BY m.id) AS firsts
            WHERE firsts.id = messages.id"""
        ),
        {"goal": "goal:%"},
    )


def upgrade() -> None:
    op.create_table(
        "attributions",
        *(sa.Column(name, kind, nullable=False) for name, kind in COLUMNS),
        *(
            sa.ForeignKeyConstraint(
                [name], [f"{table}.id"], name=op.f(f"fk_attributions_{name}_{table}"),
                ondelete="CASCADE",
            )
            for name, table in REFERENCES
        ),
        sa.PrimaryKeyConstraint("event_id", "journey_id", name=op.f("pk_attributions")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("goal_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    _backfill_credits(bind)
    _backfill_goals(bind)
    op.create_index("ix_attributions_contact_id", "attributions", ["contact_id"])
    op.create_index("ix_attributions_enrollment_id", "attributions", ["enrollment_id"])
    op.create_index(
        "ix_attributions_journey_at", "attributions", ["journey_id", "at", "version", "status"]
    )
    op.drop_index("ix_messages_enrollment_id", table_name="messages")
    op.create_index(
        "ix_messages_enrollment_sent",
        "messages",
        ["enrollment_id", "journey_id", "status", "channel", "created_at", "version"],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_enrollment_sent", table_name="messages")
    op.create_index("ix_messages_enrollment_id", "messages", ["enrollment_id"])
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("goal_at")
    op.drop_table("attributions")
