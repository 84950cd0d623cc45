"""The `nurture` command stops bad set-ups with one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=tmp_path,
        env={**clean, "NURTURE_DATABASE_URL": f"sqlite:///{tmp_path}/n.db", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "worker", "validate"])
def test_invalid_setting_is_one_line(tmp_path: Path, command: str) -> None:
    result = _run(tmp_path, command, NURTURE_SCHEDULER_INTERVAL="0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "nurture: invalid settings: NURTURE_SCHEDULER_INTERVAL: Input should be greater than 0"
    ]


def test_serve_with_broken_journeys_stops_with_one_line(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "bad.yaml").write_text("journey: bad\nentry: {event: web.form_submitted}\n")
    result = _run(
        tmp_path,
        "serve",
        "--port",
        "0",
        NURTURE_JOURNEYS_DIR=str(journeys),
        NURTURE_CONTENT_DIR=str(REPO / "content"),
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    [stop] = [line for line in output.splitlines() if "cannot start:" in line]
    assert stop.endswith(f"cannot start: {journeys / 'bad.yaml'}:1: missing field 'initial'")


def test_serve_refuses_the_development_link_key_for_a_public_address(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        "serve",
        NURTURE_PUBLIC_BASE_URL="https://mail.example.com",
        NURTURE_JOURNEYS_DIR=str(REPO / "journeys"),
        NURTURE_CONTENT_DIR=str(REPO / "content"),
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    [stop] = [line for line in output.splitlines() if "cannot start:" in line]
    assert "NURTURE_SECRET_KEY must be set" in stop


@pytest.mark.parametrize("zone", ["America", "Europe/", "A" * 300, "Mars/Olympus"])
@pytest.mark.parametrize("command", ["serve", "db"])
def test_an_unknown_default_timezone_is_one_line(tmp_path: Path, command: str, zone: str) -> None:
    args = [command, "upgrade"] if command == "db" else [command, "--port", "0"]
    result = _run(tmp_path, *args, NURTURE_DEFAULT_TIMEZONE=zone)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("nurture: invalid settings: NURTURE_DEFAULT_TIMEZONE: ")
    assert "unknown IANA timezone" in line
