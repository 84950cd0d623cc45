"""Claim, prepare, render, send, record: due messages go out once across any workers."""

# Claims are leases (`claimed_until`) taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
# any number of workers can run side by side; a worker that dies leaves rows that another
# claims once the lease expires. Each message then takes its turn through its channel's gate
# (at most the channel's concurrency at once): the provider's rate limit, the send-time rules
# under the claim, the render with no transaction open, and a short transaction that proves
# the claim is still ours and marks the message `sending` just before it is handed over. So
# only messages a provider actually holds are ever `sending`, and a crash can leave at most
# the gates' sizes of them with an unknown outcome. A stop hands back every claimed message
# not yet marked, and lets those in hand finish.

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.delivery import outbox, rules, status
from service.delivery.channels import Channel, DeliveryResult, OutgoingMessage
from service.delivery.compose import Draft, draft, finish
from service.delivery.status import Outcome
from service.errors import JourneyError, NurtureError
from service.runtime import Runtime
from service.store.models import Message, MessageStatus
from service.tracking.links import link_secret

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_PASS = 50
STALE_SEND = "delivery outcome unknown: the sending worker stopped; not resent"


def _claimed(session: Session, message_id: str, lease: datetime) -> Message | Outcome:
    """The pending message, locked, while the claim is still ours; else why it is not."""
    message = outbox.get_message(session, message_id=message_id, lock=True)
    if message is None or message.status != MessageStatus.PENDING:
        return Outcome.GONE
    if message.claimed_until != lease:
        return Outcome.CLAIMED_ELSEWHERE
    return message


class _Stopped(Exception):
    """The worker is stopping: the message goes back unsent."""


