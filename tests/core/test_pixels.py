"""One-pass pixel writes of segment classes, with undo records."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.core.pixels import assign_pixels


def _reference(lab, selected, protected, cm, value):
    hit = np.zeros(lab.shape, bool)
    ok = lab < selected.size
    hit[ok] = selected[lab[ok]]
    out = cm.copy()
    out[hit & ~protected] = value
    return out


@pytest.mark.parametrize("n_selected", [1, 3, 40])  # sparse record ... dense record
def test_matches_numpy_and_undoes(n_selected):
    rng = np.random.default_rng(n_selected)
    lab = rng.integers(1, 41, size=(37, 53)).astype(np.int32)
    cm = rng.integers(0, 4, size=lab.shape).astype(np.uint8)
    protected = rng.random(lab.shape) < 0.1
    selected = np.zeros(30, bool)  # ids 30..40 are beyond the table: never selected
    selected[rng.choice(np.arange(1, 41), n_selected, replace=False).clip(max=29)] = True
    start = cm.copy()
    expected = _reference(lab, selected, protected, cm, 2)
    change = assign_pixels(lab, selected, protected, cm, 2)
    np.testing.assert_array_equal(cm, expected)
    assert change.count == int((start != expected).sum())
    assert (change.before is None) == (n_selected == 1)  # big changes keep a mask copy
    change.undo()
    np.testing.assert_array_equal(cm, start)
    change.redo()
    np.testing.assert_array_equal(cm, expected)


def test_nothing_to_change_and_bad_input():
    lab = np.ones((4, 4), np.int32)
    cm = np.full((4, 4), 5, np.uint8)
    change = assign_pixels(lab, np.array([False, True]), np.zeros((4, 4), bool), cm, 5)
    assert change.count == 0
    change.undo()
    assert (cm == 5).all()
    with pytest.raises(ValueError, match="shapes differ"):
        assign_pixels(lab, np.ones(2, bool), np.zeros((4, 5), bool), cm, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        assign_pixels(lab[:, :2], np.ones(2, bool), np.zeros((4, 2), bool), cm[:, :2], 1)


@pytest.mark.parametrize("uniform", [False, True])  # old classes mixed, or all one class
@pytest.mark.parametrize("n_selected", [1, 2, 6])
def test_bounding_boxes_visit_only_the_selected_segments(n_selected, uniform):
    """Compact segments (a grid): boxes of the selected ones give the same result."""
    rng = np.random.default_rng(n_selected)
    side = 8
    rows = np.arange(120) * side // 120
    cols = np.arange(160) * side // 160
    lab = (rows[:, None] * side + cols[None, :] + 1).astype(np.int32)
    cm = rng.integers(0, 3, size=lab.shape).astype(np.uint8)
    protected = rng.random(lab.shape) < 0.05
    if uniform:  # unprotected pixels all unlabelled: undo needs no record of pixels
        cm[~protected] = 0
    ids = rng.choice(np.arange(1, side * side + 1), n_selected, replace=False)
    selected = np.zeros(side * side + 1, bool)
    selected[ids] = True
    boxes = []
    for i in ids:
        r, c = np.nonzero(lab == i)
        boxes.append((r.min(), c.min(), r.max() + 1, c.max() + 1))
    boxes.append(boxes[0])  # overlapping boxes count each pixel once
    start = cm.copy()
    expected = _reference(lab, selected, protected, cm, 3)
    change = assign_pixels(lab, selected, protected, cm, 3, boxes=np.array(boxes))
    np.testing.assert_array_equal(cm, expected)
    assert change.count == int((start != expected).sum())
    assert (change.uniform == 0) == uniform and (change.before is None or not uniform)
    change.undo()
    np.testing.assert_array_equal(cm, start)
    change.redo()
    np.testing.assert_array_equal(cm, expected)


def test_session_boxes_hold_every_pixel_after_edits(tmp_path):
    """Session.assign trusts the segment table's boxes: splits and merges keep them exact."""
    from napari_featann.editing import merge, split
    from napari_featann.session import Session

    img = np.zeros((60, 90, 3), np.uint8)
    img[10:50, 10:40] = (200, 30, 30)
    img[10:50, 50:80] = (30, 200, 30)
    s = Session.from_sources([img])
    s.partition_params.regions = 6
    s.partition()
    s.features = np.random.default_rng(0).random((len(s.segments), 8)).astype(np.float32)
    s.embedding = np.random.default_rng(1).random((len(s.segments), 2)).astype(np.float32)
    s.compute_features = lambda table=None, **kw: (
        np.random.default_rng(2).random((len(table.ids), 8)).astype(np.float32)
    )
    s.place = lambda feats, refined=None: np.zeros((len(feats), 2), np.float32)
    big = int(s.segments.ids[np.argmax(s.segments.area)])
    _, flat = s.segment_pixels(big)
    pts = np.unravel_index(flat[[0, -1]], s.label_images[0].shape)
    split(s, big, [(int(pts[0][0]), int(pts[1][0]))], [(int(pts[0][1]), int(pts[1][1]))])
    merge(s, s.segments.ids[-2:])  # the two parts of the split, adjacent
    lab = s.label_images[0]
    for sid, (r0, c0, r1, c1) in zip(s.segments.ids, s.segments.bbox):
        r, c = np.nonzero(lab == sid)
        assert r.min() >= r0 and r.max() < r1 and c.min() >= c0 and c.max() < c1
    cid = s.add_class("a")
    s.assign(s.segments.ids, cid)
    assert np.all(s.class_masks[0][lab > 0] == cid)
    # the table's areas tile the image, so this box took the whole-image path: same pixels
    assert s.segments.area.sum() == lab.size and s._covers_image(
        np.arange(len(s.segments)), [0]) == [True]  # fmt: skip


