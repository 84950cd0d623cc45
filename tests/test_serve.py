"""`nurture serve` hands uvicorn a process whose start-up objects the collector no longer
walks, so its first full pass does not land on the first requests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.factories import FIXTURES

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
