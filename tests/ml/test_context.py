"""Tests for context features: whole-image feature maps pooled in each segment."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from napari_featann.core.progress import CancelAfter, Cancelled  # noqa: E402
from napari_featann.ml.context import GRID, ContextMaps, pool_in_segments  # noqa: E402
from napari_featann.ml.extractor import FeatureExtractor  # noqa: E402

SHARED = (Path(__file__).parents[2] / ".." / "shared").resolve()
LITE0 = SHARED / "weights" / "efficientnet_lite0_in1k_timm.pth"
DAVIS = SHARED / "data" / "davis-dev"
needs_weights = pytest.mark.skipif(not LITE0.is_file(), reason=f"no weights at {LITE0}")


def test_pooling_averages_each_map_inside_each_segment():
    H, W = 8 * GRID, 12 * GRID
    lab = np.ones((H, W), np.int32)
    lab[:, W // 2 :] = 2  # left half segment 1, right half segment 2
    h, w = H // GRID, W // GRID
    first = np.zeros((2, h, w), np.float32)
    first[0, :, : w // 2] = 3.0  # channel 0 lives on the left, channel 1 on the right
    first[1, :, w // 2 :] = 5.0
    second = np.full((1, h, w), 2.0, np.float32)
    boxes = np.array([[0, 0, H, W // 2], [0, W // 2, H, W]])
    out = pool_in_segments([first, second], lab, np.array([1, 2]), boxes)
    assert out.shape == (2, 3)
    # each block is L2-normalised on its own
    np.testing.assert_allclose(np.linalg.norm(out[:, :2], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 2], 1.0, atol=1e-6)
    # the left segment is (mostly) channel 0, the right one channel 1; the seam blurs a little
    assert out[0, 0] > 0.95 and out[1, 1] > 0.95


def test_a_segment_between_grid_samples_still_gets_a_value():
    lab = np.zeros((40, 40), np.int32)
    lab[0, 0] = 7  # one pixel that no grid sample hits
    fmap = np.random.default_rng(0).random((3, 10, 10)).astype(np.float32)
    boxes = np.array([[0, 0, 40, 40], [0, 0, 1, 1]])
    out = pool_in_segments([fmap], lab, np.array([0, 7]), boxes)
    assert np.all(np.isfinite(out))
    # the map has one cell per 4x4 pixels: full weight from 2 cells (32 pixels), 1/32 for one
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1.0, 1 / 32], rtol=1e-5)
    direction = fmap[:, 0, 0] / np.linalg.norm(fmap[:, 0, 0])
    np.testing.assert_allclose(out[1] * 32, direction, atol=1e-5)
    # the rule of older sessions: full weight from 4 cells (64 pixels), 1/64 for one pixel
    finest = pool_in_segments([fmap], lab, np.array([0, 7]), boxes, weight="finest")
    np.testing.assert_allclose(finest, out * np.array([[1.0], [0.5]], np.float32), rtol=1e-6)
    with pytest.raises(ValueError, match="context weight must be one of level, finest, got 'x'"):
        pool_in_segments([fmap], lab, np.array([0, 7]), boxes, weight="x")


def _davis_frame(n_segments: int = 40):
    from napari_featann.core.gradient import classic_gradient
    from napari_featann.core.images import read_image, to_float_rgb
    from napari_featann.core.partition import PartitionParams, partition_image
    from napari_featann.core.regions import table_from_label_images

    path = sorted((DAVIS / "images").glob("*"))[0]
    img = to_float_rgb(read_image(path))[::2, ::2].copy()
    mask = np.asarray(read_image(DAVIS / "masks" / (path.stem + ".png")))[::2, ::2]
    lab = partition_image(classic_gradient(img), PartitionParams(regions=n_segments))
    table = table_from_label_images([lab])
    fg_px = np.bincount(lab.ravel(), weights=(mask.reshape(lab.size) > 0), minlength=lab.max() + 1)
    px = np.bincount(lab.ravel(), minlength=lab.max() + 1)
    fg = fg_px[table.ids] > 0.5 * px[table.ids]
    return img, lab, table, fg


@needs_weights
@pytest.mark.skipif(not DAVIS.is_dir(), reason="no DAVIS dev data")
def test_context_features_on_a_real_frame():
    img, lab, table, fg = _davis_frame()
    assert 0 < fg.sum() < fg.size and img.shape[:2] == (240, 427)
    fx = FeatureExtractor(weights=LITE0, device="cpu", batch_size=16)
    settings = (fx.context_levels, fx.context_scale, fx.context_weight)
    assert settings == (4, 1.5, "level")  # the defaults
    feats = fx.extract([img], [lab], table)
    crop = fx.crop_dim
    # four levels of EfficientNet-Lite0: 24 + 40 + 112 + 320 channels (strides 4, 8, 16, 32)
    assert crop == 1280 and feats.shape == (len(table.ids), fx.dim) == (len(table.ids), 1280 + 496)
    np.testing.assert_allclose(np.linalg.norm(feats[:, :crop], axis=1), 1.0, atol=1e-5)
    # each context block weighs min(1, area / (2 cells of its own map)); the pass sees
    # 360 x 640 pixels, its maps have 90, 45, 23 and 12 rows: 240 / rows pixels per cell
    edges = crop + np.cumsum([0, 24, 40, 112, 320])
    for a, b, rows in zip(edges[:-1], edges[1:], (90, 45, 23, 12)):
        weight = np.minimum(1.0, table.area / (2 * (240 / rows) ** 2))
        np.testing.assert_allclose(np.linalg.norm(feats[:, a:b], axis=1), weight, rtol=1e-4)
    # the same frame again: the whole-image maps come from the cache, identical values
    again = fx.extract([img], [lab], table)
    np.testing.assert_array_equal(again, feats)
    # the context part tells the object from the background: foreground segments are on
    # average closer to each other than to background segments
    ctx = feats[:, crop:]
    sims = ctx @ ctx.T
    within = sims[np.ix_(fg, fg)][~np.eye(fg.sum(), dtype=bool)].mean()
    across = sims[np.ix_(fg, ~fg)].mean()
    assert within > across + 0.1


@needs_weights
@pytest.mark.skipif(not DAVIS.is_dir(), reason="no DAVIS dev data")
def test_each_level_weighs_a_small_segment_down_by_its_own_cells():
    img, lab, table, _ = _davis_frame(100)
    fx = FeatureExtractor(weights=LITE0, device="cpu")  # 4 levels at 1.5, per-level weight
    ctx = fx.context_features([img], [lab], table)
    maps = fx.context_maps.maps(fx.model, img, fx.mean, fx.std, "cpu", fx._context_salt)
    assert [m.shape for m in maps] == [(24, 90, 160), (40, 45, 80), (112, 23, 40), (320, 12, 20)]
    # the smallest segment (120 px): full weight from the stride-4 and stride-8 levels
    # (cells of 2.67 and 5.33 px), less from the stride-16 one, least from the stride-32 one
    j = int(np.argmin(table.area))
    sid, area = int(table.ids[j]), float(table.area[j])
    assert area == 120
    weights = [min(1.0, area / (2 * (240 / m.shape[1]) ** 2)) for m in maps]
    assert weights[0] == weights[1] == 1 > weights[2] > weights[3] > 0
    # computed directly: each map upsampled to the pooling grid (a sample every 4 px),
    # averaged over the segment's samples, made unit length, times its level's weight
    samples = lab[2::4, 2::4] == sid
    want = []
    for fmap, weight in zip(maps, weights):
        t = torch.from_numpy(fmap.astype(np.float32))[None]
        up = torch.nn.functional.interpolate(t, size=(60, 107), mode="bilinear")[0].numpy()
        mean = up[:, samples].mean(axis=1)
        want.append(weight * mean / np.linalg.norm(mean))
    np.testing.assert_allclose(ctx[j], np.concatenate(want), atol=1e-5)
    # the rule of older sessions, one weight for all blocks (4 cells of the stride-4 map),
    # gives this segment the full weight on every level: same directions, other lengths
    old = FeatureExtractor(weights=LITE0, device="cpu", context_weight="finest")
    finest = old.context_features([img], [lab], table)
    assert min(1.0, area / (4 * (240 / 90) ** 2)) == 1.0
    np.testing.assert_allclose(finest[j], np.concatenate([w / k for w, k in zip(want, weights)]),
                               atol=1e-5)  # fmt: skip


@needs_weights
@pytest.mark.skipif(not DAVIS.is_dir(), reason="no DAVIS dev data")
def test_two_levels_at_scale_one_with_the_finest_map_weight_are_the_old_features():
    """The setting of sessions saved before the levels, scale and weight were settings."""
    img, lab, table, _ = _davis_frame()
    fx = FeatureExtractor(weights=LITE0, device="cpu", context_levels=2, context_scale=1.0,
                          context_weight="finest")  # fmt: skip
    assert fx.dim == 1280 + 112 + 320
    ctx = fx.context_features([img], [lab], table)
    assert ctx.shape == (len(table.ids), 432)
    # each block weighs min(1, area / (4 cells of 16 x 16 pixels)): the stride-16 map of
    # the pass at the image's own size
    weight = np.minimum(1.0, table.area / (4 * 16**2))
    assert weight.min() < 1  # the frame has segments small enough to be down-weighted
    np.testing.assert_allclose(np.linalg.norm(ctx[:, :112], axis=1), weight, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(ctx[:, 112:], axis=1), weight, rtol=1e-4)


def _two_halves(h: int = 64, w: int = 96):
    img = np.random.default_rng(3).random((h, w, 3)).astype(np.float32)
    lab = np.ones((h, w), np.int32)
    lab[:, w // 2 :] = 2
    segs = types.SimpleNamespace(ids=np.array([1, 2]), image=np.zeros(2, int),
                                 bbox=np.array([[0, 0, h, w // 2], [0, w // 2, h, w]]))  # fmt: skip
    return img, lab, segs


@needs_weights
def test_levels_and_scale_set_the_maps_of_the_whole_image_pass():
    fx = FeatureExtractor(weights=LITE0, device="cpu")
    img = _two_halves()[0]  # 64 x 96

    def shapes(**kwargs):
        maps = ContextMaps(**kwargs).maps(fx.model, img, fx.mean, fx.std, "cpu")
        return [m.shape for m in maps]

    # the deepest levels, finest first: strides 8, 16 and 32 of EfficientNet-Lite0
    assert shapes(levels=3, scale=1.0) == [(40, 8, 12), (112, 4, 6), (320, 2, 3)]
    assert shapes(levels=2, scale=1.0) == [(112, 4, 6), (320, 2, 3)]
    assert shapes(levels=5, scale=1.0)[:2] == [(16, 32, 48), (24, 16, 24)]
    # a pass at 1.5 times the size (96 x 144) gives maps 1.5 times larger
    assert shapes(levels=3, scale=1.5) == [(40, 12, 18), (112, 6, 9), (320, 3, 5)]
    assert shapes(levels=1, scale=2.0) == [(320, 4, 6)]
    # the scale applies after the cap on the long side: 96 capped at 48, then 1.5x (48 x 72)
    assert shapes(levels=3, scale=1.5, max_side=48)[0] == (40, 6, 9)
    assert shapes(levels=3, scale=1.0, max_side=48)[0] == (40, 4, 6)
    # the extractor's own cache is made with its settings (the defaults: 4 levels at 1.5)
    own = fx.context_maps.maps(fx.model, img, fx.mean, fx.std, "cpu")
    assert [m.shape for m in own] == [(24, 24, 36), (40, 12, 18), (112, 6, 9), (320, 3, 5)]


@needs_weights
def test_the_maps_cache_is_bounded_by_bytes_and_forgets_the_least_recent_image():
    fx = FeatureExtractor(weights=LITE0, device="cpu")
    rng = np.random.default_rng(5)
    imgs = [rng.random((64, 96, 3)).astype(np.float32) for _ in range(4)]
    four = ContextMaps(levels=4).maps(fx.model, imgs[0], fx.mean, fx.std, "cpu")
    one = sum(m.nbytes for m in four)
    assert one == 2 * (24 * 24 * 36 + 40 * 12 * 18 + 112 * 6 * 9 + 320 * 3 * 5)  # float16
    cache = ContextMaps(max_bytes=2 * one, levels=4)  # room for two images

    def maps(i):
        return cache.maps(fx.model, imgs[i], fx.mean, fx.std, "cpu")

    first, second = maps(0), maps(1)
    assert (len(cache), cache.nbytes) == (2, 2 * one)
    assert maps(0) is first  # served from the cache, and now the most recent
    third = maps(2)  # over the bound: the least recently used image (1) goes
    assert (len(cache), cache.nbytes) == (2, 2 * one)
    assert maps(0) is first and maps(2) is third
    again = maps(1)  # computed anew
    assert again is not second and len(cache) == 2
    for a, b in zip(again, second):
        np.testing.assert_array_equal(a, b)
    # however small the bound, the latest image is kept
    tiny = ContextMaps(max_bytes=0, levels=4)
    latest = tiny.maps(fx.model, imgs[3], fx.mean, fx.std, "cpu")
    assert len(tiny) == 1 and tiny.nbytes == one
    assert tiny.maps(fx.model, imgs[3], fx.mean, fx.std, "cpu") is latest
    tiny.maps(fx.model, imgs[0], fx.mean, fx.std, "cpu")
    assert len(tiny) == 1 and tiny.maps(fx.model, imgs[3], fx.mean, fx.std, "cpu") is not latest
    tiny.clear()
    assert (len(tiny), tiny.nbytes) == (0, 0)
    # the extractor's own cache: 512 MiB, about 100 frames of 854 x 480
    assert fx.context_maps.max_bytes == 512 * 2**20


@needs_weights
def test_another_backbone_gets_the_extractor_s_levels_scale_and_weight():
    """Full fine-tuning passes its backbone to context_features: its maps must be made and
    weighted as the extractor's own (given the same weights here, the very same values)."""
    import copy

    img, lab, segs = _two_halves()
    lab[28:36, 20:28] = 3  # a small square, 64 px
    segs = types.SimpleNamespace(ids=np.array([1, 2, 3]), image=np.zeros(3, int),
                                 bbox=np.array([*segs.bbox, [28, 20, 36, 28]]))  # fmt: skip
    fx = FeatureExtractor(weights=LITE0, device="cpu", context_levels=2, context_scale=1.25)
    own = fx.context_features([img], [lab], segs)
    assert own.shape == (3, 432)
    np.testing.assert_array_equal(fx.context_features([img], [lab], segs, model=fx.model), own)
    default = FeatureExtractor(weights=LITE0, device="cpu")
    assert default.context_features([img], [lab], segs).shape == (3, 496)
    # another backbone (fine-tuned: here its weights perturbed) gets the extractor's weighting:
    # the pass of 80 x 120 px gives maps of 5 and 3 rows (12.8 and 21.3 px per cell)
    tuned = copy.deepcopy(fx.model)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn_like(p))
    area = np.array([64 * 48 - 64, 64 * 48, 64])  # the square: level 0.195 and 0.070, finest 0.098
    for rule, cells, rows in (("level", 2, (5, 3)), ("finest", 4, (5, 5))):
        fx = FeatureExtractor(weights=LITE0, device="cpu", context_levels=2,
                              context_scale=1.25, context_weight=rule)  # fmt: skip
        ctx = fx.context_features([img], [lab], segs, model=tuned)
        assert not np.allclose(ctx, own, atol=1e-3)  # the other backbone's maps
        for (a, b), r in zip(((0, 112), (112, 432)), rows):
            weight = np.minimum(1.0, area / (cells * (64 / r) ** 2))
            np.testing.assert_allclose(np.linalg.norm(ctx[:, a:b], axis=1), weight, rtol=1e-4)


