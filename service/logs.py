"""Process logging for `nurture serve` and `nurture worker`."""

from __future__ import annotations

import logging

# Libraries that log every job run or state callback at INFO; their warnings still show.
CHATTY_LOGGERS = ("apscheduler", "transitions")


def configure_logging(level: str) -> None:
    """One line per record at `level`; request bodies and headers are never logged."""
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s %(message)s")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
