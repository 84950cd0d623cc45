"""A small pool of SMTP connections to one server, reused while fresh, to skip handshakes."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

IDLE_SECONDS = 30.0  # servers drop idle clients after a while; older connections are renewed
MESSAGES_PER_CONNECTION = 100  # many servers cap a session's messages; renew before they do

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, checked once at start-up."""

    host: str
    port: int
    security: Security
    helo_name: str
    timeout: float
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    tls: ssl.SSLContext | None = None


class PoolBusy(Exception):
    """Every connection stayed busy for the whole timeout."""


class Dropped(Exception):
    """A pooled connection the server had closed before this message began."""


@dataclass
class _Connection:
    """A connection with what decides whether it may carry one more message."""

    smtp: aiosmtplib.SMTP
    transactions: int = 0
    idle_since: float = 0.0

    def reusable(self, now: float) -> bool:
        """Still open, not idle long enough for the server to drop it, under its message cap."""
        return (
            self.smtp.is_connected
            and now - self.idle_since < IDLE_SECONDS
            and self.transactions < MESSAGES_PER_CONNECTION
        )


class SmtpPool:
    """At most `size` connections to one server, reused while fresh, to skip the handshake."""

    def __init__(self, server: SmtpServer, *, size: int) -> None:
        self.server = server
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a free connection as long as the timeout, as HTTP pool waits do."""
        try:
            async with asyncio.timeout(self.server.timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolBusy from None
        try:
            yield
        finally:
            self._slots.release()

    async def take(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A pooled connection (True) or a new one (False); the caller holds a slot."""
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.reusable(time.monotonic()):
                return connection, True
            await self._quit(connection)
        return _Connection(await self._open()), False

    def give_back(self, connection: _Connection) -> None:
        """Keep a connection whose last transaction ended cleanly for the next message."""
        connection.idle_since = time.monotonic()
        if connection.smtp.is_connected:
            self._idle.append(connection)

    async def aclose(self) -> None:
        """Say goodbye to the server on every idle connection."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._quit(connection)

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, secure and log in, or raise what went wrong for the caller to classify."""
        server = self.server
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            local_hostname=server.helo_name,
            timeout=server.timeout,
            use_tls=server.security == "tls",
            start_tls=server.security == "starttls",
            tls_context=server.tls,
        )
        try:
            await smtp.connect()
            if server.username is not None:
                await smtp.login(server.username, server.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _quit(self, connection: _Connection) -> None:
        """QUIT politely when the server still listens; close in any case."""
        try:
            if connection.smtp.is_connected:
                await connection.smtp.quit(timeout=min(self.server.timeout, 5.0))
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            connection.smtp.close()
