"""Contact bodies and answers: upserts, profile patches, state, messages and timelines."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from service.schemas import ProfileBody, checked_phone, normalized_email


class ContactIn(ProfileBody):
    """Create or update a contact found by any of its identifiers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ava@example.com",
                    "phone": "+15555550100",
                    "persona": "bride",
                    "timezone": "America/New_York",
                    "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
                }
            ]
        },
    )

    id: str | None = Field(default=None, max_length=36)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = None
    phone: str | None = None

    _email = field_validator("email")(normalized_email)
    _phone = field_validator("phone")(checked_phone)

    @model_validator(mode="after")
    def _some_identifier(self) -> ContactIn:
        if not any((self.id, self.external_id, self.email, self.phone)):
            raise PydanticCustomError(
                "missing_identifier", "give at least one of id, external_id, email, phone"
            )
        return self


class ContactPatch(ProfileBody):
    """Change a contact's profile: attributes merge, persona and timezone replace."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attributes": {"wedding_date": "2027-10-02"}}]},
    )
