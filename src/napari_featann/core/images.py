"""Reading image collections: folders, file lists and arrays.

Every image is kept as loaded (for display) and can be turned into a float
RGB array in [0, 1] for the pipeline with :func:`to_float_rgb`.

A stack (a 3-D volume or a time series, grey or RGB) is read as its planes:
each plane is one 2-D image of the collection, named ``<stem>_<plane>``, and
remembers its stack, its index and the stack's intensity range, so that all
planes are scaled alike.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bands import MAX_BANDS, _bands_hint, _channels_last, parse_bands, select_bands
from .geotiff import read_geotags, read_nodata
from .image_files import read_array

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageLoadError",
    "ImageRecord",
    "check_tile",
    "image_planes",
    "list_image_files",
    "load_collection",
    "parse_bands",
    "pick_plane",
    "read_image",
    "read_planes",
    "select_bands",
    "to_float_rgb",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
PLANE_AXES = "ZTQI"  # axis letters (tifffile's) of a stack's planes: depth, time, other


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
    meta : dict
        For a plane of a stack: ``stack`` (the stack's name), ``plane`` (its
        index), ``planes`` (the stack's size) and ``range`` (the stack's
        intensity range, see :func:`to_float_rgb`); for a tile of a larger
        image, ``scene`` (its name), ``scene_shape``, ``tile`` (first row,
        first column, height, width in the scene) and ``range``; ``bands``: the
        channels kept of a multi-band file; ``geotiff``: the GeoTIFF tags of a
        georeferenced TIFF (the scene's, for a tile), see
        :mod:`napari_featann.core.geotiff`; ``nodata``: the "no data" value
        (GDAL_NODATA) of a TIFF that is not 8-bit, with ``range`` computed
        without its pixels (which :meth:`float_rgb` shows black, as NaN).
        Empty otherwise.
    """

    name: str
    data: np.ndarray
    path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape2d(self) -> tuple[int, int]:
        """Height and width in pixels."""
        return tuple(int(s) for s in self.data.shape[:2])

    @property
    def plane(self) -> int | None:
        """Index of this image in its stack (None for a plain 2-D image)."""
        k = self.meta.get("plane")
        return None if k is None else int(k)

    def float_rgb(self) -> np.ndarray:
        """The image as float32 RGB in [0, 1] (a stack's planes share one scaling)."""
        return to_float_rgb(self.data, self.meta.get("range"), _nodata(self.meta))


def _nodata(meta: dict) -> int | float | None:
    """``meta["nodata"]`` when it is a number (a session file edited by hand: else None)."""
    value = meta.get("nodata")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    return None


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
    if arr.ndim == 3 and min(arr.shape[0], arr.shape[-1]) <= MAX_BANDS:
        raise ValueError(_bands_hint("the image has", min(arr.shape[0], arr.shape[-1]), arr.shape))
    raise ValueError(
        f"expected a 2-D grey, RGB or RGBA image, or a stack of them, got shape {arr.shape}"
    )


def _is_stack(arr: np.ndarray, axes: str | None) -> bool:
    if _channels_last(arr):
        return False
    if axes is not None and len(axes) == arr.ndim and arr.ndim in (3, 4):
        first = axes[0].upper()
        if first in "QI" and arr.ndim == 3 and arr.shape[0] in (1, 3, 4):
            return False  # 3 or 4 unnamed pages: channels, as before stacks were read
        return first in PLANE_AXES
    if arr.ndim == 4:
        return True
    # (n, H, W) with n = 1, 3 or 4 is read as channels, as it always was
    return arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] not in (1, 3, 4)


