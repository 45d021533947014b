"""Frame times of the scatter view at many points (a GUI benchmark: needs Qt and OpenGL).

Run under a display, or headless with Xvfb::

    xvfb-run -a python -m napari_featann.bench.scatter_speed --n 100000 --frames 60
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

__all__ = ["scatter_benchmark"]


def _clustered_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points in 12 Gaussian clusters, like a UMAP embedding."""
    centres = rng.uniform(-10, 10, size=(12, 2))
    which = rng.integers(0, len(centres), size=n)
    return centres[which] + rng.normal(scale=0.8, size=(n, 2))


def _gl_renderer(canvas) -> str:
    try:
        from vispy.gloo import gl

        canvas.set_current()
        return str(gl.glGetParameter(gl.GL_RENDERER))
    except Exception:  # informative only
        return "unknown"


def scatter_benchmark(
    n: int = 100_000, frames: int = 60, *, size: tuple[int, int] = (800, 600), seed: int = 0
) -> dict:
    """Time pan/zoom frames and a colour update of a ``ScatterView`` with ``n`` points.

    A frame is one camera move (a zoom-in then zoom-out path with a pan, so on-canvas
    thumbnail bookkeeping runs too) and one synchronous draw with ``canvas.render()``,
    which includes reading the frame back. Qt events (the widget's own repaint of the
    previous frame) are processed between frames, outside the timing, so each frame
    counts one draw.

    Parameters
    ----------
    n : int
        Number of points.
    frames : int
        Number of pan/zoom steps timed.
    size : (width, height)
        Widget size in pixels.
    seed : int

    Returns
    -------
    dict
        ``n_points``, ``frames``, ``mean_frame_ms``, ``p95_frame_ms``, ``set_colors_ms``
        (upload of new colours, no draw), plus ``set_points_ms``, ``first_render_ms``
        (includes shader compilation) and ``gl_renderer``.
    """
    from qtpy.QtWidgets import QApplication

    from .._widgets.scatter import ScatterView

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(seed)
    xy = _clustered_points(n, rng)
    colors = np.ones((n, 4), np.float32)
    colors[:, :3] = rng.random((n, 3))

    thumbnail = np.full((32, 32, 3), 128, np.uint8)
    view = ScatterView()
    view.set_thumbnail_provider(lambda i: thumbnail)  # so thumbnail bookkeeping is timed too
    view.resize(*size)
    view.show()
    deadline = time.perf_counter() + 5.0
    while view.view.size[0] < 0.5 * size[0] and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.01)
    try:
        t = time.perf_counter()
        view.set_points(xy, colors)
        set_points_ms = 1e3 * (time.perf_counter() - t)
        t = time.perf_counter()
        view.render()
        first_render_ms = 1e3 * (time.perf_counter() - t)

        colors2 = colors.copy()
        colors2[: n // 2, :3] = (1.0, 0.2, 0.2)  # half the points get a class colour
        t = time.perf_counter()
        view.set_colors(colors2)
        set_colors_ms = 1e3 * (time.perf_counter() - t)

        x0, y0, x1, y1 = view.camera_rect()
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        half = 0.5 * max(x1 - x0, y1 - y0)
        times = []
        for k in range(frames):
            phase = k / max(frames - 1, 1)
            zoom = 1.0 - 0.9 * np.sin(np.pi * phase)  # 1 -> 0.1 -> 1 of the full view
            px = cx + 0.3 * half * np.sin(2 * np.pi * phase)
            py = cy + 0.3 * half * np.cos(2 * np.pi * phase)
            h = half * zoom
            app.processEvents()  # untimed: the on-screen repaint left over from the last frame
            t = time.perf_counter()
            view.set_camera_rect(px - h, py - h, px + h, py + h)
            view.canvas.render()
            times.append(1e3 * (time.perf_counter() - t))
        renderer = _gl_renderer(view.canvas)
    finally:
        view.close()
        view.deleteLater()
        app.processEvents()

    times = np.asarray(times)
    return {
        "n_points": int(n),
        "frames": int(frames),
        "mean_frame_ms": float(times.mean()) if times.size else float("nan"),
        "p95_frame_ms": float(np.percentile(times, 95)) if times.size else float("nan"),
        "set_colors_ms": float(set_colors_ms),
        "set_points_ms": float(set_points_ms),
        "first_render_ms": float(first_render_ms),
        "gl_renderer": renderer,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    print(json.dumps(scatter_benchmark(args.n, args.frames), indent=2))


if __name__ == "__main__":
    main()
