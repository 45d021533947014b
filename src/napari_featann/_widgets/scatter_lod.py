"""Level of detail of :class:`~.scatter.ScatterView` (a mixin).

While the camera moves, only a fixed random subsample of at most ``lod_cap`` of the
visible points is uploaded to the markers visual; once the camera has been still for
``LOD_SETTLE_MS`` all of them are uploaded again. The subsample is only what is drawn:
selection, picking, focus, highlight and colours act on all points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LevelOfDetailMixin", "gl_renderer", "is_software_renderer"]

_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software", "basic render")


def is_software_renderer(name: str) -> bool:
    """Whether an OpenGL renderer string names a software rasteriser (Mesa llvmpipe, ...)."""
    name = name.lower()
    return any(k in name for k in _SOFTWARE_GL)


def gl_renderer(canvas) -> str | None:
    """The OpenGL renderer of a vispy canvas (None when it cannot be asked yet)."""
    try:
        from vispy.gloo import gl

        canvas.set_current()
        return str(gl.glGetParameter(gl.GL_RENDERER))
    except Exception:  # no context yet, or a backend without the query
        return None


class LevelOfDetailMixin:
    """Draw a subsample of the points while the camera of a ``ScatterView`` moves.

    ``_init_lod`` sets its state. Needs the view's ``_lod_timer`` (single shot,
    ``LOD_SETTLE_MS``, connected to ``_end_lod``), ``LOD_SEED``, ``_markers``, ``_pos``, ``_vis_idx`` and
    ``_upload_markers`` (which draws ``_lod_subsample()`` while ``_lod_on``).
    """

    def _init_lod(self, lod_cap: int | str | None) -> None:
        self._lod_auto = lod_cap == "auto"
        self._lod_cap = None if self._lod_auto else self._check_lod_cap(lod_cap)
        self._lod_on = False  # the subsample is what the markers visual holds now
        self._lod_hold = False  # camera changes do not start the subsample (set_points' fit)
        self._lod_rank: np.ndarray | None = None  # random priority of each point
        self._lod_local: np.ndarray | None = None  # the subsample, as positions in _vis_idx

    @property
    def lod_cap(self) -> int | None:
        """Most points drawn while the camera moves; None: always all of them.

        Setting it applies at once (0 or None turns the level of detail off;
        ``"auto"``, the default, picks ``LOD_CAP_SOFTWARE`` under a software
        OpenGL renderer and ``LOD_CAP`` otherwise, once the canvas can say which).
        """
        if self._lod_auto:
            renderer = gl_renderer(self.canvas)
            if renderer is None:
                return self.LOD_CAP  # asked again next time
            self._lod_auto = False
            self._lod_cap = (
                self.LOD_CAP_SOFTWARE if is_software_renderer(renderer) else self.LOD_CAP
            )
        return self._lod_cap

    @lod_cap.setter
    def lod_cap(self, cap: int | str | None) -> None:
        self._lod_auto = cap == "auto"
        self._lod_cap = None if self._lod_auto else self._check_lod_cap(cap)
        self._lod_local = None
        if self.lod_cap is None:
            self._end_lod()
        elif self._lod_on:
            self._upload_markers()

    @property
    def lod_active(self) -> bool:
        """Whether only the subsample is drawn now (the camera moved a moment ago)."""
        return self._lod_on and self._lod_subsample() is not None

    @property
    def drawn_count(self) -> int:
        """How many markers the points visual holds now (all visible points, or the subsample)."""
        data = getattr(self._markers, "_data", None)
        return 0 if data is None else len(data)

    @staticmethod
    def _check_lod_cap(cap) -> int | None:
        if cap is None:
            return None
        if int(cap) != cap or cap < 0:
            raise ValueError(f"lod_cap must be None or an integer >= 0, got {cap!r}")
        return int(cap) or None

    def _lod_subsample(self) -> np.ndarray | None:
        """The drawn subsample as sorted positions in ``_vis_idx``; None: draw all points.

        The visible points of lowest rank in one seeded random permutation of all the
        points, so the same points are drawn on every camera move.
        """
        cap, m = self.lod_cap, self._vis_idx.size
        if not cap or m <= cap:
            return None
        if self._lod_local is None:
            n = self._pos.shape[0]
            if self._lod_rank is None or self._lod_rank.size != n:
                self._lod_rank = np.random.default_rng(self.LOD_SEED).permutation(n)
            rank = self._lod_rank[self._vis_idx]
            self._lod_local = np.sort(np.argpartition(rank, cap - 1)[:cap])
        return self._lod_local

    def _start_lod(self) -> None:
        """The camera moved: draw the subsample until it has been still for a while."""
        cap = self.lod_cap
        if not self._lod_hold and cap and self._vis_idx.size > cap:
            self._lod_timer.start()  # restarts: all points return once the camera is still
            if not self._lod_on:
                self._lod_on = True
                self._upload_markers()

    def _end_lod(self) -> None:
        """The camera settled: upload all visible points again."""
        self._lod_timer.stop()
        if self._lod_on:
            self._lod_on = False
            self._upload_markers()
