"""Refuse segment features that are not finite before using them.

One NaN feature row would make a trained projection head's output NaN for every
segment (its centring mean is taken over all rows), poisons the 2-D layout, and
makes similarities NaN (arbitrary suggestions and placements), so training,
projection, suggestions, placement of new segments and storing fine-tuned
features stop first with a message that names the segments. Numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nonfinite_rows", "require_finite_features", "require_finite_rows"]

_NAMED = 8  # segments named in the message, the rest counted


def nonfinite_rows(features: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``features`` holding a NaN or an infinity.

    Parameters
    ----------
    features : (n, d) array of float

    Returns
    -------
    rows : (m,) array of int
        Ascending.

    Examples
    --------
    >>> nonfinite_rows(np.array([[0.0, 1.0], [np.nan, 1.0], [np.inf, 0.0]])).tolist()
    [1, 2]
    """
    f = np.asarray(features)
    if f.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {f.shape}")
    return np.flatnonzero(~np.isfinite(f).all(axis=1))


def require_finite_rows(features: np.ndarray, name: str = "features", rows=None) -> None:
    """Raise a ValueError naming the rows of ``features`` that are not finite.

    For functions that only see arrays (``napari_featann.ml``); session-level
    callers name segments with :func:`require_finite_features` instead.

    Parameters
    ----------
    features : (n, d) array of float
    name : str
        What ``features`` are, to start the message.
    rows : array of bool or int, optional
        Only these rows are checked (a mask or indices; the message still
        names rows by their index in ``features``). Default: all.

    Raises
    ------
    ValueError
        When a row holds a NaN or an infinity.

    Examples
    --------
    >>> require_finite_rows(np.array([[0.0], [np.inf]]))
    Traceback (most recent call last):
    ...
    ValueError: features must be finite: rows [1] hold NaN or infinity
    """
    bad = nonfinite_rows(features)
    if rows is not None:
        rows = np.asarray(rows)
        bad = np.intersect1d(bad, np.flatnonzero(rows) if rows.dtype == bool else rows)
    if bad.size:
        raise ValueError(f"{name} must be finite: rows {bad[:_NAMED].tolist()}"
                         f"{' and more' if bad.size > _NAMED else ''} hold NaN or infinity")  # fmt: skip


def require_finite_features(
    session, features: np.ndarray, action: str, *, segments=None, image_names=None,
    advice: str = "extract the features again (Start), or merge or re-cut those segments",
) -> None:  # fmt: skip
    """Raise a ValueError naming the segments whose features are not finite.

    Parameters
    ----------
    session : Session
        Whose segment rows ``features`` follow (ids and images for the message).
    features : (n, d) array of float
        One row per segment of ``session`` (or of ``segments``).
    action : str
        What is refused, to start the message ("metric learning", "projection").
    segments : SegmentTable, optional
        The segments ``features`` belong to, when they are not (yet) the
        session's own: new segments of an edit or of added images.
    image_names : sequence of str, optional
        Names of the images that ``segments.image`` indexes; by default the
        session's.
    advice : str, optional
        What to do about it, ending the message.

    Raises
    ------
    ValueError
        When a row holds a NaN or an infinity; nothing has been changed then.
    """
    rows = nonfinite_rows(features)
    if not rows.size:
        return
    table = session.segments if segments is None else segments
    if len(features) == len(table):
        names = [rec.name for rec in session.images] if image_names is None else image_names
        named = [f"{int(table.ids[r])} (image {names[int(table.image[r])]!r})"
                 for r in rows[:_NAMED]]  # fmt: skip
    else:
        named = [f"row {int(r)}" for r in rows[:_NAMED]]
    more = f" and {rows.size - _NAMED} more" if rows.size > _NAMED else ""
    n = rows.size
    raise ValueError(
        f"{action} refused: {n} segment{'s' if n > 1 else ''} "
        f"{'have' if n > 1 else 'has'} features that are not finite (NaN or infinite): "
        f"{', '.join(named)}{more}. Nothing was changed; {advice}."
    )
