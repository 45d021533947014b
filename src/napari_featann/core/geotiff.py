"""GeoTIFF georeferencing: kept from the images read, written back with their masks.

A GeoTIFF places its pixels on the earth with a few TIFF tags. They are read
with the image (:func:`read_geotags`), kept raw in its record's
``meta["geotiff"]`` (JSON-friendly: lists of numbers and a string, so a session
file keeps them), and written unchanged on every TIFF mask or label image of
the image (:func:`mask_extratags`, tifffile's ``extratags``), so that the mask
lies over the image in QGIS or GDAL. A tile cut from a scene gets the scene's
georeferencing moved to its first pixel (:func:`shift_geotags`).

Kept: ModelPixelScale (33550), ModelTiepoint (33922), ModelTransformation
(34264), GeoKeyDirectory (34735), GeoDoubleParams (34736) and GeoAsciiParams
(34737). Not kept: GDAL_NODATA (42113), the image's "no data" value: a mask's 0
means "unlabelled", which is a label like any other, not missing data, and the
image's no-data value (often 0 too) would make GDAL and QGIS hide it. It is read
(:func:`read_nodata`) for the image's intensity scaling only: its pixels take no
part in it, as NaN do not (:func:`.images.stack_range`).

Nothing here needs Qt or napari.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings

__all__ = [
    "GEOTIFF_TAGS",
    "NODATA_TAG",
    "geotags_of",
    "mask_extratags",
    "parse_nodata",
    "read_geotags",
    "read_nodata",
    "shift_geotags",
]

#: The GeoTIFF tags kept: name (the ``meta["geotiff"]`` key) -> (TIFF code, TIFF type).
#: TIFF types: 12 DOUBLE, 3 SHORT, 2 ASCII.
GEOTIFF_TAGS = {
    "ModelPixelScale": (33550, 12),
    "ModelTiepoint": (33922, 12),
    "ModelTransformation": (34264, 12),
    "GeoKeyDirectory": (34735, 3),
    "GeoDoubleParams": (34736, 12),
    "GeoAsciiParams": (34737, 2),
}
_BY_CODE = {code: name for name, (code, _) in GEOTIFF_TAGS.items()}
#: GDAL's "no data" tag: the value (as text) of the pixels that hold no measurement.
NODATA_TAG = 42113


def _page_geotags(page) -> dict:
    """The GeoTIFF tags of one tifffile page, as JSON-friendly values."""
    out = {}
    for code, name in _BY_CODE.items():
        tag = page.tags.get(code)
        if tag is None:
            continue
        value = tag.value
        if GEOTIFF_TAGS[name][1] == 2:  # ASCII
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            out[name] = str(value).rstrip("\x00")
        elif GEOTIFF_TAGS[name][1] == 3:
            out[name] = [int(v) for v in _values(value)]
        else:
            out[name] = [float(v) for v in _values(value)]
    return out


def _values(value) -> list:
    """A tag's value as a flat list (one number is a list of one)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "ravel"):  # a numpy array
        return value.ravel().tolist()
    return [value]


def read_geotags(path: str | os.PathLike) -> dict:
    """The GeoTIFF tags of the image that the loader reads from a TIFF file.

    Parameters
    ----------
    path : str or path-like
        A TIFF file (other files, and TIFFs without georeferencing, give ``{}``).

    Returns
    -------
    dict
        Tag name (a key of :data:`GEOTIFF_TAGS`) -> list of numbers, or a string
        for ``GeoAsciiParams``; empty when the file has none, or no
        ModelTiepoint nor ModelTransformation (no place on the earth). The tags
        are those of the first page of the series read
        (:func:`.image_files.read_tiff`: the largest).
    """
    if not str(path).lower().endswith((".tif", ".tiff")):
        return {}
    try:
        geo = _file_geotags(path)
    except Exception as exc:  # tifffile's many errors; the pixels were read: keep them
        warnings.warn(f"{path}: georeferencing not read: {exc}", UserWarning, stacklevel=2)
        return {}
    return geo if _problem(geo) is None else {}


def _file_geotags(path) -> dict:
    return _series_page(path, _BY_CODE, _page_geotags) or {}


