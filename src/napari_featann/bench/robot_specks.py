"""The robot's "Remove specks" press: per image, clear small labelled islands.

With an implicit background (``--foreground-only``) a cleared segment shows the
background again. The robot presses the Correct tab's **Remove specks** on the
image where that gains most, as a person does on seeing stray foreground
islands in the image; each press is one image and costs as much as a first
click.
"""

from __future__ import annotations

import numpy as np

from ..editing import speck_segments


class SpeckPlanner:
    """Per image, the segments a press would clear and its gain, cached until the image changes.

    Parameters
    ----------
    min_fraction : float
        :func:`~napari_featann.editing.speck_segments`'s threshold.
    """

    def __init__(self, min_fraction: float) -> None:
        self.min_fraction = float(min_fraction)
        self._cache: dict[int, tuple[np.ndarray, float]] = {}

    def changed(self, images) -> None:
        """Forget the plans of images whose labels changed."""
        for i in images:
            self._cache.pop(int(i), None)

    def plan(self, robot) -> tuple[int, np.ndarray, float] | None:
        """``(image, segment ids, gain)`` of the best press, or None when none gains.

        The gain is the exact change of the image's foreground IoU (``--objective
        iou``) or of its weighted pixels shown right, once the ids show the
        background.
        """
        s, h = robot.s, robot.truth.hist
        best, terms = None, None
        for i in range(robot.n):
            if i not in self._cache:
                ids = speck_segments(s, i, self.min_fraction)
                rows = s.segments.rows_of(ids)
                rows = rows[s.segment_class[rows] == 2]  # foreground shown
                fg, bg = float(h[rows, 1].sum()), float(h[rows, 0].sum())
                if robot.opts.objective == "iou":
                    if terms is None:  # per image: foreground shown right, wrong, in all
                        terms = robot._iou_terms(robot.shown_labels() == 1)
                    tp, fp, total = (float(t[i]) for t in terms)
                    gain = (tp - fg) / max(total + fp - bg, 1) - tp / max(total + fp, 1)
                else:
                    gain = (bg - fg) * robot.image_weight[i]
                self._cache[i] = (s.segments.ids[rows], gain)
            ids, gain = self._cache[i]
            if ids.size and gain > 0 and (best is None or gain > best[2]):
                best = (i, ids, gain)
        return best