@needs_weights
def test_context_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r"context_levels is 6 but the backbone "
                       r"efficientnet_lite0 has 5 feature levels; give 1 to 5"):  # fmt: skip
        _ = FeatureExtractor(weights=LITE0, device="cpu", context_levels=6).dim
    assert FeatureExtractor(weights=LITE0, device="cpu", context_levels=5).dim == 1280 + 512
    crop_only = FeatureExtractor(weights=LITE0, device="cpu", context=False, context_levels=6)
    assert crop_only.dim == 1280  # without context the levels are never used
    with pytest.raises(ValueError, match="context_levels must be >= 1"):
        FeatureExtractor(weights=LITE0, context_levels=0)
    for scale in (0, -1.0, 4.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"context_scale in \(0, 4\]"):
            FeatureExtractor(weights=LITE0, context_scale=scale)
    for weight in ("LEVEL", "cells", None):
        with pytest.raises(ValueError, match="context_weight must be one of level, finest, got"):
            FeatureExtractor(weights=LITE0, context_weight=weight)


@needs_weights
def test_context_features_are_cancellable_between_images():
    rng = np.random.default_rng(1)
    imgs = [rng.random((64, 64, 3)).astype(np.float32) for _ in range(3)]
    lab = np.ones((64, 64), np.int32)
    segs = types.SimpleNamespace(ids=np.array([1, 1, 1]), image=np.arange(3),
                                 bbox=np.array([[0, 0, 64, 64]] * 3))  # fmt: skip
    fx = FeatureExtractor(weights=LITE0, device="cpu")
    with pytest.raises(Cancelled):
        fx.context_features(imgs, [lab] * 3, segs, progress=CancelAfter(2))
    assert fx.context_features(imgs, [lab] * 3, segs).shape == (3, 496)


