"""A GeoTIFF's "no data" value (GDAL_NODATA) is left out of the intensity scaling.

The expected ranges are computed here with numpy from the pixels written, not
with the package's code: the 0.5th and 99.5th percentiles of the pixels that
hold data.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.core.geotiff import parse_nodata, read_nodata
from napari_featann.core.images import load_collection, to_float_rgb

NODATA = 42113  # GDAL_NODATA, an ASCII tag


def write(path, data, nodata: str | None = None, **kw):
    """``data`` as a TIFF, with GDAL_NODATA ``nodata`` (text, as GDAL writes it) if given."""
    import tifffile

    extra = [] if nodata is None else [(NODATA, "s", 0, nodata, True)]
    tifffile.imwrite(path, data, photometric="minisblack", extratags=extra, **kw)
    return path


def scene_with_border(shape=(300, 400)) -> np.ndarray:
    """A uint16 scene whose corner outside a tilted footprint is 0 (about a third of it),
    as a rotated satellite scene's collar."""
    rng = np.random.default_rng(3)
    data = rng.gamma(4.0, 120.0, shape).astype(np.uint16) + 60
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    data[cols + rows < shape[0]] = 0
    return data


def percentiles(values) -> list[float]:
    return [float(v) for v in np.percentile(np.asarray(values, np.float64), (0.5, 99.5))]


def test_a_zero_border_marked_no_data_takes_no_part_in_the_scaling(tmp_path):
    data = scene_with_border()
    assert 0.25 < (data == 0).mean() < 0.5
    (rec,), _ = load_collection(write(tmp_path / "scene.tif", data, "0"))
    np.testing.assert_array_equal(rec.data, data)  # the pixels as stored (sessions hash them)
    assert rec.meta["nodata"] == 0 and isinstance(rec.meta["nodata"], int)
    want = percentiles(data[data != 0])
    assert rec.meta["range"] == pytest.approx(want, rel=1e-6)
    assert want[0] > 60  # with the border the low end would be 0
    rgb = rec.float_rgb()
    assert (rgb[data == 0] == 0).all()  # the border black
    inside = data != 0
    lo, hi = want
    expect = np.clip((data[inside].astype(np.float32) - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(rgb[inside][:, 0], expect, atol=1e-6)
    assert np.median(rgb[inside]) > 0.2  # not crushed towards black by the border


def test_without_the_tag_zeros_are_pixels_as_before(tmp_path):
    import tifffile

    data = scene_with_border()
    path = write(tmp_path / "plain.tif", data)
    with tifffile.TiffFile(path) as tif:  # tifffile says 0 for a page without the tag
        assert NODATA not in tif.pages[0].tags and tif.pages[0].nodata == 0
    assert read_nodata(path, data.dtype) is None
    (rec,), _ = load_collection(path)
    assert "nodata" not in rec.meta and "range" not in rec.meta
    np.testing.assert_array_equal(rec.float_rgb(), to_float_rgb(data))  # the old scaling


def test_a_float_dem_with_minus_9999_and_nan(tmp_path):
    rng = np.random.default_rng(5)
    dem = (200 + 600 * rng.random((200, 250))).astype(np.float32)
    dem[:60, :] = -9999
    dem[100:110, 100:120] = np.nan
    (rec,), _ = load_collection(write(tmp_path / "dem.tif", dem, "-9999"))
    assert rec.meta["nodata"] == -9999.0
    valid = dem[(dem != -9999) & np.isfinite(dem)]
    assert rec.meta["range"] == pytest.approx(percentiles(valid), rel=1e-5)
    rgb = rec.float_rgb()
    assert (rgb[:60] == 0).all() and (rgb[100:110, 100:120] == 0).all()
    assert rgb[60:100].mean() == pytest.approx(0.5, abs=0.05)  # uniform heights: mid grey


def test_no_data_above_the_range_is_black_too(tmp_path):
    data = scene_with_border()
    data[data == 0] = 65535
    (rec,), _ = load_collection(write(tmp_path / "top.tif", data, "65535"))
    assert rec.meta["range"][1] < 5000
    assert (rec.float_rgb()[data == 65535] == 0).all()  # black, not saturated white


def test_tiles_and_stacks_share_a_range_without_no_data(tmp_path):
    data = scene_with_border((300, 400))
    want = percentiles(data[data != 0])
    tiles, _ = load_collection(write(tmp_path / "scene.tif", data, "0"), tile=128)
    assert len(tiles) == 9
    for t in tiles:
        assert t.meta["nodata"] == 0 and t.meta["range"] == pytest.approx(want, rel=1e-6)
    assert (tiles[0].float_rgb()[tiles[0].data == 0] == 0).all()
    stack = np.stack([data, data[::-1]])
    planes, _ = load_collection(write(tmp_path / "cube.tif", stack, "0", metadata={"axes": "ZYX"}))
    assert len(planes) == 2
    want = percentiles(stack[stack != 0])
    for p in planes:
        assert p.meta["nodata"] == 0 and p.meta["range"] == pytest.approx(want, rel=1e-6)


def test_8_bit_images_and_bad_values_are_left_as_they_were(tmp_path):
    data8 = (scene_with_border() // 8).astype(np.uint8)
    (rec,), _ = load_collection(write(tmp_path / "byte.tif", data8, "0"))
    assert rec.meta == {}  # divided by 255, not scaled: nothing to leave out
    np.testing.assert_array_equal(rec.float_rgb(), data8[..., None].repeat(3, 2) / np.float32(255))
    data = scene_with_border()
    for text in ("none", "-1", "1.5", "70000", "nan"):  # none can be a uint16 pixel
        (rec,), _ = load_collection(write(tmp_path / "bad.tif", data, text))
        assert "nodata" not in rec.meta and "range" not in rec.meta, text


@pytest.mark.parametrize(
    ("value", "dtype", "want"),
    [
        ("0", "uint16", 0),
        ("0\x00", "uint16", 0),
        (b"-9999", "int16", -9999),
        ("-9999", "float32", -9999.0),
        ("-3.40282346638529e+38", "float32", float(np.finfo(np.float32).min)),
        ("1e300", "float32", None),  # overflows float32
        ("-1", "uint16", None),
        ("2.5", "int32", None),
        ("nan", "float32", None),
        ("-inf", "float64", None),
        ("abc", "uint16", None),
        (None, "uint16", None),
    ],
)
def test_parse_nodata(value, dtype, want):
    got = parse_nodata(value, dtype)
    assert got == want and type(got) is type(want)
