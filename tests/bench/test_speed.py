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


def test_labelling_benchmark_in_a_viewer_times_the_dock_path_and_its_parts(
    qtbot, tmp_path, monkeypatch
):
    from napari_featann.bench.speed import labelling_benchmark

    home = tmp_path / "home"  # where its synthetic session would be autosaved on closing
    monkeypatch.setenv("FEATANN_HOME", str(home))
    r = labelling_benchmark(n_images=4, per_image=16, shape=(40, 60), repeats=2, viewer=True)
    assert not home.exists() or not any(home.iterdir())  # no autosave left in the user's home
    assert r["path"] == "dock.assign + visible layer + scatter" and r["selected"] == 64
    parts = r["parts_ms_median"]
    assert set(parts) == {"write", "layer", "scatter", "status", "repaint"}
    assert all(v >= 0 for v in parts.values()) and r["assign_ms_median"] > 0


def test_scatter_benchmark_from_the_cli_with_a_lod_cap(qtbot, capsys):
    assert main(["bench", "scatter", "--points", "3000", "--frames", "4", "--lod-cap", "500"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_points"] == 3000 and result["lod_cap"] == 500
    assert result["drawn_while_moving"] == 500  # only the subsample is drawn while moving
    assert result["mean_frame_ms"] > 0 and result["no_lod_mean_frame_ms"] > 0


def test_labelling_benchmark_refuses_a_fraction_outside_0_1(capsys):
    """``bench label --fraction 0`` (a box of nothing), -1 or 2 ran and returned 0."""
    for fraction in ("0", "-1", "2"):
        assert main(["bench", "label", "--n-images", "2", "--per-image", "4",
                     "--fraction", fraction]) == 2  # fmt: skip
        assert "--fraction must be in (0, 1]" in capsys.readouterr().err


def test_gui_benchmarks_without_a_display_say_so_instead_of_aborting(monkeypatch, capsys):
    """Without a display Qt aborts the process (SIGABRT): refused first, with a hint."""
    import sys

    from napari_featann.bench import scatter_speed, speed

    ran = []  # stands in for the benchmarks: the test must never start Qt without a display
    monkeypatch.setattr(scatter_speed, "scatter_benchmark", lambda *a, **k: ran.append(a) or {})
    monkeypatch.setattr(speed, "labelling_benchmark", lambda *a, **k: ran.append(a) or {})
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for argv in (["scatter", "--points", "100"], ["label", "--viewer"]):
        assert main(["bench", *argv]) == 2
        err = capsys.readouterr().err
        assert "needs a display" in err and "xvfb-run -a featann bench" in err
    assert ran == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # headless Qt: allowed
    assert main(["bench", "scatter", "--points", "100"]) == 0 and len(ran) == 1
