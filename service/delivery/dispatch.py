"""Claim, prepare, render, send, record: due messages go out once across any workers."""

# Claims are leases (`claimed_until`) taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
# any number of workers can run side by side; a worker that dies leaves rows that another
# claims once the lease expires. A message is only handed to a channel by the worker whose
# lease is still on the row, and it is marked sending in the same breath, so it goes out once.

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from service.contacts import repository as contacts_repo
from service.delivery import outbox, rules, status
from service.delivery.channels import Channel, DeliveryResult, OutgoingMessage
from service.delivery.compose import compose
from service.delivery.status import Outcome
from service.errors import JourneyError, NurtureError
from service.runtime import Runtime
from service.store.models import MessageStatus
from service.tracking.links import link_secret

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_PASS = 50
STALE_SEND = "delivery outcome unknown: the sending worker stopped; not resent"


class Dispatcher:
    """Sends one process's share of the due messages, so workers scale out side by side."""

    def __init__(
        self, runtime: Runtime, channels: dict[str, Channel], jitter: Callable[[], float]
    ) -> None:
        self.runtime = runtime
        self.channels = channels
        self.jitter = jitter  # in [0, 1), spreads retries
        self.secret = link_secret(runtime.settings.secret_key)

    def lease(self, now: datetime) -> datetime:
        """Until when a claim taken at `now` holds, after which another worker may take it."""
        return now + timedelta(seconds=self.runtime.settings.claim_lease_seconds)

    async def send_due(self, now: datetime) -> list[Outcome]:
        """Send every message due at `now`, in batches; each turn's outcome, for the report."""
        batch = self.runtime.settings.scheduler_batch
        await asyncio.to_thread(self._give_up_stale_sends, now)
        outcomes: list[Outcome] = []
        for _ in range(MAX_BATCHES_PER_PASS):
            lease = self.lease(now)
            claimed = await asyncio.to_thread(self._claim, now, lease, batch)
            outcomes += await asyncio.gather(
                *(self._deliver(message_id, channel, now, lease) for message_id, channel in claimed)
            )
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

    async def _deliver(
        self, message_id: str, channel_name: str, now: datetime, lease: datetime
    ) -> Outcome:
        """Rate limit before marking sending, so a long wait loses the claim, never doubles."""
        send_lease: datetime | None = None
        try:
            channel = self.channels.get(channel_name)
            if channel is not None:
                await channel.ready()
            send_lease = self.lease(self.runtime.clock.now())
            outgoing = await asyncio.to_thread(self._prepare, message_id, now, lease, send_lease)
            if isinstance(outgoing, Outcome):
                return outgoing
            if channel is None:
                result = DeliveryResult(
                    ok=False, error=f"no channel configured for {outgoing.channel}", permanent=True
                )
            else:
                result = await channel.send(outgoing)
            return await asyncio.to_thread(self._record, message_id, result, now, send_lease)
        except Exception:
            logger.exception("delivery of message %s failed", message_id)
            await asyncio.to_thread(self._after_crash, message_id, lease, send_lease)
            return Outcome.CRASHED

    def _prepare(
        self, message_id: str, now: datetime, lease: datetime, send_lease: datetime
    ) -> OutgoingMessage | Outcome:
        """Re-check and render under the claim, as anything may have changed since queueing."""
        with self.runtime.db.write() as session:
            found = outbox.get_message(session, message_id=message_id)
            if found is None:
                return Outcome.GONE
            # Contact before message, the order all work locks in: one contact's sends are
            # checked against the frequency cap strictly in turn, across workers.
            contact = contacts_repo.lock_contact(session, contact_id=found.contact_id)
            message = outbox.get_message(session, message_id=message_id, lock=True)
            if contact is None or message is None or message.status != MessageStatus.PENDING:
                return Outcome.GONE
            if message.claimed_until != lease:
                return Outcome.CLAIMED_ELSEWHERE
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
                outgoing = compose(
                    session,
                    self.runtime,
                    message=message,
                    contact=contact,
                    secret=self.secret,
                    now=now,
                )
            except (JourneyError, NurtureError) as exc:
                return status.refuse(message, status=MessageStatus.FAILED, reason=exc.message)
            status.mark_sending(message, outgoing=outgoing, send_lease=send_lease)
            return outgoing

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
