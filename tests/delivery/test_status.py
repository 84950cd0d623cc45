"""The one writer of message status: how each turn ends, one rule for attempts, provider
feedback that never moves backwards, and no other module writing status or attempts."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from service.delivery import status
from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.status import Outcome
from service.store.models import Message, MessageStatus
from tests.factories import Harness, signup

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=60)
SEND_LEASE = NOW + timedelta(seconds=61)
SERVICE = Path(__file__).parents[2] / "service"


def _message(**values: Any) -> Message:
    fields: dict[str, Any] = {
        "idempotency_key": "e1:welcome:1",
        "contact_id": "c1",
        "enrollment_id": "e1",
        "journey_id": "wedding-story",
        "version": "1",
        "stage": "welcome",
        "channel": "email",
        "template": "story/welcome",
        "due_at": NOW,
        "created_at": NOW,
        "claimed_until": LEASE,
        **status.NEW,
        **values,
    }
    return Message(**fields)


def _record(message: Message, result: DeliveryResult, *, max_attempts: int = 3) -> Outcome:
    return status.record_result(
        message,
        result=result,
        now=NOW,
        max_attempts=max_attempts,
        jitter=lambda: 0.0,
        allowed=lambda moment: moment,
    )


def test_a_new_message_is_pending_and_untried() -> None:
    assert (_message().status, _message().attempts) == (MessageStatus.PENDING, 0)


@pytest.mark.parametrize("ending", [MessageStatus.CANCELED, MessageStatus.SUPPRESSED])
def test_a_refusal_ends_the_message_and_counts_the_turn(ending: MessageStatus) -> None:
    message = _message()
    assert status.refuse(message, status=ending, reason="consent withdrawn") == Outcome(ending)
    assert (message.status, message.error, message.attempts) == (ending, "consent withdrawn", 1)
    assert message.claimed_until is None


def test_waiting_is_no_attempt() -> None:
    message = _message(error="HTTP 503")
    later = NOW + timedelta(hours=5)
    assert status.defer(message, until=later) == Outcome.DEFERRED
    assert (message.status, message.attempts, message.due_at) == (MessageStatus.PENDING, 0, later)
    assert (message.claimed_until, message.error) == (None, "HTTP 503")
    status.defer(message, until=later, note="delayed by frequency cap")
    assert message.error == "delayed by frequency cap"


def _outgoing(message: Message) -> OutgoingMessage:
    """The welcome email as rendered for `message`."""
    return OutgoingMessage(
        id=message.id,
        idempotency_key=message.idempotency_key,
        contact_id="c1",
        journey="wedding-story",
        stage="welcome",
        channel="email",
        template="story/welcome",
        to="ava@example.com",
        subject="Welcome",
        preheader="Hi",
        html="<p>Hi</p>",
        text="Hi",
        body="",
        url=None,
        unsubscribe_url="https://n.example/u/t",
    )


def test_marking_sending_keeps_what_goes_out_under_the_send_lease() -> None:
    message = _message()
    outgoing = _outgoing(message)
    status.mark_sending(message, outgoing=outgoing, send_lease=SEND_LEASE)
    assert (message.status, message.claimed_until) == (MessageStatus.SENDING, SEND_LEASE)
    assert (message.subject, message.html, message.text, message.attempts) == (
        "Welcome",
        "<p>Hi</p>",
        "Hi",
        0,
    )


def test_a_held_message_is_recorded_as_sent_then_and_ends_its_turn() -> None:
    message = _message()
    outgoing = _outgoing(message)
    assert status.hold(message, outgoing=outgoing, now=NOW) == Outcome.HELD
    assert (message.status, message.sent_at, message.claimed_until) == (
        MessageStatus.HELD,
        NOW,
        None,
    )
    assert (message.subject, message.attempts, message.provider_message_id) == ("Welcome", 1, None)


def test_a_sent_message_counts_one_attempt() -> None:
    message = _message(status=MessageStatus.SENDING, error="HTTP 503", attempts=1)
    assert _record(message, DeliveryResult(ok=True, provider_message_id="p-1")) == Outcome.SENT
    assert (message.status, message.attempts, message.error) == (MessageStatus.SENT, 2, None)
    assert (message.sent_at, message.provider_message_id, message.claimed_until) == (
        NOW,
        "p-1",
        None,
    )


def test_a_transient_failure_retries_with_backoff_until_attempts_run_out() -> None:
    message = _message(status=MessageStatus.SENDING)
    failure = DeliveryResult(ok=False, error="HTTP 503")
    assert _record(message, failure, max_attempts=2) == Outcome.RETRYING
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert message.due_at == NOW + timedelta(seconds=30)
    message.status = MessageStatus.SENDING
    assert _record(message, failure, max_attempts=2) == Outcome.FAILED
    assert (message.status, message.attempts, message.error) == (
        MessageStatus.FAILED,
        2,
        "HTTP 503",
    )


def test_a_retry_waits_for_the_send_window() -> None:
    message = _message(status=MessageStatus.SENDING)
    opens = NOW + timedelta(hours=18)
    status.record_result(
        message,
        result=DeliveryResult(ok=False, error="HTTP 503", retry_after=120),
        now=NOW,
        max_attempts=3,
        jitter=lambda: 0.0,
        allowed=lambda moment: max(moment, opens),
    )
    assert message.due_at == opens


def test_a_permanent_failure_is_final_on_the_first_attempt() -> None:
    message = _message(status=MessageStatus.SENDING)
    result = DeliveryResult(ok=False, error="HTTP 422", permanent=True)
    assert _record(message, result) == Outcome.FAILED
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 1)


def test_refused_credentials_use_no_attempt_and_never_the_last_one() -> None:
    message = _message(status=MessageStatus.SENDING)
    refused = DeliveryResult(ok=False, error="HTTP 401", counts_as_attempt=False)
    for _ in range(3):
        message.status = MessageStatus.SENDING
        assert _record(message, refused, max_attempts=1) == Outcome.RETRYING
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 0)


def test_a_crash_while_sending_fails_as_outcome_unknown() -> None:
    message = _message(status=MessageStatus.SENDING, claimed_until=SEND_LEASE)
    status.after_crash(message, lease=LEASE, send_lease=SEND_LEASE, max_attempts=5)
    assert (message.status, message.attempts, message.claimed_until) == (
        MessageStatus.FAILED,
        1,
        None,
    )
    assert message.error is not None and message.error.startswith("delivery outcome unknown")


def test_a_crash_before_sending_counts_and_gives_up_at_the_limit() -> None:
    message = _message()
    status.after_crash(message, lease=LEASE, send_lease=None, max_attempts=2)
    assert (message.status, message.attempts, message.claimed_until) == (
        MessageStatus.PENDING,
        1,
        LEASE,  # retried once the lease runs out
    )
    status.after_crash(message, lease=LEASE, send_lease=None, max_attempts=2)
    assert (message.status, message.error) == (
        MessageStatus.FAILED,
        "gave up after 2 attempts (internal errors)",
    )


def test_a_crash_leaves_a_message_another_worker_holds_alone() -> None:
    message = _message(claimed_until=LEASE + timedelta(minutes=5))
    status.after_crash(message, lease=LEASE, send_lease=None, max_attempts=1)
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 0)


def test_backoff_doubles_is_capped_stretched_and_honours_retry_after() -> None:
    assert [status.retry_delay_seconds(n) for n in (0, 1, 2, 3)] == [30, 30, 60, 120]
    assert status.retry_delay_seconds(20) == 3600
    assert status.retry_delay_seconds(1, jitter=0.5) == 33
    assert status.retry_delay_seconds(1, retry_after=600) == 600


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["email.delivered", "email.clicked", "email.opened"], "clicked"),
        (["email.opened", "email.delivered"], "opened"),
        (["email.clicked", "email.bounced", "email.delivered"], "bounced"),
        (["email.dropped", "email.opened"], "failed"),
        (["email.delivered", "email.unsubscribed", "web.page_viewed"], "delivered"),
    ],
)
def test_email_feedback_only_moves_forward(events: list[str], expected: str) -> None:
    message = _message()
    for event_type in events:
        status.record_feedback(message, event_type=event_type, properties={}, at=NOW)
    assert message.delivery_status == expected


def test_sms_feedback_reads_twilio_statuses_in_order() -> None:
    message = _message(channel="sms")
    for event_type, reported in [("sms.delivered", "Delivered"), ("sms.sent", "sent")]:
        status.record_feedback(
            message, event_type=event_type, properties={"status": reported}, at=NOW
        )
    assert message.delivery_status == "delivered"
    status.record_feedback(message, event_type="sms.failed", properties={}, at=NOW)
    assert message.delivery_status == "delivered"


def test_feedback_keeps_when_each_status_was_first_reached_whatever_the_order() -> None:
    message = _message()
    later, earlier = NOW + timedelta(minutes=5), NOW + timedelta(minutes=1)
    reports = [("email.clicked", later), ("email.opened", earlier), ("email.clicked", later)]
    reports += [("email.delivered", NOW + timedelta(minutes=9)), ("web.page_viewed", NOW)]
    for event_type, at in reports:
        status.record_feedback(message, event_type=event_type, properties={}, at=at)
    # A click implies delivery and an open: each keeps the earliest report implying it.
    assert (message.delivered_at, message.opened_at, message.clicked_at) == (
        earlier,
        earlier,
        later,
    )
    assert (message.bounced_at, message.failed_at, message.unsubscribed_at) == (None, None, None)
    status.record_feedback(message, event_type="email.unsubscribed", properties={}, at=NOW)
    assert message.unsubscribed_at == NOW and message.delivery_status == "clicked"


async def test_bulk_changes_cancel_only_pending_and_count_a_stale_send(harness: Harness) -> None:
    await harness.post_events(signup(), signup("bea@example.com"))
    with harness.app.state.runtime.db.write() as session:
        ava, bea = session.exec(select(Message).order_by(Message.contact_id)).all()
        bea.status, bea.claimed_until = MessageStatus.SENDING, NOW - timedelta(seconds=1)
        session.add(bea)
        session.flush()
        assert status.fail_stale_sends(session, now=NOW, reason="stopped") == 1
        assert status.cancel_pending(session, enrollment_id=bea.enrollment_id, reason="x") == 0
        assert status.cancel_pending(session, enrollment_id=ava.enrollment_id, reason="gone") == 1
    with harness.app.state.runtime.db.session() as session:
        rows = {m.id: m for m in session.exec(select(Message)).all()}
    assert (rows[ava.id].status, rows[ava.id].error, rows[ava.id].attempts) == (
        MessageStatus.CANCELED,
        "gone",
        0,
    )
    assert (rows[bea.id].status, rows[bea.id].error, rows[bea.id].attempts) == (
        MessageStatus.FAILED,
        "stopped",
        1,
    )


# ----- one writer ----------------------------------------------------------------------------

STATE_FIELDS = {"status", "attempts", "delivery_status", *(f"{s}_at" for s in status.REACHED)}
WRITER = SERVICE / "delivery" / "status.py"
SOURCES = sorted(SERVICE.rglob("*.py"))


def _writes(tree: ast.AST) -> list[str]:
    """Assignments to a message's state fields, and bulk updates that set them."""
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr in STATE_FIELDS
                and "message" in ast.unparse(target.value).lower()
            ):
                found.append(f"{node.lineno}: {ast.unparse(target)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
            and "update(Message)" in ast.unparse(node.func.value)
            and STATE_FIELDS & {keyword.arg for keyword in node.keywords}
        ):
            found.append(f"{node.lineno}: update(Message).values(...)")
    return found


def test_only_status_writes_a_messages_status_or_attempts() -> None:
    assert WRITER in SOURCES and len(SOURCES) > 20, "the check must find the sources"
    writes = {
        str(path.relative_to(SERVICE)): found
        for path in SOURCES
        if (found := _writes(ast.parse(path.read_text())))
    }
    assert writes.pop("delivery/status.py"), "status.py is the writer: the check must see it"
    assert writes == {}
