"""Frame times of the scatter view at many points (a GUI benchmark: needs Qt and OpenGL).

Run under a display, or headless with Xvfb::

    xvfb-run -a featann bench scatter
    xvfb-run -a python -m napari_featann.bench.scatter_speed --n 100000 --frames 60

The pan/zoom path is timed twice on the same view: with the level of detail on (the
default: a subsample of the view's ``lod_cap`` points, "auto" by the renderer, is drawn
while the camera moves)
and off (every point on every frame).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

__all__ = ["require_display", "scatter_benchmark"]

# Qt platforms that draw without an X or Wayland display
_HEADLESS_QPA = ("offscreen", "minimal", "eglfs", "linuxfb", "vnc")


def require_display(what: str) -> None:
    """RuntimeError when Qt would find no display: on Linux, neither ``DISPLAY`` nor
    ``WAYLAND_DISPLAY`` is set and ``QT_QPA_PLATFORM`` names no headless platform.

    Qt aborts the whole process there (SIGABRT), so this is checked before it starts.
    """
    if not sys.platform.startswith("linux"):
        return
    env = os.environ
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or platform in _HEADLESS_QPA:
        return
    raise RuntimeError(
        f"{what} needs a display, and none is set (no DISPLAY or WAYLAND_DISPLAY); "
        f"run it under a virtual one: xvfb-run -a {what}"
    )


def _clustered_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points in 12 Gaussian clusters, like a UMAP embedding."""
    centres = rng.uniform(-10, 10, size=(12, 2))
    which = rng.integers(0, len(centres), size=n)
    return centres[which] + rng.normal(scale=0.8, size=(n, 2))


def _gl_renderer(canvas) -> str:
    from .._widgets.scatter_lod import gl_renderer

    return gl_renderer(canvas) or "unknown"


def _time_frames(view, app, frames: int) -> tuple[np.ndarray, int]:
    """Time ``frames`` pan/zoom steps; returns the times (ms) and the markers drawn last."""
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
    drawn = view.drawn_count
    view.fit()
    view.render()  # settle: all points drawn again
    return np.asarray(times), drawn


def _stats(times: np.ndarray) -> tuple[float, float]:
    if not times.size:
        return float("nan"), float("nan")
    return float(times.mean()), float(np.percentile(times, 95))


def scatter_benchmark(
    n: int = 100_000,
    frames: int = 60,
    *,
    size: tuple[int, int] = (800, 600),
    seed: int = 0,
    lod_cap: int | None = None,
    compare: bool = True,
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
    lod_cap : int, optional
        Most points drawn while the camera moves; None: the view's default
        (``"auto"``: by the OpenGL renderer); 0: level of detail off.
    compare : bool
        Also time the same frames with the level of detail off.

    Returns
    -------
    dict
        ``n_points``, ``frames``, ``lod_cap``, ``mean_frame_ms``, ``p95_frame_ms`` (with
        that level of detail), ``drawn_while_moving`` (markers drawn in the last frame),
        ``settle_render_ms`` (the full redraw once the camera stops: all points uploaded
        and drawn), with ``compare`` ``no_lod_mean_frame_ms`` and ``no_lod_p95_frame_ms``,
        plus ``set_colors_ms`` (upload of new colours, no draw), ``set_points_ms``,
        ``first_render_ms`` (includes shader compilation), ``gl_renderer`` and
        ``load_avg_1m`` (the 1-minute load average before and after).
    """
    from qtpy.QtWidgets import QApplication

    from .._widgets.scatter import ScatterView

    app = QApplication.instance() or QApplication([])
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(seed)
    xy = _clustered_points(n, rng)
    colors = np.ones((n, 4), np.float32)
    colors[:, :3] = rng.random((n, 3))

    thumbnail = np.full((32, 32, 3), 128, np.uint8)
    view = ScatterView(lod_cap="auto" if lod_cap is None else lod_cap)
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

        # warm-up (untimed): the first pass creates the thumbnails' visuals of the zoomed frames
        _time_frames(view, app, frames)
        times, drawn = _time_frames(view, app, frames)
        t = time.perf_counter()
        view.set_camera_rect(*view.camera_rect())  # one move, then the camera stops:
        view.render()  # all points uploaded and drawn again
        settle_render_ms = 1e3 * (time.perf_counter() - t)
        no_lod = None
        if compare and view.lod_cap is not None:
            cap = view.lod_cap
            view.lod_cap = None
            no_lod, _ = _time_frames(view, app, frames)
            view.lod_cap = cap
        renderer = _gl_renderer(view.canvas)
    finally:
        view.close()
        view.deleteLater()
        app.processEvents()

    mean, p95 = _stats(times)
    result = {
        "n_points": int(n),
        "frames": int(frames),
        "lod_cap": view.lod_cap,
        "mean_frame_ms": mean,
        "p95_frame_ms": p95,
        "drawn_while_moving": int(drawn),
        "settle_render_ms": float(settle_render_ms),
    }
    if no_lod is not None:
        result["no_lod_mean_frame_ms"], result["no_lod_p95_frame_ms"] = _stats(no_lod)
    result.update(
        set_colors_ms=float(set_colors_ms),
        set_points_ms=float(set_points_ms),
        first_render_ms=float(first_render_ms),
        gl_renderer=renderer,
        load_avg_1m=[round(load_before, 2), round(os.getloadavg()[0], 2)],
    )
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--lod-cap", type=int, default=None,
                        help="points drawn while moving (default: the view's; 0: off)")  # fmt: skip
    parser.add_argument("--no-compare", action="store_true",
                        help="do not also time the frames with the level of detail off")  # fmt: skip
    args = parser.parse_args(argv)
    require_display("python -m napari_featann.bench.scatter_speed")
    result = scatter_benchmark(args.n, args.frames, lod_cap=args.lod_cap,
                               compare=not args.no_compare)  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
