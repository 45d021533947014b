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
