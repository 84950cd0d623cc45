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
from cryptography.x509.oid import NameOID

from webhooks.errors import SignatureError

CertLoader = Callable[[str], bytes]
# Region hosts only (sns.us-east-1.amazonaws.com, sns.cn-north-1.amazonaws.com.cn): a looser
# pattern also admits S3 virtual hosts such as sns.s3.amazonaws.com, which anyone can fill.
_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+"
SNS_HOST = re.compile(rf"^sns\.{_REGION}\.amazonaws\.com(\.cn)?$")
SNS_CERT_NAME = re.compile(rf"^sns(\.{_REGION})?\.amazonaws\.com(\.cn)?$")
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


def _subject_names(cert: x509.Certificate) -> list[str]:
    """The certificate's subject common names and DNS alternative names, lower-cased."""
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        alternatives = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += alternatives.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    return [name.lower() for name in names]


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
    if not any(SNS_CERT_NAME.match(name) for name in _subject_names(cert)):
        raise SignatureError("signing certificate is not issued to SNS")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureError("signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("signing certificate does not hold an RSA key")
    try:
        key.verify(signature, canonical, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SignatureError("SNS signature does not verify") from exc
