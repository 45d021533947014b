"""Tests of the split bound: the robot's clicks on each mixed segment, spent greedily."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from napari_featann.bench.robot import COST_CLICK, COST_FIRST_CLICK
from napari_featann.bench.robot_select import seeded_clicks
from napari_featann.bench.split_bound import SplitOptions, greedy_split_effort, split_options
from napari_featann.core.correction import split_segment


def _two_straddling_segments():
    """Two 40x20 segments, each with a 6-column foreground band along a strong edge."""
    lab = np.ones((40, 40), np.int64)
    lab[:, 20:] = 2
    fg = np.zeros((40, 40), bool)
    fg[:, 14:26] = True
    grad = np.zeros((40, 40), np.float32)
    grad[:, [13, 14, 25, 26]] = 1.0
    return lab, fg, grad


def test_seeded_clicks_stop_once_the_preview_is_right():
    lab, fg, grad = _two_straddling_segments()
    inside = lab == 1
    want, other = inside & fg, inside & ~fg

    def preview(positive, negative):
        return split_segment(grad, lab, 1, positive, negative)

    steps = list(seeded_clicks(preview, inside, want, other, (0, 0), min_part=16))
    assert len(steps) == 1  # two clicks, and nothing left wrong
    m, seeds = steps[0]
    assert len(seeds[True]) == len(seeds[False]) == 1
    assert fg[seeds[True][0]] and not fg[seeds[False][0]]
    np.testing.assert_array_equal(m, want)


def test_seeded_clicks_add_a_click_where_the_preview_is_wrong():
    lab, fg, _ = _two_straddling_segments()
    flat = np.zeros(lab.shape, np.float32)  # no edge: the first split misses part of the band
    inside = lab == 1
    want, other = inside & fg, inside & ~fg

    def preview(positive, negative):
        return split_segment(flat, lab, 1, positive, negative)

    steps = []
    for m, seeds in seeded_clicks(preview, inside, want, other, (0, 0), min_part=16):
        steps.append((m.copy(), {k: list(v) for k, v in seeds.items()}))
        if len(steps) == 4:
            break
    assert np.count_nonzero(steps[0][0] != want) >= 16  # the first split misses
    assert len(steps) == 4
    for (m, before), (_, after) in pairwise(steps):
        side = next(k for k in (True, False) if len(after[k]) > len(before[k]))
        new = after[side][-1]
        assert sum(map(len, after.values())) == sum(map(len, before.values())) + 1
        assert m[new] != want[new]  # where the preview was wrong...
        assert want[new] == side  # ...a click of the class the pixel belongs to


def test_split_options_fix_each_straddling_segment_with_two_clicks():
    lab, fg, grad = _two_straddling_segments()
    opts = split_options(lab, fg, grad, max_clicks=4)
    assert (opts.tp, opts.fp, opts.total) == (0, 0, fg.sum())  # both segments show background
    assert opts.gains.shape == (2, 4)
    two_clicks = COST_FIRST_CLICK + COST_CLICK
    np.testing.assert_allclose(opts.gains, [[0, 240, 0, two_clicks], [1, 240, 0, two_clicks]])
    r = greedy_split_effort([opts], targets=[50, 100])
    assert r["start_iou"] == 0
    assert r["effort_to_reach"] == {"50": round(two_clicks, 2), "100": round(2 * two_clicks, 2)}
    assert r["final_iou"] == 100 and r["segments_split"] == 2


def test_greedy_takes_the_best_gain_per_second_first_and_splits_a_segment_once():
    a = SplitOptions(0, 0, 100, np.array([[0, 50, 0, 3.3], [0, 100, 0, 4.2]]))
    b = SplitOptions(50, 0, 100, np.array([[0, 50, 0, 3.3], [1, -10, 40, 2.4]]))
    r = greedy_split_effort([a, b], targets=[50, 75, 100, 101])
    assert r["start_iou"] == 25
    # a's three-click split first (1.0 / 4.2 s), then b's (0.5 / 3.3 s); a's
    # two-click option is the same segment, and b's harmful split never pays
    assert r["effort_to_reach"] == {"50": 2.1, "75": 2.1, "100": 3.75, "101": None}
    assert r["segments_split"] == 2 and r["final_effort"] == 3.75
    default = greedy_split_effort([a, b])
    assert list(default["effort_to_reach"]) == [str(t) for t in range(26, 101)]


def test_split_options_need_two_clicks_at_least():
    lab, fg, grad = _two_straddling_segments()
    with pytest.raises(ValueError, match="max_clicks"):
        split_options(lab, fg, grad, max_clicks=1)
