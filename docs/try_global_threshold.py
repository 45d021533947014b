"""Oracle IoU of one cut altitude for all images against one segment count per image.

Usage: ``python docs/try_global_threshold.py SESSION.featann IMAGES MASKS`` with the session
cache of ``featann bench robot --session-cache`` (its gradients are reused) and the folders
it was built from; docs/benchmarks.md section 1 ("tried in session 12").

The dock cuts every image's hierarchy into the same number of regions. A single altitude
for all images instead gives more regions to images with more contrast and fewer to flat
ones. The altitudes tried are quantiles of the altitudes at which each image's hierarchy
has 100 regions. Each cut is scored with oracle labelling (every segment gets its
ground-truth majority class), which bounds what any annotator can reach with it.
"""

from __future__ import annotations

import sys

import numpy as np

from napari_featann.bench.common import (
    gt_classes,
    image_files,
    iou_score,
    load_masks_for,
    majority_labels,
)
from napari_featann.core.partition import build_hierarchy, cut_hierarchy
from napari_featann.io import load_session


def oracle(labels: np.ndarray, gt: np.ndarray) -> tuple[float, int]:
    """Foreground IoU of ``labels`` with oracle labelling, and its number of segments."""
    cls = gt_classes(gt)
    ids, majority, _purity = majority_labels(labels, cls)
    lut = np.zeros(int(labels.max()) + 1, np.int64)
    lut[ids] = majority
    return iou_score(lut[labels], cls, True), int(ids.size)


def main(session_path: str, images: str, masks: str) -> None:
    s = load_session(session_path)
    gts = load_masks_for(image_files(images), masks)
    trees = [build_hierarchy(g.astype(np.float32), "volume", 0.0) for g in s.gradients]

    def report(name: str, cuts) -> None:
        scored = [oracle(lab, gt) for lab, gt in zip(cuts, gts, strict=True)]
        ious, counts = zip(*scored, strict=True)
        print(f"{name}: oracle IoU {np.mean(ious):.2f}, segments per image "
              f"{np.mean(counts):.1f} (min {min(counts)}, max {max(counts)})", flush=True)  # fmt: skip

    for n in (100, 150):
        report(f"{n} regions per image", (cut_hierarchy(t, None, n) for t in trees))
    altitudes = []
    for t in trees:
        cut = t.explorer().horizontal_cut_from_num_regions(100)
        altitudes.append(cut.altitude() if callable(cut.altitude) else cut.altitude)
    for q in (0.6, 0.5, 0.4):
        a = float(np.quantile(altitudes, q))
        report(f"one altitude {a:.1f} (quantile {q})", (cut_hierarchy(t, a, None) for t in trees))


if __name__ == "__main__":
    main(*sys.argv[1:4])
