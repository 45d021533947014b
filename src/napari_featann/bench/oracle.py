"""The paper's ablation (b): each watershed segment gets its majority ground-truth class.

It measures the best IoU any labelling of the segments could reach, i.e. the
quality of the partition itself.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.gradient import compute_gradient
from ..core.images import load_collection
from ..core.partition import PartitionParams, build_hierarchy, cut_hierarchy
from ..core.progress import Progress, ensure_progress
from .common import (
    check_images,
    check_masks,
    check_weights,
    gt_classes,
    image_files,
    iou_score,
    is_binary,
    load_masks_for,
    majority_labels,
    scoring,
    summarise,
)

__all__ = ["oracle_benchmark"]


def _images_with_masks(files, gts):
    """(record, mask) pairs, one file read at a time (a stack gives its planes)."""
    k = 0
    for path in files:
        records, _ = load_collection([path], skip_bad=False)
        masks = gts[k : k + len(records)]
        if len(masks) != len(records):
            raise ValueError(f"{path.name}: {len(records)} images or planes but "
                             f"{len(masks)} masks or mask planes")  # fmt: skip
        check_masks(records, masks)
        k += len(records)
        yield from zip(records, masks)
    if k != len(gts):
        raise ValueError(f"{k} images or planes but {len(gts)} masks or mask planes")


def oracle_benchmark(images, masks, params: PartitionParams, progress: Progress | None = None,
                     limit: int | None = None, sweep=None, splits: bool = False,
                     max_clicks: int = 4) -> dict:  # fmt: skip
    """Oracle IoU of a partition on images with ground truth.

    Parameters
    ----------
    images : folder or list of files
    masks : folder
        Masks matched to images by stem; binary (0 vs > 0) or multi-class.
    params : PartitionParams
    limit : int, optional
        Use only the first ``limit`` images.
    sweep : sequence of numbers, optional
        Several region counts (or thresholds, when ``params.threshold`` is
        set) evaluated on the same gradients and hierarchies. The result's
        top-level fields are those of the first value; ``"sweep"`` lists all.
    splits : bool, optional
        Also report ``"split_bound"`` per value: the effort per image that
        splitting the mixed segments with the robot's clicks (at most
        ``max_clicks`` each) needs on top of a free oracle labelling to reach
        each IoU, spent greedily with the ground truth in hand
        (:mod:`napari_featann.bench.split_bound`). Binary masks only.
    max_clicks : int, optional

    Returns
    -------
    dict
        ``n_images``, ``mean_iou``, ``median_iou`` (percent), ``scoring`` and
        ``n_classes`` (how the masks are scored), ``mean_segments_per_image``, ``seconds_per_image`` (partition time,
        gradient included; image reading excluded), ``gradient_seconds_per_image``,
        and the parameters.
    """
    params.validate()
    progress = ensure_progress(progress)
    by_threshold = params.threshold is not None
    values = list(sweep) if sweep else [params.threshold if by_threshold else params.regions]
    files = image_files(images)[:limit]
    check_weights(params)
    gts = load_masks_for(files, masks)
    if splits and not all(is_binary(g) for g in gts):
        raise ValueError("--splits needs binary masks (foreground against background)")
    check_images(files, gts)  # every image readable, every mask of its size: before any work
    if splits:
        from .split_bound import greedy_split_effort, split_options
    ious = [[] for _ in values]
    options = [[] for _ in values]
    nseg = [[] for _ in values]
    t_grad, t_hier, t_cut = 0.0, 0.0, [0.0] * len(values)
    progress.init(len(gts), "oracle")
    for rec, gt in _images_with_masks(files, gts):
        img = rec.float_rgb()
        t0 = time.perf_counter()
        grad = compute_gradient(img, params.gradient, params.edge_weights, params.scales)
        t1 = time.perf_counter()
        hierarchy = build_hierarchy(grad, params.criterion, params.frontier)
        t2 = time.perf_counter()
        t_grad += t1 - t0
        t_hier += t2 - t1
        cls = gt_classes(gt)
        for j, v in enumerate(values):
            t3 = time.perf_counter()
            labels = cut_hierarchy(hierarchy, v if by_threshold else None,
                                   None if by_threshold else int(v))  # fmt: skip
            t_cut[j] += time.perf_counter() - t3
            ids, maj, _ = majority_labels(labels, cls)
            lut = np.zeros(int(labels.max()) + 1, np.int64)
            lut[ids] = maj
            ious[j].append(iou_score(lut[labels], cls, is_binary(gt)))
            nseg[j].append(ids.size)
            if splits:
                options[j].append(split_options(labels, cls > 0, grad, max_clicks))
        progress.update(1)
    n = max(len(gts), 1)
    results = []
    for j, v in enumerate(values):
        p = params.to_dict()
        p["threshold" if by_threshold else "regions"] = v if by_threshold else int(v)
        results.append(summarise(ious[j], {
            "mean_segments_per_image": round(float(np.mean(nseg[j])), 1),
            "seconds_per_image": round((t_grad + t_hier + t_cut[j]) / n, 3),
            "gradient_seconds_per_image": round(t_grad / n, 3),
            "params": p,
        }))  # fmt: skip
        if splits:
            bound = greedy_split_effort(options[j])
            results[-1]["split_bound"] = {"max_clicks": int(max_clicks), **bound}
    out = {**results[0], **scoring(gts, per_mask=True)}
    if sweep:
        out["sweep"] = results
    return out
