"""Links between the scatter and the napari canvas: thumbnails, clicks, camera.

- :class:`Thumbnails` crops a segment out of its image for the scatter's
  hover and on-canvas thumbnails.
- :func:`click_callback` turns a plain click (no drag) on the napari canvas
  into a callback with the clicked world position.
- :func:`center_on` centres the napari camera on a pixel rectangle.
- :class:`ScatterLinkMixin` is the dock's side of it: scatter points and
  colours, box/lasso selection -> labels, and focus in both directions (the
  Learn tab's local views included).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

__all__ = ["ScatterLinkMixin", "Thumbnails", "camera", "center_on", "click_callback"]

_DRAG_PX = 4.0
_GREY = (0.6, 0.6, 0.6, 0.8)
_PAINT_MODES = ("paint", "erase", "fill", "polygon", "add", "select", "direct", "pick")


class Thumbnails:
    """``thumbnails(row) -> (h, w, 4) uint8``: a segment's crop, masked, longest side ``size``.

    Parameters
    ----------
    get_session : callable
        Returns the current session (rows index its segment table).
    size : int
        Longest side of a thumbnail in pixels.
    margin : int
        Pixels of context around the segment's bounding box.
    """

    def __init__(self, get_session: Callable, size: int = 64, margin: int = 4) -> None:
        self._get_session = get_session
        self.size = int(size)
        self.margin = int(margin)
        # (id of the data, image index) -> (weak reference to the data, its RGB)
        self._rgb: OrderedDict[tuple[int, int], tuple[weakref.ref, np.ndarray]] = OrderedDict()

    def _image_u8(self, session, i: int) -> np.ndarray:
        data = session.images[i].data
        key = (id(data), i)
        # an id is unique among live objects only: a freed image's comes back with a new
        # array (another session's image), so the entry is valid while its data lives
        if key not in self._rgb or self._rgb[key][0]() is not data:
            if data.dtype == np.uint8 and data.ndim == 3 and data.shape[-1] == 3:
                rgb = data
            else:
                rgb = (session.images[i].float_rgb() * 255 + 0.5).astype(np.uint8)
            self._rgb[key] = (weakref.ref(data), rgb)
            while len(self._rgb) > 4:
                self._rgb.popitem(last=False)
        self._rgb.move_to_end(key)
        return self._rgb[key][1]

    def __call__(self, row: int) -> np.ndarray | None:
        s = self._get_session()
        if s is None or not 0 <= row < len(s.segments):
            return None
        i = int(s.segments.image[row])
        seg_id = int(s.segments.ids[row])
        r0, c0, r1, c1 = (int(v) for v in s.segments.bbox[row])
        h, w = s.images[i].shape2d
        m = self.margin
        r0, c0, r1, c1 = max(r0 - m, 0), max(c0 - m, 0), min(r1 + m, h), min(c1 + m, w)
        step = max(1, int(np.ceil(max(r1 - r0, c1 - c0) / self.size)))
        rgb = self._image_u8(s, i)[r0:r1:step, c0:c1:step]
        inside = s.label_images[i][r0:r1:step, c0:c1:step] == seg_id
        out = np.empty((*rgb.shape[:2], 4), np.uint8)
        out[..., :3] = rgb
        out[..., :3][~inside] //= 3  # dim the context, keep it visible
        out[..., 3] = 255
        return out


def center_on(viewer, layer, bbox) -> None:
    """Centre the napari camera on a ``(row0, col0, row1, col1)`` box of ``layer``'s pixels."""
    r0, c0, r1, c1 = (float(v) for v in bbox)
    centre = np.array([(r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2])
    world = np.asarray(layer.data_to_world(centre))[-2:]
    camera(viewer).center = tuple(float(v) for v in world)


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def click_callback(on_click: Callable[..., None]) -> Callable:
    """A napari mouse-drag callback calling ``on_click(world_position, label)`` for a click.

    ``label`` is True for Alt+click (label the clicked segment), False for a
    plain click. Drags (which pan), clicks with other modifiers and clicks
    while the active layer is in a painting or editing mode are ignored.
    """

    def callback(viewer, event):
        mods = {str(getattr(m, "name", m)).lower() for m in event.modifiers}
        if event.button != 1 or mods - {"alt"}:
            return
        active = viewer.layers.selection.active
        if str(getattr(active, "mode", "pan_zoom")) in _PAINT_MODES:
            return
        start = np.asarray(event.pos, float)
        yield
        while event.type == "mouse_move":
            yield
        if np.hypot(*(np.asarray(event.pos, float) - start)[:2]) <= _DRAG_PX:
            on_click(tuple(event.position), "alt" in mods)

    return callback


def _rgba(color: str) -> tuple[float, float, float, float]:
    """A class colour, opaque: any colour napari takes (its classes layer draws the class)."""
    from napari.utils.colormaps.standardize_color import transform_color

    r, g, b = (float(v) for v in transform_color(color)[0][:3])
    return (r, g, b, 1.0)


class ScatterLinkMixin:
    """The dock's scatter and linked selection (needs ``session``, ``scatter``, ``layers``)."""

    def point_colors(self) -> np.ndarray:
        """RGBA per segment row: its class colour, grey when unlabelled."""
        s = self._session
        lut = np.tile(np.float32(_GREY), (256, 1))
        for cid, info in s.classes.items():
            lut[cid] = _rgba(info.color)
        return lut[np.clip(s.segment_class, 0, 255)]

    def _sync_scatter(self, keep_view: bool = False) -> int:
        """Points when the embedding changed, else colours and the visibility mask; the
        suggestion rings follow (see ``LearnMixin._refresh_suggestions``).

        ``keep_view`` (after a split, merge, re-cut, undo or redo, which keep the layout):
        the scatter keeps its zoom and pan unless all the new points fall outside it.
        Returns the number of local views closed because their segments changed.
        """
        s = self._session
        if s is None or s.embedding is None or len(s.embedding) != len(s.segments):
            if self._shown_embedding is not None or s is None:
                self.scatter.set_points(np.zeros((0, 2)), np.zeros((0, 4)))
            self._shown_embedding = None
        elif s.embedding is not self._shown_embedding:
            self.scatter.set_points(s.embedding, self.point_colors(), keep_view=keep_view)
            self._shown_embedding = s.embedding
            self._apply_visible_mask()
        else:
            self.scatter.set_colors(self.point_colors())
            self._apply_visible_mask()
        self._refresh_suggestions()  # the Learn tab's rings: labelled or stale ones go
        closed = self._refresh_local_views()  # the Learn tab's local views follow (or close)
        self._update_enabled()
        return closed

    def set_hide_labelled(self, hide: bool) -> None:
        """Hide the points of segments that have a class (they cannot be selected then)."""
        self._hide_labelled = bool(hide)
        if self.scatter.hide_labelled != self._hide_labelled:
            # keep the scatter's checkbox in step (ScatterView has no public setter yet);
            # toggling it emits hide_labelled_toggled, which calls back here once
            self.scatter._hide_checkbox.setChecked(self._hide_labelled)
            return
        self._apply_visible_mask()

    def _apply_visible_mask(self) -> None:
        s = self._session
        if self._shown_embedding is None:
            return
        self.scatter.set_visible_mask(s.segment_class == 0 if self._hide_labelled else None)

    @property
    def selected_ids(self) -> np.ndarray:
        """Segment ids of the last box or lasso selection."""
        return self._selected_ids.copy()

    def select_box(self, corner0, corner1) -> np.ndarray:
        """Select the points in a box (scatter coordinates); the current class is assigned.

        Returns the selected segment ids.
        """
        self.scatter.select_box(corner0, corner1)
        return self.selected_ids

    def select_lasso(self, vertices) -> np.ndarray:
        """Select the points in a polygon (scatter coordinates); the current class is assigned."""
        self.scatter.select_lasso(np.asarray(vertices, float))
        return self.selected_ids

    def _on_selection(self, rows) -> None:
        s = self._session
        rows = np.asarray(rows, np.intp)
        if s is None or self.busy:
            return
        self._selected_ids = s.segments.ids[rows].astype(np.int64)
        self.scatter.highlight(rows)
        if not rows.size:
            return
        cid = self.current_class
        if cid == 0:
            self._warn(f"{rows.size} segments selected: add a class to label them")
            return
        self.assign(self._selected_ids, cid)

    # ================================================================ linked selection
    def focus_segment(self, segment_id: int) -> None:
        """Show a segment: switch to its image, outline it, centre napari and the scatter on it.

        While its image shows a preview cut, nothing is outlined: the preview's labels
        are not the session's segments.
        """
        s = self._session
        row = int(s.segments.rows_of([segment_id])[0])
        img = int(s.segments.image[row])
        self._set_current_image(img)
        if self.layers.previewing == img:  # its labels are a candidate cut, not the segments
            self.layers.clear_focus()
        else:
            self.layers.highlight_segment(img, segment_id)
        center_on(self.viewer, self.layers.get(img, "image"), s.segments.bbox[row])
        if self._shown_embedding is not None:
            self.scatter.focus_point(row)
        self._focus_local_views(segment_id)

    def _on_point_clicked(self, row: int) -> None:
        if self._session is None:
            return
        if row < 0:
            self.layers.clear_focus()
            self.scatter.clear_focus()
            self._focus_local_views(0)
            return
        self.focus_segment(int(self._session.segments.ids[row]))

    def _on_canvas_click(self, world_position, label: bool = False) -> None:
        """Focus the clicked segment; with ``label`` (Alt+click) also give it the current class."""
        s = self._session
        if s is None or not len(s.label_images) or self.layers.previewing is not None:
            return
        i = self.current_image
        image = self.layers.get(i, "image")
        if image is None or not image.visible:
            return
        r, c = (round(float(v)) for v in np.asarray(image.world_to_data(world_position))[:2])
        seg = s.segment_at(i, r, c)
        if seg == 0:
            self.layers.clear_focus()
            self.scatter.clear_focus()
            self._focus_local_views(0)
            return
        if label and self.current_class in s.classes and not (self.busy or self._split_on):
            self.assign([seg], self.current_class)
        self.layers.highlight_segment(i, seg)
        if self._shown_embedding is not None:
            self.scatter.focus_point(int(s.segments.rows_of([seg])[0]))
        self._focus_local_views(seg)
