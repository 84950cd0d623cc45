"""`nurture import`: good lines in, bad lines reported (line, column, reason) and never half
written, the same result twice in a row, and enrolment honouring re-entry."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from service.enrollments import imports
from service.enrollments.imports import import_contacts, run_import
from service.errors import NotFound
from service.runtime import Runtime
from service.store.models import Consent, Contact, Enrollment
from tests.factories import add_contact, stored

CSV = """\
email,phone,timezone,persona,consent_email,consent_sms,attributes.first_name,attributes.wedding_date,attributes.guests,colour
ava@example.com,+15555550101,America/New_York,bride,granted,withdrawn,Ava,2027-09-18,120,red
bea@example.com,,Europe/Paris,bride,,,Bea,18/09/2027,80,
cy@example.com,,,,,,Cy,2027-10-02,0042,
ava@example.com,,,,,,Ava again,2027-09-18,,
dee@example.com,+15555550999,,,,,Dee,2027-11-11,,
,,,,,,Nobody,,,
eve@example.com,555-0100,,,,,Eve,,,
fay@example.com,,Mars/Olympus,,,,Fay,,,
gus@example.com,,,,maybe,,Gus,,,
hal@example.com,,,,,,Hal,,,,extra
"""
GOOD = ["ava@example.com", "cy@example.com"]


def _errors(report: imports.ImportReport) -> list[tuple[int, str | None]]:
    return [(e.line, e.column) for e in report.errors]


EXPECTED_ERRORS = [
    (1, "colour"),
    (3, "attributes.wedding_date"),
    (5, "email"),
    (6, "email, phone"),
    (7, None),
    (8, "phone"),
    (9, "timezone"),
    (10, "consent_email"),
    (11, None),
]


def test_only_the_good_lines_are_imported_twice_in_a_row_alike(runtime: Runtime) -> None:
    owner = _owners(runtime)
    first = import_contacts(runtime, CSV)
    assert _errors(first) == EXPECTED_ERRORS
    assert (first.lines, first.created, first.updated, first.unchanged) == (10, 2, 0, 0)
    contacts = {c.email: c for c in stored(runtime, Contact)}
    assert sorted(contacts) == sorted([*GOOD, "dee@example.com", "phone.owner@example.com"])
    ava = contacts["ava@example.com"]
    assert (ava.phone, ava.timezone, ava.persona) == ("+15555550101", "America/New_York", "bride")
    assert ava.attributes == {"first_name": "Ava", "wedding_date": "2027-09-18", "guests": 120}
    assert contacts["cy@example.com"].attributes["guests"] == "0042"  # a leading zero stays text
    [sms] = stored(runtime, Consent, contact_id=ava.id)
    assert (sms.channel, sms.status, sms.reason) == ("sms", "withdrawn", "import")
    [kept] = stored(runtime, Contact, id=owner.id)  # the conflicting line changed nobody
    assert (kept.email, kept.attributes) == ("phone.owner@example.com", {})

    second = import_contacts(runtime, CSV)
    assert _errors(second) == EXPECTED_ERRORS
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert len(stored(runtime, Contact)) == 4
    messages = [str(e) for e in second.errors]
    assert messages[1].startswith("line 3, column attributes.wedding_date: wedding_date must be")
    assert messages[2] == "line 5, column email: email 'ava@example.com' is also on line 2"
    assert messages[3].startswith("line 6, column email, phone: the identifiers given belong")


def _owners(runtime: Runtime) -> Contact:
    """Dee is known by her email; the phone on her line belongs to someone else."""
    add_contact(runtime, email="dee@example.com")
    return add_contact(runtime, email="phone.owner@example.com", phone="+15555550999")


def test_a_changed_line_is_an_update(runtime: Runtime) -> None:
    _owners(runtime)
    import_contacts(runtime, CSV)
    changed = import_contacts(runtime, CSV.replace("Cy,2027-10-02", "Cyrus,2027-10-02"))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)


def test_a_dry_run_counts_what_the_real_run_does_and_changes_nothing(runtime: Runtime) -> None:
    _owners(runtime)
    dry = import_contacts(runtime, CSV, journey_id="wedding-story", dry_run=True)
    assert len(stored(runtime, Contact)) == 2 and stored(runtime, Enrollment) == []
    real = import_contacts(runtime, CSV, journey_id="wedding-story")
    assert (dry.created, dry.enrolled, _errors(dry)) == (real.created, real.enrolled, _errors(real))
    assert "would be created" in dry.summary() and "would be" not in real.summary()


def test_enrolment_honours_re_entry_and_never_restarts(runtime: Runtime) -> None:
    _owners(runtime)
    first = import_contacts(runtime, CSV, journey_id="wedding-story")
    assert (first.enrolled, first.skipped_reentry) == (2, 0)
    again = import_contacts(runtime, CSV, journey_id="wedding-story")  # reenter: never
    assert (again.enrolled, again.skipped_reentry) == (0, 2)
    import_contacts(runtime, CSV, journey_id="promo-always")
    always = import_contacts(runtime, CSV, journey_id="promo-always")
    assert (always.enrolled, always.skipped_reentry) == (0, 2)  # active: not restarted
    rows = stored(runtime, Enrollment)
    assert len(rows) == 4 and {r.status for r in rows} == {"active"}
    with pytest.raises(NotFound, match="unknown journey 'nope'"):
        import_contacts(runtime, CSV, journey_id="nope")


def test_batches_and_progress(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "BATCH", 3)
    rows = "".join(f"c{n}@example.com,C{n}\n" for n in range(8))
    seen: list[tuple[int, int]] = []
    report = import_contacts(
        runtime, "email,attributes.first_name\n" + rows, progress=lambda *p: seen.append(p)
    )
    assert report.created == 8 and seen == [(3, 8), (6, 8), (8, 8)]


def test_the_command_prints_every_bad_line_and_a_summary(runtime: Runtime, tmp_path: Path) -> None:
    _owners(runtime)
    path = tmp_path / "brides.csv"
    path.write_text(CSV)
    out = io.StringIO()
    code = run_import(runtime, path, journey_id=None, dry_run=False, out=out, err=io.StringIO())
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{path}: line 1, column colour: unknown column")
    assert lines[-1] == "10 line(s): 2 created, 0 updated, 0 unchanged, 8 with errors"
    missing = io.StringIO()
    assert (
        run_import(
            runtime, tmp_path / "none.csv", journey_id=None, dry_run=True, out=missing, err=out
        )
        == 2
    )
