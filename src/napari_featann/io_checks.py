"""Consistency checks of a session read from a file, before it is handed out.

A file edited by hand, written by another tool or damaged can hold arrays
that do not agree with each other: labels of classes it does not define, a
``next_id`` that new segments would share with old ones, an embedding shorter
than the segment table, segments missing from their label image, a table whose
area or box of a segment is not that of its pixels. Loaded as they are, such
files fail much later, or silently do the wrong thing (a new class takes over
the orphan labels, a split makes two segments of one id, crops and features
are cut from the wrong box, the benchmarks count wrong areas).
:func:`check_meta` and :func:`check_session` refuse them instead
(:class:`~napari_featann.io.SessionFileError`, naming the file and the
problem); nothing is repaired, so nothing is lost without a word.

The checks read each array once or twice, and the segments' areas and boxes
are measured on the runs of equal pixels along the rows (a few thousand per
image): about 30 milliseconds for a session of 67 DAVIS frames (27 million
pixels, 6700 segments; 10 of them for the areas and boxes), whose reading
takes about 0.9 seconds.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["OLD_FEATURES", "check_meta", "check_params", "check_session"]

#: Feature parameters a session file may lack, as the version that wrote it used them:
#: files from before context features hold crop-only features (``context`` false), files
#: from before their settings hold the two deepest maps of a pass at the image's own size,
#: weighted by the finest map's cells. New segments of such a session get features made the
#: same way, comparable to the stored ones.
OLD_FEATURES = {"context": False, "context_levels": 2, "context_scale": 1.0,
                "context_weight": "finest"}  # fmt: skip


def _error(path, text: str):
    from .io import SessionFileError

    return SessionFileError(f"{path} {text}")


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_meta(meta: dict, path) -> None:
    """The values of the JSON document that are used as they are: ``next_id`` and
    ``n_label_images`` must be whole numbers (``int()`` made 3.7 into 3, "301" into 301)."""
    for key, low in (("next_id", 1), ("n_label_images", 0)):
        if key not in meta:
            raise _error(path, f"is corrupted: it has no {key}")
        value = meta[key]
        if not _whole(value) or value < low:
            raise _error(path, f"is corrupted: its {key} is {value!r}, not a whole number "
                               f">= {low}")  # fmt: skip
    n_images, n_labels = len(meta["images"]), meta["n_label_images"]
    if n_labels not in (0, n_images):
        raise _error(path, f"is inconsistent: it has {n_labels} label images for {n_images} "
                           "images (all of them, or none before the images are partitioned)")  # fmt: skip


def check_params(params: dict, path, PartitionParams, FeatureParams, ProjectionParams):
    """The three parameter sets of a file, built and validated (a bad value, such as the
    criterion ``"bogus"``, failed only when it was used)."""
    made = []
    for name, build in (
        ("partition", lambda d: PartitionParams.from_dict(d)),
        ("features", lambda d: FeatureParams(**{**OLD_FEATURES, **d})),  # older files
        ("projection", lambda d: ProjectionParams(**d)),
    ):
        entry = params[name]
        if not isinstance(entry, dict):
            raise _error(path, f"is corrupted: its {name} parameters are {entry!r}, not a record")
        try:
            made.append(build(entry).validate())
        except (TypeError, ValueError) as exc:
            raise _error(path, f"holds invalid {name} parameters: {exc}") from None
    return made


def check_session(s, path) -> None:
    """Every array of the session ``s`` (just read from ``path``) agrees with the others.

    * label images: none (not partitioned, then no segments) or one per image;
      every per-image array has its image's shape;
    * the segment table's columns, ``segment_class``, ``features``,
      ``embedding`` and ``refined_features`` have one row per segment;
    * segment ids are positive and unique, each row's image exists, and each
      label image holds exactly the ids of its image's rows (0 allowed);
    * each segment's ``area`` and ``bbox`` (row0, col0, row1, col1, ends
      exclusive) in the table are those of its pixels in its label image;
    * ``next_id`` is above every id (new segments take ids from it);
    * every class id in ``segment_class`` and in the class masks is a class
      of the file (else the next class added takes those labels over).
    """
    _check_images(s, path)
    _check_rows(s, path)
    _check_ids(s, path)
    _check_classes(s, path)


def _check_images(s, path) -> None:
    if s.label_images and len(s.label_images) != s.n_images:
        raise _error(path, f"is inconsistent: {len(s.label_images)} label images for "
                           f"{s.n_images} images")  # fmt: skip
    for i, rec in enumerate(s.images):
        arrays = [s.class_masks[i], s.manual_masks[i]]
        arrays += [s.label_images[i]] if s.label_images else []
        arrays += [s.gradients[i]] if s.gradients[i] is not None else []
        if any(a.shape != rec.shape2d for a in arrays):
            raise _error(path, f"is inconsistent: the masks of image {rec.name!r} do not have "
                               f"its shape {rec.shape2d}")  # fmt: skip


def _check_rows(s, path) -> None:
    seg = s.segments
    n = len(seg)
    columns = {"seg_image": seg.image, "seg_bbox": seg.bbox, "seg_area": seg.area,
               "seg_centroid": seg.centroid, "segment_class": s.segment_class}  # fmt: skip
    for name, a in columns.items():
        if len(a) != n:
            raise _error(path, f"is inconsistent: {name} has {len(a)} rows for {n} segments")
    per_row = {"features": (s.features, None), "embedding": (s.embedding, 2),
               "refined_features": (s.refined_features, None)}  # fmt: skip
    for name, (a, width) in per_row.items():
        if a is None:
            continue
        if a.ndim != 2 or len(a) != n or (width is not None and a.shape[1] != width):
            want = f"({n}, {width})" if width else f"{n} rows"
            raise _error(path, f"is inconsistent: {name} has the shape {a.shape} for {n} "
                               f"segments ({want} expected)")  # fmt: skip
    if n and not s.label_images:
        raise _error(path, f"is inconsistent: it has {n} segments but no label images")


def _check_ids(s, path) -> None:
    seg, n = s.segments, len(s.segments)
    if n:
        if seg.ids.min() < 1:
            raise _error(path, f"is corrupted: segment id {int(seg.ids.min())} (ids start at 1)")
        if np.unique(seg.ids).size != n:
            ids, counts = np.unique(seg.ids, return_counts=True)
            raise _error(path, f"is corrupted: segment ids {ids[counts > 1][:5].tolist()} "
                               "are in its table more than once")  # fmt: skip
        bad = (seg.image < 0) | (seg.image >= s.n_images)
        if bad.any():
            raise _error(path, f"is corrupted: segment {int(seg.ids[bad][0])} is in image "
                               f"{int(seg.image[bad][0])}, of {s.n_images} images")  # fmt: skip
    top = int(seg.ids.max()) if n else 0
    order = np.argsort(seg.image, kind="stable")
    bounds = np.searchsorted(seg.image[order], np.arange(s.n_images + 1))
    for i, lab in enumerate(s.label_images):
        name = s.images[i].name
        starts, values = _runs(lab)
        if values.size and values.min() < 0:
            raise _error(path, f"is corrupted: the label image of {name!r} holds the negative "
                               f"segment id {int(values.min())}")  # fmt: skip
        have = _ids_in(values)
        top = max(top, int(have[-1]) if have.size else 0)
        rows = order[bounds[i] : bounds[i + 1]]
        rows = rows[np.argsort(seg.ids[rows], kind="stable")]  # in id order, as have
        want = seg.ids[rows]
        if not np.array_equal(want, have):
            lost = np.setdiff1d(want, have)[:5].tolist()
            extra = np.setdiff1d(have, want)[:5].tolist()
            what = [f"segments {lost} of its table are not in it"] if lost else []
            what += [f"it holds segment ids {extra} that its table has not"] if extra else []
            raise _error(path, f"is inconsistent: the label image of {name!r} does not match "
                               f"the segment table: {'; '.join(what)}")  # fmt: skip
        _check_geometry(seg, rows, lab.shape, starts, values, name, path)
    if s.next_id <= top:
        raise _error(path, f"is inconsistent: its next_id {s.next_id} is not above the largest "
                           f"segment id {top} (new segments would take ids in use)")  # fmt: skip


def _runs(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal pixels along a row of a label image starts (flat indices,
    row-major; a run never goes on into the next row) and its value: every value the image
    holds, and its segments' pixels, in a few thousand numbers instead of a million
    (segments are runs of pixels along the rows), so that the counts below are quick."""
    lab = np.ascontiguousarray(lab)
    flat = lab.reshape(-1)
    if not flat.size:
        return np.zeros(0, np.intp), flat
    starts = np.empty(flat.size, bool)
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts[:: lab.shape[1]] = True  # every row starts a run (flat[0] included)
    starts = np.flatnonzero(starts)
    return starts, flat[starts]


