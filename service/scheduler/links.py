"""Links in sent messages, pointing at this service's public address."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class ServiceLinks:
    """Unsubscribe and click-tracking links for one message (signing comes with tracking)."""

    base_url: str
    message_id: str

    def unsubscribe_url(self) -> str:
        """The one-click unsubscribe link of this message."""
        return f"{self.base_url.rstrip('/')}/u/{quote(self.message_id)}"

    def track(self, url: str, name: str) -> str:
        """A redirect through the service that records the click, then goes to `url`."""
        query = urlencode({"name": name, "url": url})
        return f"{self.base_url.rstrip('/')}/c/{quote(self.message_id)}?{query}"
