"""Reading image files into arrays: the TIFF and picture (PNG, JPEG) readers.

:func:`napari_featann.core.images.read_planes` reads a file with
:func:`read_array` and then turns the array into 2-D images.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["cmyk_to_rgb", "invert_miniswhite", "read_array", "read_series_index", "read_tiff"]

MINISWHITE = 0  # the TIFF Photometric of grey stored inverted: 0 is white (scanned documents)
SEPARATED = 5  # the TIFF Photometric of ink separations: CMYK unless InkSet says otherwise


def cmyk_to_rgb(arr: np.ndarray) -> np.ndarray:
    """RGB of CMYK pixels (channels last; a fifth and later channels are dropped).

    The conversion Pillow uses for ``Image.convert("RGB")``:
    ``R = (max - C) * (max - K) / max`` and the same for green (M) and blue (Y),
    with ``max`` 255 for 8-bit and 65535 for 16-bit pixels.

    Parameters
    ----------
    arr : ndarray, shape (..., C) with C >= 4, uint8 or uint16

    Returns
    -------
    ndarray, shape (..., 3), dtype of ``arr``
    """
    top = float(np.iinfo(arr.dtype).max)
    ink = arr[..., :3].astype(np.float32)
    white = top - arr[..., 3:4].astype(np.float32)
    return np.round((top - ink) * white / top).astype(arr.dtype)


def invert_miniswhite(arr: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Grey stored as "min is white" (TIFF Photometric 0) turned into the usual "min is black".

    Parameters
    ----------
    arr : ndarray
        The pixels as stored.
    bits : int, optional
        Bits per sample of unsigned integers (12 for 12-bit pixels in uint16):
        their white is ``2**bits - 1`` (default: the dtype's maximum).

    Returns
    -------
    ndarray
        Same dtype: ``max - value`` for unsigned integers, ``-1 - value`` for
        signed ones (their minimum and maximum swap), ``not value`` for bool,
        ``1 - value`` for floats in [0, 1], and ``min + max - value`` (their
        finite range) for other floats.
    """
    if arr.dtype == bool:
        return ~arr
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        top = np.iinfo(arr.dtype).max
        if bits and bits < 8 * arr.dtype.itemsize:
            top = 2**bits - 1
        return (top - arr).astype(arr.dtype)
    if np.issubdtype(arr.dtype, np.signedinteger):
        return ~arr
    if np.issubdtype(arr.dtype, np.floating):
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            return arr
        lo, hi = float(finite.min()), float(finite.max())
        span = 1.0 if lo >= 0 and hi <= 1 else lo + hi
        return (span - arr).astype(arr.dtype)
    return arr


def _black_is_min(arr: np.ndarray, axes: str, page) -> np.ndarray:
    """``arr`` as "min is black" when its pages store "min is white" (only the grey
    sample: extra samples, such as alpha, are kept)."""
    if page.photometric != MINISWHITE:
        return arr
    if "S" not in axes or arr.shape[axes.index("S")] == 1:
        return invert_miniswhite(arr, page.bitspersample)
    s = axes.index("S")
    arr = np.array(arr)
    grey = (slice(None),) * s + (0,)
    arr[grey] = invert_miniswhite(arr[grey], page.bitspersample)
    return arr


def _is_cmyk(page) -> bool:
    inkset = page.tags.get("InkSet")
    return (
        page.photometric == SEPARATED
        and page.samplesperpixel >= 4
        and (inkset is None or inkset.value == 1)
        and page.dtype in (np.uint8, np.uint16)
    )


def _plane_pixels(series) -> int:
    """Pixels in one plane of a tifffile series (its Y and X axes)."""
    axes, shape = series.axes.upper(), series.shape
    if "Y" in axes and "X" in axes:
        return int(shape[axes.index("Y")]) * int(shape[axes.index("X")])
    return int(np.prod(shape))


def _shape_text(series) -> str:
    return "x".join(str(int(s)) for s in series.shape)


def read_tiff(path: str | os.PathLike, bands=None) -> tuple[np.ndarray, str]:
    """Read a TIFF file's image: its largest series, with a warning when it has others.

    CMYK images are converted to RGB (:func:`cmyk_to_rgb`), and grey images
    stored "min is white" (Photometric MINISWHITE: scanned documents) are
    inverted to "min is black" (:func:`invert_miniswhite`), so they look as
    intended.

    A TIFF can hold several images (tifffile's *series*) of different sizes: a
    thumbnail and the full page, pages of different sizes, a stack and an
    overview. The series whose planes have the most pixels is read (the first
    of those, when several tie), and a ``UserWarning`` names the file and the
    series left out. A pyramid (reduced-resolution levels of one image) is one
    series, read at full resolution without a warning. Series that are all one
    2-D image of one shape and dtype (grey or RGB: pages written by separate
    ``TiffWriter.write`` calls) are the pages of one stack: read as its planes,
    in file order, without a warning.

    Parameters
    ----------
    path : str or path-like
        The TIFF file.
    bands : sequence of int, optional
        Channels the caller will pick: the pages of such a stack are then
        lettered ``I`` (pages, which may be bands), else ``Z`` (planes).

    Returns
    -------
    (ndarray, str)
        The pixels as stored and tifffile's axes letters (``"YX"``, ``"ZYX"``, ``"YXS"``...).

    Raises
    ------
    ValueError
        The file holds no image.
    """
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        series = list(tif.series)
        if not series:
            raise ValueError("the TIFF holds no image")
        if _pages_of_one_stack(series):
            pages = [_read_series(s) for s in series]
            return np.stack([a for a, _ in pages]), ("I" if bands else "Z") + pages[0][1]
        k = read_series_index(series)
        arr, axes = _read_series(series[k])
        if len(series) > 1:
            skipped = ", ".join(f"{i} ({_shape_text(s)})" for i, s in enumerate(series) if i != k)
            warnings.warn(
                f"{path} holds {len(series)} images (TIFF series) of shapes "
                f"{', '.join(_shape_text(s) for s in series)}: read the largest, series {k} "
                f"({_shape_text(series[k])}), and skipped series {skipped}; to use another, "
                "save it as a file of its own",
                UserWarning,
                stacklevel=3,
            )
    return arr, axes


