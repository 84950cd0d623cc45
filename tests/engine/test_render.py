"""Templates: parts per channel, autoescaping, strictness, sandboxing, SMS segments."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from service.engine.guards import Guard
from service.engine.render import ContentLibrary, PreviewLinks, message_context, sms_segments
from service.errors import JourneyError


def _context(**attributes: object) -> dict[str, object]:
    return message_context(
        contact={"id": "c1", "attributes": attributes, "email": "a@example.com"},
        journey={"id": "j", "version": "1", "persona": "bride"},
        stage="welcome",
        event=None,
        recommendations=[{"name": "Kraft favor boxes"}],
        links=PreviewLinks(),
        today=date(2027, 1, 4),
    )


def test_email_has_every_part_and_escapes_html_only(content: ContentLibrary) -> None:
    rendered = content.render(
        "email", "mini/welcome", _context(first_name="<b>Ava</b>", wedding_date="2027-01-14")
    )
    assert rendered.subject == "Welcome, <b>Ava</b>!"
    assert rendered.preheader == "10 days to go"
    assert "<h1>Hello &lt;b&gt;Ava&lt;/b&gt; & co</h1>" in rendered.html
    assert "https://nurture.example/c/preview?name=favors" in rendered.html
    assert rendered.text.startswith("Hello <b>Ava</b> & co")
    assert rendered.text.endswith("Unsubscribe: https://nurture.example/u/preview")


def test_sms_body(content: ContentLibrary) -> None:
    rendered = content.render(
        "sms", "mini/favors", _context(first_name="Ava", wedding_date="2027-09-18")
    )
    assert rendered.body == "Ava, favors for Sep 18: Kraft favor boxes. Reply STOP to opt out"


def test_undefined_variable_is_an_error_with_line(content: ContentLibrary) -> None:
    with pytest.raises(JourneyError) as err:
        content.render("email", "mini/welcome", _context(wedding_date="2027-09-18"))
    assert err.value.line == 2
    assert err.value.path.endswith("mini/welcome.email.j2")


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    (tmp_path / "evil.sms.j2").write_text(
        "{% block body %}{{ contact.__class__.__mro__[1].__subclasses__() }}{% endblock %}"
    )
    with pytest.raises(JourneyError, match="render failed"):
        ContentLibrary(tmp_path).render("sms", "evil", _context())


def test_missing_required_block(tmp_path: Path) -> None:
    (tmp_path / "half.email.j2").write_text("{% block subject %}Hi{% endblock %}")
    with pytest.raises(JourneyError, match="template defines no 'html' block"):
        ContentLibrary(tmp_path).render("email", "half", _context())


def test_syntax_error_names_line(tmp_path: Path) -> None:
    (tmp_path / "broken.sms.j2").write_text("{% block body %}\nHi {{ contact.id \n{% endblock %}")
    with pytest.raises(JourneyError) as err:
        ContentLibrary(tmp_path).render("sms", "broken", _context())
    assert err.value.line is not None and "template syntax" in err.value.message


def test_guards_cannot_reach_internals() -> None:
    ok, error = Guard("event.__class__.__init__.__globals__").evaluate({"event": {}})
    assert ok is False
    assert (error is not None and "SecurityError" in error) or error is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("{" * 80, ("GSM-7", 1)),
        ("{" * 81, ("GSM-7", 2)),
        ("é" * 160, ("GSM-7", 1)),
        ("ü" * 70 + "ł", ("UCS-2", 2)),
        ("💍" * 35, ("UCS-2", 1)),
        ("💍" * 36, ("UCS-2", 2)),
    ],
)
def test_sms_segments(body: str, expected: tuple[str, int]) -> None:
    assert sms_segments(body) == expected
