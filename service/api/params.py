"""Path and query parameters, bounded like the columns they are looked up in, so that no
value reaches the database that it would refuse (a NUL) or that no row can hold."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from service.schemas import checked_phone, normalized_email

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


def _optional_printable(value: str | None) -> str | None:
    return None if value is None else _printable(value)


def _path(max_length: int, description: str) -> Any:
    return Path(
        min_length=1,
        max_length=max_length,
        description=description,
        json_schema_extra={"pattern": PRINTABLE},
    )


ContactId = Annotated[str, _path(36, "A contact's id"), AfterValidator(_printable)]
JourneyId = Annotated[str, _path(200, "A journey's id"), AfterValidator(_printable)]
EmailQuery = Annotated[
    str | None, Query(max_length=320, include_in_schema=False), AfterValidator(normalized_email)
]
PhoneQuery = Annotated[
    str | None, Query(max_length=16, include_in_schema=False), AfterValidator(checked_phone)
]
ExternalIdQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=200, include_in_schema=False),
    AfterValidator(_optional_printable),
]
# The lookup's three query parameters, documented as what the server requires: exactly one.
_IDENTIFIER_SCHEMAS = {
    "email": {"type": "string", "maxLength": 320, "examples": ["ava@example.com"]},
    "phone": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$", "examples": ["+15555550100"]},
    "external_id": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": PRINTABLE},
}
LOOKUP_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "identifier",
            "in": "query",
            "required": True,
            "style": "form",
            "explode": True,
            "description": "Exactly one of email, phone (E.164) or external_id, as its own "
            "query parameter: `?email=ava@example.com`.",
            "schema": {
                "type": "object",
                "oneOf": [
                    {"properties": {name: schema}, "required": [name]}
                    for name, schema in _IDENTIFIER_SCHEMAS.items()
                ],
            },
        }
    ]
}
