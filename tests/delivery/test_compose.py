"""Composing: her template rendered with links signed for this message and contact, the open
pixel when tracking opens, and the STOP hint on a journey's first text only."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from service.delivery.channels import OutgoingMessage
from service.delivery.compose import OPT_OUT_HINT, draft, finish, with_opt_out_hint, with_pixel
from service.errors import JourneyError
from service.runtime import Runtime
from service.store.models import Contact, Message, MessageStatus
from service.tracking.links import UNSUBSCRIBE, read_token
from tests.factories import FIXTURES, FakeClock, Harness, make_settings, running_app, signup

SECRET = "compose-secret"


def compose(session: Session, runtime: Runtime, **found: Any) -> OutgoingMessage:
    """Draft and render in one go, as dispatch does on either side of its commit."""
    return finish(runtime.content, draft(session, runtime, **found))


def test_the_pixel_goes_just_before_the_closing_body_tag() -> None:
    page = with_pixel("<html><BODY><p>Hi</p></BODY></html>", "https://n.example/o/a&b")
    assert page == (
        '<html><BODY><p>Hi</p><img src="https://n.example/o/a&amp;b" width="1" height="1" '
        'alt="" style="display:none"></BODY></html>'
    )
    assert with_pixel("<p>Hi</p>", "https://n.example/o/t").startswith("<p>Hi</p><img ")


@pytest.mark.parametrize(
    ("body", "first_text", "expected"),
    [
        ("Thank you!", True, f"Thank you!\n{OPT_OUT_HINT}"),
        ("Thank you!", False, "Thank you!"),
        ("Thanks! Text STOP to end", True, "Thanks! Text STOP to end"),
    ],
)
def test_only_a_journeys_first_text_gets_the_stop_hint(
    body: str, first_text: bool, expected: str
) -> None:
    assert with_opt_out_hint(body, first_text=first_text) == expected


@contextmanager
def _rows(runtime: Runtime) -> Iterator[tuple[Session, Message, Contact]]:
    with runtime.db.write() as session:
        message = session.exec(select(Message)).one()
        contact = session.exec(select(Contact).where(Contact.id == message.contact_id)).one()
        yield session, message, contact


async def test_her_welcome_is_rendered_with_signed_links(harness: Harness) -> None:
    await harness.post_events(signup())
    runtime: Runtime = harness.app.state.runtime
    with _rows(runtime) as (session, message, contact):
        outgoing = compose(
            session,
            runtime,
            message=message,
            contact=contact,
            secret=SECRET,
            now=harness.clock.now(),
        )
    assert (outgoing.id, outgoing.to, outgoing.subject) == (
        message.id,
        "ava@example.com",
        "Welcome, Ava!",
    )
    assert (outgoing.idempotency_key, outgoing.journey, outgoing.stage) == (
        message.idempotency_key,
        "wedding-story",
        "welcome",
    )
    token = outgoing.unsubscribe_url.removeprefix("http://nurture.test/u/")
    assert read_token(token, secret=SECRET, kind=UNSUBSCRIBE) == {
        "k": UNSUBSCRIBE,
        "m": message.id,
        "c": contact.id,
    }
    assert outgoing.unsubscribe_url in outgoing.html and outgoing.unsubscribe_url in outgoing.text
    assert 'href="http://nurture.test/c/' in outgoing.html
    assert "/o/" not in outgoing.html  # open tracking is off by default


async def test_open_tracking_adds_the_pixel(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, open_tracking=True)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
        runtime: Runtime = app.app.state.runtime
        with _rows(runtime) as (session, message, contact):
            outgoing = compose(
                session, runtime, message=message, contact=contact, secret=SECRET, now=clock.now()
            )
    assert '<img src="http://nurture.test/o/' in outgoing.html
    assert outgoing.html.index("<img") < outgoing.html.index("</body>")


async def test_a_text_carries_the_hint_until_the_journey_has_sent_one(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", content)
    (content / "story" / "thank_you.sms.j2").write_text("{% block body %}Thank you!{% endblock %}")
    settings = make_settings(database_url, tmp_path, content_dir=content)
    async with running_app(settings, clock) as app:
        await app.post_events(signup(contact={"email": "ava@example.com", "phone": "+15555550100"}))
        runtime: Runtime = app.app.state.runtime
        with _rows(runtime) as (session, email, contact):
            text = Message(
                **{
                    **email.model_dump(),
                    "id": "sms-1",
                    "idempotency_key": "sms-1",
                    "channel": "sms",
                    "template": "story/thank_you",
                    "stage": "thank_you",
                }
            )
            session.add(text)
            session.flush()
            first = compose(
                session, runtime, message=text, contact=contact, secret=SECRET, now=clock.now()
            )
            assert (first.to, first.body) == ("+15555550100", f"Thank you!\n{OPT_OUT_HINT}")
            text.status = MessageStatus.SENT
            session.flush()
            again = compose(
                session, runtime, message=text, contact=contact, secret=SECRET, now=clock.now()
            )
            assert again.body == "Thank you!"


async def test_a_missing_template_cannot_be_composed(harness: Harness) -> None:
    await harness.post_events(signup())
    runtime: Runtime = harness.app.state.runtime
    with _rows(runtime) as (session, message, contact):
        message.template = "story/missing"
        now = harness.clock.now()
        with pytest.raises(JourneyError, match="not found"):
            compose(session, runtime, message=message, contact=contact, secret=SECRET, now=now)
