"""Scatter view of the 2-D embedding: pan/zoom, box and lasso selection, thumbnails.

One lean vispy visual (:class:`.scatter_points.Discs`) draws every point; colour changes
re-upload only the per-point attributes of that visual, from cached positions. Overlays (selection
outline, highlight and suggestion rings, focus ring, on-canvas thumbnails) are separate visuals.
Work that follows the camera (on-canvas thumbnails, hover picking) is throttled by
single-shot timers, and Qt coalesces repaint requests. Level of detail: while the camera
moves, only a fixed random subsample of at most ``lod_cap`` points is uploaded to the
markers visual; all points are drawn again once the camera has been still for
``LOD_SETTLE_MS``. The subsample is only what is drawn: selection, picking, focus,
highlight and colours always act on all points.

The public surface is small and can be driven without a mouse (tests, scripts, the dock):
``set_points``, ``set_colors``, ``set_visible_mask``, ``set_mode``, ``select_box``,
``select_lasso``, ``focus_point``, ``highlight``, ``ring``, ``set_thumbnail_provider``,
``camera_rect`` / ``set_camera_rect``, ``lod_cap`` and ``render``.

Mixins of :class:`ScatterView` hold the rest: thumbnails and hover in
:mod:`.scatter_thumbs`, the toolbar, mouse and keyboard input in :mod:`.scatter_input`,
the level of detail in :mod:`.scatter_lod`, the focus, highlight and suggestion rings in
:mod:`.scatter_overlays`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from qtpy import API_NAME
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget
from vispy import scene
from vispy.scene.cameras import PanZoomCamera

from ..core.selection import new_points, points_in_box, points_in_polygon
from .scatter_input import MODES, ScatterInputMixin
from .scatter_lod import LevelOfDetailMixin
from .scatter_overlays import EMPTY_POS, ScatterOverlaysMixin
from .scatter_points import Discs
from .scatter_thumbs import ThumbnailHoverMixin, ThumbnailProvider

__all__ = ["MODES", "ScatterView", "ThumbnailProvider"]


_OUTLINE_COLOR = (1.0, 1.0, 1.0, 0.9)


def _vispy_app():
    """The vispy application on the Qt binding that qtpy picked."""
    from vispy import app

    try:
        return app.use_app(API_NAME)
    except RuntimeError:  # another backend is in use already (napari picks the same one)
        return app.use_app()


def _autoswap() -> bool:
    """Whether the canvas swaps its GL buffers itself: napari's own setting (off by default).

    The canvas is a ``QOpenGLWidget`` that Qt composes into the window; an explicit
    swap of its context's surface only costs a frame (≈ 33 ms under software GL).
    """
    try:
        from napari.settings import get_settings

        return bool(get_settings().experimental.autoswap_buffers)
    except Exception:  # napari absent or its settings unreadable: napari's default
        return False


class _Camera(PanZoomCamera):
    """A ``PanZoomCamera`` whose left-button drag pan can be switched off.

    In box and lasso modes the left button draws the selection; the wheel still
    zooms and a right-button drag still zooms.
    """

    drag_pan = True
    on_change: Callable[[], None] | None = None  # called after every view change

    def _update_transform(self):
        super()._update_transform()
        if self.on_change is not None:
            self.on_change()

    def viewbox_mouse_event(self, event):
        left = event.button == 1 or 1 in (event.buttons or ())
        if not self.drag_pan and left and event.type != "mouse_wheel":
            return
        super().viewbox_mouse_event(event)


class ScatterView(
    ThumbnailHoverMixin, ScatterInputMixin, LevelOfDetailMixin, ScatterOverlaysMixin, QWidget
):
    """The 2-D embedding as a scatter plot that selects points by box or lasso.

    Parameters
    ----------
    parent : QWidget, optional
    point_size : float
        Marker diameter in screen pixels.
    bgcolor : str or tuple
        Canvas background.
    lod_cap : int, "auto" or None
        Most points drawn while the camera moves; None or 0 always draws all of
        them. ``"auto"`` (default): ``LOD_CAP_SOFTWARE`` under software OpenGL
        (Mesa llvmpipe, 100k points: 21-26 ms a frame at 5 000 drawn, 25-29 ms at
        10 000, 37-39 ms at 20 000, 68-80 ms at all of them), ``LOD_CAP`` on a GPU.
        Settable later through ``lod_cap``.

    Signals
    -------
    selection_made(ndarray of int)
        Indices of the visible points inside a box or lasso (mouse or ``select_*``).
    point_clicked(int)
        A plain click: the visible point drawn on top under the cursor, else the
        nearest within a few pixels, or -1.
    hovered(int)
        The point under the cursor changed (-1: none).
    hide_labelled_toggled(bool)
        The "Hide labelled" checkbox changed; the owner answers with ``set_visible_mask``.
    """

    selection_made = Signal(object)
    point_clicked = Signal(int)
    hovered = Signal(int)
    hide_labelled_toggled = Signal(bool)

    PICK_RADIUS_PX = 6.0  # click / hover tolerance
    DRAG_THRESHOLD_PX = 3.0  # a press-release closer than this is a click
    LASSO_STEP_PX = 2.0  # minimum spacing of lasso vertices
    THUMB_MAX = 60  # on-canvas thumbnails appear when at most this many points are in view
    THUMB_PX = 48  # on-canvas thumbnail size (longest side, screen pixels)
    HOVER_PX = 96  # hover thumbnail size
    THUMB_CACHE = 256  # provider results kept
    HOVER_DELAY_MS = 30
    CAMERA_DELAY_MS = 40
    OUTLINE_LINGER_MS = 400
    LOD_CAP = 20_000  # most points drawn while the camera moves (hardware OpenGL)
    LOD_CAP_SOFTWARE = 10_000  # the same under a software renderer
    LOD_SETTLE_MS = 250  # the camera is still this long: draw all points again
    LOD_SEED = 0  # seed of the subsample (the same points on every move)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        point_size: float = 6.0,
        bgcolor="#262930",
        lod_cap: int | str | None = "auto",
    ):
        super().__init__(parent)
        self._point_size = float(point_size)
        self._init_lod(lod_cap)
        self._pos = np.zeros((0, 2), np.float64)
        self._pos32 = EMPTY_POS
        self._colors = np.zeros((0, 4), np.float32)
        self._mask: np.ndarray | None = None
        self._vis_idx = np.zeros(0, np.intp)  # indices of drawn (visible) points
        self._vis_pos = self._pos
        self._vis_pos32 = EMPTY_POS
        self._mode = "pan"
        self._provider: ThumbnailProvider | None = None
        self._thumb_cache: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._pool: list[scene.visuals.Image] = []
        self._pool_index: list[int] = []
        # mouse state
        self._press_px: np.ndarray | None = None
        self._last_px: np.ndarray | None = None
        self._dragging = False
        self._drag_data: list[np.ndarray] = []  # box: [corner0, corner1]; lasso: the path
        self._hover_px: np.ndarray | None = None
        self._hover_index = -1
        self._hover_pixmap_index = -1

        # -- canvas
        self._canvas = scene.SceneCanvas(
            keys=None,
            show=False,
            bgcolor=bgcolor,
            parent=self,
            app=_vispy_app(),
            size=(400, 400),
            autoswap=_autoswap(),
        )
        self._canvas.native.setMinimumSize(160, 160)
        self._view = self._canvas.central_widget.add_view()
        self._camera = _Camera(aspect=1)
        self._view.camera = self._camera

        self._markers = Discs(parent=self._view.scene)
        self._init_overlays()  # the ring, highlight and focus visuals
        self._outline = scene.visuals.Line(
            pos=np.zeros((2, 2), np.float32),
            color=_OUTLINE_COLOR,
            width=1.5,
            method="gl",
            parent=self._view.scene,
        )
        self._outline.visible = False
        overlays = (self._ring_markers, self._hl_markers, self._focus_markers, self._outline)
        for order, visual in enumerate((self._markers, *overlays)):
            visual.order = order
            visual.set_gl_state("translucent", depth_test=False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._canvas.native, 1)

        # -- hover thumbnail
        self._hover_label = QLabel(self)
        self._hover_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._hover_label.setStyleSheet("QLabel { border: 1px solid #aaa; background: #111; }")
        self._hover_label.hide()

        # -- timers (throttling)
        self._hover_timer = self._single_shot(self.HOVER_DELAY_MS, self._process_hover)
        self._camera_timer = self._single_shot(self.CAMERA_DELAY_MS, self._on_camera_settled)
        self._outline_timer = self._single_shot(self.OUTLINE_LINGER_MS, self._clear_outline)
        self._lod_timer = self._single_shot(self.LOD_SETTLE_MS, self._end_lod)

        # -- events
        self._canvas.events.mouse_press.connect(self._on_mouse_press)
        self._canvas.events.mouse_move.connect(self._on_mouse_move)
        self._canvas.events.mouse_release.connect(self._on_mouse_release)
        self._canvas.events.key_press.connect(self._on_key_press)
        self._camera.on_change = self._on_camera_changed
        self._canvas.native.installEventFilter(self)

        self.fit()

    def _single_shot(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # ------------------------------------------------------------------ properties

    @property
    def points(self) -> np.ndarray:
        """The (n, 2) point positions (read-only view)."""
        view = self._pos.view()
        view.flags.writeable = False
        return view

    @property
    def colors(self) -> np.ndarray:
        """The (n, 4) float RGBA colours (read-only view)."""
        view = self._colors.view()
        view.flags.writeable = False
        return view

    @property
    def mode(self) -> str:
        """The mouse mode: "pan", "box" or "lasso"."""
        return self._mode

    @property
    def hide_labelled(self) -> bool:
        """Whether the "Hide labelled" checkbox is checked."""
        return self._hide_checkbox.isChecked()

    @property
    def canvas(self) -> scene.SceneCanvas:
        """The vispy canvas (for screenshots and event plumbing)."""
        return self._canvas

    @property
    def view(self) -> scene.ViewBox:
        """The vispy view box holding the scatter (its ``scene`` is in data coordinates)."""
        return self._view

    # ------------------------------------------------------------------ data

    def set_points(self, xy, colors=None, *, keep_view: bool = False) -> None:
        """Replace all points, clear mask, highlight, rings and focus, and fit the camera.

        Parameters
        ----------
        xy : array, shape (n, 2)
            Positions in data (embedding) coordinates, finite.
        colors : array, shape (n, 4) or (n, 3), float in [0, 1], optional
            RGBA per point; grey when omitted.
        keep_view : bool
            Keep the camera (zoom and pan) instead of fitting it, unless all points are
            new (at a position no previous point had: another layout) or all the new
            points lie outside the view.
        """
        pos = np.asarray(xy, dtype=np.float64)
        if pos.size == 0:
            pos = pos.reshape(0, 2)
        if pos.ndim != 2 or pos.shape[1] != 2:
            raise ValueError(f"xy must have shape (n, 2), got {pos.shape}")
        if not np.isfinite(pos).all():
            raise ValueError("xy must be finite")
        n = pos.shape[0]
        rect = self.camera_rect() if keep_view and self._pos.shape[0] and n else None
        if rect is not None:  # a new layout, or the new points all out of view: fit
            added = pos[new_points(self._pos, pos)]
            if len(added) == n or (
                added.size and not points_in_box(added, rect[:2], rect[2:]).size
            ):
                rect = None
        if colors is None:
            colors = np.tile(np.float32([0.7, 0.7, 0.7, 1.0]), (n, 1))
        self._colors = self._check_colors(colors, n)
        self._pos = np.ascontiguousarray(pos)
        self._pos32 = self._pos.astype(np.float32)
        self._mask = None
        self._clear_overlays()
        self._thumb_cache.clear()
        self._pool_index = [-1] * len(self._pool)
        self._cancel_drag()
        self._clear_hover()
        self._lod_rank = None
        self._lod_timer.stop()
        self._lod_on = False
        self._update_visible()
        self._upload_markers()
        if rect is not None:  # the view stays, but Backspace must show the new points too
            state, self._lod_hold = self._camera.get_state(), True  # no camera move
            try:
                self._fit_range()
                self._camera.set_state(state)
            finally:
                self._lod_hold = False
            self._update_thumbnails()
            return
        self._lod_hold = True  # fitting new points is no camera move: draw them all at once
        try:
            self.fit()
        finally:
            self._lod_hold = False

    def set_colors(self, colors) -> None:
        """Replace the colours only (fast path: positions are not re-validated).

        Parameters
        ----------
        colors : array, shape (n, 4) or (n, 3), float in [0, 1]
        """
        self._colors = self._check_colors(colors, self._pos.shape[0])
        self._upload_markers()

    def set_visible_mask(self, mask) -> None:
        """Show only some points; hidden points are neither drawn nor selectable.

        Parameters
        ----------
        mask : bool array, shape (n,), or None for all points
        """
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self._pos.shape[0],):
                raise ValueError(f"mask must have shape ({self._pos.shape[0]},), got {mask.shape}")
            mask = mask.astype(bool)
            if mask.all():
                mask = None
        same = (
            mask is None and self._mask is None
            if mask is None or self._mask is None
            else np.array_equal(mask, self._mask)
        )
        if same:  # the dock re-applies the mask after every colour change: skip the upload
            return
        self._mask = mask
        self._cancel_drag()
        self._clear_hover()
        self._update_visible()
        self._upload_markers()
        self._upload_overlays()
        self._update_thumbnails()

    @staticmethod
    def _check_colors(colors, n: int) -> np.ndarray:
        c = np.asarray(colors, dtype=np.float32)
        if c.size == 0 and n == 0:
            return np.zeros((0, 4), np.float32)
        if c.shape == (n, 3):
            c = np.concatenate([c, np.ones((n, 1), np.float32)], axis=1)
        if c.shape != (n, 4):
            raise ValueError(f"colors must have shape ({n}, 4), got {c.shape}")
        return np.clip(c, 0.0, 1.0)

    def _update_visible(self) -> None:
        if self._mask is None:
            self._vis_idx = np.arange(self._pos.shape[0], dtype=np.intp)
            self._vis_pos, self._vis_pos32 = self._pos, self._pos32
        else:
            self._vis_idx = np.flatnonzero(self._mask)
            self._vis_pos = self._pos[self._vis_idx]
            self._vis_pos32 = self._pos32[self._vis_idx]
        self._lod_local = None

    def _upload_markers(self) -> None:
        if self._vis_idx.size == 0:
            self._markers.set_data(pos=EMPTY_POS)
            return
        local = self._lod_subsample() if self._lod_on else None
        if local is None:
            pos = self._vis_pos32
            colors = self._colors if self._mask is None else self._colors[self._vis_idx]
        else:  # the camera moves: draw the subsample only
            pos = self._vis_pos32[local]
            colors = self._colors[self._vis_idx[local]]
        self._markers.set_data(pos=pos, face_color=colors, size=self._point_size)

    # ------------------------------------------------------------------ camera

    def fit(self) -> None:
        """Fit the camera to all points (the Fit button)."""
        self._fit_range()
        self._update_thumbnails()

    def _fit_range(self) -> None:
        """Fit the camera to all points and make that its default state (Backspace)."""
        if self._pos.shape[0] == 0:
            lo, hi = np.zeros(2), np.ones(2)
        else:
            lo, hi = self._pos.min(axis=0), self._pos.max(axis=0)
        span = float((hi - lo).max())
        pad = 0.05 * span if span > 0 else max(1.0, 1e-3 * float(np.abs(lo).max()))
        self._camera.set_range(
            x=(lo[0] - pad, hi[0] + pad),
            y=(lo[1] - pad, hi[1] + pad),
            z=(-1.0, 1.0),  # given, so vispy does not ask (possibly empty) visuals for bounds
            margin=0.0,
        )
        self._camera.set_default_state()  # Backspace in the canvas returns here

    def camera_rect(self) -> tuple[float, float, float, float]:
        """The data rectangle in view: ``(x0, y0, x1, y1)`` with x0 < x1, y0 < y1.

        With the fixed aspect ratio this can be larger than what ``set_camera_rect`` asked for.
        """
        w, h = self._view.size
        if w <= 0 or h <= 0:
            r = self._camera.rect
            return (r.left, r.bottom, r.right, r.top)
        corners = self._view.scene.transform.imap(np.array([[0.0, 0.0], [w, h]]))
        xs, ys = sorted(corners[:, 0]), sorted(corners[:, 1])
        return (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))

    def set_camera_rect(self, *rect) -> None:
        """Show at least the data rectangle ``(x0, y0, x1, y1)``.

        Accepts four numbers or one 4-sequence (as returned by ``camera_rect``).
        """
        if len(rect) == 1:
            rect = tuple(rect[0])
        if len(rect) != 4:
            raise ValueError("set_camera_rect takes x0, y0, x1, y1")
        x0, y0, x1, y1 = map(float, rect)
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        if x1 - x0 <= 0 and y1 - y0 <= 0:
            raise ValueError("the camera rectangle must have a positive width or height")
        self._camera.rect = (x0, y0, x1 - x0, y1 - y0)
        self._update_thumbnails()

    def _units_per_px(self) -> float:
        x0, _y0, x1, _y1 = self.camera_rect()
        w = self._view.size[0]
        return (x1 - x0) / w if w > 0 else 1.0

    def _canvas_to_data(self, px) -> np.ndarray:
        """Canvas pixels (logical) -> data coordinates, shape (m, 2)."""
        tr = self._canvas.scene.node_transform(self._view.scene)
        p = tr.map(np.atleast_2d(np.asarray(px, dtype=np.float64))[:, :2])
        return p[:, :2] / p[:, 3:4]

    def _on_camera_changed(self) -> None:
        if not self._camera_timer.isActive():
            self._camera_timer.start()
        self._start_lod()

    def _on_camera_settled(self) -> None:
        self._update_thumbnails()
        if self._hover_label.isVisible():
            self._process_hover()

    # ------------------------------------------------------------------ selection

    def select_box(self, corner0, corner1) -> np.ndarray:
        """Select the visible points inside a box given in data coordinates.

        Emits ``selection_made`` with the indices and returns them (sorted).
        """
        local = points_in_box(self._vis_pos, np.asarray(corner0), np.asarray(corner1))
        return self._emit_selection(local)

    def select_lasso(self, vertices) -> np.ndarray:
        """Select the visible points inside a polygon given in data coordinates.

        Emits ``selection_made`` with the indices and returns them (sorted).

        Raises
        ------
        ValueError
            With fewer than 3 vertices.
        """
        local = points_in_polygon(self._vis_pos, np.asarray(vertices, dtype=np.float64))
        return self._emit_selection(local)

    def _emit_selection(self, local: np.ndarray) -> np.ndarray:
        idx = self._vis_idx[local].astype(np.intp)
        self.selection_made.emit(idx)
        return idx

    def visible_indices(self) -> np.ndarray:
        """Indices of the visible points inside the current camera rectangle (sorted)."""
        x0, y0, x1, y1 = self.camera_rect()
        return self._vis_idx[points_in_box(self._vis_pos, (x0, y0), (x1, y1))]

    # ------------------------------------------------------------------ output

    def render(self) -> np.ndarray:
        """Draw now, as when the camera has settled, and return the canvas.

        All visible points are drawn (the level-of-detail subsample ends).

        Returns
        -------
        ndarray, shape (h, w, 4), uint8
            RGBA pixels.
        """
        if self._camera_timer.isActive():
            self._on_camera_settled()
        self._end_lod()
        return self._canvas.render()
