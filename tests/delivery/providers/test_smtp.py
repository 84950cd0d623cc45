"""SMTP: a real server on 127.0.0.1 (aiosmtpd) receives exactly the message we mean, over
STARTTLS or implicit TLS with a certificate made here, with or without a login, and its
replies are read by the same rules as the HTTP providers' answers."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.delivery.channels import DeliveryResult
from service.delivery.providers.smtp import SmtpChannel, SmtpSettings
from service.errors import ConfigError
from service.runtime import build_runtime
from service.scheduler.loop import Scheduler
from tests.delivery.providers.fakes import NOW, outgoing
from tests.factories import FakeClock, Harness, event, make_settings, running_app, signup

USER, PASSWORD = "nurture", "s3cret-pass"
DROP_AFTER_DATA = "drop the connection after taking the message"


# ----- a certificate made here, and the server -----------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nurture test mail server")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(cert=folder / "cert.pem", key=folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Received:
    """One message as the server took it: the envelope, the bytes, and how the session ran."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None

    def message(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.content, policy=policy.default))


@dataclass
class Handler:
    """The server's side: keeps what it receives and answers as each test says."""

    received: list[Received] = field(default_factory=list)
    replies: dict[str, list[str]] = field(
        default_factory=lambda: {"MAIL": [], "RCPT": [], "DATA": []}
    )
    password: str = PASSWORD

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.replies["MAIL"]:
            return self.replies["MAIL"].pop(0)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.replies["RCPT"]:
            return self.replies["RCPT"].pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.replies["DATA"].pop(0) if self.replies["DATA"] else None
        if reply is not None and reply != DROP_AFTER_DATA:
            return reply
        login = (
            cast(LoginPassword, session.auth_data).login.decode() if session.authenticated else None
        )
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(cast(bytes, envelope.content)),
                tls=server.transport is not None
                and server.transport.get_extra_info("sslcontext") is not None,
                login=login,
            )
        )
        if reply == DROP_AFTER_DATA and server.transport is not None:
            server.transport.close()  # took the message, but the reply never reaches us
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            self.password.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@dataclass
class MailServer:
    """A running server: its port, its handler, and its sessions (connections) so far."""

    port: int
    handler: Handler
    sessions: list[SMTP]

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as an idle timeout would."""
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()


@asynccontextmanager
async def mail_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    login: bool = False,
) -> AsyncIterator[MailServer]:
    """An aiosmtpd server on 127.0.0.1 in this event loop, on a port of the system's choice."""
    loop = asyncio.get_running_loop()
    handler, sessions = Handler(), []

    def session() -> SMTP:
        smtp = SMTP(
            handler,
            hostname="mail.test",  # no name lookup of this machine
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=handler.authenticate if login else None,
            auth_required=login,
            # Implicit TLS is below aiosmtpd, which then cannot tell that AUTH is protected.
            auth_require_tls=starttls is not None,
            loop=loop,
        )
        sessions.append(smtp)
        return smtp

    server = await loop.create_server(session, "127.0.0.1", 0, ssl=implicit_tls)
    try:
        yield MailServer(server.sockets[0].getsockname()[1], handler, sessions)
    finally:
        server.close()
        await server.wait_closed()


def smtp_settings(port: int, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "email_from": "hello@shop.example",
        "email_from_name": "Linden Paper Co.",
        "email_reply_to": "help@shop.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_timeout": 5.0,
        **overrides,
    }
    return SmtpSettings(_env_file=None, **values)


def channel_for(
    settings: SmtpSettings, *, now: Callable[[], dt.datetime] = lambda: NOW
) -> SmtpChannel:
    """The channel as `build` makes it, without a rate limit."""
    return SmtpChannel(
        settings.smtp_server(),
        sender=settings.email_sender(provider="smtp"),
        now=now,
        pool_size=settings.smtp_pool_size,
    )


@asynccontextmanager
async def open_channel(settings: SmtpSettings, **kwargs: Any) -> AsyncIterator[SmtpChannel]:
    channel = channel_for(settings, **kwargs)
    try:
        yield channel
    finally:
        await channel.aclose()


# ----- the message -------------------------------------------------------------------------