def test_large_images_pool_on_a_bounded_grid():
    H, W = 3000, 2000  # a remote-sensing tile: the grid is coarser, not 750 x 500
    lab = np.ones((H, W), np.int32)
    lab[: H // 2] = 2
    lab[10, 10] = 3  # a one-pixel segment still gets a value
    fmap = np.zeros((2, 94, 63), np.float32)
    fmap[0, :47] = 1.0  # channel 0 on the top half (segment 2), channel 1 below
    fmap[1, 47:] = 1.0
    boxes = np.array([[H // 2, 0, H, W], [0, 0, H // 2, W], [10, 10, 11, 11]])
    out = pool_in_segments([fmap], lab, np.array([1, 2, 3]), boxes)
    assert out.shape == (3, 2) and np.all(np.isfinite(out))
    unit = out / np.linalg.norm(out, axis=1, keepdims=True)
    assert unit[0, 1] > 0.99 and unit[1, 0] > 0.99 and unit[2, 0] > 0.99
    # one cell of the map covers about 32 x 32 pixels here: the big halves get full
    # weight, the one-pixel segment almost none
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 1.0, rtol=1e-5)
    assert np.linalg.norm(out[2]) < 1e-3


def test_a_vit_with_a_fixed_input_size_gets_context_features():
    # a ViT only takes 224 x 224: the whole-image pass resizes any image to it
    with pytest.warns(UserWarning, match="RANDOM"):
        fx = FeatureExtractor("vit_tiny_patch16_224", weights="random", device="cpu")
        _ = fx.model
    img = np.random.default_rng(0).random((40, 30, 3)).astype(np.float32)
    lab = np.ones((40, 30), np.int32)
    lab[:, 20:] = 2
    segs = types.SimpleNamespace(ids=np.array([1, 2]), image=np.zeros(2, int),
                                 bbox=np.array([[0, 0, 40, 20], [0, 20, 40, 30]]))  # fmt: skip
    out = fx.extract([img], [lab], segs)
    assert out.shape == (2, fx.dim) and np.all(np.isfinite(out))
