"""Claim, prepare, render, send, record: due messages go out once across any workers."""

# Claims are leases (`claimed_until`) taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
# any number of workers can run side by side; a worker that dies leaves rows that another
# claims once the lease expires. A claimed batch is prepared in one transaction (the
# send-time rules and the reads its templates need, its contacts locked in id order), then
# rendered with no transaction open. Each message then takes its turn through its channel's
# gate (at most the channel's concurrency at once): the provider's rate limit, then a short
# transaction that proves the claim is still ours and marks it `sending` just before it is
# handed over, and one that records the answer. Turns that reach those steps together share
# their transaction, so a busy channel writes many messages per commit. So only messages a
# provider actually holds are ever `sending`, and a crash can leave at most the gates' sizes
# of them with an unknown outcome. A stop hands back every claimed message not yet marked,
# and lets those in hand finish.

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.delivery import outbox, rules, status
from service.delivery.channels import Channel, DeliveryResult, OutgoingMessage
from service.delivery.compose import Draft, draft, finish
from service.delivery.status import Outcome
from service.errors import JourneyError, NurtureError
from service.runtime import Runtime
from service.store.models import Contact, Message, MessageStatus
from service.tracking.links import link_secret

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_PASS = 50
STALE_SEND = "delivery outcome unknown: the sending worker stopped; not resent"
T = TypeVar("T")
R = TypeVar("R")


def _claimed(message: Message | None, lease: datetime) -> Message | Outcome:
    """The pending message while the claim is still ours (it is locked); else why not."""
    if message is None or message.status != MessageStatus.PENDING:
        return Outcome.GONE
    if message.claimed_until != lease:
        return Outcome.CLAIMED_ELSEWHERE
    return message


class _Crashed:
    """A message whose preparation hit an internal error: retried or failed visibly."""


CRASHED = _Crashed()