async def test_starttls_delivers_exactly_the_message(certificate: Certificate) -> None:
    message = outgoing(
        subject="Welcome, Zoë",
        text="Hi Zoë,\n.a line that starts with a dot\n" + "long " * 40,
        html="<html><body><p>Hi Zoë</p></body></html>",
    )
    async with (
        mail_server(starttls=certificate.server_context()) as server,
        open_channel(smtp_settings(server.port, smtp_ca_file=certificate.cert)) as channel,
    ):
        result = await channel.send(message)
    assert result == DeliveryResult(ok=True, provider_message_id="<msg-1@shop.example>")
    [received] = server.handler.received
    assert received.tls and received.login is None
    assert (received.mail_from, received.rcpt_tos) == ("hello@shop.example", ["ava@example.com"])
    assert received.content.isascii()  # 7-bit clean: any server takes it
    mail = received.message()
    headers = [(name, str(value)) for name, value in mail.items() if name != "Content-Type"]
    assert headers == [
        ("From", '"Linden Paper Co." <hello@shop.example>'),
        ("To", "ava@example.com"),
        ("Reply-To", "help@shop.example"),
        ("Subject", "Welcome, Zoë"),
        ("Date", "Mon, 04 Jan 2027 15:00:00 +0000"),
        ("Message-ID", "<msg-1@shop.example>"),
        ("X-Nurture-Message-Id", "msg-1"),
        ("List-Unsubscribe", "<https://n.example/u/tok>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("MIME-Version", "1.0"),
    ]
    assert b"\r\nSubject: Welcome, =?utf-8?q?Zo=C3=AB?=\r\n" in received.content
    assert mail.get_content_type() == "multipart/alternative"
    text, page = mail.iter_parts()
    assert [part.get_content_type() for part in (text, page)] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in (text, page)] == ["utf-8", "utf-8"]
    assert [part["Content-Transfer-Encoding"] for part in (text, page)] == ["quoted-printable"] * 2
    # Each part is the rendered body, its line breaks CRLF as on any SMTP wire.
    for part, body in ((text, message.text), (page, message.html)):
        assert cast(EmailMessage, part).get_content() == body.replace("\n", "\r\n") + "\r\n"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_with_a_login(certificate: Certificate) -> None:
    async with mail_server(implicit_tls=certificate.server_context(), login=True) as server:
        settings = smtp_settings(
            server.port,
            smtp_security="tls",
            smtp_ca_file=certificate.cert,
            smtp_username=USER,
            smtp_password=PASSWORD,
        )
        async with open_channel(settings) as channel:
            assert (await channel.send(outgoing())).ok
    [received] = server.handler.received
    assert (received.tls, received.login) == (True, USER)


async def test_a_certificate_we_do_not_trust_is_refused_as_our_set_up(
    certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        mail_server(starttls=certificate.server_context()) as server,
        open_channel(smtp_settings(server.port)) as channel,  # no CA file
    ):
        results = [await channel.send(outgoing()) for _ in range(2)]
    assert server.handler.received == []
    for result in results:
        assert not result.ok and not result.permanent and not result.counts_as_attempt
        assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    [refusal] = [r for r in caplog.records if "refused our set-up" in r.getMessage()]
    assert refusal.levelname == "ERROR"


