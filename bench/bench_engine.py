"""Engine throughput: decisions per second, as a ratio to parsing the same event's JSON.

Run: python bench/bench_engine.py [--seconds 2]
The baseline (json.loads of a typical event body) is measured in the same run, so the
ratio stays meaningful on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.engine.core import ContactView, EventView
from service.engine.loader import compile_text

ROOT = Path(__file__).parents[1]
JOURNEY = compile_text(
    (ROOT / "tests/engine/fixtures/valid/mini.yaml").read_text(), path="mini.yaml"
)
CONTACT = ContactView(
    id="c1",
    attributes={"first_name": "Ava", "wedding_date": "2027-09-18"},
    timezone="America/New_York",
)
NOW = datetime(2027, 1, 4, 15, tzinfo=UTC)
STATE = JOURNEY.start(CONTACT, now=NOW).state
BODY = json.dumps(
    {
        "id": "evt-1",
        "type": "email.clicked",
        "source": "sendgrid",
        "time": NOW.isoformat(),
        "contact": {"email": "ava@example.com"},
        "properties": {"link": "favors", "url": "https://shop.example/favors"},
    }
)
CLICK = EventView(type="email.clicked", time=NOW, properties={"link": "favors"})
PAGE = EventView(type="web.page_viewed", time=NOW, properties={"url": "/blog"})


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of `work` over about `seconds`."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            work()
        count += 100
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    baseline = rate(lambda: json.loads(BODY), seconds)
    cases = {
        "on_event (moves, guard true)": lambda: JOURNEY.on_event(STATE, CONTACT, CLICK, now=NOW),
        "on_event (no match)": lambda: JOURNEY.on_event(STATE, CONTACT, PAGE, now=NOW),
        "on_clock (timer due)": lambda: JOURNEY.on_clock(
            STATE, CONTACT, now=NOW + timedelta(days=6)
        ),
        "start": lambda: JOURNEY.start(CONTACT, now=NOW),
    }
    print(f"baseline json.loads(event): {baseline:,.0f}/s")
    for name, work in cases.items():
        measured = rate(work, seconds)
        print(f"{name:<30} {measured:>10,.0f}/s  {baseline / measured:5.1f}x the baseline's cost")


if __name__ == "__main__":
    main()
