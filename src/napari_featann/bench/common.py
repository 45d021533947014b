"""Shared pieces of the benchmarks: masks by stem, majority labels, IoU scores, and the
checks of their inputs, made before any costly work."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..checks import probe_writable
from ..core.images import ImageLoadError, list_image_files, load_collection, read_planes

__all__ = [
    "cached_session",
    "check_images",
    "check_masks",
    "check_output_file",
    "check_weights",
    "context_settings",
    "iou_score",
    "load_masks_for",
    "majority_labels",
    "neighbour_agreement",
    "partitioned_session",
    "scoring",
    "setup_session",
    "summarise",
]

LOSSY = (".jpg", ".jpeg")  # mask files in these formats get values that were never drawn


def warn(message: str) -> None:
    """A warning on stderr (the benchmark goes on)."""
    print(f"featann: warning: {message}", file=sys.stderr)


def load_masks_for(image_paths, mask_dir) -> list[np.ndarray]:
    """Ground-truth masks matched to images by file stem, one per image or stack plane.

    A stack's mask is a stack of as many planes (its planes follow each other
    in the list, as the image's planes do in a session). Warns on stderr when a
    mask file is a JPEG (lossy) or a mask looks binary but holds other values
    (:func:`nearly_binary`): it is then scored as multi-class.

    Raises
    ------
    ValueError
        ``mask_dir`` is not a folder, naming every image that has no mask, or
        the mask that cannot be read.
    """
    if not Path(mask_dir).is_dir():
        exists = Path(mask_dir).exists()  # a file: the mask of one image, or a typo
        why = "is a file; give the folder of the masks" if exists else "no such folder"
        raise ValueError(f"--masks {mask_dir}: {why}")
    masks = {p.stem: p for p in list_image_files(mask_dir)}
    out, problems, nearly = [], [], []
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
            if nearly_binary(out[-1]) and masks[p.stem] not in nearly:
                nearly.append(masks[p.stem])
    if problems:
        raise ValueError("missing ground truth: " + "; ".join(problems))
    used = [masks[Path(p).stem] for p in image_paths]
    lossy = [m for m in used if m.suffix.lower() in LOSSY]
    if lossy:
        warn(f"{len(lossy)} mask file(s) are JPEG, a lossy format that adds values never "
             f"drawn (e.g. {lossy[0]}): a binary mask then holds many values and is scored "
             "as multi-class; save masks as PNG or TIFF")  # fmt: skip
    if nearly:
        warn(f"{len(nearly)} mask(s) look binary (over 99% of the pixels at or near two values) "
             f"but hold other values too (e.g. {nearly[0]}): they are scored as multi-class, each "
             "value a class")  # fmt: skip
    return out


def nearly_binary(mask: np.ndarray) -> bool:
    """Whether a mask that is not binary looks like a damaged binary one (the grey edges
    and noise of a binary mask saved as JPEG or resized smoothly): it holds six values or
    more, and over 99% of its pixels are at or near (within a tenth of their distance)
    its two most frequent values."""
    values, counts = np.unique(mask, return_counts=True)
    if values.size < 6:
        return False
    a, b = values[np.argsort(counts)[-2:]].astype(float)
    tol = 0.1 * abs(b - a)
    near = (np.abs(values - a) <= tol) | (np.abs(values - b) <= tol)
    return counts[near].sum() > 0.99 * mask.size


def scoring(gts, per_mask: bool) -> dict:
    """How the masks are scored, for the JSON: ``scoring`` and ``n_classes``.

    ``per_mask``: each mask is binary or not on its own (the oracle), else all masks
    are binary or none is (the robot).
    """
    binary = [is_binary(g) for g in gts]
    if all(binary):
        return {"scoring": "binary foreground IoU", "n_classes": 2}
    values = np.unique(np.concatenate([np.unique(g) for g in gts]))
    how = "multi-class mean IoU"
    if per_mask and any(binary):
        how = (f"binary foreground IoU ({sum(binary)} masks), multi-class mean IoU "
               f"({binary.count(False)} masks)")  # fmt: skip
    return {"scoring": how, "n_classes": int(values.size)}


def check_masks(records, gts) -> None:
    """Raise ValueError unless every image (or plane) has a mask of its shape."""
    if len(records) != len(gts):
        raise ValueError(f"{len(records)} images or planes but {len(gts)} masks or mask planes")
    for rec, gt in zip(records, gts):
        if rec.shape2d != gt.shape:
            where = f" ({rec.path})" if rec.path else ""
            raise ValueError(
                f"{rec.name}: mask shape {gt.shape} differs from image {rec.shape2d}{where}"
            )


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
    if not p.exists():
        raise ValueError(f"--images {p}: no such file or folder")
    files = list_image_files(p) if p.is_dir() else [p]
    if not files:
        raise ValueError(f"no PNG, JPEG or TIFF images in {p}")
    return files


def context_settings(fparams) -> dict:
    """The context settings of a benchmark's features, for its JSON result.

    ``context_levels``, ``context_scale`` and ``context_weight`` of ``fparams``
    (a FeatureParams), all None when the features have no context part.
    """
    on = bool(fparams.context)
    return {"context_levels": int(fparams.context_levels) if on else None,
            "context_scale": float(fparams.context_scale) if on else None,
            "context_weight": str(fparams.context_weight) if on else None}  # fmt: skip


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
        parameters, or None when the file is missing or made from other inputs
        (the benchmark then writes its cache there).

    Raises
    ------
    ValueError
        The file exists but is not a readable session (damaged, foreign, or its
        images gone), or it holds classes or labels: someone's annotation
        session. Either way not a cache the benchmark may overwrite.
    """
    from dataclasses import asdict

    from ..io import SessionFileError, _absolute, load_session, session_path

    path = session_path(path) if path else None  # the name save_session gave it
    if path is None or not path.exists():
        return None
    try:
        s = load_session(path)
    except SessionFileError as exc:
        raise ValueError(  # the reason names the file
            f"--session-cache: {exc}; the file is left as it is: remove it to rebuild the "
            "cache there, or give another file"
        ) from None
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


