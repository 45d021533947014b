"""The segments' structure as one value: what a structural edit replaces, and undo restores.

A :class:`Structure` holds everything a partition, split, merge or re-cut
replaces at once; :class:`~napari_featann.session.Session` keeps one before and
one after each such edit in its undo history. :func:`in_current_layout` adapts
the one an undo or redo brings back to a layout made since the edit (metric
learning and re-projection are not in the history).
"""

from __future__ import annotations

import warnings
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


def _refined_rows(session, state: Structure, rows: np.ndarray) -> np.ndarray | None:
    """Refined features of ``state``'s segments in the session's metric of now, or None.

    Segments the session still has (``rows >= 0``) keep theirs; those that come
    back are re-embedded by a trained projection head, or by a fine-tuned
    backbone (:func:`~napari_featann.learning.fine_tuned_features`). None where
    there is nothing to refine them with: when the refined features come from a
    fine-tuned backbone the session does not hold, or it gives them non-finite
    features, with a warning.
    """
    from .learning import fine_tuned_features, refined_without_backbone, warn_refined_dropped

    now, metric = session.refined_features, session.metric_state
    if now is None or len(now) != len(session.segments):
        return None
    back = rows < 0
    if not back.any():
        return now[rows]
    if refined_without_backbone(session):
        warn_refined_dropped("segments brought back")
        return None
    if metric[0] == "head":
        if state.features.shape[1] != metric[1].in_dim:
            return None
        new = metric[1].embed(state.features[back])
    else:
        table = state.segments.take(np.flatnonzero(back))
        new = fine_tuned_features(session, table, state.label_images)
        if not np.isfinite(new).all():  # an undo must not fail half-way: drop, and say so
            warnings.warn("segments brought back: the fine-tuned backbone gives them features "
                          "that are not finite (the training diverged?); the refined features "
                          "are dropped: train the metric again", UserWarning, stacklevel=4)  # fmt: skip
            return None
    refined = np.empty((len(rows), now.shape[1]), now.dtype)
    refined[~back] = now[rows[~back]]
    refined[back] = new
    return refined


def in_current_layout(session, state: Structure, before: Structure, after: Structure) -> Structure:
    """``state`` (``before`` for an undo, ``after`` for a redo) in the session's layout of now.

    The session is in the structure the step leaves (``after`` for an undo). When
    its layout, UMAP model or metric changed since that structure was recorded, a
    training or re-projection made since stays: segments the session still has
    keep their points and refined features, and those that come back are
    re-embedded by a trained projection head or a fine-tuned backbone
    (:func:`_refined_rows`) and placed with the current model
    (:meth:`~napari_featann.session.Session.place`, by those refined features
    after a full fine-tuning). Otherwise ``state`` as it is.

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
    refined = _refined_rows(session, state, rows)
    emb = None
    if session.embedding is not None:
        emb = np.empty((len(rows), 2), np.float32)
        emb[kept] = session.embedding[rows[kept]]
        if back.any():
            emb[back] = session.place(state.features[back],
                                      refined=None if refined is None else refined[back])  # fmt: skip
    fit = (session._projector, session.metric_state)
    return replace(state, embedding=emb, refined=refined, fit=fit)
