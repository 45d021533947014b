from pathlib import Path

import numpy as np
import pytest

from napari_featann.core.images import (
    ImageLoadError,
    image_planes,
    load_collection,
    parse_bands,
    read_image,
    select_bands,
    stack_range,
    to_float_rgb,
)

NUCLEI_3D = Path(__file__).parents[2] / ".." / "shared" / "data" / "nuclei-dsb2018" / "img3d.tif"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_to_float_rgb_any_type(dtype, channels):
    shape = (10, 12) if channels is None else (10, 12, channels)
    rng = np.random.default_rng(0)
    hi = 255 if dtype == np.uint8 else 4000
    arr = (rng.random(shape) * hi).astype(dtype)
    out = to_float_rgb(arr)
    assert out.shape == (10, 12, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.5  # contrast kept, including 16-bit


def test_uint8_scaled_by_255():
    arr = np.array([[0, 255]], np.uint8).repeat(3, 0)
    out = to_float_rgb(arr)
    assert out[0, 0, 0] == 0.0 and out[0, 1, 0] == 1.0


def test_files_of_mixed_formats_and_sizes(tmp_path):
    import imageio.v3 as iio
    import tifffile

    iio.imwrite(tmp_path / "a.png", np.zeros((20, 30, 3), np.uint8))
    iio.imwrite(tmp_path / "b.jpg", np.full((25, 15, 3), 100, np.uint8))
    tifffile.imwrite(tmp_path / "c.tif", np.arange(40 * 50, dtype=np.uint16).reshape(40, 50))
    iio.imwrite(tmp_path / "d.png", np.zeros((8, 9, 4), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    records, failures = load_collection(tmp_path)
    assert [r.name for r in records] == ["a", "b", "c", "d"]
    assert [r.shape2d for r in records] == [(20, 30), (25, 15), (40, 50), (8, 9)]
    assert records[2].data.dtype == np.uint16
    assert failures == {}


def test_bad_files_are_listed_and_good_ones_kept(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "good.png", np.zeros((10, 10), np.uint8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    files = [tmp_path / "good.png", tmp_path / "empty.png", tmp_path / "text.jpg",
             tmp_path / "missing.tif"]  # fmt: skip
    records, failures = load_collection(files)
    assert [r.name for r in records] == ["good"]
    assert set(failures) == {str(f) for f in files[1:]}
    assert "empty" in failures[str(files[1])]
    assert "no such file" in failures[str(files[3])]


def test_nothing_readable_raises_with_names(tmp_path):
    (tmp_path / "x.png").write_text("junk")
    with pytest.raises(ImageLoadError) as err:
        load_collection([tmp_path / "x.png"])
    assert "x.png" in str(err.value)
    assert str(tmp_path / "x.png") in err.value.failures


def test_a_file_that_is_no_image_is_said_on_one_short_line(tmp_path):
    """A text file named .png gave imageio's lines suggesting ``pip install imageio[pyav]``."""
    from napari_featann.core.images import read_planes

    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ValueError) as err:
        read_planes(tmp_path / "fake.png")
    text = str(err.value)
    assert text.startswith("not a readable image (PNG/JPEG/TIFF): ")
    assert "\n" not in text and "pip" not in text and len(text) < 200
    (tmp_path / "fake.tif").write_text("not an image")
    with pytest.raises(ValueError, match=r"^not a readable image \(PNG/JPEG/TIFF\): not a TIFF"):
        read_planes(tmp_path / "fake.tif")


def test_strict_mode_raises_on_first_bad(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "good.png", np.zeros((10, 10), np.uint8))
    (tmp_path / "bad.png").write_text("junk")
    with pytest.raises(ImageLoadError, match=r"bad\.png"):
        load_collection([tmp_path / "good.png", tmp_path / "bad.png"], skip_bad=False)


def test_arrays_and_bad_shapes():
    records, failures = load_collection(
        [np.zeros((5, 5)), np.zeros((2, 2, 3, 4, 5)), np.zeros((0, 4))],
        names=["a", "hyper", "empty"],
    )
    assert [r.name for r in records] == ["a"]
    assert "stack" in failures["hyper"] and "empty" in failures["empty"]


def test_a_stack_array_gives_its_planes_named_and_scaled_alike():
    rng = np.random.default_rng(0)
    stack = (rng.random((6, 20, 30)) * 1000).astype(np.uint16)
    stack[0] //= 10  # a dim plane stays dim: the stack shares one intensity range
    records, failures = load_collection([stack, np.zeros((8, 8), np.uint8)], names=["vol", "flat"])
    assert not failures
    assert [r.name for r in records] == [f"vol_{k:03d}" for k in range(6)] + ["flat"]
    assert [r.plane for r in records] == [0, 1, 2, 3, 4, 5, None]
    assert all(r.meta["stack"] == "vol" and r.meta["planes"] == 6 for r in records[:6])
    np.testing.assert_array_equal(records[2].data, stack[2])
    dim, bright = records[0].float_rgb(), records[1].float_rgb()
    assert dim.max() < 0.15 < 0.9 < bright.max()
    assert to_float_rgb(stack[0]).max() > 0.9  # alone, the dim plane would be stretched


def test_a_multi_band_image_is_not_taken_for_a_stack():
    with pytest.raises(ImageLoadError) as err:
        load_collection([np.zeros((50, 60, 8), np.uint16)], names=["bands"])
    assert "8 channels" in err.value.failures["bands"]
    with pytest.raises(ValueError, match="8 channels"):  # napari shows it as a 3-D layer
        image_planes(np.zeros((50, 60, 8), np.uint16), "ZYX")
    with pytest.raises(ValueError, match="2 channels"):
        image_planes(np.zeros((50, 60, 2), np.uint16))
    assert len(image_planes(np.zeros((8, 50, 60), np.uint16))) == 8  # bands first: planes


def test_axes_decide_between_channels_and_planes():
    arr = np.zeros((3, 10, 12), np.uint8)
    assert [p.shape for p in image_planes(arr)] == [(10, 12, 3)]  # channel-first RGB
    assert [p.shape for p in image_planes(arr, "ZYX")] == [(10, 12)] * 3
    assert [p.shape for p in image_planes(np.zeros((10, 12, 3)), "YXS")] == [(10, 12, 3)]
    rgb_stack = np.zeros((4, 10, 12, 3), np.uint8)
    assert [p.shape for p in image_planes(rgb_stack)] == [(10, 12, 3)] * 4
    assert [p.shape for p in image_planes(np.moveaxis(rgb_stack, 3, 1))] == [(10, 12, 3)] * 4


def test_a_stack_file_and_read_image_of_one_plane(tmp_path):
    import tifffile

    vol = np.arange(5 * 9 * 11, dtype=np.uint16).reshape(5, 9, 11)
    tifffile.imwrite(tmp_path / "vol.tif", vol, photometric="minisblack", metadata={"axes": "ZYX"})
    records, _ = load_collection(tmp_path)
    assert [r.name for r in records] == [f"vol_{k:03d}" for k in range(5)]
    assert all(r.path == str(tmp_path / "vol.tif") for r in records)
    np.testing.assert_array_equal(read_image(tmp_path / "vol.tif", plane=3), vol[3])
    with pytest.raises(ValueError, match="stack of 5 planes"):
        read_image(tmp_path / "vol.tif")
    with pytest.raises(ValueError, match="no plane 7"):
        read_image(tmp_path / "vol.tif", plane=7)


def test_the_nuclei_volume_opens_as_31_planes():
    if not NUCLEI_3D.exists():
        pytest.skip(f"{NUCLEI_3D} is not available")
    records, failures = load_collection([NUCLEI_3D])
    assert not failures and len(records) == 31
    assert {r.data.shape for r in records} == {(61, 57)}
    assert records[30].name == "img3d_030" and records[30].meta["range"][1] > 0


def test_read_real_jpeg(davis_files):
    arr = read_image(davis_files[0])
    assert arr.shape == (480, 854, 3) and arr.dtype == np.uint8


def test_bands_pick_channels_of_multi_band_images(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    ms = (rng.random((30, 40, 8)) * 4000).astype(np.uint16)
    rgb, axes = select_bands(ms, [4, 2, 1])
    np.testing.assert_array_equal(rgb, ms[..., [4, 2, 1]])
    assert axes is None
    grey, axes = select_bands(np.moveaxis(ms, -1, 0), [5], "CYX")  # channels first
    np.testing.assert_array_equal(grey, ms[..., 5])
    assert axes == "YX"
    stack = np.stack([ms, ms // 2])
    assert [p.shape for p in image_planes(stack, None, [0, 1, 2])] == [(30, 40, 3)] * 2
    with pytest.raises(ValueError, match="8 channels, 0 to 7"):
        select_bands(ms, [8, 1, 0])
    with pytest.raises(ValueError, match="one channel"):
        select_bands(ms, [1, 2])
    with pytest.raises(ValueError, match=r"the image is grey \(one channel.*Bands field empty"):
        select_bands(ms[..., 0], [0])  # a plain grey image has no bands to choose
    # files, planar or interleaved: the same image; the choice is kept in the record
    tifffile.imwrite(tmp_path / "a.tif", ms, photometric="minisblack", planarconfig="contig")
    tifffile.imwrite(tmp_path / "b.tif", np.moveaxis(ms, -1, 0), photometric="minisblack",
                     planarconfig="separate")  # fmt: skip
    with pytest.raises(ImageLoadError, match="8 channels"):
        load_collection(tmp_path)
    records, _ = load_collection(tmp_path, bands=[4, 2, 1])
    for r in records:
        np.testing.assert_array_equal(r.data, ms[..., [4, 2, 1]])
        assert r.meta == {"bands": [4, 2, 1]}


def test_review_cases_of_pages_hyperstacks_and_constant_stacks(tmp_path):
    import tifffile

    from napari_featann.core.images import stack_range

    # three unnamed grey pages (axes QYX) stay one channel-first image, as before stacks
    tifffile.imwrite(tmp_path / "pages.tif", np.zeros((3, 20, 30), np.uint8),
                     photometric="minisblack")  # fmt: skip
    records, _ = load_collection([tmp_path / "pages.tif"])
    assert len(records) == 1 and records[0].data.shape == (20, 30, 3)
    # a time series of 3-plane volumes is not read as RGB images
    with pytest.raises(ValueError, match="hyperstacks"):
        image_planes(np.zeros((5, 3, 40, 50), np.uint16), "TZYX")
    # bands never pick planes of depth or time
    with pytest.raises(ValueError, match="no channel axis"):
        image_planes(np.zeros((10, 40, 50), np.uint16), "ZYX", bands=[0])
    # a tiny two-channel image is one image, not 10 planes 12 pixels wide
    with pytest.raises(ValueError, match="2 channels"):
        image_planes(np.zeros((10, 12, 2), np.uint16))
    with pytest.raises(ValueError, match="2 channels"):
        image_planes(np.zeros((5, 40, 50, 2), np.uint16))
    # a blank stack has no range and converts to black
    blank = [np.full((8, 9), 7, np.uint16)] * 5
    assert stack_range(blank) is None
    records, _ = load_collection([np.stack(blank)], names=["blank"])
    assert len(records) == 5 and records[1].float_rgb().max() == 0


def test_small_colour_images_are_never_split(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "tiny.png", np.zeros((2, 2, 3), np.uint8))
    iio.imwrite(tmp_path / "strip.png", np.zeros((100, 3, 4), np.uint8))
    records, _ = load_collection(tmp_path)
    assert sorted(r.data.shape for r in records) == [(2, 2, 3), (100, 3, 4)]
    assert [p.shape for p in image_planes(np.zeros((50, 3, 3)))] == [(50, 3, 3)]
    # with bands and no axes, a short first axis is the channels
    assert [p.shape for p in image_planes(np.zeros((8, 64, 80)), None, [3, 2, 1])] == [(64, 80, 3)]


@pytest.mark.parametrize(
    ("text", "bands"),
    [("4,2,1", [4, 2, 1]), (" 3 ", [3]), ("0 1 2", [0, 1, 2]), ("7, 0,0", [7, 0, 0]), ("", None)],
)
def test_parse_bands_reads_one_or_three_indices(text, bands):
    assert parse_bands(text) == bands


@pytest.mark.parametrize(("text", "match"), [("r,g,b", "like 4,2,1"), ("4,2", "one channel"),
                                             ("1,-2,0", "from 0"), ("1.5", "like 4,2,1")])  # fmt: skip
def test_parse_bands_refuses_other_text(text, match):
    with pytest.raises(ValueError, match=match):
        parse_bands(text)


def test_tiles_of_a_large_image_share_its_scaling_and_small_images_and_stacks_stay_whole():
    grey = np.zeros((200, 150), np.uint16)
    grey[:100] = 1000
    grey[100:] = 3000  # the lower tiles are brighter, the same value looks the same
    grey[0, 0], grey[199, 149] = 0, 4000
    small = np.full((60, 60, 3), 7, np.uint8)
    stack = np.zeros((3, 200, 150), np.uint16)
    recs, _ = load_collection([grey, small, stack], names=["scene", "small", "vol"],
                              axes=[None, None, "ZYX"], tile=100)  # fmt: skip
    names = [r.name for r in recs]
    assert names[:4] == ["scene_r0_c0", "scene_r0_c100", "scene_r100_c0", "scene_r100_c100"]
    assert names[4:] == ["small", "vol_000", "vol_001", "vol_002"]
    assert [r.meta["tile"] for r in recs[:4]] == [[0, 0, 100, 100], [0, 100, 100, 50],
                                                   [100, 0, 100, 100], [100, 100, 100, 50]]  # fmt: skip
    assert {r.meta["scene"] for r in recs[:4]} == {"scene"}
    assert all(r.meta["scene_shape"] == [200, 150] for r in recs[:4])
    top, bottom = recs[1].float_rgb(), recs[3].float_rgb()
    assert top[50, 25, 0] < bottom[50, 25, 0]  # one scaling for the scene, not one per tile
    assert recs[4].data.shape == (60, 60, 3) and "tile" not in recs[4].meta
    np.testing.assert_array_equal(recs[3].data, grey[100:, 100:])


def test_no_tile_is_a_sliver():
    scene = np.random.default_rng(0).integers(0, 255, (100, 241), np.uint8)
    recs, _ = load_collection([scene], names=["s"], tile=80)
    windows = [r.meta["tile"] for r in recs]
    assert windows == [[0, 0, 100, 80], [0, 80, 100, 80], [0, 160, 100, 81]]
    assert sum(r.data.size for r in recs) == scene.size


def test_nan_pixels_neither_blacken_a_float_image_nor_its_stack():
    img = np.linspace(0, 1, 60 * 80, dtype=np.float32).reshape(60, 80)
    img[::7, ::9] = np.nan
    out = to_float_rgb(img)
    assert np.isfinite(out).all() and out.max() == 1.0
    assert np.all(out[::7, ::9] == 0)
    good = np.isfinite(img)
    assert np.corrcoef(out[..., 0][good], img[good])[0, 1] > 0.99
    rng = stack_range([img, img * 2])
    assert rng is not None and np.isfinite(rng).all() and rng[1] > rng[0]


def test_bands_of_an_hwc_tiff_saved_without_photometric(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    cube = np.random.default_rng(1).integers(0, 4000, (64, 70, 5), np.uint16)
    tifffile.imwrite(tmp_path / "cube.tif", cube)  # tifffile reads it back as 64 pages, "QYX"
    with pytest.raises(ValueError, match="5 channels"):
        load_collection([tmp_path / "cube.tif"])
    recs, _ = load_collection([tmp_path / "cube.tif"], bands=(4, 2, 1))
    assert len(recs) == 1 and recs[0].data.shape == (64, 70, 3)
    np.testing.assert_array_equal(recs[0].data, cube[..., [4, 2, 1]])


def test_a_grey_and_alpha_png_is_read_as_grey(tmp_path):
    import imageio.v3 as iio

    la = np.zeros((30, 40, 2), np.uint8)
    la[..., 0] = np.arange(40, dtype=np.uint8)[None] * 5
    la[..., 1] = 255
    iio.imwrite(tmp_path / "la.png", la)
    recs, failures = load_collection(tmp_path)
    assert not failures and recs[0].data.shape == (30, 40)
    np.testing.assert_array_equal(recs[0].data, la[..., 0])


def test_an_empty_folder_is_named_in_the_message(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageLoadError, match=f"{tmp_path} holds no .*png"):
        load_collection(tmp_path)


def test_a_tiff_of_a_thumbnail_and_its_page_reads_the_page_and_warns(tmp_path):
    import tifffile
    from PIL import Image

    page = np.random.default_rng(2).integers(0, 255, (90, 120, 3), np.uint8)
    thumb = np.ascontiguousarray(page[::4, ::4])
    with tifffile.TiffWriter(tmp_path / "scan.tif") as tif:  # the thumbnail first
        tif.write(thumb, photometric="rgb")
        tif.write(page, photometric="rgb")
    pages = [Image.fromarray(thumb), Image.fromarray(page), Image.fromarray(thumb[:, :20])]
    pages[0].save(tmp_path / "pil.tif", save_all=True, append_images=pages[1:])  # no metadata
    for name, skipped in (("scan.tif", "series 0 (23x30x3)"),
                          ("pil.tif", "series 0 (23x30x3), 2 (23x20x3)")):  # fmt: skip
        with pytest.warns(UserWarning, match="TIFF series") as caught:
            recs, failures = load_collection([tmp_path / name])
        assert not failures and len(recs) == 1
        np.testing.assert_array_equal(recs[0].data, page)
        text = str(caught[0].message)
        assert str(tmp_path / name) in text and "90x120x3" in text and skipped in text


def test_a_pyramid_tiff_is_read_at_full_resolution_without_a_warning(tmp_path):
    import warnings

    import tifffile

    full = np.random.default_rng(3).integers(0, 4000, (80, 96), np.uint16)
    with tifffile.TiffWriter(tmp_path / "pyr.tif") as tif:
        tif.write(full, photometric="minisblack", subifds=1)
        tif.write(full[::2, ::2], photometric="minisblack", subfiletype=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recs, _ = load_collection([tmp_path / "pyr.tif"])
    assert len(recs) == 1
    np.testing.assert_array_equal(recs[0].data, full)


def test_cmyk_jpeg_and_tiff_are_read_as_their_rgb(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(4).integers(0, 255, (40, 50, 3), np.uint8)
    rgb[:20] = [255, 0, 0]  # a red band: as RGBA, its CMYK bytes would show cyan-black
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk.save(tmp_path / "print.jpg", quality=95)
    cmyk.save(tmp_path / "print.tif")
    recs, failures = load_collection(tmp_path)
    assert not failures and [r.name for r in recs] == ["print", "print-2"]
    for rec, name in zip(recs, ("print.jpg", "print.tif"), strict=True):
        with Image.open(tmp_path / name) as im:
            assert im.mode == "CMYK"
            expected = np.asarray(im.convert("RGB")).astype(int)
        assert rec.data.shape == (40, 50, 3) and rec.data.dtype == np.uint8
        assert np.abs(rec.data.astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(recs[1].data[:20], np.broadcast_to([255, 0, 0], (20, 50, 3)))
