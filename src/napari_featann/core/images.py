"""Reading image collections: folders, file lists and arrays.

Every image is kept as loaded (for display) and can be turned into a float
RGB array in [0, 1] for the pipeline with :func:`to_float_rgb`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageLoadError",
    "ImageRecord",
    "list_image_files",
    "load_collection",
    "read_image",
    "to_float_rgb",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


class ImageLoadError(ValueError):
    """Raised when images cannot be read; ``failures`` maps each source to its reason."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})


@dataclass
class ImageRecord:
    """One image of a collection.

    Attributes
    ----------
    name : str
        Unique, human-readable name (the file stem for files).
    data : ndarray, shape (H, W) or (H, W, C)
        Pixels as loaded: grey, RGB or RGBA; uint8, uint16 or float.
    path : str or None
        Source file, when the image came from disk.
    """

    name: str
    data: np.ndarray
    path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape2d(self) -> tuple[int, int]:
        """Height and width in pixels."""
        return tuple(int(s) for s in self.data.shape[:2])


def _check_array(arr: np.ndarray, source: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.size == 0:
        raise ValueError("the image is empty")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"unsupported pixel type {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channel-first TIFF
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        if min(arr.shape[:2]) < 2:
            raise ValueError(f"the image is too small ({arr.shape[0]}x{arr.shape[1]})")
        return arr
    raise ValueError(
        f"expected a 2-D grey, RGB or RGBA image, got shape {arr.shape} "
        "(3-D stacks and time series are not supported)"
    )


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one PNG, JPEG or TIFF file.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    ndarray, shape (H, W) or (H, W, C)
        The pixels, dtype as stored.

    Raises
    ------
    ValueError
        The file is missing, empty, not an image, or not a 2-D image.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError("no such file")
    if p.stat().st_size == 0:
        raise ValueError("the file is empty")
    suffix = p.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(str(p))
        else:
            import imageio.v3 as iio

            arr = iio.imread(str(p))
    except Exception as exc:  # the readers raise many types
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    return _check_array(arr, str(p))


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (PNG, JPEG, TIFF), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageLoadError(f"not a folder: {folder}", {str(folder): "not a folder"})
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _unique(name: str, taken: set[str]) -> str:
    out, k = name, 1
    while out in taken:
        k += 1
        out = f"{name}-{k}"
    taken.add(out)
    return out


def load_collection(
    sources: str | os.PathLike | Sequence[str | os.PathLike | np.ndarray] | np.ndarray,
    names: Iterable[str] | None = None,
    skip_bad: bool = True,
) -> tuple[list[ImageRecord], dict[str, str]]:
    """Load a collection from a folder, a list of files, or a list of arrays.

    Parameters
    ----------
    sources : folder, file, array, or sequence of files and arrays
        What to load. A folder contributes its PNG, JPEG and TIFF files.
    names : iterable of str, optional
        Names for array sources (default ``image-0``, ``image-1``, ...).
    skip_bad : bool
        If True, unreadable sources are skipped and listed in the returned
        ``failures``; if False, the first bad source raises.

    Returns
    -------
    records : list of ImageRecord
        The images that could be read, in order.
    failures : dict of str to str
        Each bad source and the reason.

    Raises
    ------
    ImageLoadError
        Nothing could be read, or a source is bad and ``skip_bad`` is False.
        Its ``failures`` names every bad file.
    """
    if isinstance(sources, (str, os.PathLike)):
        p = Path(sources)
        sources = list_image_files(p) if p.is_dir() else [p]
    elif isinstance(sources, np.ndarray):
        sources = [sources]
    names = list(names) if names is not None else None
    records: list[ImageRecord] = []
    failures: dict[str, str] = {}
    taken: set[str] = set()
    for i, src in enumerate(sources):
        if isinstance(src, np.ndarray):
            label = names[i] if names is not None and i < len(names) else f"image-{i}"
            try:
                arr = _check_array(src, label)
            except ValueError as exc:
                failures[label] = str(exc)
                continue
            records.append(ImageRecord(_unique(label, taken), arr, None))
            continue
        path = Path(src)
        if path.is_dir():
            failures[str(path)] = "is a folder; pass it alone to load its images"
            continue
        try:
            arr = read_image(path)
        except ValueError as exc:
            failures[str(path)] = str(exc)
            if not skip_bad:
                raise ImageLoadError(f"cannot read {path}: {exc}", failures) from None
            continue
        label = names[i] if names is not None and i < len(names) else path.stem
        records.append(ImageRecord(_unique(label, taken), arr, str(path)))
    if not records:
        detail = "; ".join(f"{k}: {v}" for k, v in failures.items()) or "no image files given"
        raise ImageLoadError(f"no readable image: {detail}", failures)
    return records, failures


def to_float_rgb(data: np.ndarray) -> np.ndarray:
    """Convert any supported image to float32 RGB in [0, 1].

    8-bit images are divided by 255. Other integer and float images are
    rescaled between their 0.5th and 99.5th percentiles, which suits 16-bit
    microscopy and remote-sensing data. Grey is repeated over three channels
    and alpha is dropped.

    Parameters
    ----------
    data : ndarray, shape (H, W) or (H, W, C)

    Returns
    -------
    ndarray, shape (H, W, 3), float32
    """
    arr = np.asarray(data)
    if arr.ndim == 3:
        arr = arr[..., :3]
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        f = arr.astype(np.float32)
        lo, hi = np.percentile(f, (0.5, 99.5))
        if hi <= lo:
            lo, hi = float(f.min()), float(f.max())
        out = np.clip((f - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(f)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out, dtype=np.float32)
