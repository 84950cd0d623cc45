"""A real `nurture serve` on 127.0.0.1 for the browser tests: a temporary SQLite file, the
fixture journeys plus the sample wedding timeline, and a known history posted over HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import FIXTURES, free_port

REPO = Path(__file__).parents[2]
UI_KEY = "ui-operator-key"
INGEST = {"Authorization": "Bearer ingest-key"}
READ = {"Authorization": "Bearer ui-operator-key"}
INJECTED = "<script>window.__pwned = true</script>"
WAIT_SECONDS = 30
NOTES: list[str] = []  # said at the end of the run: why browser tests were skipped, artifacts


INSTALL = "apt-get install -y chromium chromium-driver"


def chromium() -> tuple[str, str]:
    """The browser and its driver; without them a failure under CI, else a skip naming the
    fix (never a silent skip in CI)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        browser = None
    if browser and driver:
        return browser, driver
    reason = f"browser tests need chromium, chromium-driver and selenium ({INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    NOTES.append(f"skipped: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Served:
    """Where the service listens and who is in it."""

    base: str
    ids: dict[str, str]
    log: Path


def _folders(root: Path) -> tuple[Path, Path]:
    """Journeys: the fixtures and the sample wedding timeline. Content: the sample content,
    with the fixtures' story templates on their own copy of the fixture layout."""
    journeys, content = root / "journeys", root / "content"
    shutil.copytree(FIXTURES / "journeys", journeys)
    shutil.copy(REPO / "journeys" / "bride-wedding-timeline.yaml", journeys)
    shutil.copytree(REPO / "content", content)
    shutil.copy(
        FIXTURES / "content" / "layouts" / "base.email.j2",
        content / "layouts" / "story-base.email.j2",
    )
    (content / "story").mkdir()
    for template in (FIXTURES / "content" / "story").iterdir():
        text = template.read_text().replace("layouts/base.email.j2", "layouts/story-base.email.j2")
        (content / "story" / template.name).write_text(text)
    return journeys, content


def _until(what: str, check: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {WAIT_SECONDS}s; service log:\n{log.read_text()[-3000:]}")


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _signup(name: str, first_name: str) -> dict[str, Any]:
    return {
        "id": f"signup-{name}",
        "type": "web.form_submitted",
        "source": "website",
        "contact": {"email": f"{name}@example.com"},
        "properties": {"form": "wedding-signup"},
        "attributes": {"first_name": first_name, "wedding_date": "2027-09-18"},
    }


def _event(name: str, kind: str, **properties: Any) -> dict[str, Any]:
    return {
        "id": f"{kind}-{name}",
        "type": kind,
        "source": "test",
        "contact": {"email": f"{name}@example.com"},
        "properties": properties,
    }


EVENTS = "/events?wait=true"  # each applied before the next is posted


def _history(client: httpx.Client, log: Path) -> dict[str, str]:
    """Six signups; Ava clicks through, Bea converts, Cat unsubscribes, the 3s timer moves the
    others on. Settled: four contacts in favors, each sent her favors email."""
    people = {"ava": "Ava", "bea": "Bea", "cat": "Cat", "dee": "Dee", "eve": "Eve", "mal": INJECTED}
    for name, first in people.items():
        assert client.post(EVENTS, json=_signup(name, first), headers=INGEST).status_code == 200
    client.post(EVENTS, json=_event("ava", "email.clicked", link="favors"), headers=INGEST)
    order = _event("bea", "order.completed", categories=["thank-you-cards"])
    client.post(EVENTS, json=order, headers=INGEST)
    client.post(EVENTS, json=_event("cat", "email.unsubscribed"), headers=INGEST)
    ids = {
        name: client.get("/contacts", params={"email": f"{name}@example.com"}, headers=READ).json()[
            "id"
        ]
        for name in people
    }

    def settled() -> bool:
        stages = client.get("/journeys/wedding-story", headers=READ).json()["stages"]
        if {s["name"]: s["active"] for s in stages}.get("favors") != 4:
            return False
        for name in ("ava", "dee", "eve", "mal"):
            messages = client.get(f"/contacts/{ids[name]}/messages", headers=READ).json()
            if not any(m["stage"] == "favors" and m["status"] == "sent" for m in messages):
                return False
        return True

    _until("the history did not settle", settled, log)
    return ids


@contextmanager
def serve(root: Path) -> Iterator[Served]:
    """`nurture serve` in its own process with a scheduler pass every 0.2s, stopped after."""
    journeys, content = _folders(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env = {
        **clean,
        "NURTURE_DATABASE_URL": f"sqlite:///{root / 'nurture.db'}",
        "NURTURE_JOURNEYS_DIR": str(journeys),
        "NURTURE_CONTENT_DIR": str(content),
        "NURTURE_OUTBOX_PATH": str(root / "outbox.jsonl"),
        "NURTURE_API_KEYS": f"{UI_KEY}=read+write,ingest-key=events",
        "NURTURE_SECRET_KEY": "browser-test-secret",
        "NURTURE_PUBLIC_BASE_URL": base,
        "NURTURE_SCHEDULER_INTERVAL": "0.2",
    }
    log = root / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            _until("nurture serve did not answer", lambda: _up(client), log)
            ids = _history(client, log)
        yield Served(base=base, ids=ids, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
