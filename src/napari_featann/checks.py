"""Checks of the arguments of the public Session and editing calls.

Each returns the value in the form the caller uses (an ``int``, a flat index
array, a stripped name) or raises an error naming what is wrong, before the
caller changes anything: a TypeError for a value of the wrong kind (text,
a boolean, None), a ValueError for a wrong value (a fraction, NaN, a shape),
an IndexError for an image that is not in the session and a KeyError for a
class that is not. Numpy only; :func:`probe_writable` tests a folder for the command
line and the benchmarks.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .core.regions import as_segment_ids

__all__ = ["class_id", "class_name", "class_values", "flat_pixels", "image_index",
           "new_class_name", "paint_mask", "pixel", "probe_writable", "whole_number"]  # fmt: skip


def _real(value, what: str, kind: str) -> None:
    """TypeError unless ``value`` is a real number (a boolean is none: True is no 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{what} must be {kind}, got {value!r}")


def whole_number(value, what: str) -> int:
    """``value`` as an int: an integer, or a float that is a whole number.

    Parameters
    ----------
    value : int or float
    what : str
        What ``value`` is, to start the messages ("image index").

    Raises
    ------
    TypeError
        A boolean, text, None or any other object that is no number.
    ValueError
        A float that is not a whole number, NaN or infinity.

    Examples
    --------
    >>> whole_number(2.0, "image index")
    2
    >>> whole_number(True, "image index")
    Traceback (most recent call last):
    ...
    TypeError: image index must be an integer, got True
    """
    _real(value, what, "an integer")
    if isinstance(value, (float, np.floating)) and not (
        np.isfinite(value) and float(value).is_integer()
    ):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def image_index(session, index, partitioned: bool = False) -> int:
    """``index`` checked as an image of ``session`` (no negative index from the end).

    Parameters
    ----------
    session : Session
    index : int
    partitioned : bool
        The image must have segments already.

    Raises
    ------
    RuntimeError
        With ``partitioned``, before the partition.
    TypeError, ValueError
        As :func:`whole_number`.
    IndexError
        No such image.
    """
    if partitioned and not session.label_images:
        raise RuntimeError("no segments yet: partition the images first (Start in the dock; "
                           "Session.partition() or run() in Python)")  # fmt: skip
    i, n = whole_number(index, "image index"), session.n_images
    if not 0 <= i < n:
        raise IndexError(f"no image {i}: the session has {n}"
                         + (f" (0 to {n - 1})" if n else ""))  # fmt: skip
    return i


def class_id(session, value, unlabelled: bool = True) -> int:
    """``value`` checked as a class of ``session`` (0, unlabelled, too when ``unlabelled``).

    Raises
    ------
    TypeError, ValueError
        As :func:`whole_number` (``True`` is no class 1).
    KeyError
        No such class.
    """
    cid = whole_number(value, "class id")
    if cid == 0 and unlabelled:
        return 0
    if cid not in session.classes:
        have = ", ".join(map(str, session.classes)) or "none"
        raise KeyError(f"no class with id {cid} (the classes: {have}"
                       f"{'; 0 unlabels' if unlabelled else ''})")  # fmt: skip
    return cid


def class_name(name) -> str:
    """A class name, stripped of surrounding blanks.

    Raises
    ------
    TypeError
        ``name`` is not text (``5`` or None: a name stays text in the
        session file and the legend of exported masks).
    ValueError
        ``name`` is blank.

    Examples
    --------
    >>> class_name("  sky ")
    'sky'
    """
    if not isinstance(name, str):
        raise TypeError(f"a class name must be text, got {name!r}")
    name = name.strip()
    if not name:
        raise ValueError("a class needs a name that is not blank")
    return name


def new_class_name(name, taken, class_id: int | None = None) -> str:
    """The name of a class being added or renamed: ``name`` stripped (:func:`class_name`).

    Parameters
    ----------
    name : str or None
        None, for a class being added, gives ``class <id>``, or ``class <id> (2)``,
        ``(3)``... when that is taken (a class may have been named so by hand).
    taken : collection of str
        The names of the other classes.
    class_id : int, optional
        The id of the class being added (for the default name).

    Raises
    ------
    TypeError, ValueError
        As :func:`class_name`; ValueError also for a name in ``taken``.

    Examples
    --------
    >>> new_class_name(None, ["class 3"], 3)
    'class 3 (2)'
    """
    taken = set(taken)
    if name is None and class_id is not None:
        name = next(n for k in range(1, len(taken) + 2)
                    if (n := f"class {class_id}" + (f" ({k})" if k > 1 else "")) not in taken)  # fmt: skip
    name = class_name(name)
    if name in taken:
        raise ValueError(f"a class named {name!r} exists already")
    return name


def pixel(value, what: str) -> int:
    """A pixel coordinate rounded to the nearest pixel, as splits round their clicks.

    Raises
    ------
    TypeError
        A boolean, text or other object that is no number.
    ValueError
        NaN or infinity.
    """
    _real(value, what, "a number")
    if not np.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return int(np.rint(value))


def paint_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` as a boolean array of the image's ``shape``.

    Raises
    ------
    ValueError
        Another shape: its flat indices would land on other pixels.
    """
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"the mask has shape {mask.shape}; the image has {tuple(shape)}")
    return mask.astype(bool, copy=False)


def flat_pixels(flat_indices, shape: tuple[int, int]) -> np.ndarray:
    """Flat pixel indices into an image of ``shape``, checked; int64, flat.

    Raises
    ------
    TypeError, ValueError
        Indices that are no whole numbers, or out of the image (a negative
        index would count from the end and mark another pixel).
    """
    idx = as_segment_ids(flat_indices, "pixel indices")
    size = int(np.prod(shape))
    out = idx[(idx < 0) | (idx >= size)]
    if out.size:
        raise ValueError(f"pixel indices must be in 0 to {size - 1} (an image of shape "
                         f"{tuple(shape)}), got {out[:10].tolist()}")  # fmt: skip
    return idx


def class_values(values, n: int, what: str) -> np.ndarray:
    """Class values for ``n`` pixels: a scalar or one per pixel, each 0 to 255; uint8 (n,).

    Raises
    ------
    TypeError, ValueError
        Values that are no whole numbers, not 0 to 255, or neither one nor ``n``.
    """
    v = as_segment_ids(values, what)
    if v.size not in (1, n):
        raise ValueError(f"{what}: give one or one per pixel ({n}), got {v.size}")
    if ((v < 0) | (v > 255)).any():
        raise ValueError(f"{what} must be class values from 0 to 255, got "
                         f"{np.unique(v[(v < 0) | (v > 255)])[:10].tolist()}")  # fmt: skip
    return np.broadcast_to(v.astype(np.uint8), (n,)).copy()


def probe_writable(folder) -> None:
    """Make and remove a file in ``folder``: the one sure test that it takes new files.

    Raises
    ------
    OSError
        ``folder`` is missing, not a folder, or takes no new file (permissions,
        a read-only or pseudo file system such as ``/proc``).
    """
    fd, probe = tempfile.mkstemp(prefix=".featann-probe-", dir=folder)
    os.close(fd)
    os.remove(probe)
