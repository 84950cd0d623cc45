"""`nurture import`: contacts from a CSV file, upserted in batches, each line all or nothing,
optionally enrolled in a journey; a bad line is reported (line, column, reason) and never
stops the good ones, and importing the same file again changes nothing."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from sqlmodel import Session

from service.contacts.schemas import ContactIn
from service.engine.core import CompiledJourney
from service.enrollments import bulk
from service.errors import Conflict, InvalidInput, NotFound, NurtureError
from service.runtime import Runtime
from service.store.models import ConsentStatus

BATCH = 1000  # lines per transaction
IDENTIFIERS = ("id", "external_id", "email", "phone")
COLUMNS = (*IDENTIFIERS, "timezone", "persona", "consent_email", "consent_sms")
ATTRIBUTE = "attributes."
CONSENT = {
    "granted": ConsentStatus.GRANTED,
    "yes": ConsentStatus.GRANTED,
    "true": ConsentStatus.GRANTED,
    "1": ConsentStatus.GRANTED,
    "withdrawn": ConsentStatus.WITHDRAWN,
    "no": ConsentStatus.WITHDRAWN,
    "false": ConsentStatus.WITHDRAWN,
    "0": ConsentStatus.WITHDRAWN,
}
_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?$")


@dataclass(frozen=True)
class LineError:
    """Why one line (or the header, line 1) was not imported."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    enrolled: int = 0
    skipped_reentry: int = 0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the end of the command's output."""
        would = "would be " if self.dry_run else ""
        text = (
            f"{self.lines} line(s): {self.created} {would}created, {self.updated} {would}updated,"
            f" {self.unchanged} unchanged, {len({e.line for e in self.errors if e.line > 1})}"
            " with errors"
        )
        if self.enrolled or self.skipped_reentry:
            text += f"; {self.enrolled} {would}enrolled, {self.skipped_reentry} skipped by re-entry"
        return text


@dataclass(frozen=True)
class Line:
    """One CSV line, checked: the upsert body and the consents it states."""

    number: int
    body: ContactIn
    consents: dict[str, ConsentStatus]


def _value(text: str) -> Any:
    """An attribute cell: whole and decimal numbers and true/false are read as such (a
    leading zero keeps it text: zip codes, ids); everything else stays text."""
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return {"true": True, "false": False}.get(text.lower(), text)


def header_errors(header: list[str]) -> list[LineError]:
    """Columns nurture does not know (each is left out of every line, and reported once)."""
    known = ", ".join(COLUMNS) + f" or {ATTRIBUTE}NAME"
    errors = [
        LineError(1, column, f"unknown column: use {known}")
        for column in header
        if column not in COLUMNS and not (column.startswith(ATTRIBUTE) and len(column) > 10)
    ]
    if not any(column in IDENTIFIERS for column in header):
        errors.append(LineError(1, None, f"no identifier column ({', '.join(IDENTIFIERS)})"))
    return errors


def _column(loc: tuple[int | str, ...]) -> str | None:
    parts = [str(part) for part in loc]
    return ".".join(parts) or None


def parse_line(number: int, row: dict[str | None, Any], skipped: set[str]) -> Line | LineError:
    """A CSV row as an upsert body, or why it cannot be one; empty cells are not given."""
    if None in row:
        return LineError(number, None, "more values than the header has columns")
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    consents: dict[str, ConsentStatus] = {}
    for column, cell in row.items():
        text = (cell or "").strip()
        if column is None or column in skipped or not text:
            continue
        if column.startswith(ATTRIBUTE):
            attributes[column.removeprefix(ATTRIBUTE)] = _value(text)
        elif column.startswith("consent_"):
            status = CONSENT.get(text.lower())
            if status is None:
                return LineError(number, column, f"{text!r} is not granted or withdrawn")
            consents[column.removeprefix("consent_")] = status
        else:
            values[column] = text
    try:
        body = ContactIn.model_validate({**values, "attributes": attributes})
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = first["msg"].removeprefix("Value error, ")
        return LineError(number, _column(tuple(first["loc"])), reason)
    return Line(number, body, consents)


