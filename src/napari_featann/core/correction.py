"""Corrections of a partition: seeded split, merge, and label transfer on a re-cut.

All functions are pure: they never modify their inputs and return new arrays.
Label images follow the package convention: int32 (H, W), 0 means "no
segment", segment ids are positive and unique across a collection. Class ids
are positive ints, 0 means unlabelled.

Examples
--------
>>> import numpy as np
>>> labels = np.zeros((4, 6), np.int32)
>>> labels[:, :3], labels[:, 3:] = 1, 2
>>> merged, kept_id = merge_segments(labels, [2, 1])
>>> kept_id, int(merged.max())
(1, 1)
>>> gradient = np.zeros((4, 6), np.float32)
>>> gradient[:, 2:4] = 1.0
>>> positive = split_segment(gradient, merged, 1, positive=[(1, 0)], negative=[(1, 5)])
>>> split = apply_split(merged, 1, positive, new_id=7)
>>> split[0].tolist()
[7, 7, 7, 1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import higra as hg
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = [
    "TransferReport",
    "apply_split",
    "class_mask_from_segments",
    "merge_segments",
    "relabel_sequential_from",
    "split_segment",
    "transfer_labels",
]

_INT32_MAX = int(np.iinfo(np.int32).max)
_POSITIVE, _NEGATIVE = 1, 2


@dataclass(frozen=True)
class TransferReport:
    """What happened to the labelled old segments during a label transfer.

    Every labelled old segment is counted exactly once:
    ``kept + moved + lost`` equals the number of labelled old segments.

    Attributes
    ----------
    kept : int
        Labelled old segments that reappear identical (same pixel set) with
        the same class.
    moved : int
        Labelled old segments, not kept, whose class was given to at least one
        new segment overlapping them.
    lost : int
        Labelled old segments whose class reached no new segment overlapping
        them: the labels that could not be carried over.
    lost_ids : list of int
        The ids of the lost old segments, sorted.
    """

    kept: int = 0
    moved: int = 0
    lost: int = 0
    lost_ids: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------- split


def split_segment(
    gradient: np.ndarray,
    label_image: np.ndarray,
    segment_id: int,
    positive: Sequence[Sequence[float]],
    negative: Sequence[Sequence[float]],
) -> np.ndarray:
    """Split one segment in two with a seeded watershed on the gradient.

    The watershed runs on the 4-adjacency graph of the segment's pixels only
    (edges leaving the segment are dropped), weighted by the mean gradient of
    the two end pixels, and is computed on the segment's bounding box.

    Parameters
    ----------
    gradient : ndarray of float, shape (H, W)
        Edge strength, normally float32 in [0, 1].
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 meaning no segment.
    segment_id : int
        The segment to split; must be present in `label_image`.
    positive, negative : sequence of (row, col)
        Seed points of each side, at least one each, all inside the segment.
        Float coordinates (napari data coordinates) are rounded to the
        nearest pixel.

    Returns
    -------
    ndarray of bool, shape (H, W)
        The positive part, a subset of the segment. The rest of the segment is
        the negative part. Pixels that no seed can reach (a part of the
        segment not 4-connected to any seed) go to the negative side.

    Raises
    ------
    ValueError
        On mismatched shapes, an absent segment, a missing seed side, or a
        seed outside the segment or on both sides.
    """
    gradient, label_image = _check_gradient_and_labels(gradient, label_image)
    rows, cols = _segment_bbox(label_image, segment_id)
    pos = _check_seeds(positive, "positive", label_image, segment_id)
    neg = _check_seeds(negative, "negative", label_image, segment_id)
    both = {tuple(p) for p in pos.tolist()} & {tuple(p) for p in neg.tolist()}
    if both:
        raise ValueError(f"seed point(s) {sorted(both)} are both positive and negative")

    mask = label_image[rows, cols] == segment_id
    seeds = np.zeros(mask.shape, np.int32)
    offset = np.array([rows.start, cols.start])
    seeds[tuple((pos - offset).T)] = _POSITIVE
    seeds[tuple((neg - offset).T)] = _NEGATIVE
    side = _seeded_watershed_in_mask(gradient[rows, cols], mask, seeds)

    out = np.zeros(label_image.shape, bool)
    out[rows, cols] = side == _POSITIVE
    return out


def apply_split(
    label_image: np.ndarray, segment_id: int, positive_mask: np.ndarray, new_id: int
) -> np.ndarray:
    """Give the positive part of a segment a new id.

    Parameters
    ----------
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 meaning no segment. Not modified.
    segment_id : int
        The segment being split.
    positive_mask : ndarray of bool, shape (H, W)
        The part that gets `new_id`, as returned by :func:`split_segment`;
        a non-empty, proper subset of the segment.
    new_id : int
        A positive id not yet used in `label_image`.

    Returns
    -------
    ndarray of int32, shape (H, W)
        A new label image.

    Raises
    ------
    ValueError
        If the mask is not a non-empty proper subset of the segment, or
        `new_id` is not a free positive int32 id.
    """
    label_image = _check_labels(label_image)
    positive_mask = np.asarray(positive_mask)
    if positive_mask.shape != label_image.shape:
        raise ValueError(
            f"positive_mask shape {positive_mask.shape} != label_image shape {label_image.shape}"
        )
    positive_mask = positive_mask.astype(bool, copy=False)
    segment = label_image == segment_id
    new_id = int(new_id)
    if not 0 < new_id <= _INT32_MAX:
        raise ValueError(f"new_id must be a positive int32, got {new_id}")
    if np.any(label_image == new_id):
        raise ValueError(f"new_id {new_id} is already used in the label image")
    if np.any(positive_mask & ~segment):
        raise ValueError(f"positive_mask has pixels outside segment {segment_id}")
    n_pos, n_seg = int(positive_mask.sum()), int(segment.sum())
    if n_pos == 0 or n_pos == n_seg:
        raise ValueError(
            f"positive_mask must be a non-empty proper subset of segment {segment_id} "
            f"({n_pos} of {n_seg} pixels)"
        )
    out = label_image.astype(np.int32, copy=True)
    out[positive_mask] = new_id
    return out


# --------------------------------------------------------------------------- merge


def merge_segments(
    label_image: np.ndarray, segment_ids: Sequence[int], require_adjacent: bool = True
) -> tuple[np.ndarray, int]:
    """Merge segments into the one with the smallest id.

    Parameters
    ----------
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 meaning no segment. Not modified.
    segment_ids : sequence of int
        At least two distinct ids, all present in `label_image`.
    require_adjacent : bool, default True
        Require the segments to form one group under 4-adjacency between
        segments (each segment's own pixels need not be connected).

    Returns
    -------
    merged : ndarray of int32, shape (H, W)
        A new label image.
    target_id : int
        The id the merged segment keeps (the smallest given).

    Raises
    ------
    ValueError
        On fewer than two distinct ids, an id that is absent, or, when
        `require_adjacent`, segments that do not touch the others.
    """
    label_image = _check_labels(label_image)
    ids = np.unique(np.asarray(segment_ids, dtype=np.int64).ravel())
    if ids.size < 2:
        raise ValueError(f"need at least two distinct segment ids to merge, got {ids.tolist()}")
    selected = np.isin(label_image, ids)
    missing = np.setdiff1d(ids, label_image[selected])
    if ids[0] <= 0 or missing.size:
        bad = sorted(set(missing.tolist()) | set(ids[ids <= 0].tolist()))
        raise ValueError(f"segment ids {bad} are not in the label image")
    if require_adjacent:
        groups = _adjacency_groups(label_image, ids)
        if len(groups) > 1:
            desc = "; ".join(str(g) for g in groups)
            raise ValueError(
                f"segments are not adjacent: they form {len(groups)} separate groups ({desc})"
            )
    target = int(ids[0])
    merged = label_image.astype(np.int32, copy=True)
    merged[selected] = target
    return merged, target


# --------------------------------------------------------------------------- transfer


def class_mask_from_segments(
    label_image: np.ndarray, class_of_segment: Mapping[int, int]
) -> np.ndarray:
    """Paint each segment's class onto its pixels.

    Parameters
    ----------
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 meaning no segment.
    class_of_segment : mapping of int to int
        Class per segment id. Ids missing from the mapping, and id 0, are
        unlabelled; keys absent from the image (other images of the
        collection) are ignored.

    Returns
    -------
    ndarray of int32, shape (H, W)
        Class per pixel, 0 meaning unlabelled.

    Examples
    --------
    >>> labels = np.array([[1, 1, 2], [0, 3, 3]], np.int32)
    >>> class_mask_from_segments(labels, {1: 5, 3: 2, 99: 1}).tolist()
    [[5, 5, 0], [0, 2, 2]]
    """
    label_image = _check_labels(label_image)
    items = sorted((int(k), int(v)) for k, v in class_of_segment.items() if int(k) != 0)
    if not items:
        return np.zeros(label_image.shape, np.int32)
    keys = np.array([k for k, _ in items], np.int64)
    values = np.array([v for _, v in items], np.int64)
    if np.any(values < 0):
        raise ValueError("class ids must be >= 0")
    idx = np.minimum(np.searchsorted(keys, label_image), keys.size - 1)
    found = keys[idx] == label_image
    return np.where(found, values[idx], 0).astype(np.int32)


def transfer_labels(
    old_label_image: np.ndarray,
    old_classes: Mapping[int, int] | np.ndarray,
    new_label_image: np.ndarray,
    min_fraction: float = 0.5,
) -> tuple[dict[int, int], TransferReport]:
    """Carry class labels from a partition to a re-cut of the same image by overlap.

    A new segment takes the class covering most of its labelled pixels, when
    that class covers at least `min_fraction` of the new segment's whole area
    (equal counts go to the smaller class id).

    Parameters
    ----------
    old_label_image : ndarray of int, shape (H, W)
        The old segment ids, 0 meaning no segment.
    old_classes : mapping of int to int, or ndarray of int, shape (H, W)
        Class per old segment id (see :func:`class_mask_from_segments`), or
        directly a class per pixel, 0 meaning unlabelled. With a pixel mask,
        an old segment's class is the majority among its labelled pixels.
    new_label_image : ndarray of int, shape (H, W)
        The new segment ids, 0 meaning no segment.
    min_fraction : float, default 0.5
        Share of a new segment's area, in [0, 1], its class must cover.

    Returns
    -------
    new_class_of_segment : dict of int to int
        Class per labelled new segment; unlabelled new segments are absent.
    report : TransferReport
        How many labelled old segments were kept, moved or lost.

    Examples
    --------
    >>> old = np.array([[1, 1, 2, 2]], np.int32)
    >>> new = np.array([[3, 4, 4, 5]], np.int32)
    >>> classes, report = transfer_labels(old, {1: 1, 2: 2}, new)
    >>> classes
    {3: 1, 4: 1, 5: 2}
    >>> report
    TransferReport(kept=0, moved=2, lost=0, lost_ids=[])
    """
    old_label_image = _check_labels(old_label_image, "old_label_image")
    new_label_image = _check_labels(new_label_image, "new_label_image")
    if new_label_image.shape != old_label_image.shape:
        raise ValueError(
            f"new_label_image shape {new_label_image.shape} != "
            f"old_label_image shape {old_label_image.shape}"
        )
    if not 0.0 <= float(min_fraction) <= 1.0:
        raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction}")
    if isinstance(old_classes, Mapping):
        class_mask = class_mask_from_segments(old_label_image, old_classes)
    else:
        class_mask = _check_labels(old_classes, "class mask")
        if class_mask.shape != old_label_image.shape:
            raise ValueError(
                f"class mask shape {class_mask.shape} != label image shape {old_label_image.shape}"
            )
        if class_mask.min(initial=0) < 0:
            raise ValueError("class ids in the class mask must be >= 0")

    new_ids, new_class = _majority_class(new_label_image, class_mask, float(min_fraction))
    result = {int(i): int(c) for i, c in zip(new_ids, new_class) if i != 0 and c != 0}
    report = _transfer_report(old_label_image, class_mask, new_label_image, new_ids, new_class)
    return result, report


def relabel_sequential_from(
    label_image: np.ndarray, start: int = 1
) -> tuple[np.ndarray, dict[int, int]]:
    """Renumber the segments ``start, start + 1, ...`` in increasing order of old id.

    Useful to give the segments of a re-cut ids that are unique in a collection.

    Parameters
    ----------
    label_image : ndarray of int, shape (H, W)
        Segment ids, 0 meaning no segment (kept as 0). Not modified.
    start : int, default 1
        The first new id, positive.

    Returns
    -------
    relabelled : ndarray of int32, shape (H, W)
        A new label image.
    mapping : dict of int to int
        Old id to new id, for every non-zero old id.

    Examples
    --------
    >>> out, mapping = relabel_sequential_from(np.array([[0, 7, 3]], np.int32), start=10)
    >>> out.tolist(), mapping
    ([[0, 11, 10]], {3: 10, 7: 11})
    """
    label_image = _check_labels(label_image)
    start = int(start)
    if start <= 0:
        raise ValueError(f"start must be positive, got {start}")
    ids, inverse = np.unique(label_image, return_inverse=True)
    nonzero = ids[ids != 0]
    if start + nonzero.size - 1 > _INT32_MAX:
        raise ValueError(f"ids from {start} for {nonzero.size} segments overflow int32")
    lut = np.zeros(ids.size, np.int64)
    lut[ids != 0] = np.arange(start, start + nonzero.size)
    out = lut[inverse.reshape(label_image.shape)].astype(np.int32)
    mapping = {int(o): int(n) for o, n in zip(nonzero, lut[ids != 0])}
    return out, mapping


# --------------------------------------------------------------------------- helpers


def _check_labels(label_image: np.ndarray, name: str = "label_image") -> np.ndarray:
    arr = np.asarray(label_image)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must have an integer dtype, got {arr.dtype}")
    return arr


def _check_gradient_and_labels(
    gradient: np.ndarray, label_image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    label_image = _check_labels(label_image)
    gradient = np.asarray(gradient)
    if gradient.shape != label_image.shape:
        raise ValueError(
            f"gradient shape {gradient.shape} != label_image shape {label_image.shape}"
        )
    if not np.issubdtype(gradient.dtype, np.floating):
        raise ValueError(f"gradient must be floating point, got {gradient.dtype}")
    return gradient, label_image


def _segment_bbox(label_image: np.ndarray, segment_id: int) -> tuple[slice, slice]:
    rows = np.flatnonzero(np.any(label_image == segment_id, axis=1)) if segment_id else []
    if len(rows) == 0:
        raise ValueError(f"segment {segment_id} is not in the label image")
    band = label_image[rows[0] : rows[-1] + 1] == segment_id
    cols = np.flatnonzero(np.any(band, axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _check_seeds(
    points: Sequence[Sequence[float]], side: str, label_image: np.ndarray, segment_id: int
) -> np.ndarray:
    """Round seed points to pixels, check they are in the segment; (n, 2) int64."""
    if points is None:
        raise ValueError(f"at least one {side} seed is required")
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"at least one {side} seed is required")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{side} seeds must be (row, col) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{side} seeds must be finite, got {arr.tolist()}")
    pixels = np.rint(arr).astype(np.int64)
    height, width = label_image.shape
    for point, (r, c) in zip(arr.tolist(), pixels.tolist()):
        if not (0 <= r < height and 0 <= c < width and label_image[r, c] == segment_id):
            raise ValueError(
                f"{side} seed {tuple(point)} (pixel ({r}, {c})) is not inside segment {segment_id}"
            )
    return pixels


def _seeded_watershed_in_mask(
    gradient: np.ndarray, mask: np.ndarray, seeds: np.ndarray
) -> np.ndarray:
    """Seeded watershed on the 4-adjacency graph of ``mask``'s pixels; 0 where unreached."""
    height, width = mask.shape
    index = np.arange(height * width).reshape(height, width)
    src = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    dst = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    flat_mask, flat_grad = mask.ravel(), gradient.ravel().astype(np.float64)
    inside = flat_mask[src] & flat_mask[dst]
    src, dst = src[inside], dst[inside]
    graph = hg.UndirectedGraph(height * width)
    graph.add_edges(src, dst)
    weights = 0.5 * (flat_grad[src] + flat_grad[dst])
    side = hg.labelisation_seeded_watershed(graph, weights, seeds.ravel())
    return np.asarray(side).reshape(height, width)


def _adjacency_groups(label_image: np.ndarray, ids: np.ndarray) -> list[list[int]]:
    """Groups of ``ids`` that are connected under 4-adjacency between segments."""
    selected = np.isin(label_image, ids)
    pairs = []
    for a, b, sel_a, sel_b in (
        (label_image[:, :-1], label_image[:, 1:], selected[:, :-1], selected[:, 1:]),
        (label_image[:-1, :], label_image[1:, :], selected[:-1, :], selected[1:, :]),
    ):
        touching = sel_a & sel_b & (a != b)
        pairs.append(np.stack([a[touching], b[touching]], axis=1))
    pairs = np.concatenate(pairs)
    u = np.searchsorted(ids, pairs[:, 0])
    v = np.searchsorted(ids, pairs[:, 1])
    adjacency = sparse.coo_matrix((np.ones(u.size), (u, v)), shape=(ids.size, ids.size))
    n_groups, group = csgraph.connected_components(adjacency, directed=False)
    return [ids[group == g].tolist() for g in range(n_groups)]


def _joint_histogram(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts per (a value, b value): a ids, b ids, counts of shape (n_a, n_b)."""
    a_ids, a_inv = np.unique(a.ravel(), return_inverse=True)
    b_ids, b_inv = np.unique(b.ravel(), return_inverse=True)
    flat = a_inv.ravel().astype(np.int64) * b_ids.size + b_inv.ravel()
    counts = np.bincount(flat, minlength=a_ids.size * b_ids.size)
    return a_ids, b_ids, counts.reshape(a_ids.size, b_ids.size)


def _majority_class(
    label_image: np.ndarray, class_mask: np.ndarray, min_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment id of ``label_image``: the class won by majority, 0 if none qualifies."""
    seg_ids, cls_ids, counts = _joint_histogram(label_image, class_mask)
    area = counts.sum(axis=1)
    labelled = cls_ids != 0
    winner = np.zeros(seg_ids.size, np.int64)
    if labelled.any():
        votes = counts[:, labelled]
        best = votes.argmax(axis=1)
        best_count = votes[np.arange(seg_ids.size), best]
        ok = (best_count > 0) & (best_count >= min_fraction * area)
        winner[ok] = cls_ids[labelled][best[ok]]
    return seg_ids, winner


def _transfer_report(
    old_labels: np.ndarray,
    class_mask: np.ndarray,
    new_labels: np.ndarray,
    new_ids: np.ndarray,
    new_class: np.ndarray,
) -> TransferReport:
    """Count kept / moved / lost labelled old segments from (old, new) overlaps."""
    old_ids, old_class = _majority_class(old_labels, class_mask, 0.0)
    is_labelled = (old_ids != 0) & (old_class != 0)
    if not is_labelled.any():
        return TransferReport()
    # Overlaps between old and new segments, as sparse (old, new, count) triples.
    old_inv = np.searchsorted(old_ids, old_labels.ravel())
    new_inv = np.searchsorted(new_ids, new_labels.ravel())
    pair_keys, pair_counts = np.unique(
        old_inv.astype(np.int64) * new_ids.size + new_inv, return_counts=True
    )
    o, n = np.divmod(pair_keys, new_ids.size)
    old_area = np.bincount(old_inv, minlength=old_ids.size)
    new_area = np.bincount(new_inv, minlength=new_ids.size)
    valid = (old_ids[o] != 0) & (new_ids[n] != 0) & is_labelled[o]
    carried = valid & (new_class[n] == old_class[o])
    identical = carried & (pair_counts == old_area[o]) & (pair_counts == new_area[n])

    kept = np.zeros(old_ids.size, bool)
    kept[o[identical]] = True
    reached = np.zeros(old_ids.size, bool)
    reached[o[carried]] = True
    moved = reached & ~kept
    lost = is_labelled & ~reached
    return TransferReport(
        kept=int(kept.sum()),
        moved=int(moved.sum()),
        lost=int(lost.sum()),
        lost_ids=[int(i) for i in old_ids[lost]],
    )
