"""Write segment classes into a class mask, and undo it.

:func:`assign_pixels` is what makes labelling thousands of segments over
many images by one box fast. Per image, a compiled read-only survey of the
selected pixels (looked up in a table of selected segment ids, skipping
pixels painted by hand) counts those that will change and the classes they
hold; then one compiled pass writes the class. The survey picks the cheapest
record that can undo the change:

- nothing but the old class, when every selected pixel changes and all held
  the same class (the common case of labelling unlabelled segments): undo
  writes that class back over the same selection;
- the changed indices and their old values, when few pixels change (up to
  about an eighth of the mask's size in bytes);
- a copy of the old mask otherwise.

When every pixel of an image belongs to a selected segment (``whole``), the
label image is not read at all.

numba (a dependency of umap-learn) is imported on the first call; the
compiled kernels are cached on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PixelChange",
    "assign_pixels",
    "assign_pixels_many",
    "redo_many",
    "undo_many",
    "warm_up",
]

_KERNELS: dict = {}
_POOL: list = []
_LOCK = threading.Lock()


def _pass_py(labels, lut, manual, cm, value, boxes, width, idx, old, use_labels, write):  # numba
    """One pass over ``boxes`` (r0, c0, r1, c1) of the flat image of ``width`` columns.

    Visits the pixels of selected segments (``lut[labels[p]]``; every pixel
    without ``use_labels``) that are not ``manual``, and writes ``value`` there
    when ``write`` (else only reads). Returns ``(free, n, lo, hi)``: pixels
    visited, how many differed from ``value``, and the least and greatest class
    among those; records the first ``idx.size`` of them (flat index, old class).
    The whole image is the single box ``(0, 0, 1, size)`` of a one-row image of
    width ``size``. Overlapping boxes visit pixels twice (a write finds them done).
    """
    free = 0
    n = 0
    lo = value
    hi = value
    m = lut.size
    cap = idx.size
    for b in range(boxes.shape[0]):
        for r in range(boxes[b, 0], boxes[b, 2]):
            base = r * width
            for p in range(base + boxes[b, 1], base + boxes[b, 3]):
                if use_labels:
                    s = labels[p]
                    if not (0 <= s < m and lut[s]):
                        continue
                if manual[p]:
                    continue
                free += 1
                c = cm[p]
                if c != value:
                    if n < cap:
                        idx[n] = p
                        old[n] = c
                    if n == 0:
                        lo = c
                        hi = c
                    else:
                        lo = min(lo, c)
                        hi = max(hi, c)
                    n += 1
                    if write:
                        cm[p] = value
    return free, n, lo, hi


def _survey_all_py(manual, cm, value, use_manual, lo, hi):  # compiled by numba
    """The survey of :func:`_pass_py` over every pixel, in loops the compiler can vectorise.

    ``lo`` and ``hi`` start at the greatest and least values of the mask's type;
    they are only measured when every unprotected pixel differs from ``value``
    (the one case where they matter), else returned as given.
    """
    free = 0
    n = 0
    if use_manual:
        for p in range(cm.size):
            mine = np.uint8(1) - np.uint8(manual[p])
            free += mine
            n += mine & np.uint8(cm[p] != value)
    else:  # no protected pixel: the protection mask is not read at all
        free = cm.size
        for p in range(cm.size):
            n += np.uint8(cm[p] != value)
    if n == 0 or n != free:
        return free, n, lo, hi
    if use_manual:
        for p in range(cm.size):
            if not manual[p]:
                lo = min(lo, cm[p])
                hi = max(hi, cm[p])
    else:
        for p in range(cm.size):
            lo = min(lo, cm[p])
            hi = max(hi, cm[p])
    return free, n, lo, hi


def _fill_py(manual, cm, value, use_manual):  # compiled by numba
    """Write ``value`` to every pixel (not ``manual`` ones when ``use_manual``) of a flat mask,
    unrecorded, in a branch-free loop the compiler can vectorise; returns the change count."""
    k = 0
    if use_manual:
        for p in range(cm.size):
            keep = manual[p]
            k += (cm[p] != value) and not keep
            cm[p] = cm[p] if keep else value
    else:  # no protected pixel: the protection mask is not read at all
        for p in range(cm.size):
            k += cm[p] != value
            cm[p] = value
    return k


def _kernels():
    """Compile (or load from numba's disk cache) the kernels, once per process."""
    with _LOCK:
        if not _KERNELS:
            from numba import njit

            lab, lut, man = np.zeros(1, np.int32), np.zeros(1, bool), np.zeros(1, bool)
            cm, idx, old = np.zeros(1, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.uint8)
            box = np.zeros((1, 4), np.int64)
            one_pass = njit(cache=True, nogil=True)(_pass_py)
            one_pass(lab, lut, man, cm, np.uint8(0), box, 1, idx, old, True, True)
            fill = njit(cache=True, nogil=True)(_fill_py)
            fill(man, cm, np.uint8(0), False)
            survey_all = njit(cache=True, nogil=True)(_survey_all_py)
            survey_all(man, cm, np.uint8(0), False, np.uint8(255), np.uint8(0))
            _KERNELS.update(one_pass=one_pass, fill=fill, survey_all=survey_all)
    return _KERNELS


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
    uniform : int or None
        The one class all the selected unprotected pixels held, when the change
        changed every one of them: undo writes it back over the same selection
        (the label image, selection and protection are as they were, since
        history is undone in order), so no pixels are recorded.
    """

    mask: np.ndarray
    count: int
    value: int
    indices: np.ndarray | None = None
    old: np.ndarray | None = None
    before: np.ndarray | None = None
    uniform: int | None = None
    _rewrite: object = None
    _unwrite: object = None

    def undo(self) -> None:
        """Restore the pixels this change wrote (the mask must be as it left it)."""
        flat = self.mask.reshape(-1)
        if self.before is not None:
            flat[:] = self.before
        elif self.indices is not None:
            flat[self.indices] = self.old
        elif self._unwrite is not None:
            self._unwrite()

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
    whole: bool = False,
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
    whole : bool
        The caller knows that every pixel of the image belongs to a selected
        segment (a box took all of the image's segments): the label image is
        not read, only the class mask (and ``protected`` if it holds any
        pixel). ``selected`` and ``boxes`` are then ignored.

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
    kernels = _kernels()
    cm = class_mask.reshape(-1)
    manual = np.ascontiguousarray(protected, dtype=bool).reshape(-1)
    labels = np.ascontiguousarray(label_image).reshape(-1)
    lut = np.ascontiguousarray(selected, dtype=bool)
    boxes, width = _visit(boxes, class_mask.shape) if not whole else (None, 0)
    if boxes is None:  # the whole image as one row
        boxes, width = np.array([[0, 0, 1, cm.size]], np.int64), cm.size
    use_manual = bool(manual.any()) if whole else True
    one_pass, no_i, no_o = kernels["one_pass"], np.empty(0, np.int64), np.empty(0, cm.dtype)

    def survey(v):
        if whole:  # no label lookup, vectorised
            info = np.iinfo(cm.dtype)
            top, bottom = cm.dtype.type(info.max), cm.dtype.type(info.min)
            return kernels["survey_all"](manual, cm, v, use_manual, top, bottom)
        return one_pass(labels, lut, manual, cm, v, boxes, width, no_i, no_o, True, False)

    def write(v, idx, old):
        if whole and idx.size == 0:  # nothing to record, no label lookup: vectorised
            return kernels["fill"](manual, cm, v, use_manual)
        return one_pass(labels, lut, manual, cm, v, boxes, width, idx, old, not whole, True)[1]

    return _survey_and_write(class_mask, value, survey, write)


def _visit(boxes, shape: tuple[int, int]):
    """``(boxes, width)`` for the passes, or ``(None, 0)`` when one pass over all is cheaper."""
    if boxes is None:
        return None, 0
    boxes = np.asarray(boxes, np.int64).reshape(-1, 4)
    h, w = shape
    boxes = np.clip(boxes, 0, [h, w, h, w])
    area = int(np.sum(np.maximum(boxes[:, 2] - boxes[:, 0], 0)
                      * np.maximum(boxes[:, 3] - boxes[:, 1], 0)))  # fmt: skip
    return (None, 0) if 2 * area >= h * w else (boxes, w)


def _sparse_cap(cm: np.ndarray) -> int:
    """Most changes kept as (index, old value) pairs: an eighth of the mask's bytes."""
    return max(cm.size * cm.itemsize // (8 * (8 + cm.itemsize)), 64)


def _survey_and_write(class_mask: np.ndarray, value: int, survey, write) -> PixelChange:
    """Survey the selected pixels, write ``value`` into them, return the cheapest record.

    ``survey(v)`` gives ``(free, n, lo, hi)`` (selected unprotected pixels, how
    many differ from ``v``, the least and greatest class among those);
    ``write(v, idx, old)`` writes ``v`` there, recording up to ``idx.size``
    changes, and returns the number of changed pixels.
    """
    cm = class_mask.reshape(-1)
    v = cm.dtype.type(value)
    free, n, lo, hi = (int(x) for x in survey(v))
    no_i, no_o = np.empty(0, np.int64), np.empty(0, cm.dtype)
    change = PixelChange(class_mask, 0, int(value))
    if n == 0:
        return change
    if n == free and lo == hi:  # every selected pixel changes, all from one class
        old_v = cm.dtype.type(lo)
        change.uniform = lo
        change.count = int(write(v, no_i, no_o))
        change._unwrite = lambda: write(old_v, no_i, no_o)
        change._rewrite = lambda: write(v, no_i, no_o)
    elif n <= _sparse_cap(cm):
        idx, old = np.empty(n, np.int64), np.empty(n, cm.dtype)
        change.count = k = int(write(v, idx, old))
        change.indices, change.old = idx[:k], old[:k]
    else:
        change.before = cm.copy()
        change.count = int(write(v, no_i, no_o))
        change._rewrite = lambda: write(v, no_i, no_o)
    return change


def assign_pixels_many(
    label_images, selected: np.ndarray, protected, class_masks, value: int, boxes=None, whole=None
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
    whole : sequence of bool or None, optional
        Per image, the ``whole`` flag of :func:`assign_pixels`.

    Returns
    -------
    list of PixelChange
        One per image, in order.
    """
    if boxes is None:
        boxes = [None] * len(class_masks)
    if whole is None:
        whole = [False] * len(class_masks)
    jobs = list(zip(label_images, protected, class_masks, boxes, whole, strict=True))
    return _each(lambda j: assign_pixels(j[0], selected, j[1], j[2], value, *j[3:]), jobs)


def undo_many(changes) -> None:
    """Undo several :class:`PixelChange` records (of different masks) in parallel threads."""
    _each(PixelChange.undo, list(changes))


def redo_many(changes) -> None:
    """Redo several :class:`PixelChange` records (of different masks) in parallel threads."""
    _each(PixelChange.redo, list(changes))


def _each(fn, items: list) -> list:
    """``[fn(x) for x in items]``, in a thread pool for several items (kernels drop the GIL)."""
    if len(items) < 4:
        return [fn(x) for x in items]
    if not _POOL:
        import os
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(min(8, os.cpu_count() or 1), "featann-pixels"))
    return list(_POOL[0].map(fn, items))
