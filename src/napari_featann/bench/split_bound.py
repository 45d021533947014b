"""How many seconds of click corrections a partition needs to reach a given IoU.

Starting from the oracle labelling (every segment has its majority class, for
free), each segment that mixes the two classes can be split with the robot's
own clicks (:func:`~napari_featann.bench.robot_select.seeded_clicks`: two
clicks, then one more at a time up to ``max_clicks``) on the partition's
gradient, at the robot's prices (2.4 s for the first click on a segment, 0.9 s
for each further one). The splits are then spent greedily, the best gain in
mean foreground IoU per second first, and the effort per image at which the
mean IoU first reaches each whole number is reported.

Labelling is free here and the splits are ordered with the ground truth in
hand, so a real run needs more: this bounds what labelling whole segments
and splitting them can reach at a given effort. Binary masks only.
"""

from __future__ import annotations

import numpy as np

from .robot import COST_CLICK, COST_FIRST_CLICK
from .robot_select import seeded_clicks

__all__ = ["SplitOptions", "greedy_split_effort", "split_options"]


class SplitOptions:
    """One image's oracle IoU terms and the splits its mixed segments allow.

    Attributes
    ----------
    tp, fp, total : int
        Foreground pixels labelled right, labelled wrong, and in the mask,
        under the oracle labelling.
    gains : ndarray, shape (k, 4)
        One row per (segment, number of clicks): segment index in this image,
        change of ``tp``, change of ``fp``, cost in seconds.
    """

    def __init__(self, tp: int, fp: int, total: int, gains: np.ndarray) -> None:
        self.tp, self.fp, self.total, self.gains = int(tp), int(fp), int(total), gains


def split_options(label_image: np.ndarray, foreground: np.ndarray, gradient: np.ndarray,
                  max_clicks: int = 4, min_part: int = 16) -> SplitOptions:  # fmt: skip
    """Every split the robot's clicks make in one image, with its effect and cost.

    Parameters
    ----------
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 for none.
    foreground : ndarray of bool, shape (H, W)
        The ground truth.
    gradient : ndarray of float, shape (H, W)
        The gradient the split's seeded watershed runs on.
    max_clicks : int, optional
        Clicks at most per segment (at least 2).
    min_part : int, optional
        A segment is split only when its minority class holds this many
        pixels; a further click only when the part still wrong does.

    Returns
    -------
    SplitOptions
    """
    from ..core.correction import split_segment
    from .robot_select import _largest_part

    if max_clicks < 2:
        raise ValueError("max_clicks must be >= 2")
    lab = np.asarray(label_image)
    fg = np.asarray(foreground, bool)
    n = int(lab.max()) + 1
    area = np.bincount(lab.ravel(), minlength=n)
    fg_px = np.bincount(lab.ravel(), weights=fg.ravel(), minlength=n).astype(np.int64)
    major = 2 * fg_px > area
    major[0] = False
    shown = major[lab]
    tp, fp = np.count_nonzero(shown & fg), np.count_nonzero(shown & ~fg)
    rows = []
    mixed = np.flatnonzero((np.minimum(fg_px, area - fg_px) >= min_part) & (area > 0))
    objects = _bounding_boxes(lab, mixed)
    for k, (sid, (r0, r1, c0, c1)) in enumerate(zip(mixed, objects)):
        inside = lab[r0:r1, c0:c1] == sid
        truth = fg[r0:r1, c0:c1]
        keep = bool(major[sid])  # the class the segment shows; the other is split off
        want, other = inside & (truth != keep), inside & (truth == keep)
        if _largest_part(want)[0] < min_part:
            continue

        def preview(positive, negative, sid=sid, r0=r0, r1=r1, c0=c0, c1=c1):
            return split_segment(gradient, lab, int(sid), positive, negative)[r0:r1, c0:c1]

        old_fg = inside if keep else np.zeros_like(inside)
        old_tp, old_fp = np.count_nonzero(old_fg & truth), np.count_nonzero(old_fg & ~truth)
        for m, seeds in seeded_clicks(preview, inside, want, other, (r0, c0), min_part):
            clicks = len(seeds[True]) + len(seeds[False])
            new_fg = inside & (m != keep)
            d_tp = np.count_nonzero(new_fg & truth) - old_tp
            d_fp = np.count_nonzero(new_fg & ~truth) - old_fp
            rows.append((k, d_tp, d_fp, COST_FIRST_CLICK + COST_CLICK * (clicks - 1)))
            if clicks >= max_clicks:
                break
    gains = np.array(rows, np.float64).reshape(-1, 4)
    return SplitOptions(tp, fp, np.count_nonzero(fg), gains)