def _series_page(path, codes, read):
    """``read(page)`` for the first page of the series the loader reads (the largest, see
    :func:`.image_files.read_tiff`); None when the file's first page holds none of the
    tags ``codes`` (the usual case, decided from the first page alone)."""
    import tifffile

    from .image_files import read_series_index

    with tifffile.TiffFile(str(path)) as tif:
        first = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
        if not any(code in first.tags for code in codes):
            return None
        series = list(tif.series)
        page = series[read_series_index(series)].keyframe if series else first
        return read(page)


def read_nodata(path: str | os.PathLike, dtype) -> int | float | None:
    """The "no data" value (GDAL_NODATA) of the image the loader reads from a TIFF file.

    Parameters
    ----------
    path : str or path-like
        A TIFF file (other files give None).
    dtype : numpy dtype
        The pixels' type, as read: the value is parsed to it (:func:`parse_nodata`).

    Returns
    -------
    int, float or None
        None when the file has no GDAL_NODATA tag (tifffile's ``page.nodata``
        reads 0 then, so the tag itself is looked for), or a value that cannot
        be a pixel of ``dtype`` (see :func:`parse_nodata`). The tag is that of
        the first page of the series read, as for :func:`read_geotags`.
    """
    if not str(path).lower().endswith((".tif", ".tiff")):
        return None
    try:
        raw = _file_nodata(path)
    except Exception as exc:  # tifffile's many errors; the pixels were read: keep them
        warnings.warn(f"{path}: no-data value not read: {exc}", UserWarning, stacklevel=2)
        return None
    return parse_nodata(raw, dtype)


def _file_nodata(path):
    tag = _series_page(path, (NODATA_TAG,), lambda page: page.tags.get(NODATA_TAG))
    return None if tag is None else tag.value


def parse_nodata(value, dtype) -> int | float | None:
    """A GDAL_NODATA value (text such as ``"0"``, ``"-9999"`` or ``"nan"``) as a pixel of ``dtype``.

    Parameters
    ----------
    value : str, bytes, number or None
        The tag's value.
    dtype : numpy dtype
        The pixels' type.

    Returns
    -------
    int, float or None
        An int for integer pixels, a float (exactly representable in ``dtype``)
        for float pixels. None for no value, text that is no number, NaN and
        infinities (never part of the scaling anyway), a fraction or a value
        out of range for integer pixels, and other pixel types.

    Examples
    --------
    >>> parse_nodata("-9999", "float32")
    -9999.0
    >>> parse_nodata("0", "uint16")
    0
    >>> parse_nodata("-1", "uint16") is None
    True
    """
    import numpy as np

    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    try:
        v = float(str(value).strip().rstrip("\x00").strip())
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return int(v) if v.is_integer() and info.min <= v <= info.max else None
    if np.issubdtype(dt, np.floating):
        with np.errstate(over="ignore"):
            f = dt.type(v)
        return float(f) if np.isfinite(f) else None
    return None


def geotags_of(meta: dict) -> dict | None:
    """The georeferencing kept in an image record's ``meta``, checked; None if none.

    Parameters
    ----------
    meta : dict
        An :class:`~.images.ImageRecord`'s ``meta`` (as read, or from a session file).

    Returns
    -------
    dict or None
        ``meta["geotiff"]`` when it places the image: a ModelTiepoint (6 numbers
        per tiepoint) or a ModelTransformation (16 numbers); None without one.
        Malformed values (a session file edited by hand) give None and a
        ``UserWarning``: a mask is better plain than wrongly placed.
    """
    geo = meta.get("geotiff") if isinstance(meta, dict) else None
    if not geo:
        return None
    problem = _problem(geo)
    if problem:
        warnings.warn(f"georeferencing left out: {problem}", UserWarning, stacklevel=3)
        return None
    return geo


def _problem(geo) -> str | None:
    """What makes ``geo`` unusable, or None."""
    if not isinstance(geo, dict):
        return f"expected a dict of GeoTIFF tags, got {type(geo).__name__}"
    for name, value in geo.items():
        if name not in GEOTIFF_TAGS:
            return f"unknown GeoTIFF tag {name!r}"
        kind = GEOTIFF_TAGS[name][1]
        if kind == 2:
            if not isinstance(value, str):
                return f"{name} is not text"
            continue
        if not isinstance(value, (list, tuple)) or not value:
            return f"{name} is not a list of numbers"
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            return f"{name} is not a list of numbers"
        if kind == 3 and not all(float(v).is_integer() and 0 <= v < 65536 for v in value):
            return f"{name} holds values that are no 16-bit integers"
    tie, matrix = geo.get("ModelTiepoint"), geo.get("ModelTransformation")
    if tie is None and matrix is None:
        return "neither ModelTiepoint nor ModelTransformation"
    if tie is not None and len(tie) % 6:
        return f"ModelTiepoint has {len(tie)} values, not 6 per tiepoint"
    if matrix is not None and len(matrix) != 16:
        return f"ModelTransformation has {len(matrix)} values, not 16"
    scale = geo.get("ModelPixelScale")
    if scale is not None and len(scale) < 2:
        return f"ModelPixelScale has {len(scale)} values, not 3"
    return None


