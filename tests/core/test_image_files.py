"""The TIFF reader: photometric interpretation and files of several series."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.core.images import load_collection, read_planes


def _miniswhite(tmp_path, name, data):
    import tifffile

    path = tmp_path / name
    tifffile.imwrite(path, data, photometric="miniswhite")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric == 0  # MINISWHITE: 0 is white
        np.testing.assert_array_equal(tif.asarray(), data)  # stored as given
    return path


@pytest.mark.parametrize(
    ("dtype", "white"), [(np.uint8, 255), (np.uint16, 65535), (np.int16, None)]
)
def test_a_min_is_white_tiff_is_read_as_it_looks(tmp_path, dtype, white):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    ink = rng.integers(info.min, info.max, (30, 40), dtype=dtype, endpoint=True)
    ink[:5] = info.min  # white paper: the lowest value in a "min is white" file
    recs, failures = load_collection([_miniswhite(tmp_path, "scan.tif", ink)])
    assert not failures and recs[0].data.dtype == dtype
    expected = white - ink if white else -1 - ink.astype(np.int64)
    np.testing.assert_array_equal(recs[0].data, expected)
    assert (recs[0].data[:5] == info.max).all()  # the paper is white


def test_a_min_is_white_bilevel_and_float_tiff_and_stack(tmp_path):
    text = np.zeros((20, 30), bool)
    text[5:8, 4:25] = True  # ink (black) stored as True
    (page,) = read_planes(_miniswhite(tmp_path, "fax.tif", text))  # bool: 0 and 255
    np.testing.assert_array_equal(page, np.where(text, 0, 255))
    grey = np.random.default_rng(1).random((20, 30)).astype(np.float32)
    (page,) = read_planes(_miniswhite(tmp_path, "grey.tif", grey))
    np.testing.assert_allclose(page, 1 - grey)
    stack = np.random.default_rng(2).integers(0, 255, (5, 20, 30), np.uint8)
    planes = read_planes(_miniswhite(tmp_path, "pages.tif", stack))
    assert len(planes) == 5
    np.testing.assert_array_equal(np.stack(planes), 255 - stack)


def test_invert_miniswhite_uses_the_bits_per_sample_and_a_float_range():
    from napari_featann.core.image_files import invert_miniswhite

    twelve = np.array([0, 1000, 4095], np.uint16)
    np.testing.assert_array_equal(invert_miniswhite(twelve, 12), [4095, 3095, 0])
    np.testing.assert_array_equal(invert_miniswhite(twelve), [65535, 64535, 61440])
    wide = np.array([-2.0, 3.0, np.nan], np.float32)
    np.testing.assert_array_equal(invert_miniswhite(wide), [3.0, -2.0, np.nan])
