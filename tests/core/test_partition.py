import numpy as np
import pytest

from napari_featann.core.gradient import classic_gradient
from napari_featann.core.images import to_float_rgb
from napari_featann.core.partition import (
    CRITERIA,
    PartitionParams,
    build_hierarchy,
    cut_hierarchy,
    partition_image,
)


@pytest.fixture
def gradient(squares_image):
    return classic_gradient(to_float_rgb(squares_image))


@pytest.mark.parametrize("criterion", CRITERIA)
def test_three_regions_recover_the_squares(gradient, criterion):
    labels = cut_hierarchy(build_hierarchy(gradient, criterion), regions=3)
    assert labels.dtype == np.int32
    assert sorted(np.unique(labels)) == [1, 2, 3]
    # each square is (almost) one region
    for sl in [(slice(10, 22), slice(10, 22)), (slice(26, 42), slice(38, 58))]:
        _, counts = np.unique(labels[sl], return_counts=True)
        assert counts.max() / counts.sum() > 0.95
    assert labels[10:22, 10:22].mean() != labels[26:42, 38:58].mean()


def test_region_count_and_threshold_are_monotone():
    rng = np.random.default_rng(0)
    g = rng.random((60, 80)).astype(np.float32)
    h = build_hierarchy(g, "area")
    counts = [cut_hierarchy(h, regions=k).max() for k in (5, 20, 80)]
    assert counts[0] >= 5 and counts == sorted(counts)
    by_t = [cut_hierarchy(h, threshold=t).max() for t in (2, 20, 200)]
    assert by_t == sorted(by_t, reverse=True)
    assert cut_hierarchy(h, regions=10**9).max() == h.n_leaves


def test_regions_are_connected_and_cover_everything():
    from scipy import ndimage as ndi

    rng = np.random.default_rng(1)
    g = ndi.gaussian_filter(rng.random((64, 64)), 2).astype(np.float32)
    g = (g - g.min()) / (g.max() - g.min())
    labels = cut_hierarchy(build_hierarchy(g, "volume"), regions=12)
    assert labels.min() == 1
    for k in range(1, labels.max() + 1):
        assert ndi.label(labels == k)[1] == 1


def test_weak_contour_filter_removes_faint_edges():
    g = np.zeros((40, 40), np.float32)
    g[:, 13] = 1.0  # strong contour
    g[:, 27] = 0.05  # faint contour
    h_all = build_hierarchy(g, "area", frontier=0.0)
    h_filt = build_hierarchy(g, "area", frontier=0.2)
    assert cut_hierarchy(h_all, threshold=0).max() == 3
    assert cut_hierarchy(h_filt, threshold=0).max() == 2


def test_dynamics_threshold_is_in_thousandths():
    g = np.zeros((30, 30), np.float32)
    g[:, 15] = 0.3
    h = build_hierarchy(g, "dynamics")
    # pixel-graph edges weigh the mean of their two pixels: the pass is 0.15
    assert cut_hierarchy(h, threshold=100).max() == 2  # 0.1 < 0.15
    assert cut_hierarchy(h, threshold=200).max() == 1


def test_params_validation_and_roundtrip():
    p = PartitionParams(criterion="volume", regions=50, frontier=0.1)
    assert PartitionParams.from_dict(p.to_dict()) == p
    for bad in (dict(criterion="size"), dict(threshold=None, regions=None), dict(regions=0),
                dict(frontier=1.5), dict(gradient="hed")):  # fmt: skip
        with pytest.raises(ValueError):
            PartitionParams(**bad).validate()


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(threshold=float("nan"), regions=None), "threshold must be a finite number"),
        (dict(threshold=float("inf"), regions=None), "one segment per image"),
        (dict(threshold=-1.0, regions=None), "threshold must be >= 0"),
        (dict(regions=float("nan")), "regions must be a finite number"),
        (dict(regions=2.5), "whole number"),
        (dict(frontier=float("nan")), "frontier must be a finite number"),
        (dict(scales=(1.0, float("nan"))), "scales must be finite numbers > 0"),
        (dict(scales=(float("inf"),)), "scales must be finite numbers > 0"),
        (dict(scales=(0.0,)), "scales must be finite numbers > 0"),
        (dict(gradient="sobel"), "unknown gradient"),
    ],
)
def test_params_refuse_numbers_that_are_not_finite(bad, match):
    """``--threshold nan`` cut nothing: 2 segments for 2 images, with exit status 0."""
    with pytest.raises(ValueError, match=match):
        PartitionParams(**bad).validate()


@pytest.mark.parametrize(
    "bad",
    [dict(regions="50"), dict(regions=True), dict(threshold="3", regions=None),
     dict(threshold=False, regions=None), dict(frontier="0.1"), dict(scales=("1",))],
)  # fmt: skip
def test_params_refuse_text_and_booleans_for_numbers(bad):
    """``regions="50"`` passed and failed later in the cut (``"50" > 0``); True was 1 region."""
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must be (a number|numbers), got"):
        PartitionParams(**bad).validate()


def test_partition_real_frame(davis_files):
    from napari_featann.core.gradient import compute_gradient
    from napari_featann.core.images import read_image

    img = to_float_rgb(read_image(davis_files[0]))
    labels = partition_image(compute_gradient(img), PartitionParams(regions=100))
    assert labels.shape == (480, 854)
    assert labels.max() == 100
