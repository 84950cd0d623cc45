"""Shared fixture loading and a fixed clock for the webhook adapter tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    """Raw fixture bytes, without the trailing newline editors add."""
    return (FIXTURES / name).read_bytes().rstrip(b"\n")


def fixture_json(name: str) -> Any:
    """A JSON fixture, decoded."""
    return json.loads(fixture(name))


def sns_certificate(
    key: rsa.RSAPrivateKey,
    *,
    around: datetime,
    days: int,
    subject: str = "sns.amazonaws.com",
) -> bytes:
    """A self-signed PEM standing in for the SNS signing certificate, valid `days` either
    side of `around`."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(around - timedelta(days=days))
        .not_valid_after(around + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