class _Together(Generic[T, R]):
    """Turns that ask while a transaction runs share the next one, so a busy channel writes
    many messages per commit and a lone message waits for nobody."""

    def __init__(self, run: Callable[[list[T]], list[R]]) -> None:
        self._run = run
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the turns ready at this moment join the first transaction
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await asyncio.to_thread(self._run, [item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)


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
        self._marking = _Together(self._mark_sending)
        self._recording = _Together(self._record)

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
                outcomes += await self._send_batch(claimed, now, lease)
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

    async def _send_batch(
        self, claimed: list[tuple[str, str]], now: datetime, lease: datetime
    ) -> list[Outcome]:
        """One claimed batch: prepared together, rendered together, then each message's turn
        through its channel's gate; each message's outcome."""
        if not claimed:
            return []
        ids = [message_id for message_id, _ in claimed]
        try:
            prepared = await asyncio.to_thread(self._prepare, ids, now, lease)
        except Exception:
            logger.exception("preparing a batch of %d message(s) failed", len(ids))
            prepared = dict.fromkeys(ids, CRASHED)
        drafts = {i: found for i, found in prepared.items() if isinstance(found, Draft)}
        rendered = await asyncio.to_thread(self._render, drafts) if drafts else {}
        unrenderable = {i: e for i, e in rendered.items() if isinstance(e, JourneyError)}
        failed = (
            await asyncio.to_thread(self._unrenderable, unrenderable, lease) if unrenderable else {}
        )
        crashed = [i for i, found in prepared.items() if found is CRASHED]
        if crashed:
            await asyncio.to_thread(self._after_crashes, crashed, lease)
        turns = {
            message_id: self._deliver(message_id, channel, outgoing, now, lease)
            for message_id, channel in claimed
            if isinstance(outgoing := rendered.get(message_id), OutgoingMessage)
        }
        handed = dict(zip(turns, await asyncio.gather(*turns.values()), strict=True))
        outcomes: list[Outcome] = []
        for message_id in ids:
            found = prepared.get(message_id, Outcome.GONE)
            if isinstance(found, Outcome):
                outcomes.append(found)
            elif found is CRASHED:
                outcomes.append(Outcome.CRASHED)
            else:
                outcomes.append(failed.get(message_id) or handed[message_id])
        return outcomes

    async def _deliver(
        self,
        message_id: str,
        channel_name: str,
        outgoing: OutgoingMessage,
        now: datetime,
        lease: datetime,
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
                if self.stopping:
                    raise _Stopped
                send_lease = self.lease(self.runtime.clock.now())
                refused = await self._marking((message_id, outgoing, lease, send_lease))
                if refused is not None:
                    return refused  # or held: a holdout contact's message stops here
                # Handed over: from here the message finishes its turn even during a stop.
                if channel is None:
                    error = f"no channel configured for {outgoing.channel}"
                    result = DeliveryResult(ok=False, error=error, permanent=True)
                else:
                    result = await channel.send(outgoing)
                return await self._recording((message_id, result, now, send_lease))
        except _Stopped:
            return Outcome.HANDED_BACK
        except Exception:
            logger.exception("delivery of message %s failed", message_id)
            await asyncio.to_thread(self._after_crash, message_id, lease, send_lease)
            return Outcome.CRASHED

    def _prepare(
        self, message_ids: Sequence[str], now: datetime, lease: datetime
    ) -> dict[str, Draft | Outcome | _Crashed]:
        """Check the rules and read the templates' needs for a batch under its claims, in one
        transaction; render after commit."""
        with self.runtime.db.write() as session:
            # Contacts before messages, the order all work locks in: one contact's sends are
            # checked against the frequency cap strictly in turn, across workers.
            contact_ids = outbox.message_contacts(session, message_ids=message_ids)
            contacts = contacts_repo.lock_contacts(session, contact_ids=contact_ids)
            messages = outbox.lock_messages(session, message_ids=message_ids)
            outbox.load_enrollments(session, messages=messages.values())
            outbox.load_events(session, messages=messages.values())
            prepared: dict[str, Draft | Outcome | _Crashed] = {}
            for message_id in message_ids:
                message = _claimed(messages.get(message_id), lease)
                if isinstance(message, Outcome):
                    prepared[message_id] = message
                    continue
                contact = contacts.get(message.contact_id)
                if contact is None:
                    prepared[message_id] = Outcome.GONE
                    continue
                try:
                    prepared[message_id] = self._prepare_one(session, message, contact, now)
                except DBAPIError:
                    raise  # the transaction is spoiled: the whole batch is retried
                except Exception:
                    logger.exception("preparing message %s failed", message_id)
                    prepared[message_id] = CRASHED
            return prepared

    def _prepare_one(
        self, session: Session, message: Message, contact: Contact, now: datetime
    ) -> Draft | Outcome:
        """One claimed message's rules and draft; rows read in the session are tracked, so
        what `status` writes is committed with the batch."""
        refusal = rules.refusal(session, message=message, contact=contact)
        if refusal is not None:
            return status.refuse(message, status=refusal.status, reason=refusal.reason)
        later = rules.deferral(session, self.runtime, message=message, contact=contact, now=now)
        if later is not None:
            if later.note is not None:
                outbox.add_note(session, contact=contact, message=message, note=later.note, at=now)
            return status.defer(message, until=later.until, note=later.note)
        try:
            return draft(
                session, self.runtime, message=message, contact=contact, secret=self.secret, now=now
            )
        except (JourneyError, NurtureError) as exc:
            return status.refuse(message, status=MessageStatus.FAILED, reason=exc.message)

    def _render(self, drafts: Mapping[str, Draft]) -> dict[str, OutgoingMessage | JourneyError]:
        """Render a batch with no transaction open, so a slow template holds no lock."""
        rendered: dict[str, OutgoingMessage | JourneyError] = {}
        for message_id, prepared in drafts.items():
            try:
                rendered[message_id] = finish(self.runtime.content, prepared)
            except JourneyError as exc:
                rendered[message_id] = exc
        return rendered

    def _unrenderable(
        self, errors: Mapping[str, JourneyError], lease: datetime
    ) -> dict[str, Outcome]:
        """Fail for good, while the claims are still ours, messages their templates cannot
        make."""
        with self.runtime.db.write() as session:
            messages = outbox.lock_messages(session, message_ids=list(errors))
            outcomes: dict[str, Outcome] = {}
            for message_id, error in errors.items():
                message = _claimed(messages.get(message_id), lease)
                if isinstance(message, Outcome):
                    outcomes[message_id] = message
                    continue
                logger.warning("message %s cannot be rendered: %s", message_id, error.message)
                outcomes[message_id] = status.fail_unrenderable(message, reason=error.message)
            return outcomes

    def _mark_sending(
        self, turns: list[tuple[str, OutgoingMessage, datetime, datetime]]
    ) -> list[Outcome | None]:
        """Mark `sending` only while each claim is still ours, so a message goes out once;
        a holdout contact's message is marked `held` here instead and goes nowhere."""
        with self.runtime.db.write() as session:
            messages = outbox.lock_messages(session, message_ids=[turn[0] for turn in turns])
            outbox.load_enrollments(session, messages=messages.values())
            refused: list[Outcome | None] = []
            for message_id, outgoing, lease, send_lease in turns:
                message = _claimed(messages.get(message_id), lease)
                if isinstance(message, Outcome):
                    refused.append(message)
                elif outbox.in_holdout(session, message=message):
                    refused.append(
                        status.hold(message, outgoing=outgoing, now=self.runtime.clock.now())
                    )
                else:
                    status.mark_sending(message, outgoing=outgoing, send_lease=send_lease)
                    refused.append(None)
            return refused

    def _record(self, turns: list[tuple[str, DeliveryResult, datetime, datetime]]) -> list[Outcome]:
        """Store the answers only while each send lease holds, so a lost claim writes nothing."""
        with self.runtime.db.write() as session:
            messages = outbox.lock_messages(session, message_ids=[turn[0] for turn in turns])
            return [
                self._record_one(session, messages.get(message_id), result, now, send_lease)
                for message_id, result, now, send_lease in turns
            ]

    def _record_one(
        self,
        session: Session,
        message: Message | None,
        result: DeliveryResult,
        now: datetime,
        send_lease: datetime,
    ) -> Outcome:
        if message is None:
            return Outcome.GONE
        if message.status != MessageStatus.SENDING or message.claimed_until != send_lease:
            logger.error("message %s changed while it was being sent: %s", message.id, result)
            return Outcome.CLAIMED_ELSEWHERE

        def allowed(moment: datetime) -> datetime:
            """Her send window, looked up only when a retry needs it."""
            contact = contacts_repo.get_contact(session, contact_id=message.contact_id)
            return rules.window_opens(self.runtime, message=message, contact=contact, moment=moment)

        return status.record_result(
            message,
            result=result,
            now=now,
            max_attempts=self.runtime.settings.max_send_attempts,
            jitter=self.jitter,
            allowed=allowed,
        )

    def _after_crashes(self, message_ids: Sequence[str], lease: datetime) -> None:
        for message_id in message_ids:
            self._after_crash(message_id, lease, None)

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
