"""Helpers shared by the ScatterView tests (test_scatter.py, test_scatter_overlays.py).

Their fixtures (``clusters``, ``view``, ``loaded``) are in ``conftest.py``.
"""

from __future__ import annotations

import numpy as np

CENTRES = np.array([(0.0, 0.0), (10.0, 0.0), (5.0, 8.0)])
PER_CLUSTER = 8


def solid(n, rgba=(1.0, 0.2, 0.2, 1.0)):
    return np.tile(np.float32(rgba), (n, 1))


def to_canvas(w, xy):
    """Data coordinates -> canvas pixels, through the camera transform."""
    tr = w.view.scene.node_transform(w.canvas.scene)
    p = tr.map(np.atleast_2d(np.asarray(xy, float)))
    return p[:, :2] / p[:, 3:4]


def drag(w, path_px, button=1):
    """Press at path_px[0], move through the rest, release at the last (vispy events)."""
    ev = w.canvas.events
    pts = [tuple(map(float, p)) for p in path_px]
    press = ev.mouse_press(pos=pts[0], button=button, buttons=[button], modifiers=())
    last = press
    for p in pts[1:]:
        last = ev.mouse_move(
            pos=p, button=button, buttons=[button], modifiers=(), press_event=press, last_event=last
        )
    ev.mouse_release(
        pos=pts[-1], button=button, buttons=[], modifiers=(), press_event=press, last_event=last
    )


def click(w, px):
    drag(w, [px, px])
