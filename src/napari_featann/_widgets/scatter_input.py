"""Toolbar, mouse and keyboard input of :class:`~.scatter.ScatterView` (a mixin).

A left-button press, drag and release is a click (below ``DRAG_THRESHOLD_PX``), a box
or a lasso depending on the mode; the selection outline is drawn while dragging and
lingers a moment after the release. B, L, P and Esc switch the mode. A click (and the
hover) picks the point drawn on top under the cursor.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QButtonGroup, QCheckBox, QHBoxLayout, QPushButton, QToolButton

__all__ = ["MODES", "ScatterInputMixin"]

MODES = ("pan", "box", "lasso")


class ScatterInputMixin:
    """Toolbar and mouse mode, press / move / release, keys, and the selection outline.

    For a ``ScatterView``. Needs the view's ``_mode``, ``_camera``, ``_canvas``,
    ``_press_px``, ``_last_px``, ``_dragging``, ``_drag_data``, ``_hover_px``,
    ``_hover_timer``, ``_outline``, ``_outline_timer``, the ``point_clicked`` and
    ``hide_labelled_toggled`` signals, ``fit``, ``select_box``, ``select_lasso``,
    ``_emit_selection``, ``_clear_hover``, ``_canvas_to_data``, ``_units_per_px``,
    ``_vis_idx``, ``_vis_pos`` and ``_point_size``.
    """

    def _build_toolbar(self) -> QHBoxLayout:
        """The row above the canvas: mode buttons, "Hide labelled", Fit."""
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        self._mode_group = QButtonGroup(self)
        self._mode_group.setExclusive(True)
        self._mode_buttons: dict[str, QToolButton] = {}
        for mode, text, tip in (
            ("pan", "Pan", "Pan with the left button, zoom with the wheel (P, Esc)"),
            ("box", "Box", "Select the points inside a rectangle (B)"),
            ("lasso", "Lasso", "Select the points inside a free-hand polygon (L)"),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.clicked.connect(lambda _checked=False, m=mode: self.set_mode(m))
            self._mode_group.addButton(button)
            self._mode_buttons[mode] = button
            bar.addWidget(button)
        self._mode_buttons["pan"].setChecked(True)
        self._hide_checkbox = QCheckBox("Hide labelled", self)
        self._hide_checkbox.setToolTip("Hide the points that already have a class")
        self._hide_checkbox.toggled.connect(self.hide_labelled_toggled.emit)
        bar.addWidget(self._hide_checkbox)
        bar.addStretch(1)
        self._fit_button = QPushButton("Fit", self)
        self._fit_button.setToolTip("Show all points (Backspace in the canvas)")
        self._fit_button.clicked.connect(self.fit)
        bar.addWidget(self._fit_button)
        return bar

    def set_mode(self, mode: str) -> None:
        """Mouse mode: "pan" (drag pans), "box" or "lasso" (drag selects).

        The wheel zooms in every mode.

        Parameters
        ----------
        mode : {"pan", "box", "lasso"}

        Raises
        ------
        ValueError
            For another mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._cancel_drag()
        self._mode = mode
        self._camera.drag_pan = mode == "pan"
        button = self._mode_buttons[mode]
        if not button.isChecked():
            button.setChecked(True)
        cursor = Qt.CursorShape.ArrowCursor if mode == "pan" else Qt.CursorShape.CrossCursor
        self._canvas.native.setCursor(cursor)

    # ------------------------------------------------------------------ mouse, keys

    def _on_mouse_press(self, event) -> None:
        if event.button != 1:
            return
        px = np.asarray(event.pos[:2], dtype=np.float64)
        self._press_px = self._last_px = px
        self._dragging = False
        self._clear_hover()
        self._clear_outline()
        self._drag_data = [self._canvas_to_data(px)[0]] if self._mode != "pan" else []

    def _on_mouse_move(self, event) -> None:
        px = np.asarray(event.pos[:2], dtype=np.float64)
        if self._press_px is None:
            self._hover_px = px
            if not self._hover_timer.isActive():
                self._hover_timer.start()
            return
        if not self._dragging:
            if np.hypot(*(px - self._press_px)) < self.DRAG_THRESHOLD_PX:
                return
            self._dragging = True
        if self._mode == "box":
            self._drag_data[1:] = [self._canvas_to_data(px)[0]]
            self._draw_box(*self._drag_data)
        elif self._mode == "lasso" and np.hypot(*(px - self._last_px)) >= self.LASSO_STEP_PX:
            self._last_px = px
            self._drag_data.append(self._canvas_to_data(px)[0])
            self._draw_path(self._drag_data, closed=False)

    def _on_mouse_release(self, event) -> None:
        if event.button != 1 or self._press_px is None:
            return
        px = np.asarray(event.pos[:2], dtype=np.float64)
        # the Qt backend drops moves closer than 10 ms apart: judge by the release as well
        moved = np.hypot(*(px - self._press_px)) >= self.DRAG_THRESHOLD_PX
        dragging, mode, path = self._dragging or moved, self._mode, self._drag_data
        self._press_px = self._last_px = None
        self._dragging = False
        self._drag_data = []
        if not dragging:
            self._clear_outline()
            self.point_clicked.emit(self._pick(px))
            return
        end = self._canvas_to_data(px)[0]
        if mode == "box":
            self._draw_box(path[0], end)
            self._outline_timer.start()
            self.select_box(path[0], end)
        elif mode == "lasso":
            path.append(end)
            if len(path) >= 3:
                self._draw_path(path, closed=True)
                self._outline_timer.start()
                self.select_lasso(np.asarray(path))
            else:
                self._clear_outline()
                self._emit_selection(np.zeros(0, np.intp))

    def _on_key_press(self, event) -> None:
        name = (getattr(event.key, "name", None) or "").lower()
        if name == "escape" and self._press_px is not None:
            self._cancel_drag()
            return
        if event.modifiers and name != "escape":
            return
        mode = {"b": "box", "l": "lasso", "p": "pan", "escape": "pan"}.get(name)
        if mode is not None:
            self.set_mode(mode)

    def _cancel_drag(self) -> None:
        self._press_px = self._last_px = None
        self._dragging = False
        self._drag_data = []
        self._clear_outline()

    # ------------------------------------------------------------------ picking

    def _pick(self, px) -> int:
        """The visible point drawn on top at a canvas position, else the nearest within
        PICK_RADIUS_PX, or -1.

        Points are drawn in index order, a later one over an earlier one: of the discs that
        cover the position (and of equally near points) the one of highest index is the one
        the user sees.
        """
        if self._vis_idx.size == 0:
            return -1
        d = self._canvas_to_data(px)[0]
        upp = self._units_per_px()
        r = max(self.PICK_RADIUS_PX, 0.5 * self._point_size) * upp
        dx = self._vis_pos[:, 0] - d[0]
        near = np.flatnonzero(np.abs(dx) <= r)  # ascending: the last drawn is last
        if near.size == 0:
            return -1
        dy = self._vis_pos[near, 1] - d[1]
        d2 = dx[near] ** 2 + dy**2
        under = np.flatnonzero(d2 <= (0.5 * self._point_size * upp) ** 2)
        k = int(under[-1]) if under.size else int(np.flatnonzero(d2 == d2.min())[-1])
        if d2[k] > r * r:
            return -1
        return int(self._vis_idx[near[k]])

    # ------------------------------------------------------------------ outline

    def _draw_box(self, c0, c1) -> None:
        (x0, y0), (x1, y1) = c0, c1
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        self._set_outline(np.asarray(pts, np.float32))

    def _draw_path(self, path, closed: bool) -> None:
        pts = np.asarray(path, np.float32)
        if closed:
            pts = np.concatenate([pts, pts[:1]])
        if pts.shape[0] >= 2:
            self._set_outline(pts)

    def _set_outline(self, pts: np.ndarray) -> None:
        self._outline_timer.stop()
        self._outline.set_data(pos=pts)
        self._outline.visible = True

    def _clear_outline(self) -> None:
        self._outline_timer.stop()
        if self._outline.visible:
            self._outline.visible = False
