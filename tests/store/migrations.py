"""A migration module loaded by its revision, for tests that check what it knows."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from service.store.migrate import MIGRATIONS


def migration(revision: str) -> ModuleType:
    """The module of the migration file that starts with `revision`."""
    path = next((MIGRATIONS / "versions").glob(f"{revision}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
