"""Secrets, signers and an SNS stand-in for posting provider webhooks through the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from service.config import Settings
from tests.factories import START, make_settings
from tests.webhooks.support import fixture, fixture_json, sns_certificate

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
MAILGUN_KEY = "key-7d9e8f0a1b2c3d4e5f60718293a4b5c6"
POSTMARK_AUTH = ("postmark", "s3cret-pass")
TWILIO_TOKEN = "12345678901234567890123456789012"
TWILIO_SHARED_KEY = "twilio-webhook-setting-shared-key"
SEGMENT_SECRET = "segment-shared-secret"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"nurture-test-secret-32-bytes-ok!").decode()
CALLCENTER_SECRET = "whsec_" + base64.b64encode(b"callcenter-secret-32-bytes-long!").decode()
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"
SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
BASE_URL = "http://nurture.test"


def webhook_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with every provider enabled."""
    values: dict[str, Any] = {
        "webhook_sendgrid_public_key": SENDGRID_PUBLIC,
        "webhook_mailgun_signing_key": MAILGUN_KEY,
        "webhook_postmark_username": POSTMARK_AUTH[0],
        "webhook_postmark_password": POSTMARK_AUTH[1],
        "webhook_ses_topics": TOPIC,
        "webhook_twilio_auth_token": TWILIO_TOKEN,
        "webhook_twilio_shared_key": TWILIO_SHARED_KEY,
        "webhook_twilio_help_text": "Wedding Co: reply STOP to opt out.",
        "webhook_segment_secret": SEGMENT_SECRET,
        "webhook_callcenter_secret": CALLCENTER_SECRET,
        "webhook_standard_secret": STANDARD_SECRET,
        "track_publishable_keys": "pk_test_shop",
        "track_allowed_origins": "https://shop.example",
        "secret_key": "test-link-secret",
        **overrides,
    }
    return make_settings(database_url, tmp_path, **values)


def _stamp(now: datetime) -> str:
    return str(int(now.timestamp()))


def sendgrid(
    body: bytes, now: datetime, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY
) -> dict[str, str]:
    """Headers as SendGrid signs them: ECDSA P-256 over timestamp + body."""
    signature = key.sign(_stamp(now).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": _stamp(now),
        "Content-Type": "application/json",
    }


def sendgrid_events(name: str, **changes: Any) -> list[dict[str, Any]]:
    """A SendGrid fixture batch with fields replaced in every event."""
    return [event | changes for event in fixture_json(f"sendgrid/{name}.json")]


def mailgun(payload: dict[str, Any], now: datetime, *, token: str, key: str = MAILGUN_KEY) -> bytes:
    """A Mailgun body with its signature block, as Mailgun computes it."""
    stamp = _stamp(now)
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        payload | {"signature": {"timestamp": stamp, "token": token, "signature": digest}}
    ).encode()


def postmark(password: str = POSTMARK_AUTH[1]) -> dict[str, str]:
    """Basic auth credentials embedded in the webhook URL, as Postmark sends them."""
    raw = f"{POSTMARK_AUTH[0]}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def twilio(path: str, body: bytes, token: str = TWILIO_TOKEN) -> dict[str, str]:
    """X-Twilio-Signature computed by Twilio's SDK for the public URL."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(token).compute_signature(BASE_URL + path, params)
    return {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


def twilio_shared_key(path: str, body: bytes, key: str = TWILIO_SHARED_KEY) -> dict[str, str]:
    """A request signed by a Twilio Webhook Setting: HMAC-SHA256 with the setting's key."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(key).compute_signature(
        BASE_URL + path, params, algorithm="HMAC_SHA256"
    )
    return {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def segment(body: bytes, secret: str = SEGMENT_SECRET) -> dict[str, str]:
    """X-Signature: hex HMAC-SHA1 of the body."""
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def standard(
    body: bytes, now: datetime, *, msg_id: str, secret: str = STANDARD_SECRET
) -> dict[str, str]:
    """Standard Webhooks headers from the reference SDK."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": _stamp(now),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        "Content-Type": "application/json",
    }


def sns(message: dict[str, Any], key: rsa.RSAPrivateKey = SNS_KEY) -> bytes:
    """An SNS message signed (SignatureVersion 2) as SNS documents it."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    signature = key.sign(canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
    signed = message | {
        "SignatureVersion": "2",
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": CERT_URL,
    }
    return json.dumps(signed).encode()


def ses_notification(name: str, *, message_id: str, **changes: Any) -> dict[str, Any]:
    """An SNS Notification around an SES event fixture, with fields of the event replaced."""
    event = fixture_json(f"ses/{name}.json")
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(event),
        "Timestamp": "2026-03-02T15:00:00.000Z",
    }


class FakeAws:
    """The SNS hosts: serves the signing certificate and records subscription confirmations."""

    def __init__(self) -> None:
        self.pem = sns_certificate(SNS_KEY, around=START, days=30)
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if str(request.url) == CERT_URL:
            return httpx.Response(200, content=self.pem)
        if "Action=ConfirmSubscription" in str(request.url):
            return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")
        return httpx.Response(404)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def twilio_form(name: str, **changes: str) -> bytes:
    """A Twilio fixture form with some parameters replaced."""
    params = [(k, changes.get(k, v)) for k, v in parse_qsl(fixture(f"twilio/{name}.txt").decode())]
    return urlencode(params).encode()
