"""The webhooks package stays pure: no framework, database, HTTP client, service or clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "webhooks"
FORBIDDEN_ROOTS = {"fastapi", "starlette", "sqlmodel", "sqlalchemy", "httpx", "requests", "service"}
CLOCK_OWNERS = {"datetime", "date", "time"}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic"}
FILES = sorted(PACKAGE.glob("*.py"))
# A move that left the glob empty would make the checks below pass vacuously.
EXPECTED = {
    "__init__.py",
    "protocol.py",
    "errors.py",
    "events.py",
    "common.py",
    "sendgrid.py",
    "mailgun.py",
    "postmark.py",
    "ses.py",
    "sns.py",
    "twilio_sms.py",
    "twilio_voice.py",
    "segment.py",
    "callcenter.py",
    "standard.py",
}


def test_the_adapters_are_where_the_checks_look() -> None:
    missing = EXPECTED - {path.name for path in FILES}
    assert not missing, f"missing from {PACKAGE}: {sorted(missing)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_imports_no_io_or_service(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            continue
        bad = [m for m in modules if m.split(".")[0] in FORBIDDEN_ROOTS]
        assert not bad, f"{path.name}:{node.lineno} imports {bad}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_never_reads_the_clock(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            assert not (node.func.attr in CLOCK_CALLS and owner in CLOCK_OWNERS), (
                f"{path.name}:{node.lineno} calls {owner}.{node.func.attr}()"
            )
