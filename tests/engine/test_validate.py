"""`nurture validate`: every rule has a broken fixture whose message and line we assert."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from service.cli import main
from service.engine.validate import validate

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))


def _expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path} lacks an '# expect:' line"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_fixture_is_rejected_with_file_line_and_message(path: Path) -> None:
    result = validate([path], content_dir=FIXTURES / "content", today=date(2027, 1, 4))
    messages = [e.message for e in result.errors]
    where, _, text = _expectation(path).partition(": ")
    # A bare number is a line of the journey file; otherwise it names a template file:line.
    prefix = (
        f"{path}:{where}: " if where.isdigit() else f"{FIXTURES / 'content' / 'mini'}/{where}: "
    )
    assert any(m.startswith(prefix) and text in m for m in messages), messages
    assert not result.reports


def test_every_validate_rule_has_a_fixture() -> None:
    names = {p.stem for p in BROKEN}
    assert {
        "yaml_error",
        "unknown_field",
        "unknown_stage",
        "unreachable",
        "no_way_out",
        "missing_template",
        "template_fails",
        "bad_duration",
        "bad_guard",
        "zero_delay_cycle",
    } <= names


def test_valid_journey_prints_summary_with_sms_segments(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(FIXTURES / "valid"), "--content", str(FIXTURES / "content")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mini-wedding (version " in out
    assert "5 stages, 1 final, 2 event and 5 timer transitions, sends: 2 email, 1 sms" in out
    assert "sms mini/favors: 1 segment(s), GSM-7" in out
    table = [line.split() for line in out.splitlines()[1:7]]
    assert table[0] == ["stage", "sends", "ways", "out"]
    assert table[1][:3] == ["welcome", "email", "mini/welcome"]
    assert " ".join(table[2][3:]) == (
        "at wedding_date-30d -> last_month, order.completed (if) -> last_month"
    )
    assert " ".join(table[4][3:]) == "after 1w -> thank_you, at wedding_date+60d -> done"
    assert table[5] == ["done", "-", "final"]
    assert out.strip().endswith("1 journey(s) valid")


def test_cli_exits_non_zero_and_lists_every_problem(tmp_path: Path) -> None:
    for name in ("unknown_stage.yaml", "no_way_out.yaml"):
        (tmp_path / name).write_text((FIXTURES / "broken" / name).read_text())
    out = io.StringIO()
    from service.engine.validate import run_validate

    code = run_validate(
        [tmp_path], content_dir=FIXTURES / "content", today=date(2027, 1, 4), out=out
    )
    assert code == 1
    text = out.getvalue()
    assert "unknown stage 'favours'" in text and "has no way out" in text
    assert "2 problem(s) found" in text


def test_duplicate_journey_ids_across_files_are_rejected(tmp_path: Path) -> None:
    source = (FIXTURES / "valid" / "mini.yaml").read_text()
    (tmp_path / "a.yaml").write_text(source)
    (tmp_path / "b.yaml").write_text(source)
    result = validate([tmp_path], content_dir=FIXTURES / "content", today=date(2027, 1, 4))
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert [e.message for e in result.errors] == [
        f"{second}:1: journey id 'mini-wedding' is also defined in {first}"
    ]


def test_validate_renders_as_of_a_given_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mini").mkdir()
    # After the wedding this template reaches an undefined name: only --today shows it.
    (tmp_path / "mini" / "favors.sms.j2").write_text(
        "{% block body %}{% if days_until(contact.attributes.wedding_date) < 0 %}"
        "{{ after_the_wedding }}{% endif %}See you soon{% endblock %}"
    )
    journey = tmp_path / "j.yaml"
    journey.write_text(
        "journey: j\nentry: {event: web.form_submitted}\n"
        "sample_contact: {attributes: {wedding_date: '2027-09-18'}}\ninitial: a\n"
        "stages:\n  a: {send: {channel: sms, template: mini/favors}, final: true}\n"
    )
    args = ["validate", str(journey), "--content", str(tmp_path)]
    assert main([*args, "--today", "2027-09-08"]) == 0
    assert main([*args, "--today", "2027-09-20"]) == 1
    assert "'after_the_wedding' is undefined" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--today", "next week"])
