"""What every email provider shares: the sender, and the unsubscribe headers bulk mail needs."""

from __future__ import annotations

from dataclasses import dataclass

from service.delivery.channels import OutgoingMessage
from service.settings_base import SettingsGroup, required


@dataclass(frozen=True)
class Sender:
    """Who marketing email comes from."""

    email: str
    name: str | None = None
    reply_to: str | None = None

    def formatted(self) -> str:
        """`Name <address>` as Postmark and Mailgun take it."""
        return f"{self.name} <{self.email}>" if self.name else self.email


class SenderSettings(SettingsGroup):
    """The From and Reply-To of marketing email, whichever provider sends it."""

    email_from: str | None = None
    email_from_name: str | None = None
    email_reply_to: str | None = None

    def email_sender(self, *, provider: str) -> Sender:
        """The sender; an email provider cannot work without a From address."""
        return Sender(
            email=required(
                self.email_from, setting="NURTURE_EMAIL_FROM", needed_by=f"provider {provider}"
            ),
            name=self.email_from_name,
            reply_to=self.email_reply_to,
        )


def unsubscribe_headers(message: OutgoingMessage) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: mailbox providers POST to the signed URL."""
    return {
        "List-Unsubscribe": f"<{message.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
