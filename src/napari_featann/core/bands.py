"""Bands of multi-band images: which channels to show and describe as grey or RGB.

A multi-band image (satellite scenes, multi-channel microscopy) is read with the
channels the user picks (:func:`parse_bands` reads them from text such as ``"4,2,1"``):
one becomes a grey image, three become red, green and blue.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["MAX_BANDS", "parse_bands", "select_bands"]

MAX_BANDS = 16  # an (H, W, C) array with C up to this (and below H) has C channels


def _bands_hint(what: str, n: int, shape) -> str:
    return (f"{what} {n} channels (shape {shape}); choose the red, green and blue bands "
            "(or one): the dock's Bands field, bands=(r, g, b) in Python, --bands R,G,B "
            "in featann")  # fmt: skip


def parse_bands(text: str) -> list[int] | None:
    """Channel indices from text such as ``"4,2,1"`` or ``"0"``; None for empty text.

    Parameters
    ----------
    text : str
        One channel index (grey) or three (red, green, blue), from 0, separated by
        commas or spaces.

    Returns
    -------
    list of int or None

    Raises
    ------
    ValueError
        Not integers, a negative index, or not one or three of them.

    Examples
    --------
    >>> parse_bands("4, 2, 1")
    [4, 2, 1]
    >>> parse_bands("  ") is None
    True
    """
    parts = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if not parts:
        return None
    try:
        bands = [int(t) for t in parts]
    except ValueError:
        raise ValueError(f"bands: expected channel indices like 4,2,1, got {text!r}") from None
    if len(bands) not in (1, 3) or min(bands) < 0:
        raise ValueError(f"bands {text!r}: give one channel index (grey) or three (R,G,B), from 0")
    return bands


def _channels_last(arr: np.ndarray) -> bool:
    """(H, W, C) with a short last axis: one image with channels, not H narrow planes."""
    return arr.ndim == 3 and arr.shape[-1] <= MAX_BANDS and arr.shape[-1] < min(arr.shape[:2])


def select_bands(arr: np.ndarray, bands, axes: str | None = None) -> tuple[np.ndarray, str | None]:
    """Keep the channels ``bands`` of a multi-band image (or stack), channels last.

    Parameters
    ----------
    arr : ndarray
        An image or a stack with a channel axis of at most ``MAX_BANDS``
        channels: last (``(H, W, C)``, ``(n, H, W, C)``), or first
        (``(C, H, W)``) or second (``(n, C, H, W)``) when the last is not short.
    bands : sequence of int
        One channel index (grey) or three (shown and described as red, green, blue).
    axes : str, optional
        tifffile's axes letters; an ``S`` or ``C`` axis is the channel axis.

    Returns
    -------
    (ndarray, str or None)
        The image with the chosen channels (the channel axis dropped for one
        band), and its axes without the channel letter (plus ``S`` for three).

    Raises
    ------
    ValueError
        Not 1 or 3 bands, no channel axis (a grey image: the message says to
        leave the bands out), or a band out of range.
    """
    arr = np.asarray(arr)
    bands = [int(b) for b in bands]
    if len(bands) not in (1, 3):
        raise ValueError(f"bands {bands}: give one channel (grey) or three (red, green, blue)")
    up = axes.upper() if axes is not None and len(axes) == arr.ndim else None
    letters = [k for k, a in enumerate(up or "") if a in "SC"]
    guess = [k for k in (arr.ndim - 1, arr.ndim - 3) if arr.ndim in (3, 4)]
    if up is not None:  # unnamed page axes (Q, I) may hold bands; depth and time never do
        # tifffile reads an (H, W, C) array saved without "photometric" as H pages
        # ("QYX"): its short last axis is the channels, as the loader's message says
        misread = up[0] in "QI" and _channels_last(arr)
        guess = [k for k in guess if up[k] in "QI" or (misread and k == arr.ndim - 1)]
    guess = [k for k in guess if arr.shape[k] <= MAX_BANDS]
    if letters:
        ch = letters[0]
    elif guess:
        ch = guess[0]
    elif arr.ndim == 2:
        raise ValueError(
            f"bands {bands}: the image is grey (one channel, shape {arr.shape}): there are no "
            "bands to choose; leave them out (the dock's Bands field empty, no --bands in "
            "featann, bands=None in Python)"
        )
    else:
        raise ValueError(
            f"bands {bands}: no channel axis (at most {MAX_BANDS}) in shape {arr.shape}"
        )
    n = arr.shape[ch]
    if not all(0 <= b < n for b in bands):
        raise ValueError(f"bands {bands}: the image has {n} channels, 0 to {n - 1}")
    out = np.take(np.moveaxis(arr, ch, -1), bands, axis=-1)
    if len(bands) == 1:
        out = out[..., 0]
    rest = None if up is None else up[:ch] + up[ch + 1 :] + ("S" if len(bands) == 3 else "")
    return out, rest
