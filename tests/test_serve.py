"""`nurture serve` hands uvicorn a process whose start-up objects the collector no longer
walks, so its first full pass does not land on the first requests; `--workers` runs several
such processes on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.factories import FIXTURES, free_port, signup, wait_until_serving

# uvicorn.run replaced by a report of how many objects are frozen when serving would begin.
SERVE_AND_REPORT = """
import gc, sys, uvicorn
from service import main
uvicorn.run = lambda app, **options: print("frozen", gc.get_freeze_count())
sys.exit(main.serve("127.0.0.1", 8000))
"""


def test_serve_freezes_what_start_up_built(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    result = subprocess.run(
        [sys.executable, "-c", SERVE_AND_REPORT],
        cwd=tmp_path,
        env={
            **clean,
            "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path}/n.db",
            "NURTURE_JOURNEYS_DIR": str(FIXTURES / "journeys"),
            "NURTURE_CONTENT_DIR": str(FIXTURES / "content"),
            "NURTURE_OUTBOX_PATH": str(tmp_path / "outbox.jsonl"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    word, count = result.stdout.split()
    # Modules, the app and its compiled templates and routes: tens of thousands of objects.
    assert word == "frozen" and int(count) > 10_000


def _serve_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    return {
        **clean,
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_JOURNEYS_DIR": str(FIXTURES / "journeys"),
        "NURTURE_CONTENT_DIR": str(FIXTURES / "content"),
        "NURTURE_OUTBOX_PATH": str(tmp_path / "outbox.jsonl"),
        "NURTURE_SECRET_KEY": "serve-test-secret",
    }


def test_several_workers_serve_and_apply_on_postgresql(database_url: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "service.cli", "serve", "--workers", "2"]
    env = _serve_env(database_url, tmp_path)
    if database_url.startswith("sqlite"):
        refused = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2
        assert "--workers needs PostgreSQL" in refused.stderr
        return
    port = free_port()
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, path="/readyz")
        answers = [
            httpx.post(f"{base}/events?wait=true", json=signup(f"w{n}@example.com"), timeout=30)
            for n in range(6)
        ]
        assert [a.status_code for a in answers] == [200] * 6
        assert all(a.json()["enrolled"][0]["journey"] == "wedding-story" for a in answers)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert output.count("Application startup complete") == 2, output
