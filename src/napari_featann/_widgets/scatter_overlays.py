"""Focus, highlight and suggestion rings of :class:`~.scatter.ScatterView` (a mixin).

Three ``Markers`` visuals drawn over the points, each an open disc around some points:
the focus ring (yellow, one point, and the camera centres on it), the highlight (white,
e.g. the last selection) and the rings (magenta, wider, e.g. the suggestions to label
next). Each is uploaded on its own when it changes; the highlight and the rings are
uploaded again, less the hidden points, when the visible mask changes. They act on all
points, whatever the level of detail draws.
"""

from __future__ import annotations

import numpy as np
from vispy import scene

__all__ = ["EMPTY_POS", "ScatterOverlaysMixin"]

EMPTY_POS = np.zeros((0, 2), np.float32)  # what an empty Markers visual is given
_HIGHLIGHT_COLOR = (1.0, 1.0, 1.0, 0.95)
_RING_COLOR = (1.0, 0.3, 0.9, 1.0)  # magenta: apart from the white highlight, the yellow focus
_FOCUS_COLOR = (1.0, 0.85, 0.0, 1.0)
_CLEAR = (0.0, 0.0, 0.0, 0.0)


class ScatterOverlaysMixin:
    """The focus ring, the highlight and the rings of a ``ScatterView``.

    ``_init_overlays`` makes the three visuals and sets their state (``_focused``,
    ``_highlight``, ``_rings``). Needs the view's ``_view``, ``_camera``, ``_pos``,
    ``_pos32``, ``_mask``, ``_point_size`` and ``_update_thumbnails``.
    """

    def _init_overlays(self) -> None:
        """Make the ring, highlight and focus visuals (in that drawing order) and clear them."""
        self._ring_markers = scene.visuals.Markers(parent=self._view.scene)
        self._hl_markers = scene.visuals.Markers(parent=self._view.scene)
        self._focus_markers = scene.visuals.Markers(parent=self._view.scene)
        self._highlight = self._rings = np.zeros(0, np.intp)
        self._focused = -1

    @property
    def focused(self) -> int:
        """The index of the focused point, or -1."""
        return self._focused

    @property
    def ringed(self) -> np.ndarray:
        """The indices of the points given to :meth:`ring` (sorted, hidden ones included)."""
        return self._rings.copy()

    def focus_point(self, index: int) -> None:
        """Ring one point and centre the camera on it, keeping the zoom."""
        i = int(index)
        if not 0 <= i < self._pos.shape[0]:
            raise IndexError(f"point {i} out of range for {self._pos.shape[0]} points")
        self._focused = i
        self._focus_markers.set_data(
            pos=self._pos32[i : i + 1],
            face_color=_CLEAR,
            edge_color=_FOCUS_COLOR,
            edge_width=2.5,
            size=self._point_size * 2.5 + 6.0,
            symbol="disc",
        )
        self._camera.center = (float(self._pos[i, 0]), float(self._pos[i, 1]))
        self._update_thumbnails()

    def clear_focus(self) -> None:
        """Remove the focus ring (the camera stays)."""
        self._focused = -1
        self._focus_markers.set_data(pos=EMPTY_POS)

    def highlight(self, indices) -> None:
        """Ring a set of points (e.g. the last selection); an empty set clears."""
        self._highlight = self._indices(indices, "highlight")
        self._upload_highlight()

    def ring(self, indices) -> None:
        """Ring another set of points, wider and in magenta (e.g. the suggestions to label
        next): it stays beside the highlight, which does not replace it; an empty set clears."""
        self._rings = self._indices(indices, "ring")
        self._upload_rings()

    def _clear_overlays(self) -> None:
        """Clear the focus, the highlight and the rings (new points)."""
        self._highlight = self._rings = np.zeros(0, np.intp)
        self.clear_focus()
        self._upload_overlays()

    def _indices(self, indices, what: str) -> np.ndarray:
        idx = np.unique(np.asarray(indices, dtype=np.intp).ravel())
        if idx.size and (idx[0] < 0 or idx[-1] >= self._pos.shape[0]):
            raise IndexError(f"{what} indices out of range for {self._pos.shape[0]} points")
        return idx

    def _upload_overlays(self) -> None:
        """Upload the highlight and the rings (after a change of the points or the mask)."""
        self._upload_highlight()
        self._upload_rings()

    def _upload_highlight(self) -> None:
        self._upload_discs(self._hl_markers, self._highlight, _HIGHLIGHT_COLOR, 6.0)

    def _upload_rings(self) -> None:
        self._upload_discs(self._ring_markers, self._rings, _RING_COLOR, 11.0)

    def _upload_discs(self, visual, idx: np.ndarray, color, grow: float) -> None:
        """Open discs ``grow`` pixels wider than a point around ``idx``, less the hidden ones."""
        if self._mask is not None:
            idx = idx[self._mask[idx]]
        if idx.size == 0:
            visual.set_data(pos=EMPTY_POS)
            return
        visual.set_data(pos=self._pos32[idx], face_color=_CLEAR, edge_color=color,
                        edge_width=1.5, size=self._point_size + grow, symbol="disc")  # fmt: skip
