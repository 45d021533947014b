"""Thumbnails and hover for :class:`~.scatter.ScatterView` (a mixin).

On-canvas thumbnails are a pool of vispy ``Image`` visuals placed over the points
in view when at most ``THUMB_MAX`` of them are; the hover thumbnail is a QLabel that
follows the cursor. Both ask one provider ``fn(index) -> image`` and cache its results.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from qtpy.QtCore import QEvent, QPoint, Qt
from qtpy.QtGui import QImage, QPixmap
from vispy import scene
from vispy.visuals.transforms import STTransform

__all__ = ["ThumbnailHoverMixin", "ThumbnailProvider"]

log = logging.getLogger(__name__)

ThumbnailProvider = Callable[[int], np.ndarray]


def _as_rgba_u8(image) -> np.ndarray:
    """A thumbnail as a contiguous uint8 (h, w, 3|4) array."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"a thumbnail must be (h, w, 3|4), got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.round(np.clip(a, 0.0, 1.0) * 255.0)
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _to_pixmap(image: np.ndarray, max_side: int) -> QPixmap:
    h, w, c = image.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    qimage = QImage(image.tobytes(), w, h, w * c, fmt).copy()  # copy: own the pixels
    pixmap = QPixmap.fromImage(qimage)
    if max(h, w) != max_side:
        pixmap = pixmap.scaled(
            max_side,
            max_side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return pixmap


class ThumbnailHoverMixin:
    """On-canvas and hover thumbnails of a :class:`~.scatter.ScatterView`.

    Needs the view's ``_provider``, ``_thumb_cache``, ``_pool``, ``_pool_index``,
    ``_hover_*`` state, ``_hover_label``, ``_hover_timer``, ``_camera_timer``,
    ``_canvas``, ``_view``, ``_pos``, ``_vis_idx``, ``_press_px``, the ``hovered``
    signal, ``visible_indices``, ``_pick`` and ``_units_per_px``.
    """

    _provider: ThumbnailProvider | None
    _thumb_cache: OrderedDict[int, np.ndarray | None]

    def set_thumbnail_provider(self, fn: ThumbnailProvider | None) -> None:
        """Set ``fn(index) -> (h, w, 3|4) uint8`` used for hover and on-canvas thumbnails.

        Results are cached; a provider that raises or returns None shows no
        thumbnail for that point.

        Parameters
        ----------
        fn : callable or None
            ``fn(index)`` returns an (h, w), (h, w, 3) or (h, w, 4) image (uint8, or
            float in [0, 1]); ``None`` turns thumbnails off.
        """
        self._provider = fn
        self._thumb_cache.clear()
        self._pool_index = [-1] * len(self._pool)
        self._hover_pixmap_index = -1
        self._update_thumbnails()

    def thumbnails_shown(self) -> int:
        """How many on-canvas thumbnails are displayed.

        Returns
        -------
        int
        """
        return sum(1 for image in self._pool if image.visible)

    def _thumbnail(self, index: int) -> np.ndarray | None:
        if self._provider is None:
            return None
        if index in self._thumb_cache:
            self._thumb_cache.move_to_end(index)
            return self._thumb_cache[index]
        try:
            raw = self._provider(int(index))
            image = None if raw is None else _as_rgba_u8(raw)
        except Exception:  # a broken provider must not break the view
            log.exception("thumbnail provider failed for point %d", index)
            image = None
        self._thumb_cache[index] = image
        while len(self._thumb_cache) > self.THUMB_CACHE:
            self._thumb_cache.popitem(last=False)
        return image

    def _pool_image(self, slot: int) -> scene.visuals.Image:
        while len(self._pool) <= slot:
            image = scene.visuals.Image(
                np.zeros((1, 1, 4), np.uint8),
                clim=(0, 255),
                interpolation="linear",
                parent=self._view.scene,
            )
            image.transform = STTransform()
            image.order = -1  # under the markers: the point's colour stays visible
            image.set_gl_state("translucent", depth_test=False, cull_face=False)
            image.visible = False
            self._pool.append(image)
            self._pool_index.append(-1)
        return self._pool[slot]

    def _update_thumbnails(self) -> None:
        self._camera_timer.stop()
        idx = self.visible_indices() if self._provider is not None else self._vis_idx[:0]
        if not 0 < idx.size <= self.THUMB_MAX:
            for visual in self._pool:
                visual.visible = False
            return
        wanted = {int(i): image for i in idx if (image := self._thumbnail(int(i))) is not None}
        # keep the slots that already show a wanted point (no texture upload), refill the rest
        slot_of = {i: k for k, i in enumerate(self._pool_index) if i in wanted}
        free = (k for k in range(self.THUMB_MAX) if k not in slot_of.values())
        units = self.THUMB_PX * self._units_per_px()
        for i, image in wanted.items():
            if i in slot_of:
                visual = self._pool[slot_of[i]]
            else:
                k = next(free)
                visual = self._pool_image(k)
                visual.set_data(image)
                self._pool_index[k] = i
                slot_of[i] = k
            h, w = image.shape[:2]
            s = units / max(h, w)
            x, y = self._pos[i]
            # rows run downwards in the image, upwards in the scatter: flip y
            visual.transform.scale = (s, -s, 1.0)
            visual.transform.translate = (x - 0.5 * w * s, y + 0.5 * h * s, 0.0)
            visual.visible = True
        used = set(slot_of.values())
        for k, visual in enumerate(self._pool):
            if k not in used:
                visual.visible = False

    # ------------------------------------------------------------------ hover

    def _process_hover(self) -> None:
        if self._hover_px is None or self._press_px is not None:
            return
        i = self._pick(self._hover_px)
        if i != self._hover_index:
            self._hover_index = i
            self.hovered.emit(i)
        self._show_hover_label(i, self._hover_px)

    def _show_hover_label(self, index: int, px) -> None:
        image = self._thumbnail(index) if index >= 0 else None
        if image is None:
            self._hover_label.hide()
            return
        if self._hover_pixmap_index != index:
            self._hover_label.setPixmap(_to_pixmap(image, self.HOVER_PX))
            self._hover_label.adjustSize()
            self._hover_pixmap_index = index
        anchor = self._canvas.native.mapTo(self, QPoint(int(px[0]) + 16, int(px[1]) + 16))
        size = self._hover_label.size()
        x = min(anchor.x(), max(0, self.width() - size.width()))
        y = anchor.y()
        if y + size.height() > self.height():  # no room below the cursor: go above it
            y = max(0, anchor.y() - 32 - size.height())
        self._hover_label.move(x, y)
        self._hover_label.show()
        self._hover_label.raise_()

    def _clear_hover(self) -> None:
        self._hover_timer.stop()
        self._hover_label.hide()
        self._hover_pixmap_index = -1
        if self._hover_index != -1:
            self._hover_index = -1
            self.hovered.emit(-1)

    def eventFilter(self, obj, event) -> bool:
        if obj is self._canvas.native and event.type() == QEvent.Type.Leave:
            self._hover_px = None
            self._clear_hover()
        return super().eventFilter(obj, event)
