"""Selecting points of a 2-D scatter by box or lasso."""

from __future__ import annotations

import numpy as np

__all__ = ["new_points", "points_in_box", "points_in_polygon"]


def _coordinates(values, name: str, shape: tuple, finite: bool) -> np.ndarray:
    """``values`` as float64 of ``shape`` (-1: any length), or a clear error.

    A NaN selected nothing without a word, three numbers failed deep in numpy, and
    a flat list of six was read as three vertices.
    """
    raw = np.asarray(values)
    if raw.dtype.kind not in "iuf":  # text, booleans, None, ragged lists
        raise TypeError(f"{name} must be numbers, got {values!r}")
    arr = raw.astype(np.float64)
    if arr.ndim != len(shape) or any(n not in (-1, m) for n, m in zip(shape, arr.shape)):
        want = "(x, y)" if len(shape) == 1 else "(m, 2): one (x, y) per vertex"
        raise ValueError(f"{name} must have shape {want}, got shape {arr.shape}")
    bad = np.isnan(arr) if not finite else ~np.isfinite(arr)
    if bad.any():
        what = "NaN" if not finite else "NaN or infinite"
        shown = arr if arr.ndim == 1 else arr[bad.any(axis=1)][:3]  # a lasso may be long
        raise ValueError(f"{name} must not be {what}, got {shown.tolist()}")
    return arr


def points_in_box(points: np.ndarray, corner0, corner1) -> np.ndarray:
    """Indices of the points inside an axis-aligned box.

    Parameters
    ----------
    points : ndarray, shape (n, 2)
    corner0, corner1 : pair of float
        Opposite corners, in any order. An infinite coordinate leaves that side
        open; NaN is refused.

    Returns
    -------
    ndarray of int

    Raises
    ------
    TypeError, ValueError
        A corner that is not two numbers (x, y), or holds NaN.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    c0 = _coordinates(corner0, "corner0", (2,), finite=False)
    c1 = _coordinates(corner1, "corner1", (2,), finite=False)
    lo, hi = np.minimum(c0, c1), np.maximum(c0, c1)
    inside = np.all((pts >= lo) & (pts <= hi), axis=1)
    return np.flatnonzero(inside)


def points_in_polygon(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Indices of the points inside a closed polygon (even-odd rule).

    Parameters
    ----------
    points : ndarray, shape (n, 2)
    vertices : ndarray, shape (m, 2), m >= 3
        The lasso, implicitly closed; finite.

    Returns
    -------
    ndarray of int

    Raises
    ------
    TypeError, ValueError
        Vertices that are not (m, 2) finite numbers, or fewer than 3.

    Examples
    --------
    >>> pts = np.array([[0.5, 0.5], [2.0, 2.0]])
    >>> points_in_polygon(pts, [[0, 0], [1, 0], [1, 1], [0, 1]]).tolist()
    [0]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    v = _coordinates(vertices, "vertices", (-1, 2), finite=True)
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