def read_series_index(series) -> int:
    """Index of the series :func:`read_tiff` reads of tifffile's ``series`` (not empty):
    the one whose planes have the most pixels, the first of those; 0 for the pages of
    one stack (all read)."""
    if _pages_of_one_stack(series):
        return 0
    sizes = [_plane_pixels(s) for s in series]
    return sizes.index(max(sizes))


def _pages_of_one_stack(series) -> bool:
    """Several series, each one 2-D image (grey, or with samples) of one shape and dtype:
    the pages of a stack written one ``TiffWriter.write`` at a time."""
    first = series[0]
    return len(series) > 1 and all(
        s.axes in ("YX", "YXS") and s.axes == first.axes
        and s.shape == first.shape and s.dtype == first.dtype
        for s in series
    )  # fmt: skip


ALPHA_SAMPLES = (1, 2)  # TIFF ExtraSamples: associated and unassociated alpha


def _grey_bands(page) -> bool:
    """Four or more samples of a grey page (Photometric MINISBLACK or MINISWHITE), none
    of them alpha: the bands of a multispectral image (a GeoTIFF's blue, green, red and
    near infrared, as GDAL writes them), not red, green, blue and alpha."""
    extra = tuple(int(v) for v in (getattr(page, "extrasamples", None) or ()))
    return (
        page.photometric in (MINISWHITE, 1)
        and page.samplesperpixel >= 4
        and not any(v in ALPHA_SAMPLES for v in extra)
    )


def _read_series(series) -> tuple[np.ndarray, str]:
    """One tifffile series' pixels and axes, "min is black" and CMYK as RGB; the samples
    of a grey page with four or more of them (:func:`_grey_bands`) lettered ``C``
    (channels to choose), not ``S`` (colour)."""
    arr, axes = series.asarray(), series.axes
    if "S" in axes and _grey_bands(series.keyframe):
        axes = axes.replace("S", "C")
    arr = _black_is_min(arr, axes, series.keyframe)
    if _is_cmyk(series.keyframe) and "S" in axes:
        s = axes.index("S")
        arr, axes = cmyk_to_rgb(np.moveaxis(arr, s, -1)), axes[:s] + axes[s + 1 :] + "S"
    return arr, axes


def read_array(path: str | os.PathLike, bands=None) -> tuple[np.ndarray, str | None]:
    """Read an image file (TIFF, PNG, JPEG) as one array and its axes letters, if known.

    Parameters
    ----------
    path : str or path-like
        The file; TIFF files are read by :func:`read_tiff`, others by imageio,
        CMYK ones (JPEG) by Pillow, converted to RGB.
    bands : sequence of int, optional
        Channels the caller will pick; without them, a grey + alpha image
        (a PNG's "LA" mode) is read as its grey.

    Returns
    -------
    (ndarray, str or None)
        The pixels as stored and tifffile's axes letters (None for other files).

    Raises
    ------
    Exception
        The readers' own (of many types); a ValueError when neither Pillow
        nor imageio knows the file's format (a text file named ``.png``).
    """
    if str(path).lower().endswith((".tif", ".tiff")):
        return read_tiff(path, bands)
    unknown = False
    try:
        from PIL import Image, UnidentifiedImageError

        with Image.open(str(path)) as im:
            if im.mode == "CMYK":  # imageio gives its 4 channels, which would pass for RGBA
                return np.asarray(im.convert("RGB")), None
    except UnidentifiedImageError:  # no format Pillow knows: maybe one of imageio's plugins
        unknown = True
    except Exception:  # not a file Pillow reads: imageio says why, or reads it
        pass
    import imageio.v3 as iio

    try:
        arr = iio.imread(str(path))
    except Exception:
        if unknown:  # imageio's words would be "Could not find a backend ... pip install ..."
            raise ValueError("its content is in no image format Pillow or imageio reads") from None
        raise
    if arr.ndim == 3 and arr.shape[-1] == 2 and bands is None:
        arr = arr[..., 0]  # grey + alpha (a PNG's "LA" mode): the grey
    return arr, None
