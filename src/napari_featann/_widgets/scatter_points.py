"""A lean vispy visual for the scatter's points: round, filled, one size, one colour each.

vispy's ``Markers`` visual serves every symbol, scaling mode, edge and lighting option,
and its vertex shader chains several transforms per point. The scatter draws every
segment as a plain disc of a fixed size in pixels, so this visual does only that: one
transform per vertex and a disc with a one-pixel antialiased rim per fragment. Under a
software OpenGL rasteriser (Mesa llvmpipe, as under Xvfb) it draws 10 000 points several
times faster than ``Markers`` (see ``docs/benchmarks.md``); on a GPU both are cheap.

The data are kept in a structured array ``_data`` with the fields ``a_position``
(x, y, 0) and ``a_bg_color`` (RGBA), the names ``Markers`` uses, so callers and tests
can read what is drawn the same way.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo, scene
from vispy.visuals import Visual

_VERTEX = """
attribute vec3 a_position;
attribute vec4 a_bg_color;
uniform float u_size;
varying vec4 v_color;
void main() {
    gl_Position = $transform(vec4(a_position, 1.0));
    gl_PointSize = u_size + 1.0;
    v_color = a_bg_color;
}
"""

_FRAGMENT = """
uniform float u_size;
varying vec4 v_color;
void main() {
    // distance from the disc's centre in pixels; a one-pixel antialiased rim
    float r = length(gl_PointCoord - vec2(0.5)) * (u_size + 1.0);
    float a = clamp(0.5 * u_size + 0.5 - r, 0.0, 1.0);
    if (a <= 0.0) discard;
    gl_FragColor = vec4(v_color.rgb, v_color.a * a);
}
"""

_DTYPE = np.dtype([("a_position", np.float32, 3), ("a_bg_color", np.float32, 4)])


class DiscsVisual(Visual):
    """Filled discs of one size (in logical pixels), one RGBA colour per point.

    Without depth test, the points are drawn in order: a later point covers an earlier one
    (the scatter's picking relies on it).
    """

    def __init__(self) -> None:
        self._vbo = gloo.VertexBuffer(np.zeros(0, _DTYPE))
        self._data: np.ndarray | None = None
        self._size = 6.0
        Visual.__init__(self, vcode=_VERTEX, fcode=_FRAGMENT)
        self._draw_mode = "points"
        self.set_gl_state("translucent", depth_test=False)
        self.freeze()

    def set_data(self, pos: np.ndarray, face_color=None, size: float | None = None) -> None:
        """Replace the points.

        Parameters
        ----------
        pos : ndarray (N, 2) or (N, 3)
            Positions in scene coordinates.
        face_color : array-like (N, 4) or (4,), optional
            RGBA in [0, 1]; white when omitted.
        size : float, optional
            Diameter in logical pixels (kept when omitted).
        """
        pos = np.asarray(pos, np.float32)
        if pos.ndim != 2 or pos.shape[1] not in (2, 3):
            raise ValueError(f"pos must be (N, 2) or (N, 3), got shape {pos.shape}")
        data = np.zeros(pos.shape[0], _DTYPE)
        data["a_position"][:, : pos.shape[1]] = pos
        data["a_bg_color"] = 1.0 if face_color is None else face_color
        if size is not None:
            self._size = float(size)
        self._data = data if data.size else None
        self._vbo.set_data(data)
        self.shared_program.bind(self._vbo)
        self._bounds_changed()
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool | None:
        if self._data is None:
            return False
        view.view_program["u_size"] = self._size * view.transforms.pixel_scale
        return None

    def _compute_bounds(self, axis: int, view):
        if self._data is None:
            return None
        values = self._data["a_position"][:, axis]
        return float(values.min()), float(values.max())


Discs = scene.visuals.create_visual_node(DiscsVisual)
