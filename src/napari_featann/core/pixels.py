"""Write segment classes into a class mask in one pass, and undo it.

:func:`assign_pixels` is what makes labelling thousands of segments over
many images by one box fast: a single compiled pass per image reads the
label image, looks the segment up in a table of selected ids, skips pixels
painted by hand, and writes the class, while recording what is needed to
undo it. The record keeps the changed indices and their old values when few
pixels change (up to about an eighth of the mask's size in bytes), or a copy
of the old mask when more do.

numba (a dependency of umap-learn) is imported on the first call; the
compiled kernel is cached on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["PixelChange", "assign_pixels", "assign_pixels_many", "warm_up"]

_KERNELS: dict = {}
_POOL: list = []
_LOCK = threading.Lock()


def _write_py(labels, lut, manual, cm, value, boxes, width, idx, old):  # compiled by numba
    """Write ``value`` inside ``boxes`` (r0, c0, r1, c1) of the flat image of ``width`` columns.

    Records the first ``idx.size`` changes; returns the change count. The whole
    image is the single box ``(0, 0, 1, size)`` of a one-row image of width ``size``.
    """
    k = 0
    m = lut.size
    cap = idx.size
    for b in range(boxes.shape[0]):
        for r in range(boxes[b, 0], boxes[b, 2]):
            base = r * width
            for p in range(base + boxes[b, 1], base + boxes[b, 3]):
                s = labels[p]
                if 0 <= s < m and lut[s] and not manual[p] and cm[p] != value:
                    if k < cap:
                        idx[k] = p
                        old[k] = cm[p]
                    cm[p] = value
                    k += 1
    return k


def _kernels():
    """Compile (or load from numba's disk cache) the kernel, once per process."""
    with _LOCK:
        if not _KERNELS:
            from numba import njit

            lab, lut, man = np.zeros(1, np.int32), np.zeros(1, bool), np.zeros(1, bool)
            cm, idx, old = np.zeros(1, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.uint8)
            write = njit(cache=True, nogil=True)(_write_py)
            write(lab, lut, man, cm, np.uint8(0), np.zeros((1, 4), np.int64), 1, idx, old)
            _KERNELS["write"] = write
    return _KERNELS["write"]


def warm_up(background: bool = True) -> None:
    """Import numba and compile (or load) the kernel now, so the first label is quick.

    Parameters
    ----------
    background : bool
        Do it in a daemon thread and return at once.
    """
    if _KERNELS:
        return
    if background:
        threading.Thread(target=_kernels, name="featann-warm-up", daemon=True).start()
    else:
        _kernels()


@dataclass
class PixelChange:
    """What :func:`assign_pixels` changed in one class mask, to undo or redo it.

    Attributes
    ----------
    mask : ndarray
        The class mask that was written (a reference, not a copy).
    count : int
        Number of pixels that changed.
    value : int
        The class written.
    indices, old : ndarray or None
        Flat indices of the changed pixels and their previous values (sparse record).
    before : ndarray or None
        A copy of the whole mask before the change (dense record).
    """

    mask: np.ndarray
    count: int
    value: int
    indices: np.ndarray | None = None
    old: np.ndarray | None = None
    before: np.ndarray | None = None
    _rewrite: object = None

    def undo(self) -> None:
        """Restore the pixels this change wrote (the mask must be as it left it)."""
        flat = self.mask.reshape(-1)
        if self.before is not None:
            flat[:] = self.before
        elif self.indices is not None:
            flat[self.indices] = self.old

    def redo(self) -> None:
        """Write the change again (the mask must be as it was before it)."""
        if self.indices is not None:
            self.mask.reshape(-1)[self.indices] = self.value
        elif self._rewrite is not None:
            self._rewrite()


def assign_pixels(
    label_image: np.ndarray,
    selected: np.ndarray,
    protected: np.ndarray,
    class_mask: np.ndarray,
    value: int,
    boxes: np.ndarray | None = None,
) -> PixelChange:
    """Give ``value`` to every unprotected pixel of the selected segments, in place.

    Parameters
    ----------
    label_image : ndarray of int
        Segment id per pixel.
    selected : ndarray of bool
        Lookup table indexed by segment id: True for the segments to label.
        Ids beyond its length count as not selected.
    protected : ndarray of bool
        Pixels never written (painted by hand), same shape as ``label_image``.
    class_mask : ndarray of int
        Class per pixel, C-contiguous, written in place.
    value : int
        The class to write (0 unlabels).
    boxes : ndarray of int, shape (k, 4), optional
        Bounding boxes ``(r0, c0, r1, c1)`` (end-exclusive) that hold every
        selected pixel, e.g. those of the selected segments. When they cover
        less than half the image only their pixels are visited.

    Returns
    -------
    PixelChange
        The record to undo and redo the change.

    Examples
    --------
    >>> lab = np.array([[1, 1, 2], [3, 3, 2]], np.int32)
    >>> cm = np.zeros(lab.shape, np.uint8)
    >>> sel = np.zeros(4, bool); sel[[1, 2]] = True
    >>> change = assign_pixels(lab, sel, np.zeros(lab.shape, bool), cm, 7)
    >>> cm.tolist(), change.count
    ([[7, 7, 7], [0, 0, 7]], 4)
    >>> change.undo(); cm.max()
    np.uint8(0)
    """
    if label_image.shape != class_mask.shape or protected.shape != class_mask.shape:
        raise ValueError(
            f"shapes differ: labels {label_image.shape}, protected {protected.shape}, "
            f"class mask {class_mask.shape}"
        )
    if not class_mask.flags.c_contiguous:
        raise ValueError("the class mask must be C-contiguous (it is written in place)")
    kernel = _kernels()
    if boxes is not None:
        boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
        h, w = class_mask.shape
        boxes = np.clip(boxes, 0, [h, w, h, w])
        area = int(np.sum(np.maximum(boxes[:, 2] - boxes[:, 0], 0)
                          * np.maximum(boxes[:, 3] - boxes[:, 1], 0)))  # fmt: skip
        if 2 * area >= class_mask.size:
            boxes = None  # one pass over the image is cheaper
    if boxes is None:  # the whole image as one row
        boxes, width = np.array([[0, 0, 1, class_mask.size]], np.int64), class_mask.size
    else:
        width = class_mask.shape[1]

    labels = np.ascontiguousarray(label_image).reshape(-1)
    manual = np.ascontiguousarray(protected, dtype=bool).reshape(-1)
    lut = np.ascontiguousarray(selected, dtype=bool)
    cm = class_mask.reshape(-1)
    v = cm.dtype.type(value)

    def write(idx, old):  # the pass; records up to idx.size changes, returns the count
        return kernel(labels, lut, manual, cm, v, boxes, width, idx, old)

    # One pass, recording up to ``cap`` changes (an 8-byte index and the old value
    # each); past that, a copy of the mask taken first (a cheap memcpy) is the record.
    # A small cap keeps the wasted recording of big changes cheap.
    cap = max(cm.size * cm.itemsize // (8 * (8 + cm.itemsize)), 64)
    before = cm.copy()
    idx, old = np.empty(cap, np.int64), np.empty(cap, cm.dtype)
    n = int(write(idx, old))
    change = PixelChange(class_mask, n, int(value))
    if 0 < n <= cap:
        change.indices, change.old = idx[:n].copy(), old[:n].copy()
    elif n > cap:
        change.before = before
        none_i, none_o = np.empty(0, np.int64), np.empty(0, cm.dtype)

        def rewrite() -> None:  # redo: the same pass on the restored mask
            write(none_i, none_o)

        change._rewrite = rewrite
    return change


def assign_pixels_many(
    label_images, selected: np.ndarray, protected, class_masks, value: int, boxes=None
) -> list[PixelChange]:
    """:func:`assign_pixels` over several images, in parallel threads.

    The compiled pass releases the GIL, so images are written concurrently on
    all cores.

    Parameters
    ----------
    label_images, protected, class_masks : sequences of ndarray
        One of each per image, as in :func:`assign_pixels`.
    selected : ndarray of bool
        Shared lookup table of selected segment ids (ids are unique across images).
    value : int
    boxes : sequence of ndarray or None, optional
        Per image, the ``boxes`` of :func:`assign_pixels`.

    Returns
    -------
    list of PixelChange
        One per image, in order.
    """
    if boxes is None:
        boxes = [None] * len(class_masks)
    jobs = list(zip(label_images, protected, class_masks, boxes, strict=True))
    if len(jobs) < 4:
        return [assign_pixels(lab, selected, man, cm, value, b) for lab, man, cm, b in jobs]
    if not _POOL:
        import os
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(min(8, os.cpu_count() or 1), "featann-pixels"))
    return list(_POOL[0].map(lambda j: assign_pixels(j[0], selected, j[1], j[2], value, j[3]),
                             jobs))  # fmt: skip
