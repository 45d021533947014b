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


def _largest_part(mask: np.ndarray) -> tuple[int, tuple[int, int] | None]:
    """Size of the largest 4-connected part of ``mask`` and its most interior pixel."""
    from scipy import ndimage

    comp, n = ndimage.label(mask)
    if n == 0:
        return 0, None
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    k = int(sizes.argmax())
    part = np.pad(comp == k, 1)
    dist = ndimage.distance_transform_edt(part)
    r, c = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(sizes[k]), (int(r) - 1, int(c) - 1)


def _iou_terms_of(robot, i: int) -> tuple[float, float, float]:
    """Foreground pixels of image ``i`` shown right, shown wrong, and in all."""
    rows = np.flatnonzero(robot.s.segments.image == i)
    shows = robot.shown_labels()[rows] == 1
    h = robot.truth.hist[rows].astype(float)
    return float(h[:, 1] @ shows), float(h[:, 0] @ shows), float(h[:, 1].sum())


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
        best = None
        for i in range(robot.n):
            if i not in self._cache:
                ids = speck_segments(s, i, self.min_fraction)
                rows = s.segments.rows_of(ids)
                rows = rows[s.segment_class[rows] == 2]  # foreground shown
                fg, bg = float(h[rows, 1].sum()), float(h[rows, 0].sum())
                if robot.opts.objective == "iou":
                    tp, fp, total = _iou_terms_of(robot, i)
                    gain = (tp - fg) / max(total + fp - bg, 1) - tp / max(total + fp, 1)
                else:
                    gain = (bg - fg) * robot.image_weight[i]
                self._cache[i] = (s.segments.ids[rows], gain)
            ids, gain = self._cache[i]
            if ids.size and gain > 0 and (best is None or gain > best[2]):
                best = (i, ids, gain)
        return best
