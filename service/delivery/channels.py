"""What every provider is handed and answers, and the `log` channel that needs no account."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message ready for a provider; `idempotency_key` lets providers dedupe."""

    id: str
    idempotency_key: str
    contact_id: str
    journey: str
    stage: str
    channel: str
    template: str
    to: str | None
    subject: str
    preheader: str
    html: str
    text: str
    body: str
    url: str | None
    unsubscribe_url: str


@dataclass(frozen=True)
class DeliveryResult:
    """A provider's answer: `permanent` is never retried, `retry_after` (s) delays a retry."""

    ok: bool
    provider_message_id: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None
    # False when the fault is ours (refused credentials): the message waits for the fix
    # without using up its attempts.
    counts_as_attempt: bool = True


class Channel(Protocol):
    """Sends one message through one provider, behind which any provider can sit."""

    # A channel may say how many messages it takes at once (`concurrency`, an int); otherwise
    # NURTURE_SEND_CONCURRENCY applies. Messages wait for that gate before they are marked
    # sending, so `send` must wait for nothing but the provider itself.

    async def ready(self) -> None:
        """Wait until the provider may take one more message (rate limits)."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Send now and classify the answer; network trouble is an answer, never a crash."""
        ...


class LogChannel:
    """Appends each message as a JSON line to a file (the outbox log)."""

    # As many writer threads as messages it takes at once, so none waits once handed over.
    concurrency = 4

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # whole lines, never interleaved
        self._writers = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="outbox-log"
        )

    async def ready(self) -> None:
        """A local file has no rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Write the line; a write error is transient, so the message is retried."""
        line = json.dumps(asdict(message), ensure_ascii=False, sort_keys=True) + "\n"
        try:
            await asyncio.get_running_loop().run_in_executor(self._writers, self._append, line)
        except OSError as exc:
            return DeliveryResult(ok=False, error=f"cannot write {self.path}: {exc.strerror}")
        return DeliveryResult(ok=True, provider_message_id=f"log:{message.id}")

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line)


def default_channels(outbox_path: Path) -> dict[str, Channel]:
    """Every channel goes to the log file until providers are configured."""
    log = LogChannel(outbox_path)
    return {"email": log, "sms": log, "webhook": log}
