"""Operations: the stuck-contact report and Prometheus metrics."""

from __future__ import annotations

from tests.factories import Harness, event, signup


async def test_stuck_report_names_contacts_nothing_will_move(harness: Harness) -> None:
    # Ava's wedding is days away: the favors stage's `at` (30 days before) is already past.
    await harness.post_events(
        signup(attributes={"first_name": "Ava", "wedding_date": "2026-03-10"})
    )
    await harness.post_events(signup("bea@example.com"))
    bea_order = event(
        "order.completed", email="bea@example.com", properties={"categories": ["favors"]}
    )
    await harness.post_events(event("email.clicked", properties={"link": "favors"}))
    assert (await harness.client.get("/journeys/wedding-story/stuck")).json() == []
    # Ten minutes later with no scheduler: Bea's 3s welcome timer is overdue.
    harness.clock.advance(minutes=10)
    [stuck] = (await harness.client.get("/journeys/wedding-story/stuck")).json()
    bea = await harness.contact("bea@example.com")
    assert (stuck["contact_id"], stuck["stage"]) == (bea["id"], "welcome")
    assert stuck["reason"].endswith("has not fired: is a scheduler running?")
    await harness.run_scheduler()
    await harness.post_events(bea_order)
    harness.clock.advance(seconds=5)
    await harness.run_scheduler()  # Bea goes on to the end
    # Ava waits in favors for an order, with no timer (her wedding date's `at` is past).
    harness.clock.advance(days=31)
    await harness.run_scheduler()
    report = (await harness.client.get("/journeys/wedding-story/stuck")).json()
    ava = await harness.contact()
    assert [(s["contact_id"], s["stage"]) for s in report] == [(ava["id"], "favors")]
    assert report[0]["reason"].startswith("no timer: waiting only for events since")
    fewer = await harness.client.get("/journeys/wedding-story/stuck", params={"idle_days": 60})
    assert fewer.json() == []
    assert (await harness.client.get("/journeys/nope/stuck")).status_code == 404
    bad = await harness.client.get("/journeys/wedding-story/stuck", params={"idle_days": 0})
    assert bad.status_code == 422


async def test_metrics_in_prometheus_text_format(harness: Harness) -> None:
    await harness.post_events(signup())
    await harness.post_events(signup("bea@example.com"))
    await harness.run_scheduler()
    response = await harness.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert "# TYPE nurture_enrollments gauge" in lines
    assert 'nurture_enrollments{journey="wedding-story",stage="welcome",status="active"} 2' in lines
    assert 'nurture_messages{channel="email",status="sent"} 2' in lines
    assert 'nurture_events{type="web.form_submitted"} 2' in lines
    assert "nurture_overdue_timers 0" in lines
    harness.clock.advance(minutes=10)
    later = (await harness.client.get("/metrics")).text.splitlines()
    assert "nurture_overdue_timers 2" in later
    assert "nurture_inbox_pending 0" in later


async def test_metrics_show_the_inbox_waiting(harness: Harness) -> None:
    await harness.client.post("/events", json=signup())
    harness.clock.advance(seconds=3)
    lines = (await harness.client.get("/metrics")).text.splitlines()
    assert "nurture_inbox_pending 1" in lines
    assert "nurture_inbox_lag_seconds 3.0" in lines
    await harness.run_scheduler()
    lines = (await harness.client.get("/metrics")).text.splitlines()
    assert "nurture_inbox_pending 0" in lines and "nurture_inbox_lag_seconds 0.0" in lines
