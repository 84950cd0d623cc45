"""Amazon SNS message signatures (v1 SHA1withRSA, v2 SHA256withRSA) and cert-URL rules."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from webhooks.errors import SignatureError

CertLoader = Callable[[str], bytes]
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}


def is_sns_url(url: str, *, suffix: str = "") -> bool:
    """Whether `url` is https on an SNS host, so we never fetch a URL an attacker names."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and SNS_HOST.match(parts.hostname or "") is not None
        and parts.path.endswith(suffix)
    )


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The documented canonical string: `Name\\nValue\\n` for each field, in order."""
    kind = message.get("Type")
    fields = NOTIFICATION_FIELDS if kind == "Notification" else CONFIRMATION_FIELDS
    lines = []
    for name in fields:
        if name == "Subject" and message.get(name) is None:
            continue
        value = message.get(name)
        if not isinstance(value, str):
            raise SignatureError(f"{name} is missing from the SNS message")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def verify_message(message: Mapping[str, Any], cert_loader: CertLoader, *, now: datetime) -> None:
    """Raise SignatureError unless SNS signed this message with a currently valid cert."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise SignatureError("SignatureVersion must be 1 or 2")
    url = message.get("SigningCertURL")
    if not isinstance(url, str) or not is_sns_url(url, suffix=".pem"):
        raise SignatureError("SigningCertURL is not an https SNS .pem URL")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except binascii.Error as exc:
        raise SignatureError("Signature is not base64") from exc
    canonical = string_to_sign(message)
    try:
        cert = x509.load_pem_x509_certificate(cert_loader(url))
    except ValueError as exc:
        raise SignatureError("signing certificate is not PEM") from exc
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureError("signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("signing certificate does not hold an RSA key")
    try:
        key.verify(signature, canonical, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SignatureError("SNS signature does not verify") from exc
