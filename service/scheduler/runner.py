"""One scheduler pass: fire due timers, then send due messages, each claimed before use.

Claims are leases (`claimed_until`) taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
any number of workers can run side by side; a worker that dies leaves rows that another
claims once the lease expires. A message is only handed to a channel by the worker whose
lease is still on the row, and it is marked sent in the same breath, so it goes out once.
Under the claim the send-time rules are checked again: enrollment, consent and suppression,
address, the journey's send window and the frequency cap (README, "Delivery").
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from service.delivery.channels import (
    Channel,
    DeliveryResult,
    OutgoingMessage,
    default_channels,
    retry_delay_seconds,
)
from service.engine.core import ENDED_EARLY, EventView, Status
from service.engine.render import message_context
from service.engine.timing import next_allowed, zone
from service.errors import JourneyError, NurtureError
from service.links import SignedLinks, link_secret
from service.processing import contact_view, run_timer
from service.runtime import Runtime
from service.store import repository as repo
from service.store.models import Contact, Message, MessageStatus
from webhooks.common import is_e164

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 50
CHANNEL_ADDRESS = {"email": "email", "sms": "phone"}
OPT_OUT_HINT = "Reply STOP to opt out"
CAP_WINDOW = timedelta(hours=24)


@dataclass
class RunReport:
    """What one pass did, for logs and tests."""

    timers: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


class Scheduler:
    """The due-work loop of one process; `run_once` is one pass at a given moment."""

    def __init__(
        self,
        runtime: Runtime,
        channels: dict[str, Channel] | None = None,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.runtime = runtime
        self.channels = channels or default_channels(runtime.settings.outbox_path)
        self.jitter = jitter
        self.secret = link_secret(runtime.settings.secret_key)
        self.running = asyncio.Lock()

    async def tick(self) -> None:
        """The interval job: one pass now, never two at once in this process."""
        if self.running.locked():
            return
        try:
            report = await self.run_once()
        except Exception:
            logger.exception("scheduler pass failed; due work stays queued for the next one")
            return
        if report.timers or report.sent or report.failed:
            logger.info(
                "scheduler pass: %d timers, %d sent, %d failed, %d skipped",
                report.timers,
                report.sent,
                report.failed,
                report.skipped,
            )

    async def run_once(self, now: datetime | None = None) -> RunReport:
        """Fire every due timer, then send every due message, as of `now` (default: clock)."""
        async with self.running:
            moment = now or self.runtime.clock.now()
            report = RunReport()
            report.timers = await asyncio.to_thread(self._run_timers, moment)
            await self._send_due(moment, report)
            return report

    # ----- timers ---------------------------------------------------------------------------

    def _lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.runtime.settings.claim_lease_seconds)

    def _run_timers(self, now: datetime) -> int:
        fired = 0
        batch = self.runtime.settings.scheduler_batch
        for _ in range(MAX_BATCHES_PER_RUN):
            with self.runtime.db.write() as session:
                claimed = repo.claim_due_enrollments(
                    session, now=now, lease_until=self._lease(now), limit=batch
                )
            for enrollment_id, contact_id in claimed:
                try:
                    outcome = run_timer(
                        self.runtime, enrollment_id=enrollment_id, contact_id=contact_id, now=now
                    )
                    fired += bool(outcome.moved)
                except Exception:
                    logger.exception("timer of enrollment %s failed; retried later", enrollment_id)
            if len(claimed) < batch:
                break
        return fired

    # ----- messages -------------------------------------------------------------------------

    async def _send_due(self, now: datetime, report: RunReport) -> None:
        batch = self.runtime.settings.scheduler_batch
        await asyncio.to_thread(self._give_up_stale_sends, now)
        for _ in range(MAX_BATCHES_PER_RUN):
            lease = self._lease(now)
            claimed = await asyncio.to_thread(self._claim_messages, now, lease, batch)
            results = await asyncio.gather(
                *(self._deliver(message_id, channel, now, lease) for message_id, channel in claimed)
            )
            for outcome in results:
                if outcome == MessageStatus.SENT:
                    report.sent += 1
                elif outcome == MessageStatus.FAILED:
                    report.failed += 1
                else:
                    report.skipped += 1
            if len(claimed) < batch:
                break

    def _claim_messages(self, now: datetime, lease: datetime, limit: int) -> list[tuple[str, str]]:
        with self.runtime.db.write() as session:
            return repo.claim_due_messages(session, now=now, lease_until=lease, limit=limit)

    def _give_up_stale_sends(self, now: datetime) -> None:
        """A worker that stopped while a provider had the message leaves it `sending`; whether
        it went out is unknown, and sending again could send twice, so it fails visibly."""
        with self.runtime.db.write() as session:
            stale = repo.fail_stale_sends(
                session,
                now=now,
                reason="delivery outcome unknown: the sending worker stopped; not resent",
            )
        if stale:
            logger.warning("%d message(s) left sending by a stopped worker marked failed", stale)

    async def _deliver(
        self, message_id: str, channel_name: str, now: datetime, lease: datetime
    ) -> str | None:
        """Rate limit first, then (under the claim) check, render and mark sending, then send.

        Waiting for a rate limit happens before the message is marked sending, so a long
        wait can only lose the claim to another worker, never send the message twice.
        """
        send_lease: datetime | None = None
        try:
            channel = self.channels.get(channel_name)
            if channel is not None:
                await channel.ready()
            send_lease = self._lease(self.runtime.clock.now())
            outgoing = await asyncio.to_thread(self._prepare, message_id, now, lease, send_lease)
            if isinstance(outgoing, str):
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
            return None

    def _after_crash(self, message_id: str, lease: datetime, send_lease: datetime | None) -> None:
        """After an internal error: a message that may have reached the provider fails as
        'outcome unknown' (never resent); one that cannot have is retried until attempts
        run out."""
        limit = self.runtime.settings.max_send_attempts
        with self.runtime.db.write() as session:
            message = repo.get_message(session, message_id=message_id, lock=True)
            if message is None:
                return
            if message.status == MessageStatus.SENDING and message.claimed_until == send_lease:
                message.error = "delivery outcome unknown: internal error during send; not resent"
            elif (
                message.status == MessageStatus.PENDING
                and message.claimed_until == lease
                and message.attempts >= limit
            ):
                message.error = f"gave up after {message.attempts} attempts (internal errors)"
            else:
                return
            message.status = MessageStatus.FAILED
            message.claimed_until = None
            session.add(message)

    def _prepare(
        self, message_id: str, now: datetime, lease: datetime, send_lease: datetime
    ) -> OutgoingMessage | str:
        """Re-check and render under the claim, then mark it sending under `send_lease`; a
        status string when it must not be sent."""
        with self.runtime.db.write() as session:
            found = repo.get_message(session, message_id=message_id)
            if found is None:
                return "gone"
            # Contact before message, the order all work locks in: one contact's sends are
            # checked against the frequency cap strictly in turn, across workers.
            contact = repo.lock_contact(session, contact_id=found.contact_id)
            message = repo.get_message(session, message_id=message_id, lock=True)
            if contact is None or message is None or message.status != MessageStatus.PENDING:
                return "gone"
            if message.claimed_until != lease:
                return "claimed elsewhere"
            refusal = self._refusal(session, message)
            if refusal is not None:
                status, reason = refusal
                message.status = status
                message.error = reason
                message.claimed_until = None
                session.add(message)
                return status
            later = self._deferral(session, message, contact, now)
            if later is not None:
                message.due_at = later
                message.claimed_until = None
                message.attempts -= 1  # waiting is not a failed attempt
                session.add(message)
                return "deferred"
            try:
                outgoing = self._render(session, message, now)
            except (JourneyError, NurtureError) as exc:
                message.status = MessageStatus.FAILED
                message.error = exc.message
                message.claimed_until = None
                session.add(message)
                return MessageStatus.FAILED
            message.subject = outgoing.subject
            message.preheader = outgoing.preheader
            message.html = outgoing.html
            message.text = outgoing.text
            message.body = outgoing.body
            message.status = MessageStatus.SENDING
            message.claimed_until = send_lease
            session.add(message)
            return outgoing

    def _refusal(self, session: Session, message: Message) -> tuple[str, str] | None:
        """Why the message must not go out now: enrollment over, no consent, no address."""
        enrollment = repo.get_enrollment(session, enrollment_id=message.enrollment_id)
        if enrollment is None or Status(enrollment.status) in ENDED_EARLY:
            status = enrollment.status if enrollment else "deleted"
            return MessageStatus.CANCELED, f"enrollment {status} before sending"
        if message.channel == "webhook":
            return None
        blocked = repo.blocked_reason(
            session, contact_id=message.contact_id, channel=message.channel
        )
        if blocked is not None:
            return MessageStatus.SUPPRESSED, blocked
        contact = repo.get_contact(session, contact_id=message.contact_id)
        address = CHANNEL_ADDRESS.get(message.channel)
        if contact is None or (address and not getattr(contact, address)):
            return MessageStatus.FAILED, f"the contact has no {address or 'address'}"
        if message.channel == "sms" and not is_e164(contact.phone or ""):
            return MessageStatus.FAILED, "the contact's phone number is not E.164 (+ and digits)"
        return None

    def _allowed(self, message: Message, contact: Contact | None, moment: datetime) -> datetime:
        """The first moment from `moment` that the journey's send window allows for her."""
        if message.channel == "webhook":
            return moment
        compiled = self.runtime.journeys.get(message.journey_id, message.version)
        tz = zone(contact.timezone if contact else None, self.runtime.settings.default_timezone)
        return next_allowed(moment, compiled.journey.send_window, tz)

    def _deferral(
        self, session: Session, message: Message, contact: Contact, now: datetime
    ) -> datetime | None:
        """When a sendable message must wait instead: outside its send window (it was
        claimed late), or over the frequency cap, which delays and notes it, never drops."""
        opens = self._allowed(message, contact, now)
        if opens > now:
            return opens
        cap = self.runtime.settings.frequency_cap
        if not cap or message.channel == "webhook":
            return None
        sent = repo.recent_send_times(
            session,
            contact_id=contact.id,
            since=now - CAP_WINDOW,
            now=now,
            exclude_id=message.id,
        )
        if len(sent) < cap:
            return None
        until = self._allowed(message, contact, sent[len(sent) - cap] + CAP_WINDOW)
        note = f"delayed by frequency cap until {until.isoformat()}"
        message.error = note
        repo.add_note(session, contact=contact, message=message, note=note, at=now)
        return until

    def _render(self, session: Session, message: Message, now: datetime) -> OutgoingMessage:
        contact = repo.get_contact(session, contact_id=message.contact_id)
        if contact is None:
            raise NurtureError("the contact no longer exists")
        compiled = self.runtime.journeys.get(message.journey_id, message.version)
        event = repo.get_event(session, row_id=message.event_id) if message.event_id else None
        event_view = (
            EventView(
                type=event.type,
                time=event.time,
                properties=event.properties,
                id=event.event_id,
                source=event.source,
            )
            if event
            else None
        )
        links = SignedLinks(
            base_url=self.runtime.settings.public_base_url.rstrip("/"),
            secret=self.secret,
            message_id=message.id,
            contact_id=contact.id,
        )
        local_today = now.astimezone(
            zone(contact.timezone, self.runtime.settings.default_timezone)
        ).date()
        context = message_context(
            contact=contact_view(contact).as_context(),
            journey={
                "id": compiled.id,
                "version": compiled.version,
                "persona": compiled.journey.persona,
            },
            stage=message.stage,
            event=event_view.as_context() if event_view else None,
            recommendations=list(compiled.stage(message.stage).recommend),
            links=links,
            today=local_today,
        )
        rendered = self.runtime.content.render(message.channel, message.template, context)
        address = CHANNEL_ADDRESS.get(message.channel)
        page = rendered.html
        if message.channel == "email" and self.runtime.settings.open_tracking:
            page = with_pixel(page, links.open_pixel())
        body = rendered.body
        if (
            message.channel == "sms"
            and "STOP" not in body
            and not repo.has_sent(session, enrollment_id=message.enrollment_id, channel="sms")
        ):
            body = f"{body}\n{OPT_OUT_HINT}"
        return OutgoingMessage(
            id=message.id,
            idempotency_key=message.idempotency_key,
            contact_id=message.contact_id,
            journey=message.journey_id,
            stage=message.stage,
            channel=message.channel,
            template=message.template,
            to=getattr(contact, address) if address else message.url,
            subject=rendered.subject,
            preheader=rendered.preheader,
            html=page,
            text=rendered.text,
            body=body,
            url=message.url,
            unsubscribe_url=links.unsubscribe_url(),
        )

    def _record(
        self, message_id: str, result: DeliveryResult, now: datetime, send_lease: datetime
    ) -> str:
        """Store the provider's answer; transient failures wait with backoff, then retry."""
        with self.runtime.db.write() as session:
            message = repo.get_message(session, message_id=message_id, lock=True)
            if message is None:
                return "gone"
            if message.status != MessageStatus.SENDING or message.claimed_until != send_lease:
                logger.error("message %s changed while it was being sent: %s", message_id, result)
                return "claimed elsewhere"
            message.claimed_until = None
            if result.ok:
                message.status = MessageStatus.SENT
                message.sent_at = now
                message.provider_message_id = result.provider_message_id
                message.error = None
            elif result.permanent or (
                result.counts_as_attempt
                and message.attempts >= self.runtime.settings.max_send_attempts
            ):
                message.status = MessageStatus.FAILED
                message.error = result.error
            else:
                message.status = MessageStatus.PENDING
                message.error = result.error
                if not result.counts_as_attempt:
                    message.attempts -= 1
                delay = retry_delay_seconds(
                    message.attempts, jitter=self.jitter(), retry_after=result.retry_after
                )
                contact = repo.get_contact(session, contact_id=message.contact_id)
                message.due_at = self._allowed(message, contact, now + timedelta(seconds=delay))
            session.add(message)
            return message.status


def with_pixel(page: str, url: str) -> str:
    """The html part with the open-tracking image just before </body>."""
    pixel = f'<img src="{html.escape(url)}" width="1" height="1" alt="" style="display:none">'
    end = page.lower().rfind("</body>")
    return page[:end] + pixel + page[end:] if end >= 0 else page + pixel
