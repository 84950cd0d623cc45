"""Amazon SES over SNS: RSA message signatures, certificate-URL rules and SES events."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.webhooks.support import NOW, fixture, fixture_json, sns_certificate
from webhooks.errors import MalformedPayload, PayloadTooLarge, SignatureError
from webhooks.events import ConfirmSubscription
from webhooks.ses import SesAdapter
from webhooks.sns import is_sns_url

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key: rsa.RSAPrivateKey, *, subject: str = "sns.amazonaws.com") -> bytes:
    """The SNS certificate for these tests: valid a day either side of the test clock."""
    return sns_certificate(key, around=NOW, days=1, subject=subject)


class Loader:
    """A cert_loader that records every URL it is asked for."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


def sign(message: dict[str, Any], *, version: str = "1", key: rsa.RSAPrivateKey = KEY) -> bytes:
    """Sign as SNS documents: Name\\nValue\\n for the type's fields in order."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical.encode(), padding.PKCS1v15(), algorithm)
    message |= {
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": message.get("SigningCertURL", CERT_URL),
    }
    return json.dumps(message).encode()


def notification(name: str, **extra: Any) -> dict[str, Any]:
    """An SNS Notification envelope around an SES event fixture."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": fixture(f"ses/{name}.json").decode(),
        "Timestamp": "2017-08-05T00:41:03.012Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        **extra,
    }


HEADERS = {"x-amz-sns-message-type": "Notification", "Content-Type": "text/plain; charset=UTF-8"}


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_verify(version: str) -> None:
    loader = Loader(certificate(KEY))
    SesAdapter(loader, topics=[TOPIC]).verify(
        sign(notification("delivery"), version=version), HEADERS, now=NOW
    )
    assert loader.calls == [CERT_URL]


def test_subject_is_signed_when_present() -> None:
    loader = Loader(certificate(KEY))
    SesAdapter(loader).verify(
        sign(notification("open", Subject="Amazon SES Email Event")), HEADERS, now=NOW
    )


def test_subscription_confirmation_verifies_and_asks_to_confirm() -> None:
    message = fixture_json("ses/subscription_confirmation.json")
    message["SigningCertURL"] = CERT_URL
    body = sign(message)
    adapter = SesAdapter(Loader(certificate(KEY)))
    headers = {"x-amz-sns-message-type": "SubscriptionConfirmation"}
    adapter.verify(body, headers, now=NOW)
    result = adapter.parse(body, headers, now=NOW)
    assert result.events == []
    assert result.confirm == ConfirmSubscription(
        message["SubscribeURL"], "arn:aws:sns:us-west-2:123456789012:MyTopic"
    )


def test_confirmation_to_a_foreign_host_is_refused() -> None:
    message = fixture_json("ses/subscription_confirmation.json")
    message["SubscribeURL"] = "https://attacker.example/?Action=ConfirmSubscription"
    with pytest.raises(MalformedPayload):
        SesAdapter(Loader(b"")).parse(json.dumps(message).encode(), {}, now=NOW)


def test_tampered_message_is_refused() -> None:
    body = sign(notification("delivery")).replace(b"recipient@example.com", b"x@example.com")
    with pytest.raises(SignatureError):
        SesAdapter(Loader(certificate(KEY))).verify(body, HEADERS, now=NOW)


def test_signature_from_another_key_is_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = sign(notification("delivery"), key=other)
    with pytest.raises(SignatureError):
        SesAdapter(Loader(certificate(KEY))).verify(body, HEADERS, now=NOW)


def test_expired_certificate_is_refused() -> None:
    body = sign(notification("delivery"))
    with pytest.raises(SignatureError):
        SesAdapter(Loader(certificate(KEY))).verify(body, HEADERS, now=NOW + timedelta(days=2))


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://s3.amazonaws.com/sns/cert.pem",
        "https://sns.s3.amazonaws.com/cert.pem",
        "https://sns.s3-us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-east-1.s3.amazonaws.com/cert.pem",
        "https://sns.amazonaws.com/cert.pem",
        "file:///etc/passwd.pem",
    ],
)
def test_certificate_url_outside_sns_is_never_fetched(url: str) -> None:
    loader = Loader(certificate(KEY))
    with pytest.raises(SignatureError):
        SesAdapter(loader).verify(
            sign(notification("delivery", SigningCertURL=url)), HEADERS, now=NOW
        )
    assert loader.calls == []


@pytest.mark.parametrize(
    "host",
    [
        "sns.us-east-1.amazonaws.com",
        "sns.eu-central-1.amazonaws.com",
        "sns.ap-southeast-2.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
    ],
)
def test_region_hosts_are_allowed(host: str) -> None:
    assert is_sns_url(f"https://{host}/x.pem", suffix=".pem")


