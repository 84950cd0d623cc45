"""Stopping a real `nurture worker` (and `nurture serve`) mid-pass, with thousands of due
webhooks going to a slow receiver on 127.0.0.1.

SIGTERM: the process exits 0, nothing is left `sending`, every message either went out (the
receiver got it exactly once) or is pending again, unclaimed and untried. SIGKILL: only the
messages the receiver held can be left with an unknown outcome (at most the channel's
concurrency), and none the receiver never got is marked sent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from service.delivery import status
from service.store.db import Database
from service.store.models import Contact, Enrollment, Message, MessageStatus
from tests.factories import free_port

DUE = 3000
CONCURRENCY = 4
DELAY = 0.05  # the receiver's time per request
STOP_AFTER = 150  # messages received before the signal: well inside the pass
JOURNEY = """journey: hooks
version: "1"
entry: {event: web.form_submitted}
initial: hook
stages:
  hook:
    send: {channel: webhook, template: hooks/ping, url: "%s"}
    on: [{after: 30d, to: done}]
  done: {final: true}
"""


class Receiver(ThreadingHTTPServer):
    """A slow webhook receiver that counts each delivery by its `webhook-id`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def count(self) -> int:
        with self.lock:
            return sum(self.received.values())

    def handle_error(self, request: object, client_address: object) -> None:
        """A worker killed mid-request leaves a broken connection: expected here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with self.server.lock:
            self.server.received[self.headers["webhook-id"]] += 1
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _due_webhooks(database_url: str, url: str, count: int) -> None:
    """`count` contacts, each enrolled and with one webhook due now, in three bulk inserts."""
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    contacts, enrollments, messages = [], [], []
    for index in range(count):
        contact_id, enrollment_id = f"c-{index:05}", f"e-{index:05}"
        contacts.append(
            {"id": contact_id, "email": f"p{index}@example.com", "attributes": {}}
            | {"history_seq": 0, "created_at": now, "updated_at": now}
        )
        enrollments.append(
            {"id": enrollment_id, "contact_id": contact_id, "journey_id": "hooks", "version": "1"}
            | {"stage": "hook", "status": "active", "visit": 1, "holdout": False}
            | {"entered_at": now, "started_at": now}
        )
        messages.append(
            {"id": f"m-{index:05}", "idempotency_key": f"{enrollment_id}:hook:1"}
            | {"contact_id": contact_id, "enrollment_id": enrollment_id, "journey_id": "hooks"}
            | {"version": "1", "stage": "hook", "visit": 1, "channel": "webhook", "url": url}
            | {"template": "hooks/ping", "due_at": due, "created_at": now, **status.NEW}
        )
    db = Database(database_url)
    try:
        with db.write() as session:
            for model, rows in (
                (Contact, contacts),
                (Enrollment, enrollments),
                (Message, messages),
            ):
                session.execute(insert(model), rows)
    finally:
        db.dispose()


@dataclass
class Outbox:
    """The messages as the database has them after the process ended."""

    rows: list[tuple[str, str, datetime | None, int, str | None]]

    def keys(self, wanted: str) -> set[str]:
        return {key for key, state, *_ in self.rows if state == wanted}

    def tally(self) -> Counter[str]:
        return Counter(state for _, state, *_ in self.rows)


def _outbox(database_url: str) -> Outbox:
    db = Database(database_url)
    try:
        with db.session() as session:
            statement = select(
                Message.idempotency_key,
                Message.status,
                Message.claimed_until,
                Message.attempts,
                Message.error,
            )
            return Outbox([tuple(row) for row in session.execute(statement).all()])  # type: ignore[misc]
    finally:
        db.dispose()


def _start(command: str, database_url: str, tmp_path: Path, url: str) -> subprocess.Popen[bytes]:
    journeys, content = tmp_path / "journeys", tmp_path / "content"
    (content / "hooks").mkdir(parents=True)
    journeys.mkdir()
    (journeys / "hooks.yaml").write_text(JOURNEY % url)
    (content / "hooks" / "ping.webhook.j2").write_text(
        '{% block body %}{"contact": "{{ contact.id }}"}{% endblock %}'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env = {
        **clean,
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_JOURNEYS_DIR": str(journeys),
        "NURTURE_CONTENT_DIR": str(content),
        "NURTURE_SECRET_KEY": "shutdown-test-secret",
        "NURTURE_OUTGOING_WEBHOOK_DELIVERY": "http",
        "NURTURE_OUTGOING_WEBHOOK_SIGNING_SECRET": "whsec_c2h1dGRvd24tdGVzdC1zaWduaW5nLWtleQ==",
        "NURTURE_OUTGOING_WEBHOOK_RATE_LIMIT": "100000",
        "NURTURE_SEND_CONCURRENCY": str(CONCURRENCY),
        "NURTURE_SCHEDULER_INTERVAL": "0.2",
        "NURTURE_SHUTDOWN_GRACE_SECONDS": "20",
        "NURTURE_API_KEYS": "shutdown-test-key",
    }
    args = [command] if command == "worker" else [command, "--port", str(free_port())]
    with (tmp_path / "process.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", *args],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _stop_mid_pass(
    process: subprocess.Popen[bytes], receiver: Receiver, how: signal.Signals, log: Path
) -> int:
    """Signal the process once the receiver got STOP_AFTER messages; its exit code."""
    deadline = time.monotonic() + 20
    while receiver.count() < STOP_AFTER:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no sending under way:\n{log.read_text()}")
        time.sleep(0.02)
    process.send_signal(how)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"the process did not stop:\n{log.read_text()}")


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_sigterm_mid_pass_loses_nothing_and_exits_0(
    database_url: str, tmp_path: Path, receiver: Receiver, command: str
) -> None:
    _due_webhooks(database_url, receiver.url, DUE)
    process = _start(command, database_url, tmp_path, receiver.url)
    log = tmp_path / "process.log"
    assert _stop_mid_pass(process, receiver, signal.SIGTERM, log) == 0, log.read_text()
    outbox = _outbox(database_url)
    tally = outbox.tally()
    assert set(tally) == {MessageStatus.SENT, MessageStatus.PENDING}, (tally, log.read_text())
    sent = outbox.keys(MessageStatus.SENT)
    assert sent == set(receiver.received), "sent means received, and everything received is sent"
    assert set(receiver.received.values()) == {1}, "received exactly once"
    pending = [row for row in outbox.rows if row[1] == MessageStatus.PENDING]
    assert len(pending) == DUE - len(sent) > 0
    assert all(claimed is None and attempts == 0 for _, _, claimed, attempts, _ in pending)
    assert "Traceback" not in log.read_text()


def test_sigkill_mid_pass_leaves_at_most_the_concurrency_unknown(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    _due_webhooks(database_url, receiver.url, DUE)
    process = _start("worker", database_url, tmp_path, receiver.url)
    log = tmp_path / "process.log"
    assert _stop_mid_pass(process, receiver, signal.SIGKILL, log) == -signal.SIGKILL
    outbox = _outbox(database_url)
    sending = outbox.keys(MessageStatus.SENDING)
    sent = outbox.keys(MessageStatus.SENT)
    unreceived = len(sending - set(receiver.received))
    print(f"SIGKILL: {len(sending)} sending ({unreceived} never received), {len(sent)} sent")
    assert len(sending) <= CONCURRENCY
    assert sent <= set(receiver.received), "nothing the receiver never got is marked sent"
    assert set(receiver.received) <= sent | sending
    assert set(receiver.received.values()) == {1}
    # The next pass, once their lease is over, fails exactly those as "outcome unknown".
    db = Database(database_url)
    try:
        with db.write() as session:
            later = datetime.now(UTC) + timedelta(hours=1)
            unknown = status.fail_stale_sends(session, now=later, reason="outcome unknown")
    finally:
        db.dispose()
    assert unknown == len(sending) <= CONCURRENCY
