"""Every dashboard page answers 200 with the figures of a known history, built through the
real API and the scheduler; bad parameters get a 4xx page, never a 500."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.engine.groups import in_holdout
from service.engine.validate import validate
from tests.factories import (
    FIXTURES,
    START,
    FakeClock,
    Harness,
    add_contact,
    journeys_copy,
    make_settings,
    running_app,
    signup,
)
from tests.ui.history import build, figure, part


async def test_journeys_list(harness: Harness) -> None:
    await build(harness)
    page = await harness.client.get("/ui/journeys")
    assert page.status_code == 200
    values = {
        name: figure(page, name, within="journeys", row="wedding-story")
        for name in ("active", "entered", "converted", "conversion_rate", "holdout_share")
    }
    assert values == {
        "active": "3",
        "entered": "6",
        "converted": "1",
        "conversion_rate": "16.7%",
        "holdout_share": "0.0%",
    }
    assert figure(page, "entered", within="journeys", row="promo-always") == "0"
    assert figure(page, "conversion_rate", within="journeys", row="promo-always") == "\u2013"


async def test_journey_page_figures(harness: Harness) -> None:
    await build(harness)
    page = await harness.client.get("/ui/journeys/wedding-story")
    assert page.status_code == 200
    summary = {
        name: figure(page, name, within="summary")
        for name in ("entered", "converted", "conversion_rate", "exited", "completed", "active")
    }
    assert summary == {
        "entered": "6",
        "converted": "1",
        "conversion_rate": "16.7%",
        "exited": "1",
        "completed": "1",
        "active": "3",
    }
    # The map: active contacts per stage, and the share of each way out.
    drawn = dict(re.findall(r'data-stage="(\w+)">.*?data-active="(\d+)"', part(page, "map-title")))
    assert drawn == {"welcome": "1", "favors": "2", "thank_you": "0", "done": "0"}
    labels = re.findall(r'class="map-edge-text"[^>]*>([^<]+)<', page.text)
    assert sorted(labels) == ["100%", "100%", "60%"]
    assert "goal 20% · exit 20%" in page.text
    # The stage table: active, visits, ways out and the median time in stage.
    assert [figure(page, "visits", within="stages", row=s) for s in ("welcome", "favors")] == [
        "6",
        "3",
    ]
    stages = part(page, "stages")
    assert "favors: 3 (60%)" in stages and "(goal): 1 (20%)" in stages
    assert '2 s <span class="muted">(5 visits)' in stages
    assert '7 s <span class="muted">(1 visits)' in stages
    # The funnel: entered, each stage, the goal.
    bars = dict(re.findall(r'data-key="([^"]+)">.*?data-value="([^"]+)"', part(page, "funnel")))
    assert bars == {
        "(entered)": "6",
        "welcome": "6",
        "favors": "3",
        "thank_you": "1",
        "done": "1",
        "(goal)": "1",
    }
    # Messages: queued, sent, delivered and the rates.
    # Rates are over delivered messages: Ava's click implies her welcome was delivered.
    welcome = {
        n: figure(page, n, within="messages", row="welcome")
        for n in ("queued", "sent", "delivered", "open_rate", "click_rate")
    }
    assert welcome == {
        "queued": "6",
        "sent": "5",
        "delivered": "1",
        "open_rate": "100.0%",
        "click_rate": "100.0%",
    }
    assert figure(page, "open_rate", within="messages", row="favors") == "100.0%"
    assert figure(page, "sent", within="messages", row="thank_you") == "1"
    assert figure(page, "open_rate", within="messages", row="thank_you") == "\u2013"
    # Paths, lift and stuck contacts.
    paths = part(page, "paths")
    # Paths group by stages alone: Bea (converted) and Cat (exited) both took welcome only.
    assert (
        'welcome → favors → thank_you → done</td><td class="num" data-figure="contacts">1<' in paths
    )
    assert '<td>welcome</td><td class="num" data-figure="contacts">2<' in paths
    assert "No holdout configured" in page.text
    stuck = part(page, "stuck")
    assert stuck.count("<tr>") == 2 and "has not fired: is a scheduler running?" in stuck


async def test_journey_page_filters(harness: Harness) -> None:
    await build(harness)
    earlier = await harness.client.get(
        "/ui/journeys/wedding-story", params={"from": "2026-01-01", "to": "2026-02-28"}
    )
    assert earlier.status_code == 200
    assert figure(earlier, "entered", within="summary") == "0"
    assert figure(earlier, "active", within="summary") == "3"  # active is now, not in a range
    chosen = await harness.client.get("/ui/journeys/wedding-story", params={"version": "1"})
    assert chosen.status_code == 200 and 'value="1" selected' in chosen.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/journeys/wedding-story?from=2026-13-01", 422),
        ("/ui/journeys/wedding-story?from=2026-03-05&to=2026-03-01", 422),
        ("/ui/journeys/wedding-story?to=9999-12-31", 422),
        ("/ui/journeys/wedding-story?idle_days=0", 422),
        ("/ui/journeys/wedding-story?idle_days=many", 422),
        ("/ui/journeys/wedding-story?version=nope", 404),
        ("/ui/journeys/nope", 404),
        ("/ui/contacts?by=fax&q=1", 422),
        ("/ui/contacts?by=phone&q=not-a-number", 422),
        ("/ui/contacts?by=email&q=nobody@example.com", 404),
        ("/ui/contacts/nobody", 404),
        ("/ui/contacts/nobody/messages/none", 404),
        ("/ui/preview?journey=nope&stage=welcome", 404),
        ("/ui/preview?journey=wedding-story&stage=nope", 422),
        ("/ui/nowhere", 404),
    ],
)
async def test_bad_requests_get_a_page(harness: Harness, path: str, status: int) -> None:
    await harness.post_events(signup())
    page = await harness.client.get(path)
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text and "Traceback" not in page.text


async def test_contact_page_and_timeline(harness: Harness) -> None:
    history = await build(harness)
    found = await harness.client.get(
        "/ui/contacts", params={"by": "email", "q": "AVA@example.com "}
    )
    assert found.status_code == 303
    assert found.headers["location"] == f"/ui/contacts/{history.ids['ava']}"
    by_phone = await harness.client.get("/ui/contacts", params={"by": "phone", "q": "+15555550104"})
    assert by_phone.headers["location"] == f"/ui/contacts/{history.ids['dee']}"
    page = await harness.client.get(found.headers["location"])
    assert page.status_code == 200
    assert '<h1 id="contact-name">Ava</h1>' in page.text
    assert "wedding_date</dt><dd>2026-06-20" in page.text
    assert figure(page, "stage", within="enrollments", row="wedding-story") == "favors"
    assert "at wedding_date-30d: to thank_you" in part(page, "enrollments")
    lines = re.findall(
        r'<span class="summary">([^<]+)<|<a class="summary"[^>]*>([^<]+)<', part(page, "timeline")
    )
    assert [a or b for a, b in lines] == [
        "web.form_submitted",
        "wedding-story: (start) -&gt; welcome",
        "email story/welcome: sent",
        "email.clicked",
        "wedding-story: welcome -&gt; favors",
        "email story/favors: sent",
    ]
    assert 'name="confirm" value="yes" required' in page.text  # actions need a confirmation


async def test_sent_email_and_text(harness: Harness) -> None:
    history = await build(harness)
    ava = history.ids["ava"]
    page = await harness.client.get(f"/ui/contacts/{ava}/messages/{history.ava_welcome}")
    assert page.status_code == 200
    assert '<p id="subject">Welcome, Ava!</p>' in page.text
    frame = re.search(r'<iframe class="email" sandbox="" title="[^"]+" src="([^"]+)"', page.text)
    assert frame and frame.group(1) == f"/ui/contacts/{ava}/messages/{history.ava_welcome}/html"
    assert "Hello Ava" in part(page, "text-part")
    html = await harness.client.get(f"/ui/contacts/{ava}/messages/{history.ava_welcome}/html")
    assert html.status_code == 200 and "<h1>Hello Ava</h1>" in html.text
    assert html.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; "
        "frame-ancestors 'self'"
    )
    other = await harness.client.get(
        f"/ui/contacts/{history.ids['bea']}/messages/{history.ava_welcome}"
    )
    assert other.status_code == 404  # a message is only shown under its own contact
    sms = await harness.client.get(f"/ui/contacts/{history.ids['dee']}/messages/{history.dee_sms}")
    assert "Thank you, Dee! Reply STOP to opt out" in sms.text
    assert "1 segment, GSM-7, 37 characters." in sms.text


async def test_preview_sample_and_contact(harness: Harness) -> None:
    history = await build(harness)
    sample = await harness.client.get("/ui/preview", params={"at": "wedding-story/welcome"})
    assert sample.status_code == 200
    assert "for the journey&#39;s sample contact" in sample.text
    assert '<p id="subject">Welcome, Ava!</p>' in sample.text
    bea = await harness.client.get(
        "/ui/preview",
        params={"journey": "wedding-story", "stage": "welcome", "contact": history.ids["bea"]},
    )
    assert '<p id="subject">Welcome, Bea!</p>' in bea.text
    text = await harness.client.get("/ui/preview", params={"at": "wedding-story/thank_you"})
    assert "1 segment, GSM-7." in text.text
    html = await harness.client.get(
        "/ui/preview/html", params={"journey": "wedding-story", "stage": "welcome"}
    )
    assert "<h1>Hello Ava</h1>" in html.text
    assert html.headers["content-security-policy"].startswith("default-src 'none'")
    quiet = await harness.client.get("/ui/preview", params={"at": "wedding-story/done"})
    assert "This stage sends no message." in quiet.text


BROKEN = """
journey: broken
entry: {event: web.page_viewed}
initial: hello
stages:
  hello:
    send: {channel: email, template: story/missing}
    on:
      - after: 1d
        to: bye
  bye: {final: true}