def _check_geometry(seg, rows, shape, starts, values, name: str, path) -> None:
    """The table's ``area`` and ``bbox`` (row0, col0, row1, col1; ends exclusive) of ``rows``
    (the segments of one label image, in id order) are those of its pixels, measured on the
    runs of :func:`_runs` (crops, features and the benchmarks' scores are read from them)."""
    if not rows.size:
        return
    w = shape[1]
    ends = np.append(starts[1:], shape[0] * w)  # a run ends where the next one starts
    inside = values > 0
    starts, ends, values = starts[inside], ends[inside], values[inside]
    ids, k = seg.ids[rows], rows.size
    # which segment of rows each run is (every value is one of their ids: checked above)
    lo, hi = int(ids[0]), int(ids[-1])
    if hi - lo <= 4 * values.size + 65536:  # a look-up, quicker than a search
        lut = np.zeros(hi - lo + 1, np.intp)
        lut[ids - lo] = np.arange(k)
        which = lut[values - lo]
    else:
        which = np.searchsorted(ids, values)
    # per segment, its runs in memory order (a radix sort of 16-bit numbers: linear)
    by = np.argsort(which.astype(np.uint16) if k <= 65536 else which, kind="stable")
    first = np.searchsorted(which[by], np.arange(k))
    last = np.append(first[1:], by.size) - 1
    length = ends - starts
    area = np.bincount(which, weights=length, minlength=k).astype(np.int64)
    r, c = np.divmod(starts[by], w)
    box = np.stack([r[first], np.minimum.reduceat(c, first), r[last] + 1,
                    np.maximum.reduceat(c + length[by], first)], 1)  # fmt: skip
    bad_area = seg.area[rows] != area
    bad_box = (seg.bbox[rows] != box).any(1)
    if not (bad_area.any() or bad_box.any()):
        return
    what = []
    for bad, name_of, told, measured, unit in (
        (bad_area, "area", seg.area[rows], area, " pixels"),
        (bad_box, "bounding box (row0, col0, row1, col1)", seg.bbox[rows], box, ""),
    ):
        if bad.any():
            few = np.flatnonzero(bad)[:3]
            show = [f"{ids[j]}: {_plain(told[j])}{unit} in the table, {_plain(measured[j])} "
                    "in the image" for j in few]  # fmt: skip
            what.append(f"segments {ids[bad][:5].tolist()} have another {name_of} in the "
                        f"table than in the image ({'; '.join(show)})")  # fmt: skip
    raise _error(path, f"is inconsistent: the segment table does not match the label image "
                       f"of {name!r}: {'; '.join(what)}")  # fmt: skip


