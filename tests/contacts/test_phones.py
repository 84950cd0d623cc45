"""Phone numbers as typed, read into E.164 with NURTURE_DEFAULT_REGION for national ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.contacts.phones import to_e164
from tests.factories import make_settings


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        ("+15555550100", None, "+15555550100"),
        ("+1 (555) 555-0100", None, "+15555550100"),
        ("(555) 555-0100", "US", "+15555550100"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 20 7946 0018", "US", "+442079460018"),
    ],
)
def test_numbers_read_into_e164(typed: str, region: str | None, expected: str) -> None:
    assert to_e164(typed, region=region) == expected


@pytest.mark.parametrize(
    ("typed", "region", "problem"),
    [
        ("(555) 555-0100", None, "needs NURTURE_DEFAULT_REGION"),
        ("call me", "US", "is not a phone number"),
        ("12", "US", "is not a possible phone number"),
    ],
)
def test_unusable_numbers_say_why(typed: str, region: str | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        to_e164(typed, region=region)


def test_the_region_setting_is_checked(tmp_path: Path) -> None:
    assert make_settings("sqlite://", tmp_path, default_region="gb").default_region == "GB"
    assert make_settings("sqlite://", tmp_path, default_region="").default_region is None
    with pytest.raises(ValidationError, match="unknown region 'XX'"):
        make_settings("sqlite://", tmp_path, default_region="XX")
