"""Contact bodies and answers: upserts, profile patches, state, messages and timelines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from service.schemas import ProfileBody, checked_phone, normalized_email, strict_example


class ContactIn(ProfileBody):
    """Create or update a contact found by any of its identifiers."""

    model_config = strict_example(
        {
            "email": "ava@example.com",
            "phone": "+15555550100",
            "persona": "bride",
            "timezone": "America/New_York",
            "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
        }
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

    model_config = strict_example({"attributes": {"wedding_date": "2027-10-02"}})


class ContactWritten(BaseModel):
    """What a profile write answers a key without the `read` scope: which contact, and what
    the request set, never the rest of her profile."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "1b4e28ba-…", "created": False, "changed": ["attributes.vip"]}]
        }
    )

    id: str
    created: bool
    changed: list[str] = Field(
        description="The fields this request set (email, phone, external_id, persona, "
        "timezone, attributes.<name>), whether or not they held that value already: "
        "telling those apart would reveal the stored profile"
    )


def written_fields(body: ProfileBody) -> list[str]:
    """The profile fields a write sets, named as ContactWritten names them."""
    names = [
        name
        for name in ("email", "phone", "external_id", "persona", "timezone")
        if getattr(body, name, None) is not None
    ]
    return names + [f"attributes.{key}" for key in sorted(body.attributes)]
