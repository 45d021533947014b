"""Helpers shared by the benchmarks."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.bench.common import neighbour_agreement


def test_neighbour_agreement_measures_class_separation():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0], 0.1, (30, 3))
    b = rng.normal([0, 5, 0], 0.1, (20, 3))
    classes = np.r_[np.zeros(30, int), np.ones(20, int)]
    apart = neighbour_agreement(np.vstack([a, b]), classes, k=5)
    assert apart == {"k": 5, "class 0": 100.0, "class 1": 100.0}
    mixed = neighbour_agreement(rng.normal(0, 1, (50, 3)), classes, k=5)
    assert mixed["class 0"] < 90 and mixed["class 1"] < 70


# --------------------------------------------------------------------------- input checks
def _problem(root, n=2, size=(40, 48), mask_suffix=".png", mask_size=None):
    """``n`` RGB images of a red square on grey, and binary masks of it (0 / 255)."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    h, w = size
    for k in range(n):
        img = np.full((h, w, 3), 120, np.uint8)
        img[8 : 8 + 12 + k, 10:30] = (220, 30, 30)
        mask = np.zeros(mask_size or size, np.uint8)
        mask[8 : 8 + 12 + k, 10:30] = 255
        Image.fromarray(img).save(root / "images" / f"im{k}.png")
        Image.fromarray(mask).save(root / "masks" / f"im{k}{mask_suffix}", quality=75)
    return root


@pytest.fixture
def no_partition(monkeypatch):
    """Any partition (or the oracle's gradient) fails the test: the checks must refuse
    before it."""
    from napari_featann.bench import oracle
    from napari_featann.session import Session

    def partition(*_args, **_kwargs):
        raise AssertionError("partitioned before the inputs were checked")

    monkeypatch.setattr(Session, "partition", partition)
    monkeypatch.setattr(oracle, "compute_gradient", partition)


@pytest.fixture
def weights(tmp_path):
    """A file in PyTorch's checkpoint format (no model's weights: nothing may load them)."""
    import torch

    torch.save({}, tmp_path / "w.pth")
    return str(tmp_path / "w.pth")


def _session_file(root, images):
    """A real (unlabelled) session file of the images, as a benchmark's cache is."""
    from napari_featann.io import save_session
    from napari_featann.session import Session

    s = Session.from_sources(images)
    s.partition_params.regions = 4
    s.partition()
    return save_session(s, root / "real.featann")


