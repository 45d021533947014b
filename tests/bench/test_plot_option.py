"""``--plot`` without matplotlib (not a dependency) is refused before the benchmark runs."""

from __future__ import annotations

import sys


def test_plot_without_matplotlib_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from napari_featann.bench import robot
    from napari_featann.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    looked = []
    monkeypatch.setattr(robot, "image_files", lambda images: looked.append(images) or [])
    argv = ["bench", "robot", "--images", str(tmp_path), "--masks", str(tmp_path),
            "--plot", str(tmp_path / "curve.png")]  # fmt: skip
    assert main(argv) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert looked == []  # refused before reading any image
    assert not (tmp_path / "curve.png").exists()