def read_lines(text: str) -> tuple[list[LineError], list[Line | LineError]]:
    """The header's problems, and each data line checked on its own (duplicates included:
    a second line with an identifier already given is the error, the first one stands)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    problems = header_errors(header)
    skipped = {e.column for e in problems if e.column}
    seen: dict[tuple[str, str], int] = {}
    lines: list[Line | LineError] = []
    for row in reader:
        line = parse_line(reader.line_num, row, skipped)
        if isinstance(line, Line):
            for name in IDENTIFIERS[1:]:
                value = getattr(line.body, name)
                first = seen.setdefault((name, value), line.number) if value else line.number
                if first != line.number:
                    line = LineError(line.number, name, f"{name} {value!r} is also on line {first}")
                    break
        lines.append(line)
    return problems, lines


def _conflict_columns(exc: NurtureError) -> str | None:
    if isinstance(exc, InvalidInput):
        return exc.field
    if isinstance(exc, Conflict) and isinstance(exc.detail, dict):
        return ", ".join(exc.detail.get("owners", {})) or None
    return "id" if "id" in exc.message else None


def _batches(lines: list[Line]) -> Iterator[list[Line]]:
    for start in range(0, len(lines), BATCH):
        yield lines[start : start + BATCH]


def import_contacts(
    runtime: Runtime,
    text: str,
    *,
    journey_id: str | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every good line of a CSV text; raises NotFound for an unknown journey."""
    runtime.journeys.refresh()
    try:
        journey = runtime.journeys.current_of(journey_id) if journey_id else None
    except NotFound as exc:
        raise NotFound(
            f"{exc.message} (an import enrols in the versions the service published when it"
            " started or last reloaded)"
        ) from None
    problems, parsed = read_lines(text)
    report = ImportReport(dry_run=dry_run, lines=len(parsed), errors=list(problems))
    report.errors.extend(line for line in parsed if isinstance(line, LineError))
    good = [line for line in parsed if isinstance(line, Line)]
    done = len(parsed) - len(good)
    for batch in _batches(good):
        counts = _run_batch(runtime, batch, journey, dry_run)
        for name in ("created", "updated", "unchanged", "enrolled", "skipped_reentry"):
            setattr(report, name, getattr(report, name) + getattr(counts, name))
        report.errors.extend(counts.errors)
        done += len(batch)
        if progress is not None:
            progress(done, len(parsed))
    report.errors.sort(key=lambda error: error.line)
    return report


def _run_batch(
    runtime: Runtime, batch: list[Line], journey: CompiledJourney | None, dry_run: bool
) -> ImportReport:
    """One transaction for a batch, written with bulk statements (only read in a dry run);
    a line that fails changes nothing, as if it had its own savepoint."""

    def work(session: Session) -> ImportReport:
        counts = ImportReport(dry_run=dry_run)
        upserted = bulk.upsert_and_enrol(
            session,
            runtime=runtime,
            upserts=batch,
            journey=journey,
            reason="import",
            dry_run=dry_run,
        )
        for line, result in zip(batch, upserted, strict=True):
            if result.error is not None:
                error = result.error
                counts.errors.append(
                    LineError(line.number, _conflict_columns(error), error.message)
                )
                continue
            if result.enrolled is not None:
                counts.enrolled += result.enrolled
                counts.skipped_reentry += not result.enrolled
            if result.created:
                counts.created += 1
            elif result.changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        return counts

    if dry_run:
        with runtime.db.session() as session:
            return work(session)
    return runtime.db.write_retrying(work)


def run_import(
    runtime: Runtime, path: Path, *, journey_id: str | None, dry_run: bool, out: TextIO, err: TextIO
) -> int:
    """CLI body: import, print every bad line and a summary; exit 1 if any line was bad."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        out.write(f"cannot read {path}: {exc}\n")
        return 2

    def progress(done: int, total: int) -> None:
        if err.isatty():
            err.write(f"\rimporting {done}/{total} lines")
            err.flush()

    try:
        report = import_contacts(
            runtime, text, journey_id=journey_id, dry_run=dry_run, progress=progress
        )
    except NurtureError as exc:
        out.write(f"{exc.message}\n")
        return 2
    if err.isatty():
        err.write("\n")
    for error in report.errors:
        out.write(f"{path}: {error}\n")
    out.write(("dry run, nothing changed: " if dry_run else "") + report.summary() + "\n")
    return 1 if report.errors else 0