def shift_geotags(geo: dict, row: int, col: int) -> dict:
    """The georeferencing of the window of an image whose first pixel is (``row``, ``col``).

    Parameters
    ----------
    geo : dict
        The image's tags (:func:`geotags_of`).
    row, col : int
        The window's first row and column in the image.

    Returns
    -------
    dict
        A copy of ``geo`` whose pixel (0, 0) lies where the image's pixel
        (``row``, ``col``) does:

        - one tiepoint ``(I, J, K, X, Y, Z)`` with a ModelPixelScale
          ``(Sx, Sy, Sz)``: raster point (I, J) is at (X, Y), and pixel
          (i, j) at ``X + (i - I) * Sx, Y - (j - J) * Sy`` (rows go down, the
          model's y up); the window gets the tiepoint
          ``(0, 0, K, X + (col - I) * Sx, Y - (row - J) * Sy, Z)``;
        - tiepoints without a scale (ground control points): each raster point
          moves to ``(I - col, J - row)``, its world point unchanged;
        - a ModelTransformation ``M`` (4x4, by rows): its translation becomes
          ``M[:3, 3] + M[:3, 0] * col + M[:3, 1] * row``.

        Scale, geokeys and parameters are unchanged (the raster type, pixel is
        area or point, shifts alike).
    """
    row, col = int(row), int(col)
    out = dict(geo)
    tie, scale = geo.get("ModelTiepoint"), geo.get("ModelPixelScale")
    if tie is not None:
        tie = [float(v) for v in tie]
        if len(tie) == 6 and scale is not None:
            i, j, k, x, y, z = tie
            sx, sy = float(scale[0]), float(scale[1])
            tie = [0.0, 0.0, k, x + (col - i) * sx, y - (row - j) * sy, z]
        else:
            for t in range(0, len(tie), 6):
                tie[t] -= col
                tie[t + 1] -= row
        out["ModelTiepoint"] = tie
    matrix = geo.get("ModelTransformation")
    if matrix is not None:
        m = [float(v) for v in matrix]
        for a in range(3):
            m[4 * a + 3] += m[4 * a] * col + m[4 * a + 1] * row
        out["ModelTransformation"] = m
    return out


def _extratags(geo: dict, writeonce: bool) -> list[tuple]:
    """tifffile ``extratags`` writing ``geo``: (code, dtype, count, value, writeonce)."""
    tags = []
    for name, (code, kind) in GEOTIFF_TAGS.items():
        value = geo.get(name)
        if value is None:
            continue
        if kind == 2:
            tags.append((code, "s", 0, value, writeonce))
        elif kind == 3:
            tags.append((code, "H", len(value), tuple(int(v) for v in value), writeonce))
        else:
            tags.append((code, "d", len(value), tuple(float(v) for v in value), writeonce))
    return tags


def mask_extratags(meta: dict, whole: bool = False, writeonce: bool = True) -> list[tuple]:
    """tifffile ``extratags`` that georeference a mask of an image as the image is.

    Parameters
    ----------
    meta : dict
        The image record's ``meta``.
    whole : bool
        The mask covers the whole scene the image was cut from (a mosaic of
        its tiles): the scene's tags, unchanged. Otherwise a tile's mask gets
        them moved to the tile's first pixel (``meta["tile"]``, see
        :func:`shift_geotags`).
    writeonce : bool
        Write them on the first page only (False: on every page of a stack).

    Returns
    -------
    list of tuple
        ``[]`` when the image is not georeferenced.
    """
    geo = geotags_of(meta)
    if geo is None:
        return []
    tile = meta.get("tile")
    if tile is not None and not whole:
        geo = shift_geotags(geo, int(tile[0]), int(tile[1]))
    return _extratags(geo, writeonce)
