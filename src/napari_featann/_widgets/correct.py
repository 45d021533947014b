"""The dock's "Correct" tab: split a segment by clicks, merge segments, remove specks, fill holes.

Split mode adds a Points layer ("featann clicks") over the current image.
A click adds a positive (green) point, Shift+click, a right click or the
"Negative clicks" toggle a negative (red) one. The segment under the first
click is the target; after each click the part that the clicks would split
off is previewed in a temporary Labels layer ("featann split preview").
"Split" (or Space while split mode is on) applies it with
:func:`napari_featann.editing.split`; Ctrl+click collects segments for
"Merge selected" (else the last scatter selection is merged). Both edits
are undoable through the session history (Ctrl+Z). "Remove specks" unlabels
the current image's small islands of each class
(:func:`napari_featann.editing.speck_segments`), also undoable; "Fill holes"
gives the unlabelled segments enclosed by a class that class
(:func:`napari_featann.editing.hole_segments`), as one undoable action.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .layers import place_like

__all__ = ["CLICKS_LAYER", "PREVIEW_LAYER", "CorrectMixin"]

CLICKS_LAYER = "featann clicks"
PREVIEW_LAYER = "featann split preview"
_POS, _NEG = (0.1, 0.9, 0.1, 1.0), (0.95, 0.1, 0.1, 1.0)
_DRAG_PX = 4.0


class CorrectMixin:
    """Split by clicks and merge, for :class:`~.dock.FeatureSpaceWidget`.

    Needs the dock's ``viewer``, ``layers``, ``session``, ``current_image``,
    ``current_class``, ``selected_ids``, ``_sync_scatter``, ``_touch``,
    ``_error``, ``_status`` and ``_guard``.
    """

    # ================================================================ UI
    def _build_correct_tab(self) -> QWidget:
        """The "Correct" page: split mode, negative toggle, split, clear, merge."""
        self._split_on = False
        self._clicks: list[tuple[float, float, bool]] = []
        self._split_target = 0
        self._split_image = -1
        self._merge_ids: list[int] = []
        self._split_cb = None
        self._split_preview: np.ndarray | None = None
        page = QWidget()
        self.split_mode_button = QPushButton("Split mode")
        self.split_mode_button.setCheckable(True)
        self.split_mode_button.setToolTip(
            "Click in a segment: positive part (green); Shift/right click or 'Negative': "
            "other part (red). Ctrl+click: collect segments to merge."
        )
        self.split_mode_button.toggled.connect(
            lambda on: self._guard(lambda: self.set_split_mode(on))
        )
        self.negative_button = QPushButton("Negative clicks")
        self.negative_button.setCheckable(True)
        self.negative_button.setToolTip("Plain clicks add negative (red) points")
        self.split_button = QPushButton("Split")
        self.split_button.setToolTip("Split the target segment as previewed (Space)")
        self.split_button.clicked.connect(lambda: self._guard(self.confirm_split))
        self.clear_clicks_button = QPushButton("Clear clicks")
        self.clear_clicks_button.clicked.connect(self.clear_clicks)
        self.merge_button = QPushButton("Merge selected")
        self.merge_button.setToolTip(
            "Merge the Ctrl+clicked segments, else the last scatter selection (adjacent, one image)"
        )
        self.merge_button.clicked.connect(lambda: self._guard(self.merge_selected))
        self.specks_button = QPushButton("Remove specks")
        self.specks_button.setToolTip(
            "Unlabel this image's small islands of each class: parts smaller than the given "
            "share of the class's largest part (Ctrl+Z undoes)"
        )
        self.specks_button.clicked.connect(lambda: self._guard(self.remove_specks))
        self.speck_percent = QSpinBox()
        self.speck_percent.setRange(1, 100)
        self.speck_percent.setValue(20)
        self.speck_percent.setSuffix(" % of the largest")
        self.speck_percent.setToolTip("Parts below this share of their class's largest part")
        self.holes_button = QPushButton("Fill holes")
        self.holes_button.setToolTip(
            "Give this image's unlabelled segments that a class encloses that class (Ctrl+Z undoes)"
        )
        self.holes_button.clicked.connect(lambda: self._guard(self.fill_holes))
        self.correct_info = QLabel("Split mode off.")
        self.correct_info.setWordWrap(True)
        lay = QVBoxLayout(page)
        row = QHBoxLayout()
        row.addWidget(self.split_mode_button)
        row.addWidget(self.negative_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        for b in (self.split_button, self.clear_clicks_button, self.merge_button):
            row.addWidget(b)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.specks_button)
        row.addWidget(self.speck_percent)
        row.addWidget(self.holes_button)
        lay.addLayout(row)
        lay.addWidget(self.correct_info)
        lay.addStretch(1)
        return page

    def _update_correct_enabled(self) -> None:
        """Disable Split, Merge, Remove specks and Fill holes while a job runs (as the
        dock's other buttons): they would change the segments or masks the job reads."""
        if not hasattr(self, "split_button"):  # (the tab is not built yet)
            return
        for button in (self.split_button, self.merge_button, self.specks_button,
                       self.holes_button):  # fmt: skip
            button.setEnabled(not self.busy)

    # ================================================================ split mode
    @property
    def split_mode(self) -> bool:
        """Whether canvas clicks place split seeds."""
        return self._split_on

    def set_split_mode(self, on: bool) -> None:
        """Turn split mode on (clicks layer, canvas callback, Space) or off (all removed).

        Parameters
        ----------
        on : bool
        """
        on = bool(on)
        if on and self.session is None:
            self.split_mode_button.setChecked(False)
            raise RuntimeError("load images and press Start first")
        if on == self._split_on:
            return
        self._split_on = on
        self.split_mode_button.blockSignals(True)
        self.split_mode_button.setChecked(on)
        self.split_mode_button.blockSignals(False)
        if on:
            self._split_cb = self._make_split_callback()
            self.viewer.mouse_drag_callbacks.append(self._split_cb)
            self._bound_keys.setdefault("Space", self.viewer.bind_key(
                "Space", lambda _v: self._guard(self.confirm_split), overwrite=True))  # fmt: skip
            self._clicks_layer()
            self.correct_info.setText("Split mode: click in the segment to split.")
        else:
            self.clear_clicks()
            if self._split_cb in self.viewer.mouse_drag_callbacks:
                self.viewer.mouse_drag_callbacks.remove(self._split_cb)
            self._split_cb = None
            if "Space" in self._bound_keys:
                self.viewer.bind_key("Space", self._bound_keys.pop("Space"), overwrite=True)
            self._remove_layer(PREVIEW_LAYER)
            self._remove_layer(CLICKS_LAYER)
            self.correct_info.setText("Split mode off.")

    def _make_split_callback(self):
        """A mouse-drag callback turning plain clicks (no drag) into seeds."""

        def callback(viewer, event):
            if not self._split_on or event.button not in (1, 2):
                return
            mods = {str(getattr(m, "name", m)).lower() for m in event.modifiers}
            start = np.asarray(event.pos, float)
            yield
            while event.type == "mouse_move":
                yield
            if np.hypot(*(np.asarray(event.pos, float) - start)[:2]) > _DRAG_PX:
                return
            image = self.layers.get(self.current_image, "image")
            if image is None:
                return
            r, c = np.asarray(image.world_to_data(event.position), float)[:2]
            if "control" in mods or "ctrl" in mods:
                self.add_merge_click(r, c)
                return
            negative = event.button == 2 or "shift" in mods or self.negative_button.isChecked()
            self.add_click(r, c, positive=not negative)

        return callback

    def _layer_named(self, name: str):
        return next((la for la in self.viewer.layers if la.name == name), None)

    def _hide_preview(self) -> None:
        """Hide the split preview layer, kept for the next split until split mode ends.

        Removing a layer costs napari a garbage collection (about 0.5 s on the DAVIS
        session), which froze the interface at the end of every split.
        """
        layer = self._layer_named(PREVIEW_LAYER)
        if layer is not None:
            layer.visible = False

    def _remove_layer(self, name: str) -> None:
        layer = self._layer_named(name)
        if layer is not None:
            self.viewer.layers.remove(layer)

    def _place_like_image(self, layer) -> None:
        image = self.layers.get(self.current_image, "image")
        if image is not None:
            place_like(layer, image)

    def _clicks_layer(self):
        """The Points layer of the clicks (created on demand, made active)."""
        layer = self._layer_named(CLICKS_LAYER)
        if layer is None:
            layer = self.viewer.add_points(np.zeros((0, 2)), name=CLICKS_LAYER, size=6,
                                           face_color="lime", border_width=0)  # fmt: skip
            self._place_like_image(layer)
            layer.bind_key("Space", lambda _l: self._guard(self.confirm_split), overwrite=True)
            layer.bind_key("Control-Z", lambda _l: self.undo(), overwrite=True)
            layer.bind_key("Control-Shift-Z", lambda _l: self.redo(), overwrite=True)
            self.viewer.layers.selection.active = layer
        return layer

    def _show_clicks(self) -> None:
        if not self._split_on:
            return
        layer = self._clicks_layer()
        data = np.array([(r, c) for r, c, _p in self._clicks], float).reshape(-1, 2)
        layer.data = data
        if len(data):
            layer.face_color = np.array([_POS if p else _NEG for _r, _c, p in self._clicks])

    # ================================================================ clicks and preview
    @property
    def clicks(self) -> tuple[list, list]:
        """(positive, negative) lists of (row, col) data coordinates."""
        pos = [(r, c) for r, c, p in self._clicks if p]
        neg = [(r, c) for r, c, p in self._clicks if not p]
        return pos, neg

    @property
    def split_target(self) -> int:
        """Id of the segment the clicks split (0: none yet)."""
        return self._split_target

    def add_click(self, row: float, col: float, positive: bool = True) -> bool:
        """Add a seed at (row, col) of the current image and update the preview.

        Parameters
        ----------
        row, col : float
            Data (pixel) coordinates of the current image.
        positive : bool
            True: the part to split off; False: the part that keeps the id.

        Returns
        -------
        bool
            False (with an error message, nothing changed) when the click is
            outside any segment or outside the target segment.
        """
        s = self.session
        if s is None or not len(s.label_images):
            self._error("Split", "load images and press Start first")
            return False
        i = self.current_image
        if self._clicks and i != self._split_image:
            self.clear_clicks()
        seg = s.segment_at(i, round(row), round(col))
        if seg == 0:
            self._error("Split", "the click is outside every segment")
            return False
        if self._split_target and seg != self._split_target:
            self._error("Split", f"the click is outside segment {self._split_target} "
                                 "(clear the clicks to split another)")  # fmt: skip
            return False
        self._split_target, self._split_image = seg, i
        self._clicks.append((float(row), float(col), bool(positive)))
        self._show_clicks()
        self._update_preview()
        return True

    def add_merge_click(self, row: float, col: float) -> int:
        """Add the segment under (row, col) of the current image to the merge list.

        Returns
        -------
        int
            The segment id (0 when the click hits no segment).
        """
        s = self.session
        if s is None or not len(s.label_images):
            return 0
        seg = s.segment_at(self.current_image, round(row), round(col))
        if seg and seg not in self._merge_ids:
            self._merge_ids.append(seg)
            self.layers.highlight_segment(self.current_image, seg)
        self.correct_info.setText(f"to merge: {', '.join(map(str, self._merge_ids)) or 'none'}")
        return seg

    def _update_preview(self) -> None:
        from ..editing import preview_split

        pos, neg = self.clicks
        self._split_preview = None
        if pos and neg:
            try:
                self._split_preview = preview_split(self.session, self._split_target, pos, neg)
            except (ValueError, KeyError) as exc:
                self._error("Split", str(exc))
        if self._split_preview is None:
            self._hide_preview()
            need = "a negative" if pos else "a positive"
            self.correct_info.setText(f"segment {self._split_target}: add {need} click")
            return
        layer = self._layer_named(PREVIEW_LAYER)
        data = self._split_preview.astype(np.uint8)
        if layer is None:
            active = self.viewer.layers.selection.active
            layer = self.viewer.add_labels(data, name=PREVIEW_LAYER, opacity=0.5)
            layer.editable = False
            self._place_like_image(layer)
            clicks = self._layer_named(CLICKS_LAYER)
            if clicks is not None:  # keep the clicks drawn above the preview
                layers = self.viewer.layers
                layers.move(layers.index(clicks), len(layers))
            if active is not None:
                self.viewer.layers.selection.active = active
        else:
            layer.data = data
            self._place_like_image(layer)
            layer.visible = True
        n = int(self._split_preview.sum())
        self.correct_info.setText(f"segment {self._split_target}: {n} px split off; "
                                  "Split or Space to apply")  # fmt: skip

    def split_preview(self) -> np.ndarray | None:
        """Boolean mask of the part the clicks would split off (None until both kinds)."""
        return None if self._split_preview is None else self._split_preview.copy()

    def clear_clicks(self) -> None:
        """Forget the clicks, the target, the merge list and the preview."""
        self._clicks = []
        self._split_target = 0
        self._split_image = -1
        self._merge_ids = []
        self._split_preview = None
        self._hide_preview()
        layer = self._layer_named(CLICKS_LAYER)
        if layer is not None:
            layer.data = np.zeros((0, 2))
        if self._split_on:
            self.correct_info.setText("Split mode: click in the segment to split.")

    # ================================================================ edits
    def _after_structural_edit(self, message: str) -> None:
        """Re-point layers at the new label images, redraw classes and scatter."""
        self.layers.update_structure()
        self.layers.refresh_classes()
        self._selected_ids = np.zeros(0, np.int64)
        closed = self._sync_scatter(keep_view=True)
        self._touch()
        self._status(f"{message}; {self._summary()}{self._local_views_note(closed)}")

    def confirm_split(self, sync: bool | None = None):
        """Split the target segment with the clicks; the positive part takes the current class.

        The new parts' features and places in the scatter are computed as a job
        (the interface stays responsive); the split is swapped in when it is done.

        Returns
        -------
        Job
            Its ``result``, once done: the ids of the negative part (the old id)
            and of the positive part (new).

        Raises
        ------
        RuntimeError
            Without a target or without both a positive and a negative click.
        """
        from ..editing import plan_split

        if self.busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        pos, neg = self.clicks
        if not self._split_target or not pos or not neg:
            raise RuntimeError("split needs a positive and a negative click in one segment")
        pos, neg = [tuple(p) for p in pos], [tuple(p) for p in neg]  # clicks go on meanwhile
        live, target, cid = self.session, self._split_target, self.current_class
        cls = cid if cid in live.classes else None

        def done(planned):
            ids = planned.apply(live)
            self.clear_clicks()
            self._after_structural_edit(f"split segment {ids[0]} -> {ids[0]}, {ids[1]}")
            return ids

        return self._run("split", lambda progress: plan_split(
            live, target, pos, neg, positive_class=cls, progress=progress), done, sync)  # fmt: skip

    def merge_selected(self, ids=None, sync: bool | None = None):
        """Merge adjacent segments of one image, as a job; undoable.

        Parameters
        ----------
        ids : sequence of int, optional
            Segments to merge. Default: the Ctrl+clicked segments when there
            are two or more, else the last scatter selection.
        sync : bool, optional

        Returns
        -------
        Job
            Its ``result``, once done: the id of the merged segment.

        Raises
        ------
        ValueError
            Fewer than two segments, several images, or not adjacent.
        """
        from ..editing import merge_image, plan_merge

        if self.busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        if ids is None:
            ids = self._merge_ids if len(self._merge_ids) >= 2 else self.selected_ids
        ids = np.unique(np.asarray(ids, np.int64))
        if ids.size < 2:
            raise ValueError("select (or Ctrl+click) at least two segments to merge")
        live = self.session
        merge_image(live, ids)  # unknown ids and several images: said at once

        def done(planned):
            target = planned.apply(live)
            self.clear_clicks()
            self._after_structural_edit(f"merged {ids.size} segments into {target}")
            return target

        return self._run("merge", lambda progress: plan_merge(live, ids, progress), done, sync)

    def remove_specks(self, fraction: float | None = None) -> int:
        """Unlabel the current image's small islands of each class; undoable.

        Parameters
        ----------
        fraction : float, optional
            Parts below this fraction of their class's largest part are
            specks; default: the tab's percentage.

        Returns
        -------
        int
            The number of segments unlabelled.
        """
        from ..editing import speck_segments

        self._check_image_edit()
        f = self.speck_percent.value() / 100 if fraction is None else float(fraction)
        ids = speck_segments(self.session, self.current_image, f)
        if ids.size == 0:
            self._status(f"no specks in this image (parts under {f:.0%} of their class's largest)")
            return 0
        self.assign(ids, 0)
        self._status(f"removed {ids.size} speck segments (Ctrl+Z undoes); {self._summary()}")
        return int(ids.size)

    def _check_image_edit(self) -> None:
        """Refuse a whole-image edit while a job runs or before there are segments."""
        if self.busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        if self.session is None:
            raise RuntimeError("start a session first")
        if not len(self.session.label_images):
            raise RuntimeError("press Start first: the images have no segments yet")

    def fill_holes(self) -> int:
        """Give the current image's unlabelled segments enclosed by a class that class.

        One undoable action, whatever the number of classes.

        Returns
        -------
        int
            The number of segments filled.
        """
        from ..editing import hole_segments

        self._check_image_edit()
        holes = hole_segments(self.session, self.current_image)
        if not holes:
            self._status("no holes in this image (no unlabelled segment is enclosed by a class)")
            return 0
        # an assign that changes nothing returns {} and adds no step to merge
        steps = sum(bool(self.assign(ids, cid)) for cid, ids in holes.items())
        n = sum(ids.size for ids in holes.values())
        if steps > 1:
            self.session.history.merge_last(steps, f"fill holes: {n} segments")
        self._status(f"filled {n} hole segments (Ctrl+Z undoes); {self._summary()}")
        return n
