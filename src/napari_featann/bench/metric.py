"""``featann bench metric``: does metric learning make unlabelled segments easier to label?

Partition, extract features, label a random fraction of the segments with
their ground-truth majority class, train, and compare the k-NN accuracy of
the *unlabelled* segments before and after.
"""

from __future__ import annotations

import time

import numpy as np

from ..core.partition import PartitionParams
from ..core.progress import Progress, ensure_progress
from .common import check_masks, context_settings, gt_classes, majority_labels, setup_session

__all__ = ["ground_truth_classes", "metric_benchmark"]


def ground_truth_classes(session, gts) -> tuple[np.ndarray, np.ndarray]:
    """Majority ground-truth class (>= 1) and purity of every segment row of a session.

    ``gts``: one mask per image or plane of the session, of its size.
    """
    check_masks(session.images, gts)
    cls = np.zeros(len(session.segments), np.int64)
    purity = np.zeros(len(session.segments))
    for i, gt in enumerate(gts):
        ids, maj, pur = majority_labels(session.label_images[i], gt_classes(gt))
        rows = session.segments.rows_of(ids)
        cls[rows] = maj + 1
        purity[rows] = pur
    return cls, purity


def metric_benchmark(images, masks, params: PartitionParams, feature_params,
                     labelled_fraction: float = 0.2, mode: str = "head", seed: int = 0,
                     limit: int | None = None, progress: Progress | None = None,
                     session_cache: str | None = None) -> dict:  # fmt: skip
    """k-NN accuracy (percent) of unlabelled segments before and after metric learning.

    Every input (cache file, images, masks, weights) is checked before the partition
    (:func:`napari_featann.bench.common.setup_session`).
    """
    from ..learning import train_metric
    from ..ml.metric import knn_accuracy

    if not 0 < labelled_fraction < 1:
        raise ValueError("--labelled-fraction must be in (0, 1)")
    progress = ensure_progress(progress)
    t0 = time.perf_counter()
    s, gts, _, _ = setup_session(images, masks, params, feature_params, limit=limit,
                                 cache=session_cache, progress=progress)  # fmt: skip
    t_features = time.perf_counter() - t0
    truth, _ = ground_truth_classes(s, gts)
    rng = np.random.default_rng(seed)
    n = len(s.segments)
    labelled = rng.random(n) < labelled_fraction
    s.segment_class = np.where(labelled, truth, 0).astype(np.int32)
    counts = np.bincount(s.segment_class, minlength=1)[1:]  # labelled segments per class
    if np.count_nonzero(counts >= 2) < 2:  # said as the benchmark's sample, not "so far"
        raise ValueError(
            f"--labelled-fraction {labelled_fraction:g} labelled {int(labelled.sum())} of the "
            f"{n} segments, {np.count_nonzero(counts >= 2)} ground-truth class(es) with 2 or "
            "more: metric learning needs 2 such classes; give a larger --labelled-fraction, "
            "more images or more --regions (or another --seed)"
        )
    query = ~labelled
    before = knn_accuracy(s.features, truth, query)
    info = train_metric(s, mode=mode, progress=progress, seed=seed, reproject=False)
    after = knn_accuracy(s.refined_features, truth, query)
    return {
        "n_images": s.n_images,
        "n_segments": n,
        "n_labelled": int(labelled.sum()),
        "n_classes": int(np.unique(truth[truth > 0]).size),
        "mode": mode,
        "knn_accuracy_before": round(float(before), 2),
        "knn_accuracy_after": round(float(after), 2),
        "train_seconds": info["train_seconds"],
        "setup_seconds": round(t_features, 1),
        "backbone": s.feature_params.backbone,
        **context_settings(s.feature_params),
    }
