"""Tests for per-segment CNN features with the real EfficientNet-Lite0 weights."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from napari_featann.core.progress import CancelAfter, Cancelled  # noqa: E402
from napari_featann.ml.errors import WeightsError  # noqa: E402
from napari_featann.ml.extractor import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureExtractor,
    crop_batch,
    load_backbone,
)

WEIGHTS = (Path(__file__).parents[2] / ".." / "shared" / "weights").resolve()
LITE0 = WEIGHTS / "efficientnet_lite0_in1k_timm.pth"

needs_weights = pytest.mark.skipif(
    not LITE0.is_file(), reason=f"EfficientNet-Lite0 weights not found at {LITE0}"
)


def _scene():
    """Uniform background, two identical textured squares, one different square.

    Segment 1 is the background, 2 and 3 are the identical squares (with
    identical surroundings within the margin), 4 is a differently coloured one.
    """
    rng = np.random.default_rng(0)
    img = np.full((90, 200, 3), 0.5, np.float32)
    tex = rng.random((24, 24, 3)).astype(np.float32)
    img[30:54, 20:44] = tex
    img[30:54, 100:124] = tex
    img[30:54, 160:184] = (0.9, 0.1, 0.1)
    lab = np.ones((90, 200), np.int32)
    lab[30:54, 20:44] = 2
    lab[30:54, 100:124] = 3
    lab[30:54, 160:184] = 4
    segs = types.SimpleNamespace(
        ids=np.array([1, 2, 3, 4]),
        image=np.zeros(4, int),
        bbox=np.array([[0, 0, 90, 200], [30, 20, 54, 44], [30, 100, 54, 124], [30, 160, 54, 184]]),
    )
    return img, lab, segs


@pytest.fixture(scope="module")
def extractor():
    fx = FeatureExtractor(weights=LITE0, device="cpu", batch_size=2, context=False)
    if LITE0.is_file():
        _ = fx.model
    return fx


def test_crop_batch_masks_normalises_and_clips():
    img = np.random.default_rng(1).random((20, 30, 3)).astype(np.float32)
    lab = np.zeros((20, 30), np.int32)
    lab[5:10, 5:10] = 3
    lab[7, 7] = 0  # a hole inside the segment
    # margin 0 and size == box side: the resize is the identity, values are exact
    out = crop_batch(img, lab, [3], np.array([[5, 5, 10, 10]]), margin=0, size=5)
    assert out.shape == (1, 3, 5, 5) and out.dtype == torch.float32
    want = (img[5:10, 5:10] - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    want[2, 2] = 0
    np.testing.assert_allclose(out[0].numpy().transpose(1, 2, 0), want, atol=1e-5)
    # with a margin, the pixels around the segment are zero too
    out = crop_batch(img, lab, [3], np.array([[5, 5, 10, 10]]), margin=2, size=9)[0].numpy()
    assert np.all(out[:, :2] == 0) and np.all(out[:, :, -2:] == 0)
    # a margin at the image border is clipped, not padded
    big = crop_batch(img, lab, [3, 3], np.array([[5, 5, 10, 10]] * 2), margin=50, size=16)
    assert big.shape == (2, 3, 16, 16)


def test_crop_of_segment_without_pixels_raises():
    img = np.zeros((10, 10, 3), np.float32)
    with pytest.raises(ValueError, match="segment 5"):
        crop_batch(img, np.zeros((10, 10), np.int32), [5], np.array([[0, 0, 5, 5]]))


@needs_weights
def test_features_are_normalised_and_identical_crops_match(extractor):
    img, lab, segs = _scene()
    extractor.clear_cache()
    feats = extractor.extract([img], [lab], segs)
    assert feats.shape == (4, extractor.dim) == (4, 1280)
    assert feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(feats[1], feats[2])  # same pixels and mask
    assert feats[1] @ feats[3] < 0.99  # a different segment gets a different vector
    assert extractor.cache_misses == 3  # the identical crop was computed once


@needs_weights
def test_extract_matches_bare_forward(extractor):
    img, lab, segs = _scene()
    extractor.clear_cache()
    feats = extractor.extract([img], [lab], segs)
    crops = crop_batch(img, lab, segs.ids, segs.bbox, margin=10, size=224)
    np.testing.assert_allclose(extractor.forward_batch(crops), feats, atol=1e-4)


@needs_weights
def test_unused_images_may_be_none(extractor):
    img, lab, segs = _scene()
    on_second = types.SimpleNamespace(ids=segs.ids[1:3], image=np.ones(2, int), bbox=segs.bbox[1:3])
    feats = extractor.extract([None, img], [None, lab], on_second)
    assert feats.shape == (2, 1280)
    with pytest.raises(ValueError, match="None"):
        extractor.extract([None, img], [None, lab], segs)


@needs_weights
def test_cache_survives_new_ids(extractor):
    img, lab, segs = _scene()
    extractor.clear_cache()
    first = extractor.extract([img], [lab], segs)
    misses = extractor.cache_misses
    lab2 = lab.copy()
    lab2[lab == 4] = 40  # a re-cut renumbered the segment, pixels unchanged
    segs2 = types.SimpleNamespace(
        ids=np.array([40, 1]), image=segs.image[:2], bbox=segs.bbox[[3, 0]]
    )
    again = extractor.extract([img], [lab2], segs2)
    assert extractor.cache_misses == misses
    assert extractor.cache_hits >= 2
    np.testing.assert_array_equal(again, first[[3, 0]])


@needs_weights
def test_changed_pixels_are_recomputed(extractor):
    img, lab, segs = _scene()
    extractor.clear_cache()
    extractor.extract([img], [lab], segs)
    img2 = img.copy()
    img2[35, 165] = 0.0  # one pixel inside segment 4, hence inside the background's box too
    extractor.extract([img2], [lab], segs)
    assert extractor.cache_misses == 3 + 2  # segments 4 and 1 again; 2 and 3 from the cache


@needs_weights
def test_cancel_after_first_batch(extractor):
    img, lab, segs = _scene()
    extractor.clear_cache()
    with pytest.raises(Cancelled):
        extractor.extract([img], [lab], segs, progress=CancelAfter(1))
    assert extractor.cache_misses == 2  # stopped after one batch of two


@needs_weights
def test_progress_reports_every_segment(extractor):
    from napari_featann.core.progress import Progress

    img, lab, segs = _scene()
    calls = []
    prog = Progress(lambda total, desc: calls.append((desc, total)), calls.append)
    extractor.clear_cache()
    extractor.extract([img], [lab], segs, progress=prog)
    assert calls[0] == ("features", 4)
    assert sum(calls[1:]) == 4


@needs_weights
def test_local_weights_load_strictly_and_classify_a_cat():
    import skimage.data

    fx = FeatureExtractor(weights=LITE0, device="cpu")
    assert fx.mean == pytest.approx(IMAGENET_MEAN) and fx.std == pytest.approx(IMAGENET_STD)
    model, mean, std = load_backbone("efficientnet_lite0", LITE0, "cpu")
    assert not model.training and model.num_features == 1280
    assert mean == pytest.approx(IMAGENET_MEAN) and std == pytest.approx(IMAGENET_STD)
    full = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    full.load_state_dict(torch.load(LITE0, weights_only=True), strict=True)
    img = skimage.data.chelsea()[::2, ::2].astype(np.float32) / 255
    lab = np.ones(img.shape[:2], np.int32)
    x = crop_batch(img, lab, [1], np.array([[0, 0, *img.shape[:2]]]), mean=mean, std=std)
    with torch.inference_mode():
        top5 = full.eval()(x)[0].topk(5).indices.tolist()
    assert set(top5) & {281, 282, 283, 284, 285}  # ImageNet's domestic cats


def test_weights_with_extra_keys_raise(tmp_path):
    state = timm.create_model("efficientnet_lite0", num_classes=0).state_dict()
    state["bogus.weight"] = torch.zeros(1)
    del state["conv_stem.weight"]
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_backbone("efficientnet_lite0", path, "cpu")
    assert "bogus.weight" in str(err.value) and "conv_stem.weight" in str(err.value)


def test_missing_weights_file_raises(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_backbone("efficientnet_lite0", tmp_path / "missing.pth", "cpu")


def test_a_file_that_is_no_checkpoint_is_said_so(tmp_path):
    """A text file given as weights said "cannot read weights file ...: pop from empty list"."""
    from napari_featann.ml.errors import check_weights_file, read_state_dict

    path = tmp_path / "notweights.pth"
    path.write_text("this is not a checkpoint\n")
    for check in (read_state_dict, check_weights_file):
        with pytest.raises(WeightsError, match="not a PyTorch checkpoint") as err:
            check(path)
        assert "pop from empty list" not in str(err.value)
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_backbone("efficientnet_lite0", path, "cpu")
    torch.save({"w": torch.zeros(2)}, tmp_path / "ok.pth")
    assert check_weights_file(tmp_path / "ok.pth") == tmp_path / "ok.pth"
    with pytest.raises(WeightsError, match="no such file"):
        check_weights_file(tmp_path / "missing.pth", "--weights")


def test_an_unknown_backbone_says_how_to_list_timm_models():
    """timm itself says only "Unknown model (notamodel)"."""
    with pytest.raises(ValueError, match="not a timm model name") as err:
        load_backbone("notamodel", "random", "cpu")
    assert "timm.list_models()" in str(err.value)


def test_device_auto_is_cuda_when_present_else_the_cpu():
    """The CUDA message suggests "auto", which torch.device refused ("Expected one of ...")."""
    from napari_featann.ml.errors import resolve_device

    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("auto") == resolve_device("AUTO") == resolve_device(None) == expected
    with pytest.raises(ValueError, match="not a torch device; give auto"):
        resolve_device("gpu0")


def test_hub_failure_raises_instead_of_random(monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:
            raise OSError("no network")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(WeightsError, match="weights=PATH"):
        load_backbone("efficientnet_lite0", None, "cpu")


def test_random_weights_warn_and_run():
    with pytest.warns(UserWarning, match="RANDOM"):
        fx = FeatureExtractor(weights="random", device="cpu", size=32, context=False)
        assert fx.dim == 1280
    img, lab, segs = _scene()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feats = fx.extract([img], [lab], segs)
    assert feats.shape == (4, 1280)


def test_mismatched_inputs_raise():
    fx = FeatureExtractor(weights="random", size=32)
    img, lab, segs = _scene()
    with pytest.raises(ValueError):
        fx.extract([img], [lab, lab], segs)
    with pytest.raises(ValueError, match="float"):
        fx.extract([(img * 255).astype(np.uint8)], [lab], segs)
    bad = types.SimpleNamespace(ids=segs.ids, image=np.array([0, 0, 0, 1]), bbox=segs.bbox)
    with pytest.raises(ValueError, match="index"):
        fx.extract([img], [lab], bad)


def test_a_vit_refuses_crops_of_another_size():
    fx = FeatureExtractor("vit_tiny_patch16_224", weights="random", device="cpu", size=160)
    with pytest.warns(UserWarning, match="RANDOM"), pytest.raises(ValueError, match="224x224"):
        _ = fx.model


def test_a_cuda_device_on_a_machine_without_one_is_said_in_words():
    # a session saved on a GPU machine keeps its device; here it is refused with a message
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match=r"no usable CUDA GPU.*auto or cpu"):
        FeatureExtractor("efficientnet_lite0", weights="random", device="cuda")
