"""Refuse segment features that are not finite before training or projecting on them.

One NaN feature row would make a trained projection head's output NaN for every
segment (its centring mean is taken over all rows) and poisons the 2-D layout,
so training and projection stop first with a message that names the segments.
Numpy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nonfinite_rows", "require_finite_features"]

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


def require_finite_features(session, features: np.ndarray, action: str) -> None:
    """Raise a ValueError naming the segments whose features are not finite.

    Parameters
    ----------
    session : Session
        Whose segment rows ``features`` follow (ids and images for the message).
    features : (n, d) array of float
        One row per segment of ``session``.
    action : str
        What is refused, to start the message ("metric learning", "projection").

    Raises
    ------
    ValueError
        When a row holds a NaN or an infinity; nothing has been changed then.
    """
    rows = nonfinite_rows(features)
    if not rows.size:
        return
    table = session.segments
    if len(features) == len(table):
        names = [rec.name for rec in session.images]
        named = [f"{int(table.ids[r])} (image {names[int(table.image[r])]!r})"
                 for r in rows[:_NAMED]]  # fmt: skip
    else:
        named = [f"row {int(r)}" for r in rows[:_NAMED]]
    more = f" and {rows.size - _NAMED} more" if rows.size > _NAMED else ""
    n = rows.size
    raise ValueError(
        f"{action} refused: {n} segment{'s' if n > 1 else ''} "
        f"{'have' if n > 1 else 'has'} features that are not finite (NaN or infinite): "
        f"{', '.join(named)}{more}. Nothing was changed; extract the features again "
        "(Start), or merge or re-cut those segments."
    )
