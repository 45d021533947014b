"""The segments' structure as one value: what a structural edit replaces, and undo restores.

A :class:`Structure` holds everything a partition, split, merge or re-cut
replaces at once; :class:`~napari_featann.session.Session` keeps one before and
one after each such edit in its undo history. :func:`in_current_layout` adapts
the one an undo or redo brings back to a layout made since the edit (metric
learning and re-projection are not in the history).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .core.regions import SegmentTable

__all__ = ["Structure", "held_bytes", "in_current_layout"]


@dataclass
class Structure:
    """Everything a structural edit (partition, split, merge, re-cut) replaces at once."""

    label_images: list
    segments: SegmentTable
    segment_class: np.ndarray
    features: np.ndarray | None
    embedding: np.ndarray | None
    next_id: int
    # copies of the class masks of the images the edit touches (image index -> mask);
    # only those, so that the undo history does not hold every image's mask per edit
    class_masks: dict = field(default_factory=dict)
    # features refined by metric learning, one row per segment of this structure; None
    # after an edit, so that rows of another table are never taken for these segments
    refined: np.ndarray | None = None
    fit: tuple | None = None  # (UMAP model, metric state) the layout goes with; None: keep


def held_bytes(before: Structure, after: Structure) -> int:
    """Memory an undoable structural edit holds: its mask copies and the arrays it made."""
    n = sum(m.nbytes for st in (before, after) for m in st.class_masks.values())
    n += before.segment_class.nbytes + after.segment_class.nbytes
    for new, old in ((after.features, before.features), (after.embedding, before.embedding)):
        if new is not None and new is not old:
            n += new.nbytes
    old_labels = {id(a) for a in before.label_images}
    return n + sum(a.nbytes for a in after.label_images if id(a) not in old_labels)


def _layout_changed(session, recorded: Structure) -> bool:
    """Whether the session's layout, model or metric is not the one ``recorded`` went with."""
    fit = recorded.fit if recorded.fit is not None else (session._projector, session.metric_state)
    return not (session.embedding is recorded.embedding and session._projector is fit[0]
                and session.metric_state is fit[1])  # fmt: skip


def _current_rows(session, state: Structure) -> np.ndarray:
    """For each segment of ``state``, its row in the session's table (-1: not there as such).

    A segment is there when the session has its id in the same image with the same
    pixels: a split gives its old id to a smaller part, which is another segment.
    """
    cur, seg = session.segments, state.segments
    out = np.full(len(seg), -1, np.int64)
    known = np.isin(seg.ids, cur.ids)
    rows = np.flatnonzero(known)
    at = cur.rows_of(seg.ids[rows]) if rows.size else rows
    for r, c in zip(rows.tolist(), at.tolist()):
        img, sid = int(seg.image[r]), int(seg.ids[r])
        if img != int(cur.image[c]):
            continue
        old, new = state.label_images[img], session.label_images[img]
        if old is not new:  # an image the edit changed: compare the segment's pixels
            if not (np.array_equal(seg.bbox[r], cur.bbox[c]) and seg.area[r] == cur.area[c]):
                continue
            y0, x0, y1, x1 = (int(v) for v in seg.bbox[r])
            if not np.array_equal(old[y0:y1, x0:x1] == sid, new[y0:y1, x0:x1] == sid):
                continue
        out[r] = c
    return out


def in_current_layout(session, state: Structure, before: Structure, after: Structure) -> Structure:
    """``state`` (``before`` for an undo, ``after`` for a redo) in the session's layout of now.

    The session is in the structure the step leaves (``after`` for an undo). When
    its layout, UMAP model or metric changed since that structure was recorded, a
    training or re-projection made since stays: segments the session still has
    keep their points and refined features, and those that come back are placed
    with the current model (:meth:`~napari_featann.session.Session.place`) and
    re-embedded by a trained projection head. Otherwise ``state`` as it is.

    Parameters
    ----------
    session : Session
    state, before, after : Structure
        The structure to bring back, and the step's two.

    Returns
    -------
    Structure
    """
    recorded = after if state is before else before
    if state.features is None or not _layout_changed(session, recorded):
        return state
    rows = _current_rows(session, state)
    kept, back = rows >= 0, rows < 0
    emb = None
    if session.embedding is not None:
        emb = np.empty((len(rows), 2), np.float32)
        emb[kept] = session.embedding[rows[kept]]
        if back.any():
            emb[back] = session.place(state.features[back])
    refined, now = None, session.refined_features
    metric = session.metric_state
    head = metric[1] if metric is not None and metric[0] == "head" else None
    if now is not None and len(now) == len(session.segments):
        if not back.any():
            refined = now[rows]
        elif head is not None and state.features.shape[1] == head.in_dim:
            refined = np.empty((len(rows), now.shape[1]), now.dtype)
            refined[kept] = now[rows[kept]]
            refined[back] = head.embed(state.features[back])
        # else a fine-tuned backbone's features cannot be extended: none, as after an edit
    return replace(state, embedding=emb, refined=refined, fit=(session._projector, metric))
