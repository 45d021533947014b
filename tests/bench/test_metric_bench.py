"""``featann bench metric`` runs from the command line, with and without a session cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BACKBONE_WEIGHTS = SHARED / "weights" / "efficientnet_lite0_in1k_timm.pth"


def _write_problem(root: Path, n: int = 6, size: int = 64) -> Path:
    """``n`` images of a red square on green (and its mask) in ``root/images`` and ``masks``."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    (root / "masks").mkdir()
    for k in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        img[:] = (60, 160, 60)
        mask = np.zeros((size, size), np.uint8)
        r, c = rng.integers(4, size // 2, 2)
        img[r : r + 24, c : c + 24] = (220, 40, 30)
        mask[r : r + 24, c : c + 24] = 255
        iio.imwrite(root / "images" / f"im{k}.png", img)
        iio.imwrite(root / "masks" / f"im{k}.png", mask)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["absolute", "relative"])
def test_metric_benchmark_runs_from_the_cli_and_reuses_its_cache(
    tmp_path, capsys, monkeypatch, weights
):
    # the README's commands name the weights relative to the checkout (../shared/...); the
    # session file keeps them absolute: the cache must still be found the second time
    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    pytest.importorskip("umap")
    from napari_featann.bench import common
    from napari_featann.cli import main

    root = _write_problem(tmp_path)
    cache = tmp_path / "setup"  # without the suffix, as a user may type it
    w = str(BACKBONE_WEIGHTS)
    if weights == "relative":
        monkeypatch.chdir(BACKBONE_WEIGHTS.parent)
        w = BACKBONE_WEIGHTS.name
    argv = ["bench", "metric", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--weights", w, "--device", "cpu", "--regions", "6",
            "--labelled-fraction", "0.6", "--session-cache", str(cache)]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert f"session cache written to {tmp_path / 'setup.featann'}" in err  # the name it got
    assert result["n_images"] == 6 and result["n_segments"] > 0 and result["n_classes"] == 2
    settings = (result["context_levels"], result["context_scale"], result["context_weight"])
    assert settings == (4, 1.5, "level")  # the defaults
    assert (tmp_path / "setup.featann").is_file()

    def no_setup(*_args, **_kwargs):
        raise AssertionError("the cached session should have been used")

    monkeypatch.setattr(common, "partitioned_session", no_setup)
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["n_segments"] == result["n_segments"]
    # other context settings make other features: the cache is not theirs
    for other in (["--context-levels", "2"], ["--context-weight", "finest"]):
        with pytest.raises(AssertionError, match="the cached session should have been used"):
            main([*argv, *other])


def test_an_annotation_session_given_as_the_cache_is_never_overwritten(tmp_path, capsys):
    """--session-cache naming someone's labelled session: refused, the file left as it was."""
    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    from napari_featann.cli import main
    from napari_featann.io import load_session, save_session
    from napari_featann.session import Session

    root = _write_problem(tmp_path, n=3)
    s = Session.from_sources(root / "images")
    s.partition_params.regions = 6
    s.partition()
    s.assign(s.segments.ids[:3], s.add_class("mine"))
    work = save_session(s, tmp_path / "mywork")
    before = work.read_bytes()
    argv = ["bench", "metric", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--weights", str(BACKBONE_WEIGHTS), "--device", "cpu", "--regions", "6",
            "--session-cache", str(work)]  # fmt: skip
    rc = main(argv)
    assert work.read_bytes() == before  # the benchmark's unlabelled cache did not replace it
    assert load_session(work).classes[1].name == "mine"
    assert rc == 2 and "an annotation session, not a benchmark's" in capsys.readouterr().err


def test_a_sample_too_small_to_learn_from_is_said_in_the_benchmark_s_terms(tmp_path, capsys):
    """On one image cut in 4 segments at most, ``--labelled-fraction 0.05`` labels 3 at most
    (2 classes of 2 need 4): the benchmark said "(labelled so far: ...)", as if someone had
    labelled them, with the ground truth's background as "class 1". It now says what its
    sample held and which options give a larger one."""
    import re

    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    from napari_featann.cli import main

    root = _write_problem(tmp_path, n=1)
    argv = ["bench", "metric", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--weights", str(BACKBONE_WEIGHTS), "--device", "cpu", "--regions", "4",
            "--labelled-fraction", "0.05"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"featann: error: --labelled-fraction 0\.05 labelled \d+ of the \d+ "
                     r"segments, [01] ground-truth class\(es\) with 2 or more", err)  # fmt: skip
    assert "metric learning needs 2 such classes" in err
    assert "give a larger --labelled-fraction, more images or more --regions" in err
    assert "so far" not in err
