"""SMTP to any mail server (Postfix, SES SMTP, Brevo, Mailpit); our id travels in Message-ID."""

# Replies are read like HTTP answers: 2xx sent; 4xx (421 included), timeouts and dropped
# connections transient; 5xx to the recipient or the message permanent (reason kept, short).
# A refusal before the recipient (greeting, TLS, login, our sender address) is about our
# set-up, not this message: like refused HTTP credentials it is logged loudly once and
# retried without using up attempts. Within one send a fresh connection replaces a pooled one
# the server dropped only before MAIL FROM was accepted, so nothing is ever handed over twice.

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
from pydantic import Field, SecretStr

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import Sender, SenderSettings, unsubscribe_headers
from service.delivery.providers.http import RateLimiter, RefusalAlarm
from service.delivery.providers.registry import Provider, ProviderContext
from service.delivery.providers.smtp_pool import Dropped, PoolBusy, Security, SmtpPool, SmtpServer
from service.errors import ConfigError
from service.hosts import is_loopback
from service.settings_base import required, secret_text
from webhooks.events import MESSAGE_ID_HEADER

logger = logging.getLogger(__name__)
NAME = "smtp"
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
# Replies that blame our login: authentication required, mechanism too weak, invalid
# credentials, encryption required for the mechanism.
CREDENTIAL_CODES = frozenset({530, 534, 535, 538})
REASON_LIMIT = 200  # server replies are kept short: they land in the timeline and logs
# Messages go out 7-bit clean (quoted-printable bodies, encoded-word headers) with CRLF, so
# any server takes them without 8BITMIME or SMTPUTF8.
WIRE = policy.SMTP.clone(cte_type="7bit")
WHITESPACE = re.compile(r"\s+")
ADDRESS = re.compile(r"[!-?A-~]+@[A-Za-z0-9.-]+")  # printable ASCII without '@', then a host


class SmtpSettings(SenderSettings):
    """NURTURE_SMTP_*: the server, how to secure and log in to it, and how hard to use it."""

    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # 587, 465 or 25 by security
    smtp_security: Security = "starttls"  # tls = implicit TLS; none only to a loopback host
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None  # PEM certificates trusted besides the system's
    # The name we give in EHLO; by default the domain of NURTURE_EMAIL_FROM.
    smtp_helo_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    smtp_pool_size: int = Field(default=4, ge=1, le=50)
    smtp_rate_limit: float = Field(default=10.0, gt=0)  # messages per second per process
    smtp_timeout: float = Field(default=30.0, gt=0, le=300)

    def smtp_server(self) -> SmtpServer:
        """The server, refusing set-ups that would send mail or passwords in clear text."""
        needed_by = f"provider {NAME}"
        host = required(self.smtp_host, setting="NURTURE_SMTP_HOST", needed_by=needed_by)
        if self.smtp_security == "none" and not is_loopback(host):
            raise ConfigError(
                "NURTURE_SMTP_SECURITY=none is only allowed for a loopback NURTURE_SMTP_HOST "
                "(a local test server); use starttls or tls"
            )
        username, password = self.smtp_username or None, secret_text(self.smtp_password)
        if username is not None or password is not None:
            why = "a login (NURTURE_SMTP_USERNAME and NURTURE_SMTP_PASSWORD go together)"
            username = required(username, setting="NURTURE_SMTP_USERNAME", needed_by=why)
            password = required(password, setting="NURTURE_SMTP_PASSWORD", needed_by=why)
        sender = self.email_sender(provider=NAME)
        if not ADDRESS.fullmatch(sender.email):
            raise ConfigError("NURTURE_EMAIL_FROM must be a plain ASCII address for SMTP")
        return SmtpServer(
            host=host,
            port=self.smtp_port or DEFAULT_PORTS[self.smtp_security],
            security=self.smtp_security,
            helo_name=self.smtp_helo_name or domain_of(sender.email),
            timeout=self.smtp_timeout,
            username=username,
            password=password,
            tls=None if self.smtp_security == "none" else tls_context(self.smtp_ca_file),
        )


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verified TLS (certificate and host name), trusting `ca_file` besides the system's."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"NURTURE_SMTP_CA_FILE cannot be read as PEM: {exc}") from exc
    return context