def image_planes(arr: np.ndarray, axes: str | None = None, bands=None) -> list[np.ndarray]:
    """The 2-D images held by ``arr``: ``[arr]`` itself, or each plane of a stack.

    Parameters
    ----------
    arr : ndarray
        A 2-D image (grey, RGB or RGBA, channels last or first), or a stack of
        them along the first axis: ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``.
    axes : str, optional
        The axes' letters, as tifffile names them (``"ZYX"``, ``"TYXS"``,
        ``"CYX"``...): a first axis ``Z`` or ``T`` holds planes, and so does an
        unnamed one (``Q``, ``I``: pages) unless it has 1, 3 or 4 entries (then
        they are channels). Without axes an ``(n, H, W)`` array is a stack
        unless ``n`` is 1, 3 or 4. An ``(H, W, C)`` array whose last axis is
        short (at most 16, and shorter than H and W) is always one image.
        Four channels on a ``C`` axis (the bands of a multispectral TIFF, the
        channels of a microscopy one) are bands to choose, not RGBA: without
        ``bands`` they are refused, as five or more are.
    bands : sequence of int, optional
        For multi-band images: the channel (grey) or three channels (RGB) to
        keep, see :func:`select_bands`.

    Returns
    -------
    list of ndarray
        Each ``(H, W)`` or ``(H, W, C)`` (views of ``arr`` where possible).

    Raises
    ------
    ValueError
        ``arr`` is neither (for example a 5-D hyperstack), or a plane is not a
        valid image.
    """
    arr = np.asarray(arr)
    if bands is not None:
        arr, axes = select_bands(arr, bands, axes)
    elif axes is not None and len(axes) == arr.ndim and "C" in axes.upper():
        n = arr.shape[axes.upper().index("C")]
        if n == 4:  # bands (a GeoTIFF's B, G, R, NIR), not red, green, blue and alpha
            raise ValueError(_bands_hint("the image has", n, arr.shape))
    if not _is_stack(arr, axes):
        return [_check_array(arr, "")]
    second = "C" if axes is None or len(axes) != arr.ndim else axes[1].upper()
    if (
        arr.ndim == 4
        and arr.shape[-1] not in (1, 3, 4)
        and arr.shape[1] in (1, 3, 4)
        and (second in "CS")
    ):
        arr = np.moveaxis(arr, 1, -1)  # (n, C, H, W)
    if arr.shape[0] < 1:
        raise ValueError("the stack has no planes")
    if arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4) and arr.shape[-1] <= MAX_BANDS:
        raise ValueError(_bands_hint("the stack's images have", arr.shape[-1], arr.shape))
    if arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected a stack of 2-D images (n, H, W) or (n, H, W, C), got shape {arr.shape} "
            "(hyperstacks with more than one plane axis are not supported)"
        )
    return [_check_array(plane, "") for plane in arr]


def read_planes(path: str | os.PathLike, bands=None) -> list[np.ndarray]:
    """Read one PNG, JPEG or TIFF file as its 2-D images.

    Parameters
    ----------
    path : str or path-like
        The file.
    bands : sequence of int, optional
        The channels to keep from a multi-band image (:func:`select_bands`).

    Returns
    -------
    list of ndarray, each (H, W) or (H, W, C)
        One image, or the planes of a stack (a multi-page or volume TIFF),
        dtype as stored. Of a TIFF of several images, the largest, with a warning,
        or same-sized pages as a stack (:func:`.image_files.read_tiff`).

    Raises
    ------
    ValueError
        The file is missing, empty, not an image, or of an unsupported shape.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError("no such file")
    if p.stat().st_size == 0:
        raise ValueError("the file is empty")
    try:
        arr, axes = read_array(p, bands)
    except Exception as exc:  # the readers raise many types
        raise ValueError(f"not a readable image (PNG/JPEG/TIFF): {_reason(exc, p)}") from None
    return image_planes(arr, axes, bands)


def _reason(exc: BaseException, path: Path, limit: int = 160) -> str:
    """A reader's error on one short line: its first line, without the file's name (the
    caller names the file), cut at ``limit`` characters; the exception's type if empty."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    for name in (repr(str(path)), str(path)):
        text = text.replace(name, "the file")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_image(path: str | os.PathLike, plane: int | None = None) -> np.ndarray:
    """Read one 2-D image from a PNG, JPEG or TIFF file.

    Parameters
    ----------
    path : str or path-like
        The file.
    plane : int, optional
        For a stack, the index of the plane to return.

    Returns
    -------
    ndarray, shape (H, W) or (H, W, C)
        The pixels, dtype as stored.

    Raises
    ------
    ValueError
        The file is missing, empty or not an image; it is a stack and no
        ``plane`` (or one out of range) was given.
    """
    return pick_plane(read_planes(path), plane)


def pick_plane(planes: Sequence[np.ndarray], plane: int | None) -> np.ndarray:
    """Plane ``plane`` of what :func:`read_planes` returned (None: the one image).

    Raises
    ------
    ValueError
        ``plane`` is None but there are several planes, or it is out of range.
    """
    if plane is None:
        if len(planes) > 1:
            raise ValueError(f"is a stack of {len(planes)} planes; give a plane index")
        return planes[0]
    if not 0 <= int(plane) < len(planes):
        raise ValueError(f"has {len(planes)} planes, no plane {plane}")
    return planes[int(plane)]


