"""`nurture render`: a message as a contact would get it, from the sample contact, a contact
file or a stored contact."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

from service.catalog.preview import run_render
from service.runtime import Runtime
from tests.factories import add_contact, make_settings

REPO = Path(__file__).parents[2]
TODAY = date(2027, 1, 4)


def _render(template: str, tmp_path: Path, **kwargs: object) -> tuple[int, str]:
    settings = kwargs.pop("settings", None) or make_settings(
        "sqlite:///unused.db",
        tmp_path,
        journeys_dir=REPO / "journeys",
        content_dir=REPO / "content",
    )
    out = io.StringIO()
    options = {"contact_file": None, "contact_id": None, "stage": None, "html_out": None}
    options.update(kwargs)
    code = run_render(template, settings=settings, today=TODAY, out=out, **options)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_an_email_for_the_sample_contact(tmp_path: Path) -> None:
    html = tmp_path / "welcome.html"
    code, text = _render("bride/welcome", tmp_path, html_out=html)
    assert code == 0, text
    assert text.startswith("Subject: Ava, your wedding stationery timeline starts here\n")
    assert "Preheader: 257 days to go." in text
    assert f"(HTML written to {html})" in text
    assert "<html" in html.read_text().lower()


def test_a_contact_file_and_a_stage(tmp_path: Path) -> None:
    contact = tmp_path / "bea.yaml"
    contact.write_text(
        "email: bea@example.com\ntimezone: Europe/Paris\n"
        "attributes: {first_name: Bea, wedding_date: '2027-06-05'}\n"
    )
    code, text = _render(
        "bride/wedding-week.sms", tmp_path, contact_file=contact, stage="wedding_week"
    )
    assert code == 0, text
    assert "Bea" in text and "Subject:" not in text
    bad = tmp_path / "bad.yaml"
    bad.write_text("mail: x@example.com\n")
    assert _render("bride/welcome", tmp_path, contact_file=bad) == (
        1,
        f"{bad}: unknown field 'mail'\n",
    )


def test_a_stored_contact(runtime: Runtime, tmp_path: Path) -> None:
    stored = add_contact(
        runtime,
        email="cy@example.com",
        attributes={"first_name": "Cy", "wedding_date": "2026-09-01"},
    )
    settings = make_settings(runtime.settings.database_url, tmp_path)
    code, text = _render(
        "story/welcome",
        tmp_path,
        settings=settings,
        contact_id=stored.id,
        html_out=tmp_path / "w.html",
    )
    assert code == 0, text
    assert "Cy" in text
    assert _render("story/welcome", tmp_path, settings=settings, contact_id="nope")[0] == 1


def test_unknown_templates_and_stages_are_one_line(tmp_path: Path) -> None:
    code, text = _render("bride/nothing", tmp_path)
    assert code == 1 and "name exactly one channel file (found none)" in text
    code, text = _render("bride/welcome", tmp_path, stage="favors")
    assert code == 1 and "no journey stage sends 'bride/welcome' as stage 'favors'" in text


def test_send_to_sends_one_test_message_through_the_configured_channel(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite:///unused.db",
        tmp_path,
        journeys_dir=REPO / "journeys",
        content_dir=REPO / "content",
    )
    code, printed = _render("bride/welcome", tmp_path, settings=settings, send_to="qa@example.com")
    assert code == 0, printed
    assert "Sent as a test to qa@example.com" in printed
    [line] = settings.outbox_path.read_text().splitlines()
    sent = json.loads(line)
    assert sent["to"] == "qa@example.com"
    assert sent["subject"].startswith("[test] ")
    assert sent["id"].startswith("test-") and sent["contact_id"] == "test"


def test_send_to_refuses_an_address_the_channel_cannot_use(tmp_path: Path) -> None:
    code, printed = _render("bride/welcome", tmp_path, send_to="not-an-address")
    assert code == 1
    assert "is no email address" in printed
    assert not (tmp_path / "outbox.jsonl").exists()