def domain_of(address: str) -> str:
    """The domain of an address, which names our Message-IDs and EHLO by default."""
    return address.rpartition("@")[2] or "localhost"


def build_message(message: OutgoingMessage, *, sender: Sender, date: datetime) -> EmailMessage:
    """RFC 5322 multipart/alternative, text then HTML, our id in Message-ID and its own header."""
    mail = EmailMessage()
    mail["From"] = Address(display_name=sender.name or "", addr_spec=sender.email)
    mail["To"] = Address(addr_spec=message.to or "")
    if sender.reply_to:
        mail["Reply-To"] = Address(addr_spec=sender.reply_to)
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = f"<{message.id}@{domain_of(sender.email)}>"
    mail[MESSAGE_ID_HEADER] = message.id
    for name, value in unsubscribe_headers(message).items():
        mail[name] = value
    mail["MIME-Version"] = "1.0"
    mail.make_alternative()
    for body, subtype in ((message.text, "plain"), (message.html, "html")):
        part = EmailMessage(policy=mail.policy)
        part.set_content(body, subtype=subtype, cte="quoted-printable")
        del part["MIME-Version"]  # said once, on the message itself
        mail.attach(part)
    return mail


def _reason(code: int, text: str) -> str:
    """A reply as the server wrote it, on one short line (multi-line replies collapse)."""
    return f"SMTP {code} {WHITESPACE.sub(' ', text).strip()}"[:REASON_LIMIT]


