from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from napari_featann.core.correction import (
    TransferReport,
    apply_split,
    class_mask_from_segments,
    merge_segments,
    relabel_sequential_from,
    split_segment,
    transfer_labels,
)

SHARED = Path(__file__).parents[2] / ".." / "shared"
DAVIS = SHARED / "data" / "davis-dev"


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


# ----------------------------------------------------------------------------- split


@pytest.fixture
def two_squares():
    """One segment (id 3) made of two 6x6 squares with a strong edge between them."""
    labels = np.zeros((8, 14), np.int32)
    labels[1:7, 1:13] = 3
    gradient = np.full(labels.shape, 0.05, np.float32)
    gradient[:, 6:8] = 0.9  # the common border of the left (cols 1-6) and right (7-12) squares
    left = np.zeros(labels.shape, bool)
    left[1:7, 1:7] = True
    return gradient, labels, left


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_gives_back_two_squares(two_squares, dtype):
    gradient, labels, left = two_squares
    positive = split_segment(gradient.astype(dtype), labels, 3, [(3, 2)], [(4, 11)])
    assert positive.dtype == bool and positive.shape == labels.shape
    np.testing.assert_array_equal(positive, left)


def test_split_swaps_with_seeds(two_squares):
    gradient, labels, left = two_squares
    positive = split_segment(gradient, labels, 3, [(4.2, 11.4)], [(3, 2), (5, 5)])
    np.testing.assert_array_equal(positive, (labels == 3) & ~left)


def test_split_is_restricted_to_segment(two_squares):
    gradient, labels, left = two_squares
    labels = labels.copy()
    labels[0, :] = 9  # a low-gradient neighbour must not leak into the result
    gradient[0, :] = 0.0
    before = labels.copy()
    positive = split_segment(gradient, labels, 3, [(3, 2)], [(4, 11)])
    np.testing.assert_array_equal(positive, left)
    np.testing.assert_array_equal(labels, before)


def test_split_unreachable_component_goes_negative():
    labels = np.zeros((5, 9), np.int32)
    labels[:, 0:3] = 1
    labels[:, 6:9] = 1  # a second, disconnected part of segment 1
    gradient = np.zeros(labels.shape, np.float32)
    positive = split_segment(gradient, labels, 1, [(0, 0)], [(4, 2)])
    assert not positive[:, 6:].any()
    assert positive[0, 0] and not positive[4, 2]


def test_split_bad_seeds(two_squares):
    gradient, labels, _ = two_squares
    with pytest.raises(ValueError, match=r"positive seed \(0\.0, 0\.0\)"):
        split_segment(gradient, labels, 3, [(0, 0)], [(4, 11)])
    with pytest.raises(ValueError, match="negative seed"):
        split_segment(gradient, labels, 3, [(3, 2)], [(100, 100)])
    with pytest.raises(ValueError, match="at least one positive"):
        split_segment(gradient, labels, 3, [], [(4, 11)])
    with pytest.raises(ValueError, match="at least one negative"):
        split_segment(gradient, labels, 3, [(3, 2)], [])
    with pytest.raises(ValueError, match="finite"):
        split_segment(gradient, labels, 3, [(np.nan, 2)], [(4, 11)])
    with pytest.raises(ValueError, match="both positive and negative"):
        split_segment(gradient, labels, 3, [(3, 2)], [(3, 2)])
    with pytest.raises(ValueError, match="not in the label image"):
        split_segment(gradient, labels, 42, [(3, 2)], [(4, 11)])
    with pytest.raises(ValueError, match="shape"):
        split_segment(gradient[:, :-1], labels, 3, [(3, 2)], [(4, 11)])


def _load_davis(name="blackswan_00000"):
    image_path = DAVIS / "images" / f"{name}.jpg"
    mask_path = DAVIS / "masks" / f"{name}.png"
    if not (image_path.exists() and mask_path.exists()):
        pytest.skip(f"DAVIS frame not available under {DAVIS}")
    iio = pytest.importorskip("imageio.v3")
    grey = iio.imread(image_path).astype(np.float32).mean(axis=2) / 255.0
    mask = iio.imread(mask_path) > 127
    return grey, mask