@pytest.mark.parametrize("fraction_protected", [0.0, 0.1])
@pytest.mark.parametrize("n_changed", [3, 400, 1200])  # sparse record, copy, one old class
def test_whole_image_fill_matches_the_lookup_pass(fraction_protected, n_changed):
    """``whole=True`` (every pixel in a selected segment) writes what the lookup pass writes."""
    rng = np.random.default_rng(n_changed)
    lab = rng.integers(1, 9, size=(30, 40)).astype(np.int32)
    cm = np.full(lab.shape, 4, np.uint8)
    if n_changed == cm.size:  # every pixel held class 1; protected ones hold others
        cm[:] = 1
    else:
        cm.flat[rng.choice(cm.size, n_changed, replace=False)] = rng.integers(0, 3, n_changed)
    protected = rng.random(lab.shape) < fraction_protected
    cm[protected & (cm == 1)] = 2
    selected = np.ones(9, bool)
    start = cm.copy()
    expected = _reference(lab, selected, protected, cm, 4)
    change = assign_pixels(lab, np.zeros(1, bool), protected, cm, 4, whole=True)
    np.testing.assert_array_equal(cm, expected)
    assert change.count == int((start != expected).sum()) > 0
    assert (change.uniform == 1) == (n_changed == cm.size)  # no copy, no indices
    change.undo()
    np.testing.assert_array_equal(cm, start)
    change.redo()
    np.testing.assert_array_equal(cm, expected)


def test_session_uses_the_whole_image_path_only_when_all_segments_are_taken():
    from napari_featann.session import Session

    rng = np.random.default_rng(0)
    s = Session.from_sources([rng.integers(0, 255, (40, 50, 3)).astype(np.uint8)] * 2)
    s.partition_params.regions = 8
    s.partition()
    cid = s.add_class("a")
    rows0 = s.segments.in_image(0)
    assert s._covers_image(rows0, [0]) == [True]
    assert s._covers_image(rows0[1:], [0]) == [False]
    s.paint(0, np.eye(40, 50, dtype=bool), 0)  # protected pixels keep their class
    s.assign(s.segments.ids, cid)
    assert (s.class_masks[0][~np.eye(40, 50, dtype=bool)] == cid).all()
    assert (s.class_masks[0][np.eye(40, 50, dtype=bool)] == 0).all()
    assert (s.class_masks[1] == cid).all()
    s.undo()
    assert (s.class_masks[1] == 0).all() and (s.class_masks[0] == 0).all()
