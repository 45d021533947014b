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


def _pages(path, pages, **kwargs):
    """A TIFF of ``pages`` written one ``TiffWriter.write`` call each: one series each."""
    import tifffile

    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, **kwargs)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == len(pages)
    return path


@pytest.mark.parametrize(("n", "rgb"), [(2, False), (3, False), (4, True), (5, False)])
def test_pages_written_one_at_a_time_are_read_as_a_stack_without_a_warning(tmp_path, n, rgb):
    import warnings

    shape = (20, 30, 3) if rgb else (20, 30)
    pages = np.random.default_rng(n).integers(0, 255, (n, *shape), np.uint8)
    path = _pages(tmp_path / "frames.tif", pages, photometric="rgb" if rgb else "minisblack")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recs, failures = load_collection([path])
    assert not failures and len(recs) == n
    for k, rec in enumerate(recs):  # one plane per page, in file order
        np.testing.assert_array_equal(rec.data, pages[k])
        assert rec.plane == k and rec.meta["stack"] == "frames"
    assert [r.name for r in recs] == [f"frames_{k:03d}" for k in range(n)]


def test_bands_pick_pages_written_one_at_a_time(tmp_path):
    pages = np.random.default_rng(7).integers(0, 255, (3, 20, 30), np.uint8)
    path = _pages(tmp_path / "bands.tif", pages, photometric="minisblack")
    (grey,) = read_planes(path, bands=[1])
    np.testing.assert_array_equal(grey, pages[1])
    (rgb,) = read_planes(path, bands=[2, 0, 1])
    np.testing.assert_array_equal(rgb, np.moveaxis(pages[[2, 0, 1]], 0, -1))


def test_series_of_different_sizes_or_kinds_still_read_the_largest_and_warn(tmp_path):
    rng = np.random.default_rng(8)
    big, small = rng.integers(0, 255, (40, 50), np.uint8), rng.integers(0, 255, (20, 25), np.uint8)
    rgb = rng.integers(0, 255, (40, 50, 3), np.uint8)
    sized = _pages(tmp_path / "sizes.tif", [small, big, small], photometric="minisblack")
    with pytest.warns(UserWarning, match="TIFF series") as caught:
        planes = read_planes(sized)
    assert len(planes) == 1 and "series 0 (20x25), 2 (20x25)" in str(caught[0].message)
    np.testing.assert_array_equal(planes[0], big)
    import tifffile

    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tif:  # grey and RGB of one size
        tif.write(big, photometric="minisblack")
        tif.write(rgb, photometric="rgb")
    with pytest.warns(UserWarning, match="TIFF series"):
        (plane,) = read_planes(tmp_path / "mixed.tif")
    np.testing.assert_array_equal(plane, big)  # the first of equally large ones


def test_four_grey_samples_are_bands_to_choose_not_rgba(tmp_path):
    """A 4-band GeoTIFF (blue, green, red, near infrared: Photometric MINISBLACK, as GDAL
    writes it) was read as RGBA: shown as "RGB" in the wrong colours, its fourth band
    dropped as alpha, without a word, where the guide says such files are refused."""
    import tifffile

    rng = np.random.default_rng(3)
    bgrn = (rng.random((40, 50, 4)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "contig.tif", bgrn, photometric="minisblack",
                     planarconfig="contig")  # fmt: skip
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(bgrn, -1, 0),
                     photometric="minisblack", planarconfig="separate")  # fmt: skip
    tifffile.imwrite(tmp_path / "imagej.tif", np.moveaxis(bgrn, -1, 0), imagej=True,
                     metadata={"axes": "CYX"})  # 4 microscopy channels  # fmt: skip
    for name in ("contig.tif", "planar.tif", "imagej.tif"):
        with pytest.raises(ValueError, match="has 4 channels"):
            read_planes(tmp_path / name)
        rgb = read_planes(tmp_path / name, bands=[2, 1, 0])  # red, green, blue
        assert len(rgb) == 1
        np.testing.assert_array_equal(rgb[0], bgrn[..., [2, 1, 0]])
        np.testing.assert_array_equal(read_planes(tmp_path / name, bands=[3])[0], bgrn[..., 3])
    # RGBA (alpha in ExtraSamples) and three grey samples stay what they were
    rgba = rng.integers(0, 255, (40, 50, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb")
    np.testing.assert_array_equal(read_planes(tmp_path / "rgba.tif")[0], rgba)
    three = bgrn[..., :3]
    tifffile.imwrite(tmp_path / "three.tif", three, photometric="minisblack",
                     planarconfig="contig")  # fmt: skip
    np.testing.assert_array_equal(read_planes(tmp_path / "three.tif")[0], three)