def test_split_on_davis_frame():
    grey, swan = _load_davis()
    gradient = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
    gradient = (gradient / gradient.max()).astype(np.float32)
    # One segment: a box over the swan's neck and the bank behind it.
    labels = np.zeros(swan.shape, np.int32)
    labels[100:180, 360:440] = 7
    box = labels == 7
    inside, outside = swan & box, ~swan & box
    assert inside.sum() > 500 and outside.sum() > 500
    pos_seed = np.unravel_index(ndimage.distance_transform_edt(inside).argmax(), swan.shape)
    neg_seed = np.unravel_index(ndimage.distance_transform_edt(outside).argmax(), swan.shape)

    positive = split_segment(gradient, labels, 7, [pos_seed], [neg_seed])

    assert not (positive & ~box).any()
    assert iou(positive, inside) > 0.8


# ----------------------------------------------------------------------------- apply_split


def test_apply_split(two_squares):
    _, labels, left = two_squares
    before = labels.copy()
    out = apply_split(labels, 3, left, new_id=10)
    np.testing.assert_array_equal(labels, before)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out == 10, left)
    np.testing.assert_array_equal(out == 3, (before == 3) & ~left)


def test_apply_split_bad_input(two_squares):
    _, labels, left = two_squares
    with pytest.raises(ValueError, match="already used"):
        apply_split(labels, 3, left, new_id=3)
    with pytest.raises(ValueError, match="outside segment"):
        apply_split(labels, 3, ~left, new_id=10)
    with pytest.raises(ValueError, match="proper subset"):
        apply_split(labels, 3, np.zeros_like(left), new_id=10)
    with pytest.raises(ValueError, match="proper subset"):
        apply_split(labels, 3, labels == 3, new_id=10)
    with pytest.raises(ValueError, match="positive"):
        apply_split(labels, 3, left, new_id=0)


# ----------------------------------------------------------------------------- merge


@pytest.fixture
def four_segments():
    return np.array(
        [
            [5, 5, 2, 2, 0, 9],
            [5, 5, 2, 2, 0, 9],
            [4, 4, 4, 0, 0, 9],
        ],
        np.int32,
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16])
def test_merge_adjacent_to_smallest_id(four_segments, dtype):
    labels = four_segments.astype(dtype)
    before = labels.copy()
    merged, target = merge_segments(labels, [5, 4, 2])
    assert target == 2
    assert merged.dtype == np.int32
    np.testing.assert_array_equal(merged, np.where(np.isin(before, [2, 4, 5]), 2, before))
    np.testing.assert_array_equal(labels, before)


def test_merge_uses_segment_adjacency_not_pixel_connectivity():
    # Segment 1 has two pieces; both touch segment 2, so {1, 2} is one group.
    labels = np.array([[1, 2, 2, 1]], np.int32)
    merged, target = merge_segments(labels, [1, 2])
    assert target == 1 and (merged == 1).all()


def test_merge_non_adjacent_raises(four_segments):
    before = four_segments.copy()
    with pytest.raises(ValueError, match=r"not adjacent.*\[2\].*\[9\]"):
        merge_segments(four_segments, [2, 9])
    np.testing.assert_array_equal(four_segments, before)
    merged, target = merge_segments(four_segments, [2, 9], require_adjacent=False)
    assert target == 2 and (merged[:, 5] == 2).all()


def test_merge_bad_ids(four_segments):
    with pytest.raises(ValueError, match="at least two"):
        merge_segments(four_segments, [5, 5])
    with pytest.raises(ValueError, match=r"\[7\] are not in"):
        merge_segments(four_segments, [5, 7])
    with pytest.raises(ValueError, match="not in"):
        merge_segments(four_segments, [0, 5])


# ----------------------------------------------------------------------------- transfer


def test_class_mask_from_segments():
    labels = np.array([[1, 1, 2], [0, 3, 3]], np.int32)
    mask = class_mask_from_segments(labels, {1: 5, 3: 2, 99: 1})
    assert mask.dtype == np.int32
    np.testing.assert_array_equal(mask, [[5, 5, 0], [0, 2, 2]])
    np.testing.assert_array_equal(class_mask_from_segments(labels, {}), np.zeros((2, 3)))


@pytest.fixture
def two_halves():
    old = np.zeros((4, 8), np.int32)
    old[:, :4], old[:, 4:] = 1, 2
    return old