def test_an_unreadable_session_cache_is_refused_and_left_as_it_is(tmp_path):
    """A damaged or foreign --session-cache file was taken for a missing one and overwritten."""
    from napari_featann.bench.common import cached_session, image_files
    from napari_featann.core.partition import PartitionParams
    from napari_featann.params import FeatureParams

    root = _problem(tmp_path)
    real = _session_file(tmp_path, root / "images").read_bytes()
    files = image_files(root / "images")
    (tmp_path / "trunc.featann").write_bytes(real[: len(real) // 2])
    (tmp_path / "notes.featann").write_text("my notes\n")
    (tmp_path / "empty.featann").write_bytes(b"")
    for name in ("trunc.featann", "notes", "empty.featann"):  # notes: .featann appended
        path = tmp_path / (name if name.endswith(".featann") else name + ".featann")
        before = path.read_bytes()
        with pytest.raises(ValueError, match="--session-cache") as refused:
            cached_session(tmp_path / name, files, PartitionParams(regions=4), FeatureParams())
        assert str(path) in str(refused.value) and "left as it is" in str(refused.value)
        assert path.read_bytes() == before
    # only a missing file means "build the cache"
    assert cached_session(tmp_path / "new.featann", files, PartitionParams(), None) is None


def test_a_bad_session_cache_place_is_refused_before_any_work(
    tmp_path, capsys, no_partition, weights
):
    from napari_featann.cli import main

    root = _problem(tmp_path)
    (tmp_path / "folder.featann").mkdir()
    argv = ["bench", "metric", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--weights", weights, "--device", "cpu", "--regions", "4"]  # fmt: skip
    for cache, why in ((tmp_path / "folder.featann", "is a folder"),
                       (tmp_path / "nodir" / "sub" / "c.featann", "does not exist"),
                       ("/proc/x.featann", "cannot write in /proc")):  # fmt: skip
        assert main([*argv, "--session-cache", str(cache)]) == 2
        err = capsys.readouterr().err
        assert f"--session-cache {cache}" in err and why in err and ".tmp" not in err
        assert "Traceback" not in err


def test_check_output_file_names_the_option_and_the_path(tmp_path):
    from napari_featann.bench.common import check_output_file

    assert check_output_file("--plot", tmp_path / "x.png") == tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"--plot .*nodir2.*does not exist"):
        check_output_file("--plot", tmp_path / "nodir2" / "x.png")
    with pytest.raises(ValueError, match=r"--plot .* is a folder"):
        check_output_file("--plot", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == []  # the probe file is gone


def test_masks_saved_as_jpeg_are_flagged_and_the_scoring_is_reported(tmp_path, capsys):
    """A binary mask saved as JPEG gets grey values: scored multi-class without a word."""
    import json

    from napari_featann.bench.common import nearly_binary
    from napari_featann.cli import main

    png = _problem(tmp_path / "png")
    jpg = _problem(tmp_path / "jpg", mask_suffix=".jpg")
    argv = ["bench", "oracle", "--regions", "4", "--images"]
    assert main([*argv, str(png / "images"), "--masks", str(png / "masks")]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out.strip().splitlines()[-1])
    assert (r["scoring"], r["n_classes"]) == ("binary foreground IoU", 2)
    assert "warning" not in err
    assert main([*argv, str(jpg / "images"), "--masks", str(jpg / "masks")]) == 0
    out, err = capsys.readouterr()
    r = json.loads(out.strip().splitlines()[-1])
    assert r["scoring"] == "multi-class mean IoU" and r["n_classes"] > 2
    assert "JPEG" in err and str(jpg / "masks" / "im0.jpg") in err
    assert "look binary" in err and "scored as multi-class" in err
    rng = np.random.default_rng(0)
    damaged = np.where(rng.random((50, 50)) < 0.5, 0, 255).astype(np.uint8)
    damaged[0, :8] = [1, 2, 3, 250, 252, 254, 5, 7]
    assert nearly_binary(damaged)
    classes = rng.integers(0, 6, (50, 50))  # six real classes
    assert not nearly_binary(classes) and not nearly_binary(damaged > 0)


def test_masks_and_weights_are_checked_before_any_partition(
    tmp_path, capsys, no_partition, weights
):
    """Masks of another size were found after the features (metric: by a numpy error),
    non-binary masks for --foreground-only after the projection, --weights after the
    partition."""
    from napari_featann.cli import main

    sized = _problem(tmp_path / "sized", mask_size=(30, 48))
    good = _problem(tmp_path / "good")
    multi = tmp_path / "multi"
    (multi / "masks").mkdir(parents=True)
    from PIL import Image

    for k in range(2):
        Image.fromarray(np.arange(40 * 48, dtype=np.uint8).reshape(40, 48) % 3).save(
            multi / "masks" / f"im{k}.png"
        )

    def run(bench, root, *extra, masks=None):
        argv = ["bench", bench, "--images", str(root / "images"), "--regions", "4"]
        if bench != "extract":
            argv += ["--masks", str(masks or root / "masks")]
        if bench != "oracle":
            argv += ["--device", "cpu"]
        assert main([*argv, *extra]) == 2
        return capsys.readouterr().err

    for bench in ("metric", "robot"):
        err = run(bench, sized, "--weights", weights)
        assert "im0: mask shape (30, 48) differs from image (40, 48)" in err
        assert str(sized / "images" / "im0.png") in err  # the file, not only its name
    err = run("oracle", sized)
    assert "im0: mask shape (30, 48) differs from image (40, 48)" in err
    err = run("robot", good, "--weights", weights, "--foreground-only", masks=multi / "masks")
    assert "--foreground-only needs binary masks" in err
    for bench in ("extract", "metric", "robot"):
        err = run(bench, good, "--weights", str(tmp_path / "nope.pth"))
        assert f"--weights {tmp_path / 'nope.pth'}: no such file" in err
    err = run("oracle", good, "--edge-weights", str(tmp_path / "nope.pth"))
    assert "--edge-weights" in err and "no such file" in err


def test_a_missing_images_or_masks_path_is_named(tmp_path, capsys):
    from napari_featann.cli import main

    root = _problem(tmp_path)
    for bench in ("oracle", "robot"):
        argv = ["bench", bench, "--images", str(tmp_path / "nope"), "--masks", str(root / "masks")]
        assert main(argv) == 2
        assert f"--images {tmp_path / 'nope'}: no such file or folder" in capsys.readouterr().err
    argv = ["bench", "oracle", "--images", str(root / "images"), "--masks", str(tmp_path / "no")]
    assert main(argv) == 2
    assert f"--masks {tmp_path / 'no'}: no such folder" in capsys.readouterr().err


def test_unreadable_images_are_refused_by_every_benchmark(tmp_path, capsys, no_partition, weights):
    """``bench extract`` dropped a text file named .png, a truncated JPEG or a 1x1 image
    without a word while ``bench oracle`` refused them: each benchmark now refuses them all,
    naming each with its reason, before any work."""
    from PIL import Image

    from napari_featann.cli import main

    root = _problem(tmp_path)
    (root / "images" / "fake.png").write_text("not an image")
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(root / "images" / "tiny.png")
    for stem in ("fake", "tiny"):
        Image.fromarray(np.zeros((40, 48), np.uint8)).save(root / "masks" / f"{stem}.png")
    for bench in ("extract", "metric", "robot", "oracle"):
        argv = ["bench", bench, "--images", str(root / "images"), "--regions", "4"]
        argv += [] if bench == "extract" else ["--masks", str(root / "masks")]
        argv += [] if bench == "oracle" else ["--weights", weights, "--device", "cpu"]
        assert main(argv) == 2, bench
        err = capsys.readouterr().err
        assert "2 image(s) cannot be read" in err, bench
        assert str(root / "images" / "fake.png") in err and "too small (1x1)" in err


def test_a_session_cache_is_reused_only_with_its_context_settings(tmp_path):
    """A cache written before the context settings existed holds features of two levels at
    scale 1, weighted by the finest map: a run with the new defaults (four levels at 1.5,
    weighted per level), or any other setting, must not take them."""
    import dataclasses
    import json

    from napari_featann.bench.common import cached_session, image_files
    from napari_featann.core.partition import PartitionParams
    from napari_featann.io import load_session, save_session
    from napari_featann.params import FeatureParams

    root = _problem(tmp_path)
    s = load_session(_session_file(tmp_path, root / "images"))
    s.features = np.ones((len(s.segments), 4), np.float32)  # stands for the cached features
    path = save_session(s, tmp_path / "cache.featann")
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    for key in ("context_levels", "context_scale", "context_weight"):
        del meta["params"]["features"][key]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as fh:  # as an older version wrote it
        np.savez(fh, **arrays)
    files, pparams = image_files(root / "images"), PartitionParams(regions=4)
    assert cached_session(path, files, pparams, FeatureParams()) is None
    assert cached_session(path, files, pparams, FeatureParams(context_scale=1.0)) is None
    two = FeatureParams(context_levels=2, context_scale=1.0)
    assert cached_session(path, files, pparams, two) is None  # the per-level weight
    old = cached_session(path, files, pparams, dataclasses.replace(two, context_weight="finest"))
    assert old is not None and old.feature_params.context_levels == 2
    assert old.feature_params.context_weight == "finest"
    np.testing.assert_array_equal(old.features, s.features)


def test_more_context_levels_than_the_backbone_has_are_refused_before_any_partition(
    tmp_path, capsys, no_partition
):
    from pathlib import Path

    from napari_featann.cli import main

    lite0 = Path(__file__).resolve().parents[3] / "shared" / "weights"
    lite0 = lite0 / "efficientnet_lite0_in1k_timm.pth"
    if not lite0.is_file():
        pytest.skip(f"no backbone weights at {lite0}")
    root = _problem(tmp_path)
    for bench in ("extract", "metric", "robot"):
        argv = ["bench", bench, "--images", str(root / "images"), "--regions", "4"]
        argv += [] if bench == "extract" else ["--masks", str(root / "masks")]
        argv += ["--weights", str(lite0), "--device", "cpu", "--context-levels", "9"]
        assert main(argv) == 2, bench
        err = capsys.readouterr().err
        assert "context_levels is 9 but the backbone efficientnet_lite0 has 5 feature levels" in err
