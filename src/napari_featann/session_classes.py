"""The class list of a :class:`~napari_featann.session.Session`: its edits, each undoable.

:class:`ClassesMixin` adds, renames, recolours and deletes classes; a deleted
class's segments and pixels become unlabelled. :class:`~napari_featann.session.Session`
inherits it, so these are the session's own methods (``session.add_class`` ...),
with the session's history, class masks and structure.
"""

from __future__ import annotations

import numpy as np

from . import checks
from .core.history import Action
from .params import PALETTE, ClassInfo, hex_color
from .structure import held_bytes as _held_bytes

__all__ = ["ClassesMixin"]


class ClassesMixin:
    """Class edits of a :class:`~napari_featann.session.Session` (add, rename, recolour,
    delete); every one is a step in the session's undo history."""

    def add_class(self, name: str | None = None, color: str | None = None) -> int:
        """Add a class and return its id (1..255); undoable.

        The lowest free id is taken, so a deleted class's id comes back. Adding
        is in the history for that reason: undoing past it removes the class
        again, and an undone deletion can never meet a newer class on its id.
        ``color``: any :func:`~.params.hex_color` takes (default: the palette's);
        ``name``: see :func:`~.checks.new_class_name` (None: ``class <id>``).
        """
        free = [i for i in range(1, 256) if i not in self.classes]
        if not free:
            raise ValueError("at most 255 classes")
        cid = free[0]
        name = checks.new_class_name(name, [c.name for c in self.classes.values()], cid)
        info = ClassInfo(cid, name, hex_color(color, PALETTE[(cid - 1) % len(PALETTE)]))
        self.classes[cid] = info  # at the end, where a redo puts it (later ones undone by then)
        self.history.push(Action(f"add class {name}", lambda: self.classes.pop(cid, None),
                                 lambda: self.classes.update({cid: info})))  # fmt: skip
        return cid

    def rename_class(self, class_id: int, name: str) -> None:
        """Rename a class (undoable); ``name`` as :func:`~.checks.new_class_name` takes it."""
        info = self._class(class_id)
        name = checks.new_class_name(name, [c.name for c in self.classes.values() if c is not info])
        self._set_class_field(info, "name", name, f"rename class {info.name} to {name}")

    def recolor_class(self, class_id: int, color: str) -> None:
        """Change a class's colour (any :func:`~.params.hex_color` takes; undoable)."""
        info, color = self._class(class_id), hex_color(color)
        self._set_class_field(info, "color", color, f"colour of class {info.name}")

    def _set_class_field(self, info: ClassInfo, key: str, value: str, description: str) -> None:
        old = getattr(info, key)
        if old != value:
            setattr(info, key, value)
            self.history.push(Action(description, lambda: setattr(info, key, old),
                                     lambda: setattr(info, key, value)))  # fmt: skip

    def remove_class(self, class_id: int) -> None:
        """Delete a class; its segments and pixels become unlabelled (undoable)."""
        info = self._class(class_id)
        class_id, place = info.id, list(self.classes).index(info.id)
        rows = np.flatnonzero(self.segment_class == class_id)
        touched = [i for i, m in enumerate(self.class_masks) if (m == class_id).any()]
        before = self._structure(touched)
        # its hand-painted pixels become free too, not protected like erased ones
        hand = [(i, np.flatnonzero(self.manual_masks[i] & (self.class_masks[i] == class_id)))
                for i in touched]  # fmt: skip

        def set_painted(value: bool) -> None:
            for i, idx in hand:
                self.manual_masks[i].ravel()[idx] = value

        self.segment_class[rows] = 0
        for i in touched:
            m = self.class_masks[i]
            m[m == class_id] = 0
        set_painted(False)
        for i, idx in hand:  # free now: they show their segment's class, as every free pixel
            m = self.class_masks[i].ravel()
            m[idx] = self._segment_class_of_pixels(i, idx)
        del self.classes[class_id]
        after = self._structure(touched)

        def undo():  # back at its place in the list (the number keys, the saved order)
            items = list(self.classes.items())
            self.classes.clear()  # the same dict, changed in place as by every class edit
            self.classes.update([*items[:place], (class_id, info), *items[place:]])
            self._set_structure(before, keep_layout=True)  # no segment changed
            set_painted(True)

        def redo():
            self.classes.pop(class_id, None)
            self._set_structure(after, keep_layout=True)
            set_painted(False)

        self.history.push(
            Action(f"delete class {info.name}", undo, redo, _held_bytes(before, after))
        )

    def _segment_class_of_pixels(self, image: int, flat: np.ndarray) -> np.ndarray:
        """The class of the segment under each of ``flat`` pixels of an image (0 before a
        partition)."""
        if image >= len(self.label_images) or not flat.size:
            return np.zeros(flat.size, np.uint8)
        seg, lab = self.segments, self.label_images[image]
        rows = np.flatnonzero(seg.image == image)
        lut = np.zeros(int(max(lab.max(), seg.ids[rows].max(initial=0))) + 1, np.uint8)
        lut[seg.ids[rows]] = self.segment_class[rows]
        return lut[lab.ravel()[flat]]

    def _class(self, class_id: int) -> ClassInfo:
        return self.classes[checks.class_id(self, class_id, unlabelled=False)]