def test_transfer_split_into_four(two_halves):
    new = np.array([[10, 10, 11, 11, 12, 12, 13, 13]] * 4, np.int32)
    classes, report = transfer_labels(two_halves, {1: 1, 2: 2}, new)
    assert classes == {10: 1, 11: 1, 12: 2, 13: 2}
    assert report == TransferReport(kept=0, moved=2, lost=0, lost_ids=[])


def test_transfer_accepts_class_mask(two_halves):
    new = np.array([[10, 10, 11, 11, 12, 12, 13, 13]] * 4, np.int32)
    mask = class_mask_from_segments(two_halves, {1: 1, 2: 2})
    classes, report = transfer_labels(two_halves, mask, new)
    assert classes == {10: 1, 11: 1, 12: 2, 13: 2}
    assert report.moved == 2


def test_transfer_merge_takes_majority():
    old = np.array([[1, 1, 1, 2]] * 3, np.int32)  # class 1 covers 75 % of the merged segment
    new = np.full(old.shape, 20, np.int32)
    classes, report = transfer_labels(old, {1: 1, 2: 2}, new)
    assert classes == {20: 1}
    assert report == TransferReport(kept=0, moved=1, lost=1, lost_ids=[2])


def test_transfer_no_class_reaches_min_fraction():
    old = np.array([[1, 1, 2, 2, 3, 3]] * 2, np.int32)  # 3 equal segments, 3 unlabelled
    new = np.array([[20, 20, 20, 20, 20, 20], [21, 21, 21, 21, 21, 21]], np.int32)
    classes, report = transfer_labels(old, {1: 1, 2: 2}, new)
    assert classes == {}
    assert report == TransferReport(kept=0, moved=0, lost=2, lost_ids=[1, 2])


def test_transfer_min_fraction_counts_unlabelled_area():
    old = np.array([[1, 1, 3, 3]], np.int32)  # one labelled half, one unlabelled half
    new = np.full(old.shape, 20, np.int32)
    assert transfer_labels(old, {1: 4}, new, min_fraction=0.5)[0] == {20: 4}
    assert transfer_labels(old, {1: 4}, new, min_fraction=0.6)[0] == {}


def test_transfer_identical_recut_keeps_everything(two_halves):
    new, _ = relabel_sequential_from(two_halves, start=100)
    classes, report = transfer_labels(two_halves, {1: 1, 2: 2, 77: 3}, new)
    assert classes == {100: 1, 101: 2}
    assert report == TransferReport(kept=2, moved=0, lost=0, lost_ids=[])


def test_transfer_mixed_report():
    old = np.array([[1, 1, 2, 2, 3, 3, 4, 4]], np.int32)
    new = np.array([[5, 5, 6, 7, 8, 8, 8, 8]], np.int32)
    classes, report = transfer_labels(old, {1: 1, 2: 2, 3: 3, 4: 4}, new)
    assert classes == {5: 1, 6: 2, 7: 2, 8: 3}  # 8: classes 3 and 4 tie at 50 %: smaller id
    assert report == TransferReport(kept=1, moved=2, lost=1, lost_ids=[4])


def test_transfer_bad_input(two_halves):
    with pytest.raises(ValueError, match="shape"):
        transfer_labels(two_halves, {1: 1}, two_halves[:, :-1])
    with pytest.raises(ValueError, match="min_fraction"):
        transfer_labels(two_halves, {1: 1}, two_halves, min_fraction=1.5)
    with pytest.raises(ValueError, match="integer"):
        transfer_labels(two_halves, {1: 1}, two_halves.astype(float))
    with pytest.raises(ValueError, match="class mask"):
        transfer_labels(two_halves, np.zeros((2, 2), np.int32), two_halves)


# ----------------------------------------------------------------------------- relabel


def test_relabel_sequential_from():
    labels = np.array([[0, 7, 3], [3, 0, 9]], np.int32)
    before = labels.copy()
    out, mapping = relabel_sequential_from(labels, start=10)
    np.testing.assert_array_equal(out, [[0, 11, 10], [10, 0, 12]])
    assert mapping == {3: 10, 7: 11, 9: 12}
    np.testing.assert_array_equal(labels, before)
    with pytest.raises(ValueError, match="positive"):
        relabel_sequential_from(labels, start=0)