@dataclass(frozen=True)
class _Refused:
    """A refusal of our set-up rather than of the message, so no attempt counts."""

    reason: str
    credentials: bool = False


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection failure, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _connect_failure(exc: Exception) -> DeliveryResult | _Refused:
    """Why a connection could not be opened: a transient result, or a refusal of our set-up."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reason = _reason(exc.code, exc.message)
        login = isinstance(exc, aiosmtplib.SMTPAuthenticationError)
        if exc.code in CREDENTIAL_CODES or (login and exc.code >= 500):
            return _Refused(reason, credentials=True)
        # 5xx to the greeting, EHLO or STARTTLS refuses us, not this message; 4xx is a pause.
        return _Refused(reason) if exc.code >= 500 else DeliveryResult(ok=False, error=reason)
    if isinstance(exc, TimeoutError):
        return DeliveryResult(ok=False, error="SMTP server timed out")
    tls = _tls_failure(exc)
    if tls is not None:
        detail = [getattr(tls, "reason", None), getattr(tls, "verify_message", None)]
        reason = ": ".join(str(part) for part in detail if part) or str(tls)
        return _Refused(f"TLS failed: {reason}"[:REASON_LIMIT])
    if isinstance(exc, ConnectionError | OSError):
        return DeliveryResult(ok=False, error=f"network error: {type(exc).__name__}")
    # STARTTLS or AUTH not offered by the server, and the like: nothing a retry soon fixes.
    return _Refused(str(exc)[:REASON_LIMIT])


class SmtpChannel:
    """One SMTP transaction per message over a small pool of connections."""

    provider = NAME

    def __init__(
        self,
        server: SmtpServer,
        *,
        sender: Sender,
        now: Callable[[], datetime],
        pool_size: int = 4,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.server = server
        self.sender = sender
        self.now = now
        self.limiter = limiter
        self.pool = SmtpPool(server, size=pool_size)
        self._refusals = RefusalAlarm(logger)

    async def ready(self) -> None:
        """Wait for the server's rate limit; called before a message is marked sending."""
        if self.limiter:
            await self.limiter.acquire()

    async def aclose(self) -> None:
        """Close pooled connections politely, when the process stops."""
        await self.pool.aclose()

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Send one message now; server trouble is an answer, never a crash."""
        if not message.to:
            return DeliveryResult(ok=False, error="contact has no address", permanent=True)
        if not ADDRESS.fullmatch(message.to):
            # Non-ASCII addresses would need SMTPUTF8, which not every server offers.
            return DeliveryResult(
                ok=False, error="address is not a plain ASCII one", permanent=True
            )
        try:
            mail = build_message(message, sender=self.sender, date=self.now())
            data = mail.as_bytes(policy=WIRE)
        except ValueError as exc:  # a header the template made that RFC 5322 cannot carry
            return DeliveryResult(
                ok=False, error=f"cannot build the message: {exc}", permanent=True
            )
        try:
            async with self.pool.slot():
                return await self._deliver(message.to, data, mail["Message-ID"])
        except PoolBusy:
            return DeliveryResult(ok=False, error="every SMTP connection stayed busy; not sent")

    async def _deliver(self, to: str, data: bytes, message_id: str) -> DeliveryResult:
        """Open or reuse a connection and run the transaction, replacing a dropped one once."""
        for fresh in (False, True):
            try:
                connection, reused = await self.pool.take(fresh=fresh)
            except Exception as exc:
                failure = _connect_failure(exc)
                return self._refused(failure) if isinstance(failure, _Refused) else failure
            try:
                result = await self._transaction(connection.smtp, to, data, reused=reused)
            except Dropped:
                connection.smtp.close()
                continue
            except BaseException:
                connection.smtp.close()  # mid-transaction: its state is unknown
                raise
            connection.transactions += 1
            self.pool.give_back(connection)
            if isinstance(result, _Refused):
                return self._refused(result)
            if not result.ok:
                return result
            self._refusals.reset()
            return DeliveryResult(ok=True, provider_message_id=message_id)
        return DeliveryResult(ok=False, error="SMTP server dropped the connection")

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, to: str, data: bytes, *, reused: bool
    ) -> DeliveryResult | _Refused:
        """MAIL, RCPT, DATA; after DATA is sent the outcome is the server's, never retried here."""
        try:
            await smtp.mail(self.sender.email)
        except aiosmtplib.SMTPResponseException as exc:
            if reused and exc.code == 421:
                raise Dropped from exc  # the server is closing the idle connection
            return await self._answer(smtp, exc, before_recipient=True)
        except ConnectionError as exc:  # aiosmtplib's SMTPServerDisconnected included
            if reused:
                raise Dropped from exc  # the server closed the idle connection: nothing sent
            return DeliveryResult(ok=False, error="SMTP connection lost at MAIL FROM")
        except TimeoutError:
            return DeliveryResult(ok=False, error="SMTP server timed out at MAIL FROM")
        steps: tuple[tuple[str, Callable[[], Awaitable[object]]], ...] = (
            ("RCPT TO", lambda: smtp.rcpt(to)),
            ("DATA", lambda: smtp.data(data)),
        )
        for command, step in steps:
            try:
                await step()
            except aiosmtplib.SMTPResponseException as exc:
                return await self._answer(smtp, exc, before_recipient=False)
            except TimeoutError:
                return DeliveryResult(ok=False, error=f"SMTP server timed out at {command}")
            except ConnectionError:
                return DeliveryResult(ok=False, error=f"SMTP connection lost at {command}")
        return DeliveryResult(ok=True)

    async def _answer(
        self,
        smtp: aiosmtplib.SMTP,
        exc: aiosmtplib.SMTPResponseException,
        *,
        before_recipient: bool,
    ) -> DeliveryResult | _Refused:
        """Classify a refusal and reset the transaction so the connection stays usable."""
        if smtp.is_connected:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
        reason = _reason(exc.code, exc.message)
        if exc.code in CREDENTIAL_CODES:
            return _Refused(reason, credentials=True)
        if before_recipient and exc.code >= 500:
            return _Refused(reason)  # our sender address is refused, for every message alike
        return DeliveryResult(ok=False, error=reason, permanent=500 <= exc.code < 600)

    def _refused(self, refusal: _Refused) -> DeliveryResult:
        """Say once, loudly, that the server refuses our set-up: messages wait for the fix."""
        self._refusals.raise_once(
            "%s server %s:%d refused our %s (%s)",
            NAME,
            self.server.host,
            self.server.port,
            "credentials" if refusal.credentials else "set-up",
            refusal.reason,
        )
        return DeliveryResult(ok=False, error=refusal.reason, counts_as_attempt=False)


def build(settings: SmtpSettings, context: ProviderContext) -> SmtpChannel:
    """The channel, once the server, its security and the sender are known."""
    return SmtpChannel(
        settings.smtp_server(),
        sender=settings.email_sender(provider=NAME),
        now=context.now,
        pool_size=settings.smtp_pool_size,
        limiter=RateLimiter(settings.smtp_rate_limit),
    )


PROVIDER = Provider(name=NAME, channels=("email",), build=build)