def stack_range(
    planes: Sequence[np.ndarray], nodata: int | float | None = None
) -> list[float] | None:
    """The intensity range :func:`to_float_rgb` uses for all planes of a stack.

    None for 8-bit data (divided by 255 as it is) and for a constant stack;
    otherwise the 0.5th and 99.5th percentiles of (a sample of) the colour
    channels of all planes. NaN, infinities and pixels equal to ``nodata`` (a
    GeoTIFF's "no data" value, :func:`.geotiff.read_nodata`) take no part.
    """
    if not planes or planes[0].dtype == np.uint8:
        return None
    step = max(1, sum(p.size for p in planes) // 2_000_000)
    raw = np.concatenate(
        [np.asarray(p[..., :3] if p.ndim == 3 else p).reshape(-1)[::step] for p in planes]
    )
    if nodata is not None:
        raw = raw[raw != nodata]  # compared as stored, before the float32 cast rounds
    sample = raw.astype(np.float32)
    sample = sample[np.isfinite(sample)]  # NaN (no data) and infinities take no part
    if sample.size == 0:
        return None
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    return [float(lo), float(hi)] if hi > lo else None  # a constant stack: no range


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


def _records(label: str, planes: list, path: str | None, taken: set[str], bands=None,
             tile: int | None = None, geo: dict | None = None,
             nodata: int | float | None = None):  # fmt: skip
    """One record for an image; one per plane, sharing the stack's scaling, for a stack;
    one per tile, sharing the scene's scaling, for an image larger than ``tile``. Each
    keeps the file's georeferencing ``geo`` (the scene's, for a tile) and its "no data"
    value ``nodata``, whose pixels the scaling leaves out (a plain image then keeps
    its ``range`` too, computed here, as a stack's or a scene's)."""
    name = _unique(label, taken)
    chosen = {} if bands is None else {"bands": [int(b) for b in bands]}
    if geo:
        chosen["geotiff"] = geo
    if nodata is not None:
        chosen["nodata"] = nodata
    if len(planes) == 1 and tile and max(planes[0].shape[:2]) > tile:
        return _tiles(name, planes[0], path, taken, int(tile), chosen)
    if len(planes) == 1:
        meta = dict(chosen)
        value_range = None if nodata is None else stack_range(planes, nodata)
        if value_range is not None:
            meta["range"] = value_range
        return [ImageRecord(name, planes[0], path, meta)]
    width = max(3, len(str(len(planes) - 1)))
    meta = {"stack": name, "planes": len(planes), "range": stack_range(planes, nodata),
            **chosen}  # fmt: skip
    return [
        ImageRecord(_unique(f"{name}_{k:0{width}d}", taken), plane, path, {**meta, "plane": k})
        for k, plane in enumerate(planes)
    ]


#: The smallest tile side accepted (a tile must hold segments worth describing).
MIN_TILE = 64


def check_tile(tile: int | None) -> None:
    """Refuse a tile side under :data:`MIN_TILE` (ValueError); None (no tiling) passes."""
    if tile is not None and int(tile) < MIN_TILE:
        raise ValueError(f"tiles must be at least {MIN_TILE} pixels, got {tile}")


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Start and length of the tiles along a side of ``n`` pixels.

    A last strip narrower than ``max(MIN_TILE // 2, tile // 4)`` joins the tile
    before it, so no tile is a sliver a few pixels wide.
    """
    starts = list(range(0, n, tile))
    if len(starts) > 1 and n - starts[-1] < max(MIN_TILE // 2, tile // 4):
        starts.pop()
    ends = [*starts[1:], n]
    return [(a, b - a) for a, b in zip(starts, ends, strict=True)]


def _tiles(name: str, scene: np.ndarray, path, taken: set[str], tile: int, chosen: dict):
    """Records of the ``tile`` x ``tile`` tiles of a scene, row by row."""
    h, w = scene.shape[:2]
    meta = {"scene": name, "scene_shape": [int(h), int(w)],
            "range": stack_range([scene], chosen.get("nodata")), **chosen}  # fmt: skip
    out = []
    for r, th in _spans(h, tile):
        for c, tw in _spans(w, tile):
            out.append(ImageRecord(_unique(f"{name}_r{r}_c{c}", taken),
                                   np.ascontiguousarray(scene[r : r + th, c : c + tw]), path,
                                   {**meta, "tile": [r, c, th, tw]}))  # fmt: skip
    return out


def load_collection(
    sources: str | os.PathLike | Sequence[str | os.PathLike | np.ndarray] | np.ndarray,
    names: Iterable[str] | None = None,
    skip_bad: bool = True,
    axes: Iterable[str | None] | None = None,
    bands: Sequence[int] | None = None,
    taken: Iterable[str] = (),
    tile: int | None = None,
) -> tuple[list[ImageRecord], dict[str, str]]:
    """Load a collection from a folder, a list of files, or a list of arrays.

    Parameters
    ----------
    sources : folder, file, array, or sequence of files and arrays
        What to load. A folder contributes its PNG, JPEG and TIFF files. A
        stack (file or array) contributes each of its planes, named
        ``<name>_<plane>`` (see :func:`image_planes`).
    names : iterable of str, optional
        Names for array sources (default ``image-0``, ``image-1``, ...).
    skip_bad : bool
        If True, unreadable sources are skipped and listed in the returned
        ``failures``; if False, the first bad source raises.
    axes : iterable of str or None, optional
        For array sources, their axes' letters (``"ZYX"`` for a stack, ``"YX"``
        or ``"YXS"`` for one image); see :func:`image_planes`.
    bands : sequence of int, optional
        Keep these channels of every image: one (grey) or three (red, green,
        blue), for multi-band data such as multispectral satellite images
        (:func:`select_bands`). Images without a channel axis then fail.
    taken : iterable of str
        Names already in use (by the images and stacks of a session that grows):
        new images and stacks get other names (``name-2``...).
    tile : int, optional
        Cut 2-D images whose height or width exceeds ``tile`` pixels into tiles
        of at most ``tile`` x ``tile`` (a large remote-sensing scene becomes
        many images), named ``<name>_r<row>_c<col>`` after their first pixel and
        sharing the scene's intensity scaling. Stacks are not tiled.

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
    check_tile(tile)
    folder = None
    if isinstance(sources, (str, os.PathLike)):
        p = Path(sources)
        folder = p if p.is_dir() else None
        sources = list_image_files(p) if p.is_dir() else [p]
    elif isinstance(sources, np.ndarray):
        sources = [sources]
    names = list(names) if names is not None else None
    axes = list(axes) if axes is not None else None
    records: list[ImageRecord] = []
    failures: dict[str, str] = {}
    taken = set(taken)
    for i, src in enumerate(sources):
        path, geo, nodata = None, None, None
        if isinstance(src, np.ndarray):
            label = names[i] if names is not None and i < len(names) else f"image-{i}"
            try:
                ax = axes[i] if axes is not None and i < len(axes) else None
                planes = image_planes(src, ax, bands)
            except ValueError as exc:
                failures[label] = str(exc)
                continue
        else:
            path = Path(src)
            if path.is_dir():
                failures[str(path)] = "is a folder; pass it alone to load its images"
                continue
            try:
                planes = read_planes(path, bands)
                geo = read_geotags(path)
                # 8-bit images are divided by 255, not scaled: their no-data value is moot
                nodata = None if planes[0].dtype == np.uint8 else read_nodata(path, planes[0].dtype)
            except ValueError as exc:
                failures[str(path)] = str(exc)
                if not skip_bad:
                    raise ImageLoadError(f"cannot read {path}: {exc}", failures) from None
                continue
            label = names[i] if names is not None and i < len(names) else path.stem
        records.extend(_records(label, planes, None if path is None else str(path), taken, bands,
                                tile, geo, nodata))  # fmt: skip
    if not records:
        none = "no image files given" if folder is None else (
            f"{folder} holds no {', '.join(sorted(IMAGE_SUFFIXES))} file")  # fmt: skip
        detail = "; ".join(f"{k}: {v}" for k, v in failures.items()) or none
        raise ImageLoadError(f"no readable image: {detail}", failures)
    return records, failures


def to_float_rgb(
    data: np.ndarray,
    value_range: Sequence[float] | None = None,
    nodata: int | float | None = None,
) -> np.ndarray:
    """Convert any supported image to float32 RGB in [0, 1].

    8-bit images are divided by 255. Other integer and float images are
    rescaled between their 0.5th and 99.5th percentiles, which suits 16-bit
    microscopy and remote-sensing data; NaN, infinities and ``nodata`` take no
    part and become 0 (black). Grey is repeated over three channels and alpha
    is dropped.

    Parameters
    ----------
    data : ndarray, shape (H, W) or (H, W, C)
    value_range : (low, high), optional
        Rescale between these values instead (the planes of a stack share
        the stack's range, :func:`stack_range`). Ignored for 8-bit images.
    nodata : int or float, optional
        The "no data" value of a GeoTIFF (:func:`.geotiff.read_nodata`): its
        pixels are left out of the percentiles and shown black, as NaN are.
        Ignored for 8-bit images.

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
        bad = ~np.isfinite(f)  # NaN (no data) and infinities: scaled without them, shown as 0
        if nodata is not None:
            bad |= arr == nodata  # compared as stored
        valid = f[~bad] if bad.any() else f
        if value_range is not None:
            lo, hi = value_range
        elif valid.size:
            lo, hi = np.percentile(valid, (0.5, 99.5))
        else:
            lo = hi = 0.0
        if hi <= lo and valid.size:
            lo, hi = float(valid.min()), float(valid.max())
        out = np.clip((f - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(f)
        if bad.any():
            out[bad] = 0.0
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out, dtype=np.float32)
