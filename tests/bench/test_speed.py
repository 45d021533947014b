"""The labelling benchmark labels every segment of its synthetic images."""

from __future__ import annotations

import json

from napari_featann.bench.speed import _grid_session
from napari_featann.cli import main


def test_grid_session_segments():
    s = _grid_session(3, 9, (30, 40))
    assert len(s.segments) == 27 and s.next_id == 28
    assert s.segments.area.sum() == 3 * 30 * 40


def test_labelling_benchmark_runs_from_the_cli(capsys):
    assert main(["bench", "label", "--n-images", "5", "--per-image", "16"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["segments"] == 80 and result["path"] == "Session.assign"
    assert result["assign_ms_median"] > 0 and result["undo_ms_median"] >= 0