async def test_a_login_refused_is_logged_once_and_uses_no_attempts(
    certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    async with mail_server(starttls=certificate.server_context(), login=True) as server:
        settings = smtp_settings(
            server.port, smtp_ca_file=certificate.cert, smtp_username=USER, smtp_password="wrong"
        )
        async with open_channel(settings) as channel:
            results = [await channel.send(outgoing()) for _ in range(3)]
    assert server.handler.received == []
    for result in results:
        assert not result.ok and not result.permanent and not result.counts_as_attempt
        assert result.error is not None and result.error.startswith("SMTP 535")
    refusals = [r for r in caplog.records if "refused our credentials" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelname == "ERROR"
    assert "wrong" not in caplog.text and PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("command", "reply", "permanent", "error"),
    [
        ("RCPT", "451 4.7.1 Greylisted, try again later", False, "SMTP 451 4.7.1 Greylisted"),
        ("RCPT", "550 5.1.1 <ava@example.com>: user unknown", True, "SMTP 550 5.1.1 <ava@"),
        ("DATA", "452 4.3.1 Insufficient system storage", False, "SMTP 452 4.3.1"),
        ("DATA", "554 5.7.1 Message rejected as spam", True, "SMTP 554 5.7.1 Message"),
        ("RCPT", "421 4.3.2 Service shutting down", False, "SMTP 421 4.3.2"),
    ],
)
async def test_replies_are_classified(
    command: str, reply: str, permanent: bool, error: str
) -> None:
    async with mail_server() as server:
        server.handler.replies[command].append(reply)
        async with open_channel(smtp_settings(server.port, smtp_security="none")) as channel:
            refused = await channel.send(outgoing())
            after = await channel.send(outgoing(id="msg-2"))  # the connection is still good
    assert not refused.ok and refused.permanent is permanent and refused.counts_as_attempt
    assert refused.error is not None and refused.error.startswith(error)
    assert after.ok and len(server.handler.received) == 1


async def test_a_connection_lost_after_data_is_not_resent_by_the_channel() -> None:
    async with mail_server() as server:
        settings = smtp_settings(server.port, smtp_security="none")
        async with open_channel(settings) as channel:
            assert (await channel.send(outgoing(id="msg-0"))).ok  # a pooled connection now
            server.handler.replies["DATA"].append(DROP_AFTER_DATA)
            result = await channel.send(outgoing(id="msg-1"))
    # Transient, so the dispatcher decides about a retry later; the channel tried once.
    assert result == DeliveryResult(ok=False, error="SMTP connection lost at DATA")
    ids = [r.message()["X-Nurture-Message-Id"] for r in server.handler.received]
    assert ids == ["msg-0", "msg-1"]


async def test_a_refused_sender_address_is_our_set_up(caplog: pytest.LogCaptureFixture) -> None:
    async with mail_server() as server:
        server.handler.replies["MAIL"] += ["553 5.7.1 Sender address rejected: not owned"] * 2
        async with open_channel(smtp_settings(server.port, smtp_security="none")) as channel:
            results = [await channel.send(outgoing()) for _ in range(2)]
    assert all(not r.permanent and not r.counts_as_attempt for r in results)
    assert len([r for r in caplog.records if "refused our set-up" in r.getMessage()]) == 1


async def test_a_silent_server_times_out_and_a_closed_port_is_a_network_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = smtp_settings(port, smtp_security="none", smtp_timeout=0.3)
    async with open_channel(settings) as channel:
        assert await channel.send(outgoing()) == DeliveryResult(
            ok=False, error="SMTP server timed out"
        )
    server.close()
    await server.wait_closed()
    async with open_channel(settings) as channel:
        result = await channel.send(outgoing())
    assert not result.ok and not result.permanent and result.counts_as_attempt
    assert result.error is not None and result.error.startswith("network error")


async def test_an_address_smtp_cannot_carry_fails_for_good_and_sends_nothing() -> None:
    async with (
        mail_server() as server,
        open_channel(smtp_settings(server.port, smtp_security="none")) as channel,
    ):
        for to in (None, "zoë@example.com", "ava@example.com\r\nBcc: x@example.com"):
            result = await channel.send(outgoing(to=to))
            assert not result.ok and result.permanent
    assert server.sessions == []


# ----- the connection pool -----------------------------------------------------------------


async def test_connections_are_reused_and_a_dropped_one_is_replaced() -> None:
    async with mail_server() as server:
        settings = smtp_settings(server.port, smtp_security="none", smtp_pool_size=2)
        async with open_channel(settings) as channel:
            for index in range(3):
                assert (await channel.send(outgoing(id=f"msg-{index}"))).ok
            assert len(server.sessions) == 1  # one connection carried all three
            server.drop_connections()
            await asyncio.sleep(0.05)
            assert (await channel.send(outgoing(id="msg-3"))).ok
            # A server closing an idle connection says 421 at the next command: a new one
            # takes the message, which reaches the server once.
            server.handler.replies["MAIL"].append("421 4.4.2 mail.test idle timeout")
            assert (await channel.send(outgoing(id="msg-4"))).ok
    ids = [r.message()["X-Nurture-Message-Id"] for r in server.handler.received]
    assert ids == ["msg-0", "msg-1", "msg-2", "msg-3", "msg-4"]
    assert len(server.sessions) == 3


async def test_the_pool_is_bounded() -> None:
    async with mail_server() as server:
        settings = smtp_settings(server.port, smtp_security="none", smtp_pool_size=2)
        async with open_channel(settings) as channel:
            results = await asyncio.gather(
                *(channel.send(outgoing(id=f"msg-{index}")) for index in range(10))
            )
    assert all(r.ok for r in results) and len(server.handler.received) == 10
    assert len(server.sessions) == 2


# ----- settings ----------------------------------------------------------------------------


def test_settings_refuse_clear_text_beyond_this_machine_and_half_a_login() -> None:
    with pytest.raises(ConfigError, match="NURTURE_SMTP_SECURITY=none is only allowed"):
        smtp_settings(25, smtp_host="mail.shop.example", smtp_security="none").smtp_server()
    for host in ("127.0.0.1", "localhost", "::1"):
        assert smtp_settings(1025, smtp_host=host, smtp_security="none").smtp_server().tls is None
    with pytest.raises(ConfigError, match="NURTURE_SMTP_PASSWORD is required"):
        smtp_settings(587, smtp_username=USER).smtp_server()
    with pytest.raises(ConfigError, match="NURTURE_SMTP_USERNAME is required"):
        smtp_settings(587, smtp_password=PASSWORD).smtp_server()
    with pytest.raises(ConfigError, match="NURTURE_SMTP_HOST is required by provider smtp"):
        smtp_settings(587, smtp_host=None).smtp_server()
    with pytest.raises(ConfigError, match="NURTURE_EMAIL_FROM is required by provider smtp"):
        smtp_settings(587, email_from=None).smtp_server()
    with pytest.raises(ConfigError, match="NURTURE_EMAIL_FROM must be a plain ASCII address"):
        smtp_settings(587, email_from="hallo@bücher.example").smtp_server()
    with pytest.raises(ValueError, match="smtp_helo_name"):
        smtp_settings(587, smtp_helo_name="mail.shop.example\r\nRSET")
    assert PASSWORD not in repr(smtp_settings(587, smtp_username=USER, smtp_password=PASSWORD))
    assert PASSWORD not in repr(
        smtp_settings(587, smtp_username=USER, smtp_password=PASSWORD).smtp_server()
    )


def test_settings_defaults(tmp_path: Path) -> None:
    for security, port in (("starttls", 587), ("tls", 465), ("none", 25)):
        server = smtp_settings(0, smtp_port=None, smtp_security=security).smtp_server()
        assert (server.port, server.helo_name) == (port, "shop.example")
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigError, match="NURTURE_SMTP_CA_FILE cannot be read"):
        smtp_settings(587, smtp_ca_file=not_pem).smtp_server()