"""


async def test_preview_shows_the_errors_validate_gives(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path, extra={"broken": BROKEN})
    result = validate(
        [folder / "broken.yaml"], content_dir=FIXTURES / "content", today=START.date()
    )
    expected = [e.message for e in result.errors]
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as app:
        page = await app.client.get("/ui/preview", params={"at": "broken/hello"})
    assert page.status_code == 200
    shown = re.search(r'id="preview-error">([^<]+)<', page.text)
    assert shown and [shown.group(1).replace("&#39;", "'")] == expected


async def test_a_holdout_contact_page_says_holdout_and_shows_held_messages(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = journeys_copy(tmp_path)
    story = journeys / "wedding-story.yaml"
    story.write_text(
        story.read_text().replace("persona: bride\n", "persona: bride\nholdout: 50%\n")
    )
    held = next(f"c-{n}" for n in range(100) if in_holdout(f"c-{n}", "wedding-story", 0.5))
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    async with running_app(settings, clock) as app:
        add_contact(app.app.state.runtime, id=held, email="ava@example.com")
        await app.post_events(signup())
        await app.run_scheduler()
        page = await app.client.get(f"/ui/contacts/{held}")
    assert page.status_code == 200
    assert '<span class="tag">holdout</span>' in part(page, "enrollments")
    lines = re.findall(
        r'<span class="summary">([^<]+)<|<a class="summary"[^>]*>([^<]+)<', part(page, "timeline")
    )
    assert [a or b for a, b in lines] == [
        "web.form_submitted",
        "wedding-story: (start) -&gt; welcome (holdout)",
        "email story/welcome: held",
    ]
