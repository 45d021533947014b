"""Shared pieces of the benchmarks: masks by stem, majority labels, IoU scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.images import list_image_files, read_planes

__all__ = [
    "cached_session",
    "check_masks",
    "iou_score",
    "load_masks_for",
    "majority_labels",
    "neighbour_agreement",
    "summarise",
]


def load_masks_for(image_paths, mask_dir) -> list[np.ndarray]:
    """Ground-truth masks matched to images by file stem, one per image or stack plane.

    A stack's mask is a stack of as many planes (its planes follow each other
    in the list, as the image's planes do in a session).

    Raises
    ------
    ValueError
        Naming every image that has no mask, or the mask that cannot be read.
    """
    masks = {p.stem: p for p in list_image_files(mask_dir)}
    out, problems = [], []
    for p in image_paths:
        p = Path(p)
        if p.stem not in masks:
            problems.append(f"{p.name}: no mask named {p.stem}.* in {mask_dir}")
            continue
        try:
            planes = read_planes(masks[p.stem])
        except ValueError as exc:  # say which mask: the reason alone names no file
            raise ValueError(f"mask {masks[p.stem]}: {exc}") from None
        for m in planes:
            out.append(np.asarray(m[..., 0] if m.ndim == 3 else m))
    if problems:
        raise ValueError("missing ground truth: " + "; ".join(problems))
    return out


def check_masks(records, gts) -> None:
    """Raise ValueError unless every image (or plane) has a mask of its shape."""
    if len(records) != len(gts):
        raise ValueError(f"{len(records)} images or planes but {len(gts)} masks or mask planes")
    for rec, gt in zip(records, gts):
        if rec.shape2d != gt.shape:
            raise ValueError(f"{rec.name}: mask shape {gt.shape} differs from image {rec.shape2d}")


def is_binary(mask: np.ndarray) -> bool:
    """Whether a mask has at most two values (0 and one foreground value)."""
    return np.unique(mask).size <= 2


def gt_classes(mask: np.ndarray) -> np.ndarray:
    """Ground truth as class indices: 0/1 for binary masks, the values otherwise."""
    return (mask > 0).astype(np.int64) if is_binary(mask) else mask.astype(np.int64)


def majority_labels(
    label_image: np.ndarray, gt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority ground-truth class and purity of every segment.

    Parameters
    ----------
    label_image : ndarray (H, W), int, 0 = no segment
    gt : ndarray (H, W), int class indices

    Returns
    -------
    ids, majority, purity : ndarrays
        For each segment id present: its id, its majority class and the
        fraction of its pixels in that class.
    """
    lab = label_image.ravel().astype(np.int64)
    g = gt.ravel().astype(np.int64)
    ids, inv = np.unique(lab, return_inverse=True)
    ncls = int(g.max()) + 1
    hist = np.bincount(inv * ncls + g, minlength=ids.size * ncls).reshape(ids.size, ncls)
    maj = hist.argmax(1)
    purity = hist.max(1) / np.maximum(hist.sum(1), 1)
    keep = ids > 0
    return ids[keep], maj[keep], purity[keep]


def iou_score(pred: np.ndarray, gt: np.ndarray, binary: bool) -> float:
    """Foreground IoU (binary) or mean IoU over the classes present in either (percent)."""
    if binary:
        p, t = pred > 0, gt > 0
        union = np.count_nonzero(p | t)
        return 100.0 if union == 0 else 100.0 * np.count_nonzero(p & t) / union
    ious = []
    for c in np.union1d(np.unique(pred), np.unique(gt)):
        p, t = pred == c, gt == c
        ious.append(np.count_nonzero(p & t) / max(np.count_nonzero(p | t), 1))
    return 100.0 * float(np.mean(ious))


def summarise(ious, extra: dict | None = None) -> dict:
    """Common JSON fields of every benchmark."""
    ious = np.asarray(ious, float)
    out = {
        "n_images": int(ious.size),
        "mean_iou": round(float(ious.mean()), 2) if ious.size else None,
        "median_iou": round(float(np.median(ious)), 2) if ious.size else None,
    }
    out.update(extra or {})
    return out


def image_files(images) -> list[Path]:
    """A folder's image files, or the given file; ValueError when there is none."""
    p = Path(images)
    files = list_image_files(p) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"no PNG, JPEG or TIFF images in {p}")
    return files


def neighbour_agreement(features: np.ndarray, classes: np.ndarray, k: int = 10) -> dict:
    """Per class, the mean fraction of a segment's ``k`` nearest neighbours of its class.

    Neighbours by cosine similarity of the feature vectors; ``classes`` is the
    ground-truth (majority) class index per segment. A measure of how well the
    features separate the classes before any labelling.

    Returns
    -------
    dict
        ``{"k": k, "class 0": fraction, ...}``, fractions in percent.
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(features, np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = min(k, len(x) - 1)
    out: dict = {"k": int(k)}
    if k < 1:
        return out
    _, ind = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    same = (classes[ind[:, 1:]] == classes[:, None]).mean(1)
    for c in np.unique(classes):
        out[f"class {int(c)}"] = round(100 * float(same[classes == c].mean()), 1)
    return out


def cached_session(path, files, pparams, fparams):
    """A partitioned session with features from ``path`` when it was made with these inputs.

    Parameters
    ----------
    path : str or Path or None
        A session file written by an earlier run (``--session-cache``).
    files : list of str
        The image files, in order.
    pparams : PartitionParams
    fparams : FeatureParams

    Returns
    -------
    Session or None
        The session, unlabelled, not projected and with default projection
        parameters, or None when the file is
        missing, unreadable or made from other inputs.

    Raises
    ------
    ValueError
        The file holds classes or labels: someone's annotation session, not a
        benchmark's cache, which the benchmark would overwrite.
    """
    from dataclasses import asdict

    from ..io import SessionFileError, _absolute, load_session, session_path

    path = session_path(path) if path else None  # the name save_session gave it
    if path is None or not path.is_file():
        return None
    try:
        s = load_session(path)
    except SessionFileError:
        return None
    if s.classes or np.any(s.segment_class) or any(m.any() for m in s.class_masks):
        raise ValueError(
            f"--session-cache {path} holds {len(s.classes)} classes and labels: an annotation "
            "session, not a benchmark's cache (which is overwritten when the inputs change); "
            "give another file"
        )
    same = (
        # a stack's planes share their file: compare each file once
        [Path(p).resolve() for p in dict.fromkeys(r.path for r in s.images)]
        == [Path(f).resolve() for f in files]
        # weights files as a session file keeps them: absolute (a command names them relative)
        and _absolute(s.partition_params.to_dict(), "edge_weights")
        == _absolute(pparams.to_dict(), "edge_weights")
        and _absolute(asdict(s.feature_params), "weights") == _absolute(asdict(fparams), "weights")
        and s.features is not None
        and not np.any(s.segment_class)
    )
    if not same:
        return None
    from ..session import ProjectionParams

    s.embedding = None  # projected afresh, as in a cold run, with today's default
    s.projection_params = ProjectionParams()  # UMAP settings, not those of the cached run
    return s
