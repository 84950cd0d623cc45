"""Process logging for `nurture serve` and `nurture worker`."""

from __future__ import annotations

import logging
import re

# Libraries that log every job run or state callback at INFO; their warnings still show.
CHATTY_LOGGERS = ("apscheduler", "transitions")
REDACTED = "[redacted]"
# Signed link tokens (unsubscribe, click, open) are credentials for one contact's actions.
_LINK_TOKEN = re.compile(r"^(/[uco]/)[^/?]+")
# Query parameters that carry a person's identifiers or a credential.
_SENSITIVE_PARAM = re.compile(r"(?i)((?:^|[?&])(?:email|phone|external_id|nt|token|key)=)[^&]*")
# An address anywhere else, plain or percent-encoded.
_ADDRESS = re.compile(r"(?i)[^/?&=\s]+(?:@|%40)[^/?&=\s]+")


def redact_url(path_and_query: str) -> str:
    """A request path and query fit for logs: link tokens, identifiers and addresses masked."""
    text = _LINK_TOKEN.sub(rf"\1{REDACTED}", path_and_query)
    text = _SENSITIVE_PARAM.sub(rf"\1{REDACTED}", text)
    return _ADDRESS.sub(REDACTED, text)


class RedactedAccessLog(logging.Filter):
    """Masks the URL in uvicorn's access log lines, which would otherwise keep every link
    token and looked-up email address in the server's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument of an access record; every record is kept."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


def configure_logging(level: str) -> None:
    """One line per record at `level`; request bodies and headers are never logged, and URLs
    in the access log are redacted."""
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s %(message)s")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedAccessLog) for f in access.filters):
        access.addFilter(RedactedAccessLog())
