"""Delivery-status ordering of every channel: a late, earlier status never wins."""

from __future__ import annotations

import pytest

from webhooks.statuses import EMAIL_ORDER, SMS_ORDER, supersedes


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("delivered", "opened"), ("opened", "clicked"), ("delivered", "clicked")],
)
def test_email_steps_move_forward_only(earlier: str, later: str) -> None:
    assert supersedes(later, earlier, channel="email")
    assert not supersedes(earlier, later, channel="email")


@pytest.mark.parametrize("final", ["bounced", "failed"])
def test_an_email_bounce_or_failure_ends_the_story(final: str) -> None:
    assert supersedes(final, "clicked", channel="email")
    assert not supersedes("delivered", final, channel="email")
    assert not supersedes("bounced" if final == "failed" else "failed", final, channel="email")


def test_any_status_replaces_none() -> None:
    assert supersedes("delivered", None, channel="email")
    assert supersedes("queued", None, channel="sms")


def test_sms_read_receipt_follows_a_final_status() -> None:
    assert supersedes("read", "delivered", channel="sms")
    assert not supersedes("failed", "delivered", channel="sms")


def test_ranks_ignore_case_and_unknown_statuses_rank_lowest() -> None:
    assert SMS_ORDER.rank(" Delivered ") == SMS_ORDER.rank("delivered") == 4
    assert SMS_ORDER.rank("teleported") < SMS_ORDER.rank("accepted")
    assert EMAIL_ORDER.rank("queued") < EMAIL_ORDER.rank("delivered")


def test_channels_without_an_order_of_their_own_use_the_email_order() -> None:
    assert supersedes("bounced", "clicked", channel="webhook")
    assert not supersedes("delivered", "opened", channel="webhook")
