"""Event ingestion throughput over HTTP, as a ratio to the same app's bare /healthz.

Run: python bench/bench_api.py [--requests 2000] [--database-url URL]
Both are measured in the same run against the real service (`nurture serve`: lifespan,
middleware, auth, database) in its own process on 127.0.0.1, so the ratio is what
ingestion costs on top of the framework on this machine. Each ingested event is new (no
duplicates) and moves a contact: a signup that enrols her, then a click that moves her.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _rate(
    count: int, concurrency: int, request: Callable[[int], Awaitable[httpx.Response]]
) -> float:
    """Requests per second for `count` requests, `concurrency` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            response = await request(index)
            response.raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {
            **os.environ,
            "NURTURE_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
            "NURTURE_JOURNEYS_DIR": str(ROOT / "journeys"),
            "NURTURE_CONTENT_DIR": str(ROOT / "content"),
            "NURTURE_OUTBOX_PATH": str(Path(tmp) / "outbox.jsonl"),
            "NURTURE_RUN_SCHEDULER": "false",
            "NURTURE_LOG_LEVEL": "WARNING",
        }
        # PostgreSQL is migrated by hand in production, so here too; SQLite migrates itself.
        subprocess.run(
            [sys.executable, "-m", "service.cli", "db", "upgrade"], env=env, cwd=tmp, check=True
        )
        # The server runs in its own process, as in production, so the client's work does
        # not share its event loop.
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            baseline, measured = await _measure(f"http://127.0.0.1:{port}", args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"baseline GET /healthz:       {baseline:8,.0f} req/s")
    print(f"POST /events (enrol, move):  {measured:8,.0f} req/s")
    print(f"ratio: one event costs {baseline / measured:.1f}x a bare request")


async def _measure(base: str, args: argparse.Namespace) -> tuple[float, float]:
    run = f"{time.time_ns()}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(300):  # bounded wait for start-up (migrations, journeys)
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)

        def health(_: int) -> Awaitable[httpx.Response]:
            return client.get("/healthz")

        def ingest(index: int) -> Awaitable[httpx.Response]:
            contact = {"email": f"bride{index // 2}-{run}@example.com"}
            body = (
                {
                    "type": "web.form_submitted",
                    "properties": {"form": "wedding-signup"},
                    "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
                }
                if index % 2 == 0
                else {"type": "email.clicked", "properties": {"link": "save-the-dates"}}
            )
            payload = {"id": f"{run}-{index}", "source": "bench", "contact": contact, **body}
            return client.post("/events", json=payload)

        baseline = await _rate(args.requests, args.concurrency, health)
        measured = await _rate(args.requests, args.concurrency, ingest)
    return baseline, measured


if __name__ == "__main__":
    asyncio.run(main())
