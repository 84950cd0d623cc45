"""Every channel's delivery statuses in order, so a late, earlier status never wins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

UNKNOWN_RANK = -1


@dataclass(frozen=True)
class StatusOrder:
    """One channel's ranks; a `final` status (a bounce) replaces any and is never replaced."""

    ranks: Mapping[str, int]
    final: frozenset[str] = field(default_factory=frozenset)

    def rank(self, status: str) -> int:
        """Position of a status in the lifecycle; unknown statuses rank lowest."""
        return self.ranks.get(status.strip().lower(), UNKNOWN_RANK)

    def supersedes(self, new: str, current: str | None) -> bool:
        """Whether `new` may replace `current` as the stored status."""
        if current is None:
            return True
        if current in self.final:
            return False
        return new in self.final or self.rank(new) > self.rank(current)


# Email: each step implies the ones before it; bounced and failed end the story.
EMAIL_ORDER = StatusOrder(
    ranks={"delivered": 1, "opened": 2, "clicked": 3},
    final=frozenset({"bounced", "failed"}),
)
# SMS: Twilio's message lifecycle; a read receipt may still follow a final delivery status.
SMS_ORDER = StatusOrder(
    ranks={
        "accepted": 0,
        "scheduled": 0,
        "queued": 1,
        "sending": 2,
        "sent": 3,
        "delivered": 4,
        "undelivered": 4,
        "failed": 4,
        "canceled": 4,
        "read": 5,
    }
)
ORDERS: Mapping[str, StatusOrder] = {"email": EMAIL_ORDER, "sms": SMS_ORDER}


def supersedes(new: str, current: str | None, *, channel: str) -> bool:
    """Whether `new` may replace `current`; channels without an order use email's."""
    return ORDERS.get(channel, EMAIL_ORDER).supersedes(new, current)
