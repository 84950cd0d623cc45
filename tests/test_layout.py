"""The layout stays easy to change: no module of the service grows too long to read at once."""

from __future__ import annotations

from pathlib import Path

LIMIT = 450
SERVICE = Path(__file__).resolve().parent.parent / "service"


def test_no_service_module_is_over_the_size_limit() -> None:
    modules = sorted(SERVICE.rglob("*.py"))
    assert len(modules) > 100  # the check found the package it guards
    long = {
        str(m.relative_to(SERVICE)): n
        for m in modules
        if (n := len(m.read_text().splitlines())) > LIMIT
    }
    assert long == {}
