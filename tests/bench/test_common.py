"""Helpers shared by the benchmarks."""

from __future__ import annotations

import numpy as np

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
