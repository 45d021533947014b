"""The segments' structure as one value: what a structural edit replaces, and undo restores.

A :class:`Structure` holds everything a partition, split, merge or re-cut
replaces at once; :class:`~napari_featann.session.Session` keeps one before and
one after each such edit in its undo history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .core.regions import SegmentTable

__all__ = ["Structure", "held_bytes"]


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
