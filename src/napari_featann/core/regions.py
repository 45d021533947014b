"""The segment table: one row per segment of a collection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SegmentTable", "as_segment_ids", "offset_labels", "table_from_label_images"]


def as_segment_ids(ids, what: str = "segment ids") -> np.ndarray:
    """``ids`` as a flat int64 array, refusing what is no whole number.

    Integers (a scalar, a sequence, an array of any integer type) and floats
    that are whole numbers (``1.0``) are taken. Truncating ``1.7`` to 1, or
    NaN to -2**63, would label or merge segments that were never named, and a
    boolean mask would be read as the ids 0 and 1.

    Parameters
    ----------
    ids : int, sequence of int or ndarray
    what : str
        What ``ids`` are, to start the messages.

    Returns
    -------
    ndarray of int64, shape (n,)
        In the order given (repeats kept).

    Raises
    ------
    TypeError
        Booleans, text, None or other objects that are not numbers.
    ValueError
        Floats that are not whole numbers, NaN or infinity.

    Examples
    --------
    >>> as_segment_ids([3, 1.0]).tolist()
    [3, 1]
    >>> as_segment_ids([1.7])
    Traceback (most recent call last):
    ...
    ValueError: segment ids must be whole numbers, got [1.7]
    """
    if isinstance(ids, (set, frozenset, Iterator)):  # np.asarray would make one object of it
        ids = list(ids)
    try:
        arr = np.asarray(ids)
    except (TypeError, ValueError):  # ragged nesting
        raise TypeError(f"{what} must be integers, got {ids!r}") from None
    kind = arr.dtype.kind
    if kind == "b":
        raise TypeError(f"{what} must be integers, got booleans (for a mask of segment "
                        "rows, take segments.ids[mask])")  # fmt: skip
    if kind == "O" and arr.size:  # e.g. ints mixed with None: each must be a number
        if not all(isinstance(x, (int, float, np.integer, np.floating))
                   and not isinstance(x, bool) for x in arr.ravel()):  # fmt: skip
            raise TypeError(f"{what} must be integers, got {ids!r}")
        arr, kind = arr.astype(np.float64), "f"
    if kind == "f":
        flat = arr.ravel()
        bad = ~np.isfinite(flat) | (flat != np.round(flat)) | (np.abs(flat) >= 2.0**63)
        if bad.any():
            raise ValueError(f"{what} must be whole numbers, got {flat[bad][:10].tolist()}")
        return flat.astype(np.int64)
    if kind not in "iu" and arr.size:
        raise TypeError(f"{what} must be integers, got {ids!r}")
    return arr.astype(np.int64).ravel()


@dataclass
class SegmentTable:
    """Columns describing every segment of a collection (rows in id order of creation).

    Attributes
    ----------
    ids : ndarray, shape (n,), int64
        Segment ids, unique across the collection (never 0).
    image : ndarray, shape (n,), int32
        Index of the image holding each segment.
    bbox : ndarray, shape (n, 4), int32
        ``(row0, col0, row1, col1)``, end exclusive.
    area : ndarray, shape (n,), int64
        Pixels.
    centroid : ndarray, shape (n, 2), float32
        ``(row, col)``.
    """

    ids: np.ndarray
    image: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    centroid: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def empty(cls) -> SegmentTable:
        """A table with no rows."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros((0, 4), np.int32),
            np.zeros(0, np.int64),
            np.zeros((0, 2), np.float32),
        )

    def rows_of(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row index of each id in ``ids``.

        Raises KeyError for an unknown id, and what :func:`as_segment_ids`
        raises for ids that are no whole numbers.
        """
        ids = as_segment_ids(ids)
        order = np.argsort(self.ids, kind="stable")
        pos = np.searchsorted(self.ids, ids, sorter=order)
        pos = np.clip(pos, 0, max(len(self) - 1, 0))
        rows = order[pos] if len(self) else pos
        if len(self) == 0 or np.any(self.ids[rows] != ids):
            missing = ids[~np.isin(ids, self.ids)]
            none = "" if len(self) else " (no segments yet: partition the images first)"
            raise KeyError(f"unknown segment ids: {missing[:10].tolist()}{none}")
        return rows

    def take(self, rows: np.ndarray) -> SegmentTable:
        """A new table with the given rows (order kept)."""
        rows = np.asarray(rows)
        return SegmentTable(
            self.ids[rows], self.image[rows], self.bbox[rows], self.area[rows], self.centroid[rows]
        )

    def concat(self, other: SegmentTable) -> SegmentTable:
        """Rows of ``self`` followed by those of ``other``."""
        return SegmentTable(
            np.concatenate([self.ids, other.ids]),
            np.concatenate([self.image, other.image]),
            np.concatenate([self.bbox, other.bbox]),
            np.concatenate([self.area, other.area]),
            np.concatenate([self.centroid, other.centroid]),
        )

    def in_image(self, index: int) -> np.ndarray:
        """Row indices of the segments of image ``index``."""
        return np.flatnonzero(self.image == index)

    def to_arrays(self, prefix: str = "seg_") -> dict[str, np.ndarray]:
        """Arrays for an npz file."""
        return {
            f"{prefix}ids": self.ids,
            f"{prefix}image": self.image,
            f"{prefix}bbox": self.bbox,
            f"{prefix}area": self.area,
            f"{prefix}centroid": self.centroid,
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "seg_") -> SegmentTable:
        """Inverse of :meth:`to_arrays`."""
        return cls(
            np.asarray(arrays[f"{prefix}ids"], np.int64),
            np.asarray(arrays[f"{prefix}image"], np.int32),
            np.asarray(arrays[f"{prefix}bbox"], np.int32).reshape(-1, 4),
            np.asarray(arrays[f"{prefix}area"], np.int64),
            np.asarray(arrays[f"{prefix}centroid"], np.float32).reshape(-1, 2),
        )


def _describe(label_image: np.ndarray, ids: np.ndarray, image_index: int) -> SegmentTable:
    """Rows for the given ids of one label image (ids need not be consecutive)."""
    ids = np.asarray(ids, np.int64)
    if ids.size == 0:
        return SegmentTable.empty()
    lab = np.asarray(label_image)
    flat = lab.ravel()
    h, w = lab.shape
    mask = flat > 0
    lab_ids = flat[mask]
    uniq, inv = np.unique(lab_ids, return_inverse=True)
    pix = np.flatnonzero(mask)
    rr, cc = np.divmod(pix, w)
    k = uniq.size
    area = np.bincount(inv, minlength=k)
    r0 = np.full(k, h, np.int64)
    c0 = np.full(k, w, np.int64)
    r1 = np.zeros(k, np.int64)
    c1 = np.zeros(k, np.int64)
    np.minimum.at(r0, inv, rr)
    np.minimum.at(c0, inv, cc)
    np.maximum.at(r1, inv, rr + 1)
    np.maximum.at(c1, inv, cc + 1)
    cr = np.bincount(inv, rr, minlength=k) / np.maximum(area, 1)
    ccen = np.bincount(inv, cc, minlength=k) / np.maximum(area, 1)
    pos = np.searchsorted(uniq, ids)
    pos = np.clip(pos, 0, max(k - 1, 0))
    if k == 0 or np.any(uniq[pos] != ids):
        raise ValueError(f"segment ids absent from image {image_index}")
    return SegmentTable(
        ids.copy(),
        np.full(ids.size, image_index, np.int32),
        np.stack([r0[pos], c0[pos], r1[pos], c1[pos]], 1).astype(np.int32),
        area[pos].astype(np.int64),
        np.stack([cr[pos], ccen[pos]], 1).astype(np.float32),
    )


def describe_segments(label_image: np.ndarray, ids, image_index: int) -> SegmentTable:
    """Table rows for ``ids`` of one label image (bbox, area and centroid measured).

    Parameters
    ----------
    label_image : ndarray, shape (H, W), int
    ids : sequence of int
        Segment ids present in ``label_image``.
    image_index : int
        Stored in the ``image`` column.
    """
    return _describe(label_image, ids, image_index)


def offset_labels(local_labels: np.ndarray, offset: int) -> np.ndarray:
    """Shift labels 1..k to ``offset+1 .. offset+k``, keeping 0 as background."""
    out = np.asarray(local_labels, dtype=np.int32).copy()
    out[out > 0] += np.int32(offset)
    return out


def table_from_label_images(label_images: Sequence[np.ndarray]) -> SegmentTable:
    """Segment table of a collection of label images with collection-unique ids.

    Parameters
    ----------
    label_images : sequence of ndarray (H_i, W_i), int
        One label image per image; ids must not repeat across images.

    Returns
    -------
    SegmentTable
        Rows sorted by image, then id.
    """
    tables = []
    for i, lab in enumerate(label_images):
        ids = np.unique(lab)
        tables.append(_describe(lab, ids[ids > 0], i))
    out = SegmentTable.empty()
    for t in tables:
        out = out.concat(t)
    if np.unique(out.ids).size != out.ids.size:
        raise ValueError("segment ids repeat across images")
    return out
