"""Where a contact falls, from a hash of her id: a split's branch and a journey's holdout.

The same contact always falls in the same place, and contacts spread evenly, so shares
follow the weights; the two draws use different keys, so they are independent.
"""

from __future__ import annotations

import hashlib


def split_point(contact_id: str, journey_id: str, stage: str) -> float:
    """Where a contact falls in [0, 1) for one split: the same for her every time, and spread
    evenly over contacts, so branch shares follow the weights."""
    digest = hashlib.sha256(f"{contact_id}:{journey_id}:{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(contact_id: str, journey_id: str, share: float) -> bool:
    """Whether a contact is in a journey's holdout: decided by her id and the journey's alone
    (not its version), so she lands in the same group every time she enters it."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"holdout:{journey_id}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
