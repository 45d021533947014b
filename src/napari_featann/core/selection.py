"""Selecting points of a 2-D scatter by box or lasso."""

from __future__ import annotations

import numpy as np

__all__ = ["new_points", "points_in_box", "points_in_polygon"]


def points_in_box(points: np.ndarray, corner0, corner1) -> np.ndarray:
    """Indices of the points inside an axis-aligned box.

    Parameters
    ----------
    points : ndarray, shape (n, 2)
    corner0, corner1 : pair of float
        Opposite corners, in any order.

    Returns
    -------
    ndarray of int
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    lo = np.minimum(corner0, corner1)
    hi = np.maximum(corner0, corner1)
    inside = np.all((pts >= lo) & (pts <= hi), axis=1)
    return np.flatnonzero(inside)


def points_in_polygon(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Indices of the points inside a closed polygon (even-odd rule).

    Parameters
    ----------
    points : ndarray, shape (n, 2)
    vertices : ndarray, shape (m, 2), m >= 3
        The lasso, implicitly closed.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> pts = np.array([[0.5, 0.5], [2.0, 2.0]])
    >>> points_in_polygon(pts, [[0, 0], [1, 0], [1, 1], [0, 1]]).tolist()
    [0]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if v.shape[0] < 3:
        raise ValueError("a lasso needs at least 3 vertices")
    # prefilter by bounding box
    cand = points_in_box(pts, v.min(0), v.max(0))
    x, y = pts[cand, 0], pts[cand, 1]
    inside = np.zeros(cand.size, bool)
    x0, y0 = v[:, 0], v[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, d in zip(x0, y0, x1, y1):
        cross = (b > y) != (d > y)
        if not cross.any():
            continue
        xint = a + (y - b) * (c - a) / np.where(d != b, d - b, 1e-300)
        inside ^= cross & (x < xint)
    return cand[inside]


def new_points(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``new`` at a position that no row of ``old`` has.

    Parameters
    ----------
    old, new : ndarray, shape (n, 2) and (m, 2)

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> new_points(np.array([[0, 0], [1, 1]]), np.array([[1, 1], [2, 0], [0, 0]])).tolist()
    [1]
    """
    a = np.asarray(old, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(new, dtype=np.float64).reshape(-1, 2)
    return np.flatnonzero(~np.isin(b[:, 0] + 1j * b[:, 1], a[:, 0] + 1j * a[:, 1]))