@pytest.mark.parametrize("subject", ["sns.amazonaws.com", "sns.eu-west-1.amazonaws.com"])
def test_certificate_issued_to_sns_verifies(subject: str) -> None:
    loader = Loader(certificate(KEY, subject=subject))
    SesAdapter(loader).verify(sign(notification("delivery")), HEADERS, now=NOW)


@pytest.mark.parametrize("subject", ["evil.example", "sns.s3.amazonaws.com"])
def test_certificate_issued_to_anyone_else_is_refused(subject: str) -> None:
    loader = Loader(certificate(KEY, subject=subject))
    with pytest.raises(SignatureError, match="not issued to SNS"):
        SesAdapter(loader).verify(sign(notification("delivery")), HEADERS, now=NOW)


def test_unexpected_topic_is_refused_before_fetching() -> None:
    loader = Loader(certificate(KEY))
    with pytest.raises(SignatureError):
        SesAdapter(loader, topics=["arn:aws:sns:us-east-1:123456789012:other"]).verify(
            sign(notification("delivery")), HEADERS, now=NOW
        )
    assert loader.calls == []


def test_unknown_signature_version_is_refused() -> None:
    message = json.loads(sign(notification("delivery")))
    message["SignatureVersion"] = "3"
    with pytest.raises(SignatureError):
        SesAdapter(Loader(certificate(KEY))).verify(json.dumps(message).encode(), HEADERS, now=NOW)


def test_message_type_header_must_agree() -> None:
    headers = {"x-amz-sns-message-type": "SubscriptionConfirmation"}
    with pytest.raises(SignatureError):
        SesAdapter(Loader(certificate(KEY))).verify(
            sign(notification("delivery")), headers, now=NOW
        )


def test_oversized_body_is_refused() -> None:
    loader = Loader(certificate(KEY))
    with pytest.raises(PayloadTooLarge):
        SesAdapter(loader).verify(b" " * (SesAdapter.MAX_BODY_BYTES + 1), HEADERS, now=NOW)
    assert loader.calls == []


def parse(name: str) -> list[Any]:
    body = json.dumps(notification(name)).encode()
    return SesAdapter(Loader(b"")).parse(body, HEADERS, now=NOW).events


@pytest.mark.parametrize(
    ("name", "event_type", "time", "properties"),
    [
        ("send", "email.sent", "2017-08-05T00:40:02.012000+00:00", {}),
        ("delivery", "email.delivered", "2016-10-19T23:21:04.133000+00:00", {}),
        (
            "transient_bounce",
            "email.bounced",
            "2017-08-05T00:41:02.669000+00:00",
            {"hard": False, "bounce_type": "Transient"},
        ),
        (
            "complaint",
            "email.complained",
            "2017-08-05T00:41:02.669000+00:00",
            {"feedback_type": "abuse"},
        ),
        ("open", "email.opened", "2017-08-09T22:00:19.652000+00:00", {}),
        (
            "click",
            "email.clicked",
            "2017-08-09T23:51:25.570000+00:00",
            {"url": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html"},
        ),
        ("reject", "email.dropped", "2017-08-05T00:40:02.012000+00:00", {"reason": "Bad content"}),
        (
            "delivery_delay",
            "email.deferred",
            "2020-06-16T00:15:40.641000+00:00",
            {"reason": "TransientCommunicationFailure"},
        ),
        (
            "subscription",
            "email.unsubscribed",
            "2022-01-12T01:00:14.340000+00:00",
            {"scope": "all", "contact_list": "ContactListName"},
        ),
    ],
)
def test_every_ses_event_maps(
    name: str, event_type: str, time: str, properties: dict[str, object]
) -> None:
    [event] = parse(name)
    assert (event.type, event.source, event.email) == (event_type, "ses", "recipient@example.com")
    assert event.id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert event.time.isoformat() == time
    assert event.message_id == "msg_01HZX3"
    assert properties.items() <= event.properties.items()


def test_bounce_with_several_recipients_gets_one_event_each() -> None:
    events = parse("bounce")
    assert [(e.id, e.email) for e in events] == [
        ("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:recipient@example.com", "recipient@example.com"),
        ("22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:other@example.com", "other@example.com"),
    ]
    assert all(e.type == "email.bounced" and e.properties["hard"] for e in events)


def test_message_id_falls_back_to_the_custom_header() -> None:
    event = fixture_json("ses/open.json")
    del event["mail"]["tags"]["nurture_message_id"]
    message = notification("open") | {"Message": json.dumps(event)}
    [parsed] = SesAdapter(Loader(b"")).parse(json.dumps(message).encode(), HEADERS, now=NOW).events
    assert parsed.message_id == "msg_01HZX3"


def test_unsubscribe_confirmation_is_acknowledged() -> None:
    message = fixture_json("ses/subscription_confirmation.json") | {
        "Type": "UnsubscribeConfirmation"
    }
    result = SesAdapter(Loader(b"")).parse(json.dumps(message).encode(), {}, now=NOW)
    assert (result.events, result.confirm, result.status_code) == ([], None, 200)
