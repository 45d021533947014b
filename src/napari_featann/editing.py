"""Structural corrections on a session: split by clicks, merge, re-cut the hierarchy;
and :func:`speck_segments`, the labelled islands a "remove specks" clears.

Each edit computes everything first (new segments, their features and their
positions in the scatter), then swaps it in as one undoable action, so a
cancelled or failed edit changes nothing. The two steps are public too:
``plan_split``, ``plan_merge`` and ``plan_recut`` return a :class:`PlannedEdit`
without changing the session (a GUI computes it in a worker thread), and its
:meth:`PlannedEdit.apply` swaps it in (on the GUI's main thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import checks
from .core.correction import (
    TransferReport,
    apply_split,
    merge_segments,
    split_segment,
    transfer_labels,
)
from .core.partition import PartitionParams, cut_hierarchy
from .core.progress import Progress, ensure_progress
from .core.regions import as_segment_ids, describe_segments, offset_labels
from .finite import require_finite_features
from .learning import refined_of_new
from .session import Session
from .structure import Structure

__all__ = ["PlannedEdit", "RecutReport", "hole_segments", "merge", "merge_image", "plan_merge",
           "plan_recut",
           "plan_split", "preview_recut", "preview_split", "recut", "speck_segments",
           "split"]  # fmt: skip


def _partitioned(session: Session, index) -> int:
    """``index`` as an int, checked: an image of the session, already partitioned."""
    return checks.image_index(session, index, partitioned=True)


def _params(params) -> PartitionParams:
    """``params`` checked: PartitionParams, valid (a dict or None would fail half-way)."""
    if not isinstance(params, PartitionParams):
        raise TypeError(f"params must be PartitionParams, got {type(params).__name__}; e.g. "
                        "dataclasses.replace(session.partition_params, regions=50)")  # fmt: skip
    return params.validate()


def _gradient(session: Session, img: int) -> np.ndarray:
    if session.gradients[img] is None:
        session.compute_gradients([img])
    return session.gradients[img]


def preview_split(session: Session, segment_id: int, positive, negative) -> np.ndarray:
    """Boolean mask (H, W) of the part of ``segment_id`` that the clicks would split off."""
    segment_id = checks.whole_number(segment_id, "segment id")
    img = int(session.segments.image[session.segments.rows_of([segment_id])[0]])
    return split_segment(_gradient(session, img), session.label_images[img], segment_id,
                         positive, negative)  # fmt: skip


def _with_rows(session: Session, img: int, new_label: np.ndarray, drop_ids, add_ids,
               progress: Progress | None):  # fmt: skip
    """New structure where ``drop_ids`` rows are removed and ``add_ids`` (in ``new_label``) added."""
    seg = session.segments
    keep = ~np.isin(seg.ids, np.asarray(drop_ids, np.int64))
    added = describe_segments(new_label, np.asarray(add_ids, np.int64), img)
    labels = list(session.label_images)
    labels[img] = new_label
    table = seg.take(np.flatnonzero(keep)).concat(added)
    feats, emb, refined = _kept_plus_new(session, keep, added, labels, progress)
    return labels, table, keep, feats, emb, refined


def _kept_plus_new(session: Session, keep: np.ndarray, added, labels, progress):
    """Features, embedding and refined features of the kept rows followed by ``added``.

    The new segments are extracted from ``labels`` and placed in the current
    layout with ``transform``; after a *full* fine-tuning the fine-tuned
    backbone gives their refined features too, and they are placed by those
    (else None: a projection head re-embeds them when they are used). None
    where the session has none yet.
    """
    if session.features is None:
        return None, None, None
    new_feats = session.compute_features(table=added, label_images=labels, progress=progress)
    require_finite_features(session, new_feats, "editing segments", segments=added,
                            advice="the edit was not made")  # fmt: skip
    refined = refined_of_new(session, added, labels, progress, kept=keep)
    feats = np.concatenate([session.features[keep], new_feats])
    if session.embedding is None:
        return feats, None, refined
    new_refined = None if refined is None else refined[0][int(np.count_nonzero(keep)) :]
    emb = np.concatenate([session.embedding[keep], session.place(new_feats, new_refined)])
    return feats, emb, refined


def _repaint(class_mask, manual, label_image, segment_classes: dict[int, int]) -> np.ndarray:
    """A class mask giving each segment its class, hand-painted pixels kept."""
    lut = np.zeros(int(label_image.max()) + 1, np.uint8)
    for sid, c in segment_classes.items():
        lut[sid] = c
    return np.where(manual, class_mask, lut[label_image]).astype(np.uint8)


@dataclass
class PlannedEdit:
    """A structural edit computed from a session but not applied to it yet.

    Attributes
    ----------
    description : str
        The undo history's name for it.
    result : object
        What the edit gives back once applied (new ids, the merged id, a report).
    """

    description: str
    labels: list
    table: Any
    classes: np.ndarray
    features: np.ndarray | None
    embedding: np.ndarray | None
    next_id: int
    repaint: list[int]  # the images whose pixels it draws again (from the classes at apply)
    result: Any = None
    params: PartitionParams | None = None  # a re-cut of all images: the session's new ones
    # (refined features, metric state) after a full fine-tuning: kept rows, then the new ones
    refined: tuple | None = field(default=None, repr=False)
    _base: tuple = field(default=(), repr=False)
    _keep: np.ndarray | None = field(default=None, repr=False)  # old rows kept, first in table
    # the classes of the new rows from the session's labels of the moment it is applied
    _new_classes: Callable | None = field(default=None, repr=False)

    def apply(self, session: Session):
        """Swap the edit in as one undoable action and return :attr:`result`.

        The kept segments take their classes of now, and the new ones get
        theirs from the labels of now (as the edit gives them: a split's parts
        the class of the segment split, a merged segment the class covering
        most of it, a re-cut's segments the class of the pixels they cover):
        labels given while the edit was computed stay.

        Raises
        ------
        RuntimeError
            The session's segments changed since the edit was computed
            (nothing is changed then).
        """
        if _base_of(session) != self._base:
            raise RuntimeError("the segments changed while the edit was computed; "
                               "nothing was changed")  # fmt: skip
        classes = self.classes
        if self._keep is not None:
            kept = session.segment_class[self._keep]
            new = self.classes[kept.size :] if self._new_classes is None else self._new_classes()
            classes = np.concatenate([kept, new]).astype(np.int32)
            classes[~np.isin(classes, [0, *session.classes])] = 0  # a class deleted meanwhile
        before = session._structure(self.repaint)  # the masks of the images it changes
        masks = {img: _repaint(session.class_masks[img], session.manual_masks[img],
                               self.labels[img], _image_classes(self.table, classes, img))
                 for img in self.repaint}  # fmt: skip
        refined = self.refined  # only with the fine-tuned backbone it was computed with
        refined = refined[0] if refined and refined[1] is session.metric_state else None
        after = Structure(self.labels, self.table, classes, self.features, self.embedding,
                           self.next_id, masks, refined, (session._projector, session.metric_state))  # fmt: skip
        params = None if self.params is None else (session.partition_params, self.params)
        if self.params is not None:
            session.partition_params = self.params
        session._set_structure(after)
        session.push_structural_action(self.description, before, after, params)
        return self.result


def _base_of(session: Session) -> tuple:
    return (id(session.segments), *(id(lab) for lab in session.label_images))


def _labels_mark(session: Session) -> tuple:
    """The state of the undo history, which every label, paint and class edit changes: its
    last done and undone actions (themselves, kept alive, so never another at their
    address) and its length."""
    h = session.history
    return h.last_done, h.last_undone, len(h)


def _same_mark(a: tuple, b: tuple) -> bool:
    return a[0] is b[0] and a[1] is b[1] and a[2] == b[2]


def plan_split(session: Session, segment_id: int, positive, negative,
               positive_class: int | None = None,
               progress: Progress | None = None) -> PlannedEdit:  # fmt: skip
    """:func:`split` computed, not applied (see :class:`PlannedEdit`)."""
    base = _base_of(session)
    segment_id = checks.whole_number(segment_id, "segment id")
    row = session.segments.rows_of([segment_id])[0]
    img = int(session.segments.image[row])
    old_class = int(session.segment_class[row])
    pos_class = old_class if positive_class is None else checks.class_id(session, positive_class)

    def new_classes() -> list[int]:  # at apply: the segment's class of then
        now = int(session.segment_class[row])
        return [now, now if positive_class is None else pos_class]

    mask = preview_split(session, segment_id, positive, negative)
    new_id = session.next_id
    new_label = apply_split(session.label_images[img], segment_id, mask, new_id)
    labels, table, keep, feats, emb, refined = _with_rows(
        session, img, new_label, [segment_id], [segment_id, new_id], progress
    )
    classes = np.concatenate([session.segment_class[keep], [old_class, pos_class]]).astype(np.int32)
    return PlannedEdit(f"split segment {segment_id}", labels, table, classes, feats, emb,
                       new_id + 1, [img], result=(segment_id, new_id), refined=refined,
                       _base=base, _keep=keep, _new_classes=new_classes)  # fmt: skip


def split(session: Session, segment_id: int, positive, negative, positive_class: int | None = None,
          progress: Progress | None = None) -> tuple[int, int]:  # fmt: skip
    """Split a segment in two with positive and negative clicks (seeded watershed inside it).

    Parameters
    ----------
    session : Session
    segment_id : int
    positive, negative : sequences of (row, col)
        Clicks inside the segment.
    positive_class : int, optional
        Class of the positive part (default: the segment's class). The other
        part keeps the segment's class.

    Returns
    -------
    (int, int)
        Ids of the negative part (the old id) and of the positive part (new).
    """
    return plan_split(session, segment_id, positive, negative, positive_class,
                      progress).apply(session)  # fmt: skip


def merge_image(session: Session, segment_ids) -> int:
    """The one image the segments to merge lie in.

    Raises
    ------
    TypeError, ValueError
        Ids that are no whole numbers (see :func:`~.core.regions.as_segment_ids`).
    KeyError
        An unknown segment id.
    ValueError
        No ids, or the segments lie in several images.
    """
    ids = np.unique(as_segment_ids(segment_ids))
    if ids.size == 0:
        raise ValueError("nothing to merge: give two or more segment ids")
    rows = session.segments.rows_of(ids)
    images = np.unique(session.segments.image[rows])
    if images.size != 1:
        raise ValueError("segments to merge must lie in one image")
    return int(images[0])


def plan_merge(session: Session, segment_ids, progress: Progress | None = None) -> PlannedEdit:
    """:func:`merge` computed, not applied (see :class:`PlannedEdit`)."""
    base = _base_of(session)
    ids = np.unique(as_segment_ids(segment_ids))
    img = merge_image(session, ids)
    rows = session.segments.rows_of(ids)
    new_label, target = merge_segments(session.label_images[img], ids)
    area = session.segments.area[rows]

    def merged_class() -> int:  # the labelled class covering most of it
        votes = np.bincount(session.segment_class[rows], weights=area, minlength=256)
        votes[0] = 0
        return int(votes.argmax()) if votes.max() > 0 else 0

    labels, table, keep, feats, emb, refined = _with_rows(session, img, new_label, ids, [target],
                                                          progress)  # fmt: skip
    classes = np.concatenate([session.segment_class[keep], [merged_class()]]).astype(np.int32)
    return PlannedEdit(f"merge {ids.size} segments", labels, table, classes, feats, emb,
                       session.next_id, [img], result=int(target), refined=refined, _base=base,
                       _keep=keep, _new_classes=lambda: [merged_class()])  # fmt: skip


def merge(session: Session, segment_ids, progress: Progress | None = None) -> int:
    """Merge two or more adjacent segments of one image into the smallest id.

    The merged segment takes the class covering most of its area among the
    labelled parts (unlabelled if none was labelled). Returns the merged id.
    """
    return plan_merge(session, segment_ids, progress).apply(session)


def speck_segments(session: Session, image_index: int, min_fraction: float = 0.2) -> np.ndarray:
    """Labelled segments of one image that make up small islands of their class.

    For each class in the image, the connected parts of its pixels (8-connected)
    smaller than ``min_fraction`` of that class's largest part are specks; the
    segments labelled with the class inside them are returned, for
    ``session.assign(ids, 0)`` to clear (undoable). Painted pixels are never
    touched: only segment labels are.

    Parameters
    ----------
    session : Session
    image_index : int
    min_fraction : float
        Parts below this fraction of the largest part of the same class are
        specks (0 finds none, 1 all but the largest).

    Returns
    -------
    ndarray of int64
        Segment ids, sorted.
    """
    from scipy import ndimage

    if not 0 <= min_fraction <= 1:
        raise ValueError("min_fraction must be in [0, 1]")
    image_index = _partitioned(session, image_index)
    cm, lab = session.class_masks[image_index], session.label_images[image_index]
    seg = session.segments
    rows = np.flatnonzero((seg.image == image_index) & (session.segment_class > 0))
    found = []
    for c in np.unique(session.segment_class[rows]):
        parts, n = ndimage.label(cm == c, structure=np.ones((3, 3), bool))
        if n < 2:
            continue
        sizes = np.bincount(parts.ravel())
        sizes[0] = 0
        small = sizes < min_fraction * sizes.max()
        small[0] = False
        if not small.any():
            continue
        ids = np.setdiff1d(lab[small[parts]], lab[(parts > 0) & ~small[parts]])
        found.append(np.intersect1d(ids, seg.ids[rows[session.segment_class[rows] == c]]))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def hole_segments(session: Session, image_index: int) -> dict[int, np.ndarray]:
    """Unlabelled segments of one image that lie in holes of a class, per class.

    A hole of a class is a 4-connected part of the pixels not of that class
    that does not touch the image's border, so the class's pixels enclose it
    (8-connected). An unlabelled segment lies in it when all its pixels do;
    one in holes of several classes (a gap in a nucleus inside a cell) goes
    to the class of the smallest hole. For ``session.assign(ids, class)`` per
    class (undoable); painted pixels are never touched.

    Parameters
    ----------
    session : Session
    image_index : int

    Returns
    -------
    dict of int to ndarray of int64
        Class id to sorted segment ids; classes with no hole are left out.
    """
    from scipy import ndimage

    image_index = _partitioned(session, image_index)
    cm, lab = session.class_masks[image_index], session.label_images[image_index]
    seg = session.segments
    rows = np.flatnonzero((seg.image == image_index) & (session.segment_class == 0))
    if rows.size == 0:
        return {}
    free = np.zeros(int(lab.max()) + 1, bool)
    free[seg.ids[rows]] = True
    present, first = np.unique(lab.ravel(), return_index=True)  # a pixel of each segment
    best: dict[int, tuple[int, int]] = {}  # segment id -> (hole size, class)
    for c in np.unique(cm):  # the classes in the image, painted ones included
        if c == 0:
            continue
        holes, n = ndimage.label(cm != c)
        if n == 0:
            continue
        sizes = np.bincount(holes.ravel(), minlength=n + 1)
        closed = np.ones(n + 1, bool)
        closed[0] = False
        closed[np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]])] = False
        inside = closed[holes]
        ids = np.setdiff1d(lab[inside], lab[~inside])
        ids = ids[free[ids]]
        at = first[np.searchsorted(present, ids)]
        for sid, size in zip(ids.tolist(), sizes[holes.ravel()[at]].tolist()):
            if sid not in best or size < best[sid][0]:
                best[sid] = (size, int(c))
    out: dict[int, list[int]] = {}
    for sid, (_, c) in best.items():
        out.setdefault(c, []).append(sid)
    return {c: np.array(sorted(v), np.int64) for c, v in sorted(out.items())}


def _image_classes(table, classes, img) -> dict[int, int]:
    sel = table.image == img
    return {int(i): int(c) for i, c in zip(table.ids[sel], classes[sel]) if c}


@dataclass
class RecutReport:
    """Outcome of a re-cut, to tell the user (counts of labelled old segments)."""

    kept: int = 0
    moved: int = 0
    lost: int = 0
    new_segments: int = 0

    def add(self, r: TransferReport) -> None:
        """Accumulate one image's transfer report."""
        self.kept += r.kept
        self.moved += r.moved
        self.lost += r.lost

    def message(self) -> str:
        """One line for the status bar."""
        return (f"{self.new_segments} segments; labels: {self.kept} kept, {self.moved} moved, "
                f"{self.lost} could not be carried over")  # fmt: skip


def preview_recut(session: Session, image_index: int, params: PartitionParams) -> np.ndarray:
    """Local labels (1..k) of one image under new partition parameters; no state change."""
    params = _params(params)
    image_index = _partitioned(session, image_index)
    if params.gradient_key() != session.partition_params.gradient_key():
        raise ValueError("a re-cut keeps the gradient; use partition() to change it")
    # the session's parameters stay as they are: a re-cut runs in a worker thread while the
    # main thread may read them (an autosave)
    hierarchy = session.hierarchy(image_index, params)
    return cut_hierarchy(hierarchy, params.threshold, params.regions)


def plan_recut(session: Session, params: PartitionParams, images=None, min_fraction: float = 0.5,
               progress: Progress | None = None) -> PlannedEdit:  # fmt: skip
    """:func:`recut` computed, not applied (see :class:`PlannedEdit`); ``result`` is the report."""
    progress = ensure_progress(progress)
    base, params = _base_of(session), _params(params)
    if images is None:
        images = list(range(session.n_images))
    elif not isinstance(images, Iterable):  # one image
        images = [images]
    # all checked before any change; an image named twice is cut once
    images = list(dict.fromkeys(_partitioned(session, i) for i in images))
    if not images:  # else an empty step in the undo history
        raise ValueError("no image to re-cut")
    mark = _labels_mark(session)  # the labels the classes are carried from
    old_labels, labels = list(session.label_images), list(session.label_images)
    next_id = session.next_id
    progress.init(len(images), "re-cut")
    for img in images:
        local = preview_recut(session, img, params)
        labels[img] = offset_labels(local, next_id - 1)
        next_id += int(local.max())
        progress.update(1)
    seg = session.segments
    keep = ~np.isin(seg.image, images)
    table = seg.take(np.flatnonzero(keep))
    for img in images:
        ids = np.unique(labels[img])
        table = table.concat(describe_segments(labels[img], ids[ids > 0], img))
    added = table.take(np.arange(int(keep.sum()), len(table)))
    report = RecutReport(new_segments=len(added))

    def carried() -> np.ndarray:
        """Classes of the new segments by overlap with the labels of now; the report too."""
        found: dict[int, int] = {}
        report.kept = report.moved = report.lost = 0
        for img in images:
            classes, r = transfer_labels(old_labels[img], session.class_masks[img], labels[img],
                                         min_fraction)  # fmt: skip
            report.add(r)
            found.update(classes)
        return np.array([found.get(int(i), 0) for i in added.ids], np.int32)

    cls_new = carried()
    classes = np.concatenate([session.segment_class[keep], cls_new]).astype(np.int32)
    feats, emb, refined = _kept_plus_new(session, keep, added, labels, progress)
    everything = len(images) == session.n_images  # the session's parameters, for new images
    planned = PlannedEdit(f"re-cut {len(images)} images ({report.message()})", labels, table,
                          classes, feats, emb, next_id, images, result=report,
                          params=params if everything else None, refined=refined, _base=base,
                          _keep=keep)  # fmt: skip

    def new_classes() -> np.ndarray:  # labelled since: carried again (on the main thread)
        if _same_mark(_labels_mark(session), mark):
            return cls_new
        again = carried()
        planned.description = f"re-cut {len(images)} images ({report.message()})"
        return again

    planned._new_classes = new_classes
    return planned


def recut(session: Session, params: PartitionParams, images=None, min_fraction: float = 0.5,
          progress: Progress | None = None) -> RecutReport:  # fmt: skip
    """Re-cut the hierarchy of some images (default all) and carry labels over by overlap.

    A new segment takes the class covering most of its labelled pixels when
    that class covers at least ``min_fraction`` of it. Hand-painted pixels
    stay. The report says how many labels were kept, moved or lost; the whole
    re-cut is one undoable action.

    Parameters
    ----------
    session : Session
    params : PartitionParams
        The new cut; its gradient must be the session's (e.g.
        ``dataclasses.replace(session.partition_params, regions=50)``).
        Anything else is a TypeError.
    images : int or iterable of int, optional
        The images to re-cut (default: all).
    min_fraction : float
    progress : Progress, optional
    """
    return plan_recut(session, params, images, min_fraction, progress).apply(session)
