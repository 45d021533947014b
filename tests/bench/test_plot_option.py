"""``--plot`` without matplotlib (not a dependency) is refused before the benchmark runs."""

from __future__ import annotations

import sys


def test_plot_without_matplotlib_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from napari_featann.bench import common
    from napari_featann.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    looked = []
    monkeypatch.setattr(common, "image_files", lambda images: looked.append(images) or [])
    argv = ["bench", "robot", "--images", str(tmp_path), "--masks", str(tmp_path),
            "--plot", str(tmp_path / "curve.png")]  # fmt: skip
    assert main(argv) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert looked == []  # refused before reading any image
    assert not (tmp_path / "curve.png").exists()


def test_a_plot_folder_that_does_not_exist_is_refused_before_any_work(
    tmp_path, monkeypatch, capsys
):
    """``--plot nodir2/x.png`` failed after the whole run, and its JSON was lost."""
    import pytest

    pytest.importorskip("matplotlib")
    from napari_featann.bench import common
    from napari_featann.cli import main

    looked = []
    monkeypatch.setattr(common, "image_files", lambda images: looked.append(images) or [])
    argv = ["bench", "robot", "--images", str(tmp_path), "--masks", str(tmp_path),
            "--plot", str(tmp_path / "nodir2" / "x.png")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--plot {tmp_path / 'nodir2' / 'x.png'}" in err and "does not exist" in err
    assert looked == []


def test_the_result_is_printed_before_the_plot_is_written(tmp_path, monkeypatch, capsys):
    import json

    import pytest

    pytest.importorskip("matplotlib")
    from napari_featann.bench import plot, robot
    from napari_featann.cli import main

    result = {"n_images": 1, "mean_iou": 50.0, "curve": [[0.0, 0.0], [3.0, 50.0]],
              "oracle_iou": 80.0, "plot": str(tmp_path / "x.png"),
              "robot": {"metric_learning": True, "corrections": True, "budget": 4.0}}  # fmt: skip
    monkeypatch.setattr(robot, "robot_benchmark", lambda *a, **k: dict(result))

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plot, "plot_curves", disk_full)
    argv = ["bench", "robot", "--images", str(tmp_path), "--masks", str(tmp_path),
            "--plot", str(tmp_path / "x.png")]  # fmt: skip
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1]) == result  # the result is not lost
    assert f"--plot {tmp_path / 'x.png'}" in err and "No space left" in err


def test_a_plot_name_matplotlib_cannot_write_is_refused_before_any_work(
    tmp_path, monkeypatch, capsys
):
    """``--plot curve.txt`` ran the whole benchmark, then failed with matplotlib's "Format
    'txt' is not supported" (no option named); ``--plot curve`` wrote ``curve.png`` while
    the JSON said ``curve``. Both are refused before any work now, naming --plot."""
    import pytest

    pytest.importorskip("matplotlib")
    from napari_featann.bench import common
    from napari_featann.cli import main

    looked = []
    monkeypatch.setattr(common, "image_files", lambda images: looked.append(images) or [])
    base = ["bench", "robot", "--images", str(tmp_path), "--masks", str(tmp_path), "--plot"]
    for name, said in (("curve.txt", "'.txt' is no image format matplotlib writes"),
                       ("curve", "no extension")):  # fmt: skip
        assert main([*base, str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"--plot {tmp_path / name}: {said}; give a name ending in .png" in err
        assert not (tmp_path / name).exists() and not (tmp_path / "curve.png").exists()
    assert looked == []
    from napari_featann.bench.plot import check_plot_file

    for name in ("curve.png", "curve.PDF", "curve.svg"):  # formats matplotlib writes
        assert check_plot_file(tmp_path / name) == tmp_path / name
