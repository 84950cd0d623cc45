"""A running `nurture serve` keeps link tokens and addresses out of its access log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from service.logs import redact_url
from tests.factories import free_port, wait_until_serving

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "eyJjIjoiYzEiLCJrIjoidSIsIm0iOiJtMSJ9.c2lnbmF0dXJlLW9mLWEtbGluaw"


def test_access_log_lines_are_redacted(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env = {
        **clean,
        "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path}/n.db",
        "NURTURE_JOURNEYS_DIR": str(FIXTURES / "journeys"),
        "NURTURE_CONTENT_DIR": str(FIXTURES / "content"),
        "NURTURE_RUN_SCHEDULER": "false",
        "NURTURE_SECRET_KEY": "log-test-secret",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base)
        statuses = [
            httpx.get(f"{base}/u/{TOKEN}").status_code,
            httpx.post(f"{base}/u/{TOKEN}").status_code,
            httpx.get(f"{base}/c/{TOKEN}?utm=mail").status_code,
            httpx.get(f"{base}/o/{TOKEN}").status_code,
            httpx.get(f"{base}/contacts", params={"email": "ava@example.com"}).status_code,
            httpx.get(f"{base}/contacts?phone=%2B15555550100").status_code,
            httpx.get(f"{base}/landing/ava@example.com").status_code,
        ]
        assert statuses == [403, 403, 403, 403, 404, 404, 404]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    access = [line for line in output.splitlines() if '" 40' in line]
    assert len(access) == 7, output
    assert TOKEN[:20] not in output
    assert "ava@example.com" not in output and "ava%40example.com" not in output
    assert "15555550100" not in output
    assert 'GET /u/[redacted] HTTP/1.1" 403' in output
    assert 'GET /c/[redacted]?utm=mail HTTP/1.1" 403' in output
    assert 'GET /contacts?email=[redacted] HTTP/1.1" 404' in output


def test_redaction_keeps_what_operators_need() -> None:
    assert redact_url("/contacts/3f2a/timeline?limit=5") == "/contacts/3f2a/timeline?limit=5"
    assert redact_url("/landing?nt=abc&utm_source=mail") == "/landing?nt=[redacted]&utm_source=mail"
    assert redact_url("/x?key=pk_live&token=t") == "/x?key=[redacted]&token=[redacted]"
