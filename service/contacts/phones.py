"""Phone numbers as people type them, read into the E.164 form contacts are stored in."""

from __future__ import annotations

import phonenumbers

from webhooks.common import is_e164


def check_region(value: str) -> str:
    """A region phonenumbers knows, upper-cased; ValueError naming the value otherwise."""
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {value!r}: use a two-letter code like US, GB or DE")
    return region


def to_e164(text: str, *, region: str | None) -> str:
    """The number in E.164; a national number is read in `region`.

    Raises ValueError with a reason a caller can show. Numbers are checked for a possible
    length, not for being assigned, so reserved test ranges (555-01xx) still work.
    """
    text = text.strip()
    if is_e164(text):
        return text
    if not text.startswith("+") and region is None:
        raise ValueError(
            "a national number needs NURTURE_DEFAULT_REGION; or give it in E.164, like +15555550100"
        )
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{text!r} is not a possible phone number")
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not is_e164(formatted):
        raise ValueError(f"{text!r} is not a possible phone number")
    return formatted