# ----- through the dispatcher --------------------------------------------------------------


async def _messages(harness: Harness, email: str = "ava@example.com") -> list[dict[str, Any]]:
    contact = await harness.contact(email)
    response = await harness.client.get(f"/contacts/{contact['id']}/messages")
    messages: list[dict[str, Any]] = response.json()
    return messages


async def _in_favors(harness: Harness) -> None:
    """Ava waits in `favors`, whose own timer is weeks away: only its email is due."""
    await harness.post_events(signup())
    contact = await harness.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    assert (await harness.client.post(url, json={"stage": "favors"})).status_code == 200


async def _favors_email(harness: Harness) -> dict[str, Any]:
    return next(m for m in await _messages(harness) if m["stage"] == "favors")


async def test_chosen_by_settings_it_sends_due_mail_with_our_id(
    database_url: str, tmp_path: Path, clock: FakeClock, certificate: Certificate
) -> None:
    async with mail_server(starttls=certificate.server_context(), login=True) as server:
        settings = make_settings(
            database_url,
            tmp_path,
            email_provider="smtp",
            email_from="hello@shop.example",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            smtp_ca_file=certificate.cert,
            smtp_username=USER,
            smtp_password=PASSWORD,
        )
        async with running_app(settings, clock) as app:
            channel = app.scheduler.dispatcher.channels["email"]
            assert isinstance(channel, SmtpChannel)
            try:
                await app.post_events(signup())
                assert (await app.run_scheduler()).sent == 1
                # The way back for a bounce the MTA logged: our id in an event.
                [sent] = await _messages(app)
                bounce = event("email.bounced", properties={"message_id": sent["id"]})
                assert (await app.post_events(bounce)).status_code == 200
                [message] = await _messages(app)
            finally:
                await channel.aclose()
    [received] = server.handler.received
    mail = received.message()
    assert mail["Message-ID"] == f"<{message['id']}@shop.example>"
    assert mail["X-Nurture-Message-Id"] == message["id"]
    assert (message["status"], message["provider_message_id"]) == ("sent", mail["Message-ID"])
    assert message["delivery_status"] == "bounced"
    assert mail["Subject"] == "Welcome, Ava!" and received.login == USER
    assert app.outbox_lines() == []


async def test_a_missing_server_stops_start_up(
    database_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        database_url, tmp_path, email_provider="smtp", email_from="hello@shop.example"
    )
    with pytest.raises(ConfigError):
        async with running_app(settings, clock):
            pass
    assert "cannot start: NURTURE_SMTP_HOST is required by provider smtp" in caplog.text


