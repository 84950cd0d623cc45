"""A real `nurture serve` process on 127.0.0.1, for tests that drive it with real clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.factories import FIXTURES

WRITE_KEY = "wk_live_test"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def nurture_serve(database_url: str, tmp_path: Path, **env: str) -> Iterator[str]:
    """Start `nurture serve` with the fixture journeys; its base URL until the block ends."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    settings = {
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_JOURNEYS_DIR": str(FIXTURES / "journeys"),
        "NURTURE_CONTENT_DIR": str(FIXTURES / "content"),
        "NURTURE_OUTBOX_PATH": str(tmp_path / "outbox.jsonl"),
        "NURTURE_SECRET_KEY": "live-test-secret",
        "NURTURE_RUN_SCHEDULER": "false",
        "NURTURE_SEGMENT_WRITE_KEYS": f"{WRITE_KEY}=shop",
        "NURTURE_LOG_LEVEL": "WARNING",
        **env,
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env={**clean, **settings},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, base_url, tmp_path / "serve.log")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nurture serve stopped: {log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"nurture serve did not start: {log.read_text()}")
