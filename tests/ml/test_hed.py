"""Tests for the HED edge detector with the real BSDS500 weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy import ndimage as ndi  # noqa: E402

from napari_featann.ml.errors import WeightsError  # noqa: E402
from napari_featann.ml.hed import HED, hed_edges, load_hed  # noqa: E402

WEIGHTS = (Path(__file__).parents[2] / ".." / "shared" / "weights").resolve()
HED_PTH = WEIGHTS / "hed_bsds500.pth"
DAVIS = (Path(__file__).parents[2] / ".." / "shared" / "data" / "davis-dev" / "images").resolve()

needs_weights = pytest.mark.skipif(
    not HED_PTH.is_file(), reason=f"HED weights not found at {HED_PTH} (shared/weights missing)"
)


def _square_image():
    img = np.full((64, 64, 3), 0.2, np.float32)
    img[20:44, 20:44] = (0.9, 0.8, 0.7)
    sq = np.zeros((64, 64), bool)
    sq[20:44, 20:44] = True
    return img, sq


@needs_weights
def test_edges_on_square_border_and_not_in_flat_areas():
    img, sq = _square_image()
    edges = hed_edges(img, HED_PTH, device="cpu")
    assert edges.shape == (64, 64)
    assert edges.dtype == np.float32
    assert edges.min() >= 0.0 and edges.max() <= 1.0
    dist = ndi.distance_transform_edt(~(sq ^ ndi.binary_erosion(sq)))
    assert edges[dist <= 1].mean() > 0.6
    assert edges[dist >= 8].mean() < 0.1
    assert edges[(dist >= 6) & sq].max() < 0.1


@needs_weights
def test_grey_input_equals_rgb_input():
    img, _ = _square_image()
    model = load_hed(HED_PTH, device="cpu")
    grey = img[..., 0]
    np.testing.assert_allclose(
        hed_edges(grey, model), hed_edges(np.repeat(grey[..., None], 3, 2), model), atol=1e-6
    )


def test_tile_windows_cover_each_pixel_once_and_add_clipped_margins():
    from napari_featann.ml.hed import _windows

    for n in (1, 16, 767, 768, 769, 2000):
        wins = list(_windows(n, 768, 128))
        cores = np.concatenate([np.arange(a, b) for (a, b), _ in wins])
        np.testing.assert_array_equal(cores, np.arange(n))
        for (a, b), (pa, pb) in wins:
            assert pa == max(0, a - 128) and pb == min(n, b + 128)
            assert pa % 16 == 0  # the pooling grid of each window is the whole image's


@needs_weights
@pytest.mark.skipif(not (DAVIS / "blackswan_00000.jpg").is_file(), reason="DAVIS dev data missing")
def test_large_images_run_in_tiles_that_match_the_whole_pass(monkeypatch):
    import imageio.v3 as iio

    import napari_featann.ml.hed as hed

    frame = iio.imread(DAVIS / "blackswan_00000.jpg")[::2, ::2].astype(np.float32) / 255
    model = load_hed(HED_PTH, "cpu")
    calls = []
    run = hed._run
    monkeypatch.setattr(hed, "_run", lambda m, x, d: calls.append(x.shape[:2]) or run(m, x, d))
    monkeypatch.setattr(hed, "TILE_CORE", 128)  # many seams on a small image
    # sides that are multiples of 16: each side output is upsampled by exactly 16 in
    # the whole pass too, and a 128-pixel margin leaves no trace of the seams
    img = frame[:240, :416]
    whole = hed_edges(img, model, tile_above=None)
    tiled = hed_edges(img, model, tile_above=img.shape[0] * img.shape[1] - 1)
    assert calls[1:] == [(240, 256), (240, 384), (240, 288), (240, 160)] * 2
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    # other sizes: the whole pass's own upsampling (427 / 27 cells) differs slightly
    whole = hed_edges(frame, model, tile_above=None)
    tiled = hed_edges(frame, model, tile_above=0)
    assert tiled.shape == whole.shape and tiled.dtype == np.float32
    assert np.abs(tiled - whole).mean() < 0.02
    assert np.corrcoef(tiled.ravel(), whole.ravel())[0, 1] > 0.99
    calls.clear()
    np.testing.assert_array_equal(hed_edges(frame, model), whole)  # small: one pass, as before
    assert len(calls) == 1


@needs_weights
@pytest.mark.skipif(not (DAVIS / "blackswan_00000.jpg").is_file(), reason="DAVIS dev data missing")
def test_davis_frame_shape_and_range():
    import imageio.v3 as iio

    img = iio.imread(DAVIS / "blackswan_00000.jpg")[::4, ::4].astype(np.float32) / 255
    edges = hed_edges(img, load_hed(HED_PTH, "cpu"))
    assert edges.shape == img.shape[:2]  # odd sizes survive the ceil-mode pooling
    assert edges.dtype == np.float32
    assert edges.min() >= 0.0 and edges.max() <= 1.0
    assert edges.std() > 0.05  # a real frame has both edges and flat areas
    assert 0.02 < (edges > 0.5).mean() < 0.6


@needs_weights
def test_load_is_cached_and_in_eval_mode():
    a = load_hed(HED_PTH, "cpu")
    assert a is load_hed(str(HED_PTH), torch.device("cpu"))
    assert not a.training


def test_state_dict_keys_match_the_documented_layout():
    keys = set(HED().state_dict())
    assert "blocks.4.2.weight" in keys and "side.0.bias" in keys and "fuse.weight" in keys
    assert len(keys) == 2 * (13 + 5 + 1)


def test_missing_file_raises(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_hed(tmp_path / "nope.pth")


def test_unreadable_file_raises(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match=r"bad\.pth"):
        load_hed(bad)


def test_wrong_keys_raise_naming_them(tmp_path):
    state = HED().state_dict()
    state["blocks.0.9.weight"] = state.pop("blocks.0.0.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_hed(path)
    msg = str(err.value)
    assert "renamed.pth" in msg and "blocks.0.0.weight" in msg and "blocks.0.9.weight" in msg


def test_wrong_shapes_raise_naming_them(tmp_path):
    state = HED().state_dict()
    state["fuse.weight"] = torch.zeros(1, 4, 1, 1)
    path = tmp_path / "shapes.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"fuse\.weight"):
        load_hed(path)


@pytest.mark.parametrize(
    "image", [np.zeros((8, 8, 4), np.float32), np.zeros((0, 8, 3)), np.zeros((8, 8, 3), np.uint8)]
)
def test_bad_image_raises(image):
    with pytest.raises(ValueError, match="image"):
        hed_edges(image, HED())
