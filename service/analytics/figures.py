"""What each analytics answer holds: plain dataclasses, the same for JSON, CSV, the dashboard
and `nurture report`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from service.analytics.sql import COMPLETED


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Exits:
    """Enrollments ended early, by why."""

    exit_rule: int = 0
    operator: int = 0
    restart: int = 0
    erasure: int = 0  # her data was erased while she was in the journey

    @property
    def total(self) -> int:
        """Every early end."""
        return self.exit_rule + self.operator + self.restart + self.erasure


@dataclass(frozen=True)
class Summary:
    """A journey's headline figures over a range (each one always computed: no defaults)."""

    entered: int
    holdout_entered: int
    active: int
    completed: int
    converted: int
    exited: Exits
    median_seconds_to_goal: float | None
    revenue: float
    messages_sent: int

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per entry."""
        return ratio(self.converted, self.entered)

    @property
    def holdout_share(self) -> float | None:
        """The share of entries held out of messages."""
        return ratio(self.holdout_entered, self.entered)

    @property
    def revenue_per_contact(self) -> float | None:
        """Attributed revenue per contact of the treatment group (the holdout earns none)."""
        return ratio(self.revenue, self.entered - self.holdout_entered)

    @property
    def revenue_per_message(self) -> float | None:
        """Attributed revenue per message sent."""
        return ratio(self.revenue, self.messages_sent)


@dataclass(frozen=True)
class StageRow:
    """One stage: visits that began in the range and how they ended."""

    stage: str
    entered: int = 0
    moved_to: dict[str, int] = field(default_factory=dict)
    still_here: int = 0
    exits_here: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None

    @property
    def ended(self) -> int:
        """Visits that left the stage (those the median and 90th percentile are of)."""
        return self.ways_out - self.moved_to.get(COMPLETED, 0)

    @property
    def ways_out(self) -> int:
        """Visits that left the stage, by any way."""
        return sum(self.moved_to.values())

    def share(self, to: str) -> float | None:
        """The share of the ways out that went to `to`."""
        return ratio(self.moved_to.get(to, 0), self.ways_out)


@dataclass(frozen=True)
class MessageMetrics:
    """What became of messages: distinct messages reaching each status, and what they earned."""

    queued: int = 0  # every message the stage asked for, whatever became of it
    sent: int = 0
    held: int = 0
    # Sent messages that reached each delivery status (delivery/status.py REACHED), by status.
    reached: Mapping[str, int] = field(default_factory=dict)
    conversions: int = 0
    revenue: float = 0.0
    reports_opens: bool = True  # email reports opens and clicks; other channels do not

    @property
    def revenue_per_message(self) -> float | None:
        """Attributed revenue per message sent."""
        return ratio(self.revenue, self.sent)

    def count(self, status: str) -> int:
        """Sent messages that reached a delivery status."""
        return self.reached.get(status, 0)

    def rate(self, status: str) -> float | None:
        """Messages reaching `status` (opened, clicked) over delivered, or over sent where no
        delivery was reported; None for a channel that reports neither."""
        if not self.reports_opens:
            return None
        return ratio(self.count(status), self.count("delivered") or self.sent)


@dataclass(frozen=True)
class MessageRow:
    """One template sent by one stage."""

    stage: str
    template: str
    channel: str
    metrics: MessageMetrics


@dataclass(frozen=True)
class ChannelRow:
    """One channel's messages summed, and conversions of contacts who received it at all."""

    channel: str
    metrics: MessageMetrics
    contacts_converted: int = 0


@dataclass(frozen=True)
class PathRow:
    """One stage sequence (loops collapsed) of enrollments that ended in the range."""

    stages: tuple[str, ...]
    contacts: int
    converted: int
    median_seconds_to_goal: float | None
    revenue: float

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per contact on the path."""
        return ratio(self.converted, self.contacts)


@dataclass(frozen=True)
class Group:
    """One side of the lift comparison."""

    contacts: int = 0
    conversions: int = 0
    revenue: float = 0.0
    revenue_squares: float = 0.0  # sum of each contact's revenue squared, for the variance

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per contact."""
        return ratio(self.conversions, self.contacts)

    @property
    def revenue_per_contact(self) -> float | None:
        """Attributed revenue per contact."""
        return ratio(self.revenue, self.contacts)


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval and two-sided p-value."""

    estimate: float
    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class Lift:
    """Treatment against holdout; the comparisons are None with `insufficient_data` set when a
    group has fewer than MIN_GROUP contacts."""

    treatment: Group
    holdout: Group
    insufficient_data: bool
    conversion_difference: Interval | None = None  # treatment rate minus holdout rate
    relative_lift: float | None = None  # the difference over the holdout rate
    relative_low: float | None = None
    relative_high: float | None = None
    revenue_difference: Interval | None = None  # per contact, Welch

    @property
    def configured(self) -> bool:
        """Whether anyone was held out at all."""
        return self.holdout.contacts > 0
