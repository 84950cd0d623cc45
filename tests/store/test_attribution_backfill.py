"""Migration 0009 reads each stored journey's attribution window as the engine does, so its
backfill credits orders with the windows the live writer uses."""

from __future__ import annotations

from pathlib import Path

from service.engine.loader import load_catalog
from tests.analytics.history import SHOP
from tests.api.test_attribution import GIFT
from tests.store.migrations import migration

ROOT = Path(__file__).parents[2]


def test_the_migration_reads_windows_as_the_engine_does(tmp_path: Path) -> None:
    for name, text in {"shop": SHOP, "gift": GIFT}.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    catalog = load_catalog([ROOT / "journeys", ROOT / "tests/fixtures/journeys", tmp_path])
    window_of = migration("0009").window_of
    found = {j: window_of(source.text) for j, source in catalog.sources.items()}
    expected = {j: journey.journey.attribution.window for j, journey in catalog.journeys.items()}
    assert found == expected
    assert {found["shop"].total_seconds(), found["gift"].total_seconds()} == {86400, 3600}