def _plain(value) -> str:
    """A number, or a row of them, as plain Python writes it: ``12``, ``(0, 4, 10, 16)``."""
    value = np.asarray(value).tolist()
    return str(tuple(value) if isinstance(value, list) else value)


def _ids_in(values: np.ndarray) -> np.ndarray:
    """The distinct values > 0 of ``values`` (not negative), sorted, as int64."""
    if not values.size:
        return np.zeros(0, np.int64)
    top = int(values.max())
    if top <= 4 * values.size + 65536:  # a count, quicker than np.unique's sort
        ids = np.flatnonzero(np.bincount(values, minlength=top + 1))
    else:
        ids = np.unique(values)
    return ids[ids > 0].astype(np.int64)


def _check_classes(s, path) -> None:
    known = np.zeros(256, bool)
    known[0] = True
    known[list(s.classes)] = True
    found: dict[int, list[str]] = {}
    sc = s.segment_class
    if sc.size:
        values, counts = np.unique(sc, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist()):
            if not 0 <= v <= 255 or not known[v]:
                found.setdefault(v, []).append(f"{c} segments")
    allowed = bytes(np.flatnonzero(known).tolist())
    for rec, mask in zip(s.images, s.class_masks):
        top = int(mask.max()) if mask.size else 0
        if known[: top + 1].all():  # all values are classes (or unlabelled): no count needed
            continue
        # the bytes left when those of the classes are deleted: ten times quicker than a count
        if not mask.tobytes().translate(None, allowed):
            continue
        counts = np.bincount(mask.ravel(), minlength=256)
        for v in np.flatnonzero((counts > 0) & ~known).tolist():
            found.setdefault(v, []).append(f"{counts[v]} pixels of image {rec.name!r}")
    if found:
        defined = sorted(s.classes) or "none"
        where = "; ".join(f"class {v}: {', '.join(w[:3])}{', ...' if len(w) > 3 else ''}"
                          for v, w in sorted(found.items()))  # fmt: skip
        raise _error(path, f"is inconsistent: it labels segments or pixels with classes it "
                           f"does not define ({where}); its classes are {defined}")  # fmt: skip
