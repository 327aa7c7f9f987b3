"""The tour's muP-vs-NTP-vs-SP coordinate check writes its figure and data."""

from __future__ import annotations

import json

from infwidth.sim._tour import coord_check_stage


def test_tour_stage_quick(tmp_path):
    line = coord_check_stage(tmp_path, quick=True)
    assert "mup" in line and "ntp" in line and "sp" in line
    data = json.loads((tmp_path / "coord_check_compare.json").read_text())
    assert set(data) == {"mup", "ntp", "sp"}
    assert data["mup"]["regime"] == "feature_learning" and data["ntp"]["regime"] == "kernel"
    assert (tmp_path / "coord_check_compare.png").stat().st_size > 1000
