"""The segment table: one row per segment of a collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SegmentTable", "offset_labels", "table_from_label_images"]


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
        """Row index of each id in ``ids``; raises KeyError for an unknown id."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        order = np.argsort(self.ids, kind="stable")
        pos = np.searchsorted(self.ids, ids, sorter=order)
        pos = np.clip(pos, 0, max(len(self) - 1, 0))
        rows = order[pos] if len(self) else pos
        if len(self) == 0 or np.any(self.ids[rows] != ids):
            missing = ids[~np.isin(ids, self.ids)]
            raise KeyError(f"unknown segment ids: {missing[:10].tolist()}")
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