class Dispatcher:
    """Sends one process's share of the due messages, so workers scale out side by side."""

    def __init__(
        self, runtime: Runtime, channels: dict[str, Channel], jitter: Callable[[], float]
    ) -> None:
        self.runtime = runtime
        self.channels = channels
        self.jitter = jitter  # in [0, 1), spreads retries
        self.secret = link_secret(runtime.settings.secret_key)
        self._gates: dict[int, asyncio.Semaphore] = {}
        self._stop = asyncio.Event()
        self._stopping = threading.Event()  # read by work running in threads

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for: nothing more is claimed or handed over."""
        return self._stopping.is_set()

    def request_stop(self) -> None:
        """Claim no more, hand back what is not yet with a channel, finish what is."""
        self._stopping.set()
        self._stop.set()

    def lease(self, now: datetime) -> datetime:
        """Until when a claim taken at `now` holds, after which another worker may take it."""
        return now + timedelta(seconds=self.runtime.settings.claim_lease_seconds)

    def concurrency(self, channel: Channel | None) -> int:
        """How many messages a channel may hold at once (its own bound, or the setting)."""
        own = getattr(channel, "concurrency", None)
        return own if isinstance(own, int) and own > 0 else self.runtime.settings.send_concurrency

    async def send_due(self, now: datetime) -> list[Outcome]:
        """Send every message due at `now`, in batches; each turn's outcome, for the report."""
        batch = self.runtime.settings.scheduler_batch
        await asyncio.to_thread(self._give_up_stale_sends, now)
        outcomes: list[Outcome] = []
        for _ in range(MAX_BATCHES_PER_PASS):
            if self.stopping:
                break
            lease = self.lease(now)
            claimed = await asyncio.to_thread(self._claim, now, lease, batch)
            try:
                outcomes += await asyncio.gather(
                    *(
                        self._deliver(message_id, channel, now, lease)
                        for message_id, channel in claimed
                    )
                )
            finally:
                if self.stopping:
                    ids = [message_id for message_id, _ in claimed]
                    # Shielded: the release must land even when a late stop cancels the pass.
                    await asyncio.shield(asyncio.to_thread(self._hand_back, ids, lease))
            if len(claimed) < batch:
                break
        return outcomes

    def _claim(self, now: datetime, lease: datetime, limit: int) -> list[tuple[str, str]]:
        with self.runtime.db.write() as session:
            return outbox.claim_due(session, now=now, lease_until=lease, limit=limit)

    def _give_up_stale_sends(self, now: datetime) -> None:
        with self.runtime.db.write() as session:
            stale = status.fail_stale_sends(session, now=now, reason=STALE_SEND)
        if stale:
            logger.warning("%d message(s) left sending by a stopped worker marked failed", stale)

    def _hand_back(self, message_ids: list[str], lease: datetime) -> None:
        with self.runtime.db.write() as session:
            released = status.hand_back(session, message_ids=message_ids, lease=lease)
        if released:
            logger.info("stopping: %d claimed message(s) handed back unsent", released)

    def _gate(self, channel: Channel | None) -> asyncio.Semaphore:
        """One gate per channel instance (a shared log file has one), sized by concurrency."""
        key = id(channel)
        if key not in self._gates:
            self._gates[key] = asyncio.Semaphore(self.concurrency(channel))
        return self._gates[key]

    async def _unless_stopping(self, waiting: Awaitable[Any]) -> None:
        """Wait (for a rate limit), unless a stop comes first: then the message goes back."""
        task = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
        if not task.done() or task.cancelled():
            raise _Stopped
        task.result()

    async def _deliver(
        self, message_id: str, channel_name: str, now: datetime, lease: datetime
    ) -> Outcome:
        """One message's turn, inside its channel's gate, so a wait never holds it `sending`."""
        send_lease: datetime | None = None
        channel = self.channels.get(channel_name)
        try:
            async with self._gate(channel):
                if self.stopping:
                    raise _Stopped
                if channel is not None:
                    await self._unless_stopping(channel.ready())
                prepared = await asyncio.to_thread(self._prepare, message_id, now, lease)
                if isinstance(prepared, Outcome):
                    return prepared
                outgoing = await asyncio.to_thread(self._render, prepared)
                if isinstance(outgoing, JourneyError):
                    return await asyncio.to_thread(self._unrenderable, message_id, lease, outgoing)
                if self.stopping:
                    raise _Stopped
                send_lease = self.lease(self.runtime.clock.now())
                refused = await asyncio.to_thread(
                    self._mark_sending, message_id, outgoing, lease, send_lease
                )
                if refused is not None:
                    return refused  # or held: a holdout contact's message stops here
                # Handed over: from here the message finishes its turn even during a stop.
                if channel is None:
                    error = f"no channel configured for {outgoing.channel}"
                    result = DeliveryResult(ok=False, error=error, permanent=True)
                else:
                    result = await channel.send(outgoing)
                return await asyncio.to_thread(self._record, message_id, result, now, send_lease)
        except _Stopped:
            return Outcome.HANDED_BACK
        except Exception:
            logger.exception("delivery of message %s failed", message_id)
            await asyncio.to_thread(self._after_crash, message_id, lease, send_lease)
            return Outcome.CRASHED

    def _prepare(self, message_id: str, now: datetime, lease: datetime) -> Draft | Outcome:
        """Check the rules and read the template's needs under the claim; render after commit."""
        with self.runtime.db.write() as session:
            found = outbox.get_message(session, message_id=message_id)
            if found is None:
                return Outcome.GONE
            # Contact before message, the order all work locks in: one contact's sends are
            # checked against the frequency cap strictly in turn, across workers.
            contact = contacts_repo.lock_contact(session, contact_id=found.contact_id)
            message = _claimed(session, message_id, lease)
            if contact is None:
                return Outcome.GONE
            if isinstance(message, Outcome):
                return message
            # Rows read in this session are tracked: what `status` writes is committed.
            refusal = rules.refusal(session, message=message, contact=contact)
            if refusal is not None:
                return status.refuse(message, status=refusal.status, reason=refusal.reason)
            later = rules.deferral(session, self.runtime, message=message, contact=contact, now=now)
            if later is not None:
                if later.note is not None:
                    outbox.add_note(
                        session, contact=contact, message=message, note=later.note, at=now
                    )
                return status.defer(message, until=later.until, note=later.note)
            try:
                return draft(
                    session,
                    self.runtime,
                    message=message,
                    contact=contact,
                    secret=self.secret,
                    now=now,
                )
            except (JourneyError, NurtureError) as exc:
                return status.refuse(message, status=MessageStatus.FAILED, reason=exc.message)

    def _render(self, prepared: Draft) -> OutgoingMessage | JourneyError:
        """Render with no transaction open, so a slow template holds no lock."""
        try:
            return finish(self.runtime.content, prepared)
        except JourneyError as exc:
            return exc

    def _unrenderable(self, message_id: str, lease: datetime, error: JourneyError) -> Outcome:
        """Fail for good, while the claim is still ours, a message its template cannot make."""
        with self.runtime.db.write() as session:
            message = _claimed(session, message_id, lease)
            if isinstance(message, Outcome):
                return message
            logger.warning("message %s cannot be rendered: %s", message_id, error.message)
            return status.fail_unrenderable(message, reason=error.message)

    def _mark_sending(
        self, message_id: str, outgoing: OutgoingMessage, lease: datetime, send_lease: datetime
    ) -> Outcome | None:
        """Mark `sending` only while the claim is still ours, so the message goes out once;
        a holdout contact's message is marked `held` here instead and goes nowhere."""
        with self.runtime.db.write() as session:
            message = _claimed(session, message_id, lease)
            if isinstance(message, Outcome):
                return message
            if outbox.in_holdout(session, message=message):
                return status.hold(message, outgoing=outgoing, now=self.runtime.clock.now())
            status.mark_sending(message, outgoing=outgoing, send_lease=send_lease)
            return None

    def _record(
        self, message_id: str, result: DeliveryResult, now: datetime, send_lease: datetime
    ) -> Outcome:
        """Store the answer only while our send lease holds, so a lost claim writes nothing."""
        with self.runtime.db.write() as session:
            message = outbox.get_message(session, message_id=message_id, lock=True)
            if message is None:
                return Outcome.GONE
            if message.status != MessageStatus.SENDING or message.claimed_until != send_lease:
                logger.error("message %s changed while it was being sent: %s", message_id, result)
                return Outcome.CLAIMED_ELSEWHERE

            def allowed(moment: datetime) -> datetime:
                """Her send window, looked up only when a retry needs it."""
                contact = contacts_repo.get_contact(session, contact_id=message.contact_id)
                return rules.window_opens(
                    self.runtime, message=message, contact=contact, moment=moment
                )

            return status.record_result(
                message,
                result=result,
                now=now,
                max_attempts=self.runtime.settings.max_send_attempts,
                jitter=self.jitter,
                allowed=allowed,
            )

    def _after_crash(self, message_id: str, lease: datetime, send_lease: datetime | None) -> None:
        with self.runtime.db.write() as session:
            message = outbox.get_message(session, message_id=message_id, lock=True)
            if message is None:
                return
            status.after_crash(
                message,
                lease=lease,
                send_lease=send_lease,
                max_attempts=self.runtime.settings.max_send_attempts,
            )
