"""A bounded HTTP/1.1 load generator: N keep-alive connections, a fixed number of requests.

Written on asyncio streams rather than an HTTP client library, so that one client process
can offer several thousand requests a second on a small machine and the server, not the
client, is what gets measured. It speaks just enough HTTP/1.1 for a JSON API on
127.0.0.1: Content-Length bodies, keep-alive, no chunked requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Load:
    """What one run measured: requests per second and each request's latency."""

    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _request(host: str, port: int, path: str, body: Any) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def post_load(
    *,
    host: str,
    port: int,
    path: str,
    count: int,
    connections: int,
    body: Callable[[int], Any],
    rate: float | None = None,
) -> Load:
    """POST `count` bodies (`body(index)`), `connections` at a time over keep-alive; with
    `rate`, the i-th request starts no sooner than i / rate seconds in (an offered load)."""
    indexes = iter(range(count))
    load = Load(requests=count, seconds=0.0)
    # Requests are built before the clock starts, so JSON encoding is not measured.
    prepared = [_request(host, port, path, body(index)) for index in range(count)]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for index in indexes:
                if rate is not None:
                    await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
                started = time.perf_counter()
                writer.write(prepared[index])
                status, _ = await _response(reader)
                load.latencies.append(time.perf_counter() - started)
                load.statuses[status] = load.statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    load.seconds = time.perf_counter() - start
    return load