def _bounding_boxes(lab: np.ndarray, ids: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(r0, r1, c0, c1) of each id, in order."""
    from scipy import ndimage

    slices = ndimage.find_objects(lab)
    boxes = []
    for i in ids:
        rows, cols = slices[i - 1]
        boxes.append((rows.start, rows.stop, cols.start, cols.stop))
    return boxes


def greedy_split_effort(images: list[SplitOptions], targets=None) -> dict:
    """Spend the splits of all images, best mean-IoU gain per second first.

    Parameters
    ----------
    images : list of SplitOptions
    targets : sequence of float, optional
        Mean IoU levels (percent); default every whole number above the
        start that is reached, and the next one.

    Returns
    -------
    dict
        ``start_iou`` (the oracle's mean IoU), ``effort_to_reach`` (target →
        seconds per image, None where never reached), ``final_iou``,
        ``final_effort`` (seconds per image) and ``segments_split``.
    """
    n = len(images)
    tp = np.array([o.tp for o in images], np.float64)
    fp = np.array([o.fp for o in images], np.float64)
    total = np.array([o.total for o in images], np.float64)

    def ious(tp_, fp_, total_):
        union = total_ + fp_
        return np.where(union > 0, tp_ / np.maximum(union, 1), 1.0)

    start = 100.0 * float(ious(tp, fp, total).mean()) if n else 0.0
    default_targets = targets is None
    if default_targets:
        targets = range(int(np.floor(start)) + 1, 101)
    targets = sorted(float(t) for t in targets)
    parts = [o.gains for o in images]
    img = np.concatenate([np.full(len(g), i) for i, g in enumerate(parts)]).astype(np.int64)
    gains = np.concatenate(parts) if parts else np.zeros((0, 4))
    # one id per (image, segment): a segment is split at most once
    key = img * (int(gains[:, 0].max()) + 1 if len(gains) else 1) + gains[:, 0].astype(np.int64)
    _, seg = np.unique(key, return_inverse=True)
    used = np.zeros(seg.max() + 1 if seg.size else 0, bool)
    d_tp, d_fp, cost = gains[:, 1], gains[:, 2], gains[:, 3]
    effort, n_split, reached = 0.0, 0, {}
    mean = start
    while gains.size:
        base = ious(tp[img], fp[img], total[img])
        rate = (ious(tp[img] + d_tp, fp[img] + d_fp, total[img]) - base) / cost
        rate[used[seg]] = -np.inf
        k = int(np.argmax(rate))
        if rate[k] <= 0:
            break
        i = img[k]
        tp[i] += d_tp[k]
        fp[i] += d_fp[k]
        used[seg[k]] = True
        effort += cost[k]
        n_split += 1
        mean = 100.0 * float(ious(tp, fp, total).mean())
        for t in targets:
            if t not in reached and mean >= t:
                reached[t] = round(float(effort) / n, 2)
    if default_targets:  # the levels reached and the first one not reached
        missed = [t for t in targets if t not in reached][:1]
        targets = [t for t in targets if t in reached] + missed
    return {
        "start_iou": round(start, 2),
        "effort_to_reach": {f"{t:g}": reached.get(t) for t in targets},
        "final_iou": round(mean, 2),
        "final_effort": round(float(effort) / max(n, 1), 2),
        "segments_split": n_split,
    }