def check_output_file(option: str, path) -> Path:
    """``path`` when a file can be written there; else ValueError naming ``option``.

    Checked before a benchmark's work, not after it: the path must not be a
    folder, and its folder must exist and take a new file.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{option} {p} is a folder; give a file name")
    folder = p.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {p}: the folder {folder} does not exist")
    try:
        probe_writable(folder)
    except OSError as exc:
        raise ValueError(f"{option} {p}: cannot write in {folder} ({exc.strerror})") from None
    return p


def check_weights(pparams, fparams=None) -> None:
    """Refuse (WeightsError, naming the option) a weights file that is missing or is no
    PyTorch checkpoint, before any work (the CLI's parameters were checked so already)."""
    from ..ml.errors import check_weights_file

    named = [("--edge-weights", pparams.edge_weights)]
    if fparams is not None and fparams.weights != "random":
        named.append(("--weights", fparams.weights))
    for option, path in named:
        if path:
            check_weights_file(path, option)


def _refuse_unreadable(failures: dict) -> None:
    if failures:
        raise ValueError(
            f"{len(failures)} image(s) cannot be read (a benchmark runs on every image it is "
            "given; remove or replace them): "
            + "; ".join(f"{src}: {why}" for src, why in failures.items())
        )


def check_images(files, gts=None) -> None:
    """Read the images one at a time: ValueError naming every unreadable one and, with
    ``gts`` (one mask per image or plane), every mask of another size."""
    records_seen, failures, problems = 0, {}, []
    for path in files:
        try:
            records, _ = load_collection([path])
        except ImageLoadError as exc:
            failures.update(exc.failures or {str(path): str(exc)})
            continue
        if gts is not None:
            masks = gts[records_seen : records_seen + len(records)]
            try:
                check_masks(records, masks)
            except ValueError as exc:
                problems.append(str(exc))
        records_seen += len(records)
    _refuse_unreadable(failures)
    if problems:
        raise ValueError("masks do not fit their images: " + "; ".join(problems))
    if gts is not None and records_seen != len(gts):
        raise ValueError(f"{records_seen} images or planes but {len(gts)} masks or mask planes")


def partitioned_session(images, params, feature_params=None, limit=None, progress=None,
                        gts=None):  # fmt: skip
    """A session over the (first ``limit``) images of a folder (or the files), partitioned.

    Checked first: no image may be unreadable, ``gts`` (when given) must hold one mask
    of its size per image or plane, and with ``feature_params`` the backbone is loaded
    (a bad weights file is refused before the partition, not after it).
    """
    from ..session import Session

    files = images if isinstance(images, list) else image_files(images)[:limit]
    try:
        records, failures = load_collection(files)
    except ImageLoadError as exc:
        failures = exc.failures or {str(files): str(exc)}
    _refuse_unreadable(failures)
    if gts is not None:
        check_masks(records, gts)
    s = Session(records)
    s.partition_params = params
    if feature_params is not None:
        s.feature_params = feature_params
        s.check_extractor(progress)
    s.partition(progress)
    return s


def setup_session(images, masks, pparams, fparams, limit=None, cache=None, progress=None,
                  binary: str | None = None):  # fmt: skip
    """The partitioned session, with features, of a benchmark on images with ground truth.

    Every input is checked before the costly work: ``cache`` (``--session-cache``)
    must be a writable file name and, when it exists, a readable session; the
    images must exist and be readable; the weights files must exist; every image
    needs a mask of its size, and a binary one when ``binary`` (the option that
    needs it) is given.

    Returns
    -------
    session, gts, from_cache, seconds
        ``gts`` one mask per image or plane; ``seconds`` of the partition and of
        the features (0 from the cache).
    """
    from ..io import save_session, session_path

    cache = check_output_file("--session-cache", session_path(cache)) if cache else None
    files = image_files(images)[:limit]
    check_weights(pparams, fparams)
    gts = load_masks_for(files, masks)
    if binary and not all(is_binary(g) for g in gts):
        raise ValueError(f"{binary} needs binary masks (foreground against background)")
    t0 = time.perf_counter()
    session = cached_session(cache, files, pparams, fparams)
    if session is not None:
        check_masks(session.images, gts)
        return session, gts, True, (0.0, 0.0)
    session = partitioned_session(files, pparams, fparams, progress=progress, gts=gts)
    t1 = time.perf_counter()
    session.extract_features(progress)
    t2 = time.perf_counter()
    if cache:
        save_session(session, cache)
        print(f"featann: session cache written to {cache}", file=sys.stderr)  # (name + .featann)
    return session, gts, False, (t1 - t0, t2 - t1)