async def test_a_refused_login_waits_for_the_fix_without_using_attempts(
    harness: Harness, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    await _in_favors(harness)
    runtime = harness.app.state.runtime
    async with mail_server(starttls=certificate.server_context(), login=True) as server:
        wrong = smtp_settings(
            server.port, smtp_ca_file=certificate.cert, smtp_username=USER, smtp_password="wrong"
        )
        async with open_channel(wrong, now=harness.clock.now) as channel:
            scheduler = Scheduler(runtime, {"email": channel}, jitter=lambda: 0.0)
            for _ in range(3):
                assert (await scheduler.run_once(harness.clock.now())).sent == 0
                harness.clock.advance(seconds=31)
        message = await _favors_email(harness)
        assert (message["status"], message["attempts"]) == ("pending", 0)
        assert message["error"].startswith("SMTP 535")
        assert len([r for r in caplog.records if "refused our credentials" in r.getMessage()]) == 1
        fixed = smtp_settings(
            server.port, smtp_ca_file=certificate.cert, smtp_username=USER, smtp_password=PASSWORD
        )
        async with open_channel(fixed, now=harness.clock.now) as channel:
            harness.clock.advance(seconds=31)
            scheduler = Scheduler(runtime, {"email": channel}, jitter=lambda: 0.0)
            assert (await scheduler.run_once(harness.clock.now())).sent == 1
    message = await _favors_email(harness)
    assert (message["status"], message["attempts"], message["error"]) == ("sent", 1, None)
    assert len(server.handler.received) == 1


async def test_a_451_is_retried_on_a_later_pass(harness: Harness) -> None:
    await _in_favors(harness)
    async with mail_server() as server:
        server.handler.replies["RCPT"].append("451 4.7.1 Greylisted, try again later")
        settings = smtp_settings(server.port, smtp_security="none")
        async with open_channel(settings, now=harness.clock.now) as channel:
            scheduler = Scheduler(harness.app.state.runtime, {"email": channel}, jitter=lambda: 0)
            assert (await scheduler.run_once(harness.clock.now())).sent == 0
            message = await _favors_email(harness)
            assert (message["status"], message["attempts"]) == ("pending", 1)
            assert message["error"] == "SMTP 451 4.7.1 Greylisted, try again later"
            harness.clock.advance(seconds=1)
            assert (await scheduler.run_once(harness.clock.now())).sent == 0  # backoff: 30 s
            assert server.handler.received == []
            harness.clock.advance(seconds=30)
            assert (await scheduler.run_once(harness.clock.now())).sent == 1
    message = await _favors_email(harness)
    assert (message["status"], message["attempts"], message["error"]) == ("sent", 2, None)
    assert len(server.handler.received) == 1


async def test_a_550_fails_for_good(harness: Harness) -> None:
    await _in_favors(harness)
    async with mail_server() as server:
        server.handler.replies["RCPT"].append("550 5.1.1 <ava@example.com>: user unknown")
        settings = smtp_settings(server.port, smtp_security="none")
        async with open_channel(settings, now=harness.clock.now) as channel:
            scheduler = Scheduler(harness.app.state.runtime, {"email": channel})
            assert (await scheduler.run_once(harness.clock.now())).failed == 1
            harness.clock.advance(hours=2)
            await scheduler.run_once(harness.clock.now())
    favors = await _favors_email(harness)
    assert (favors["status"], favors["attempts"]) == ("failed", 1)
    assert favors["error"] == "SMTP 550 5.1.1 <ava@example.com>: user unknown"
    assert server.handler.received == []


async def test_two_dispatch_loops_send_each_message_once(harness: Harness) -> None:
    guests = [f"guest{index}@example.com" for index in range(12)]
    for email in guests:
        await harness.post_events(signup(email))
    other = build_runtime(harness.settings, harness.clock)
    async with mail_server() as server:
        settings = smtp_settings(server.port, smtp_security="none", smtp_pool_size=2)
        try:
            async with (
                open_channel(settings, now=harness.clock.now) as first,
                open_channel(settings, now=harness.clock.now) as second,
            ):
                workers = [
                    Scheduler(harness.app.state.runtime, {"email": first}),
                    Scheduler(other, {"email": second}),
                ]
                reports = await asyncio.gather(*(w.run_once(harness.clock.now()) for w in workers))
        finally:
            other.close()
    assert sum(r.sent for r in reports) == 12
    ids = [r.message()["X-Nurture-Message-Id"] for r in server.handler.received]
    assert len(ids) == len(set(ids)) == 12
    assert sorted(to for r in server.handler.received for to in r.rcpt_tos) == sorted(guests)
    for email in guests:
        [message] = await _messages(harness, email)
        assert message["status"] == "sent" and message["id"] in ids
