"""Masks and label images of GeoTIFF images keep their georeferencing (export, sessions, CLI).

Each mask is read back with tifffile and placed by the GeoTIFF rules, independently
of the package's code: a tile's pixel (0, 0) must lie where the scene's pixel at the
tile's corner does, and a mosaic must carry the scene's tags.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_featann.io import export_masks, load_session, save_session
from napari_featann.session import Session

SPACENET = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "spacenet-sample"
            / "sample_geotiff.tif")  # fmt: skip
NODATA = 42113  # GDAL_NODATA
PLACE = ("ModelPixelScale", "ModelTiepoint", "ModelTransformation")


def geometa(path) -> dict:
    """tifffile's decoded GeoTIFF metadata of a file's first page ({} when none)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return dict(tif.geotiff_metadata or {})


def world(geo: dict, col: float, row: float) -> tuple[float, float]:
    """Where raster point (``col``, ``row``) lies (tifffile's ``geotiff_metadata``)."""
    if "ModelTransformation" in geo:
        x, y, _, _ = np.asarray(geo["ModelTransformation"], float) @ [col, row, 0.0, 1.0]
        return float(x), float(y)
    i, j, _, x, y, _ = geo["ModelTiepoint"]
    sx, sy = geo["ModelPixelScale"][:2]
    return x + (col - i) * sx, y - (row - j) * sy


def has_tag(path, code: int) -> bool:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        return code in tif.pages[0].tags


def spacenet() -> Path:
    """The SpaceNet sample GeoTIFF (the calling test is skipped without it)."""
    if not SPACENET.is_file():
        pytest.skip(f"{SPACENET} is not available")
    return SPACENET


def test_tiff_masks_of_the_spacenet_scene_keep_its_georeferencing(tmp_path):
    src = spacenet()
    s = Session.from_sources(src)
    s.class_masks[0][100:200, 300:400] = 1
    (mask, *_) = export_masks(s, tmp_path / "tif", fmt="tif")
    want = geometa(src)
    assert want["ProjectedCSTypeGeoKey"] == 32616  # WGS 84 / UTM zone 16N
    assert geometa(mask) == want  # scale, tiepoint, every geokey and its text
    assert has_tag(src, NODATA) and not has_tag(mask, NODATA)  # a mask's 0 is a label
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(mask), s.class_masks[0])
    (png, *_) = export_masks(s, tmp_path / "png", fmt="png")  # PNG stays plain
    assert png.suffix == ".png"


def test_each_tile_mask_lies_on_its_part_of_the_scene_and_the_mosaic_on_the_scene(tmp_path):
    src = spacenet()
    s = Session.from_sources(src, tile=256)
    assert s.n_images == 16
    files = export_masks(s, tmp_path, fmt="tif")
    scene = geometa(src)
    for rec, path in zip(s.images, files):
        r, c, h, w = rec.meta["tile"]
        tile = geometa(path)
        assert tile["ModelPixelScale"] == scene["ModelPixelScale"]
        assert tile["ProjectedCSTypeGeoKey"] == scene["ProjectedCSTypeGeoKey"]
        assert world(tile, 0, 0) == pytest.approx(world(scene, c, r))  # its corner
        assert world(tile, w, h) == pytest.approx(world(scene, c + w, r + h))  # its far corner
    assert world(geometa(files[5]), 0, 0) == (733601.0 + 256 * 0.5, 3725139.0 - 256 * 0.5)
    mosaic = files[s.n_images]
    assert mosaic.name == "sample_geotiff-mosaic.tif" and geometa(mosaic) == scene
    pngs = export_masks(s, tmp_path / "png", fmt="png")  # the mosaic is placed even so
    assert geometa(pngs[s.n_images]) == scene


def test_export_masks_writes_tiff_by_default_for_georeferenced_images_as_the_dock_does(tmp_path):
    from napari_featann.io import mask_format

    src = _rotated_geotiff(tmp_path / "rot.tif")
    s = Session.from_sources(src)
    s.class_masks[0][10:50, 20:60] = 1
    assert mask_format(s) == "tif"
    (mask, *_) = export_masks(s, tmp_path / "default")  # no fmt: TIFF, placed
    assert mask.suffix == ".tif" and world(geometa(mask), 3, 4) == world(geometa(src), 3, 4)
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(mask), s.class_masks[0])
    (png, *_) = export_masks(s, tmp_path / "png", fmt="png")  # an explicit fmt still rules
    assert png.suffix == ".png"
    plain = Session.from_sources([np.zeros((40, 50), np.uint16)], names=["plain"])
    assert mask_format(plain) == "png"
    assert export_masks(plain, tmp_path / "plain")[0].name == "plain.png"


def _rotated_geotiff(path, shape=(150, 130), planes=None):
    """A GeoTIFF placed by a rotated ModelTransformation, with GeoDoubleParams."""
    import tifffile

    m = (0.4, 0.3, 0.0, 500.0, 0.2, -0.5, 0.0, 9000.0, 0, 0, 1, 0, 0, 0, 0, 1)
    keys = (1, 1, 0, 3, 1024, 0, 1, 1, 3072, 0, 1, 32632, 3081, 34736, 1, 0)
    data = np.random.default_rng(0).integers(0, 4000, shape if planes is None else
                                             (planes, *shape), dtype=np.uint16)  # fmt: skip
    tifffile.imwrite(path, data, photometric="minisblack",
                     metadata={"axes": "YX" if planes is None else "ZYX"},
                     extratags=[(34264, "d", 16, m, planes is None), (34735, "H", 16, keys, True),
                                (34736, "d", 1, (12.5,), True)])  # fmt: skip
    return path


def test_a_model_transformation_moves_with_the_tile_and_the_stack_keeps_it(tmp_path):
    src = _rotated_geotiff(tmp_path / "rot.tif")
    s = Session.from_sources(src, tile=64)
    assert s.n_images == 4  # 150x130: 64 + 86 rows (a 22-row strip joins), 64 + 66 columns
    files = export_masks(s, tmp_path / "out", fmt="tif")
    scene = geometa(src)
    for rec, path in zip(s.images, files):
        r, c, h, w = rec.meta["tile"]
        tile = geometa(path)
        assert world(tile, 0, 0) == pytest.approx(world(scene, c, r))
        assert world(tile, w - 1, h - 1) == pytest.approx(world(scene, c + w - 1, r + h - 1))
        assert tile["ProjNatOriginLatGeoKey"] == 12.5  # a key of GeoDoubleParams
    assert geometa(files[s.n_images]) == scene  # the mosaic
    stack = _rotated_geotiff(tmp_path / "cube.tif", (70, 80), planes=5)
    s = Session.from_sources(stack)
    files = export_masks(s, tmp_path / "stack", fmt="tif")
    assert [p.name for p in files][-1] == "cube-stack.tif"
    import tifffile

    with tifffile.TiffFile(files[-1]) as tif:  # every page: GDAL opens each as a dataset
        assert len(tif.pages) == 5 and all(34264 in p.tags for p in tif.pages)
    assert all(geometa(p) == geometa(stack) for p in files)  # the planes' masks too


def test_a_saved_and_reopened_session_keeps_the_tags(tmp_path):
    src = spacenet()
    s = Session.from_sources(src, tile=450)
    path = save_session(s, tmp_path / "geo")
    with np.load(path) as npz:
        saved = json.loads(bytes(npz["__meta__"]).decode())["images"]
    assert all(im["meta"]["geotiff"] == s.images[0].meta["geotiff"] for im in saved)
    back = load_session(path)
    assert [r.meta for r in back.images] == [r.meta for r in s.images]
    files = export_masks(back, tmp_path / "out", fmt="tif")
    assert world(geometa(files[3]), 0, 0) == world(geometa(src), 450, 450)


def test_a_session_saved_without_the_tags_gets_them_from_its_tiff_when_opened(tmp_path):
    src = spacenet()
    s = Session.from_sources(src, tile=450)
    for rec in s.images:  # as sessions saved before the tags were kept
        del rec.meta["geotiff"]
    back = load_session(save_session(s, tmp_path / "old"))
    files = export_masks(back, tmp_path / "out", fmt="tif")
    assert world(geometa(files[1]), 0, 0) == world(geometa(src), 450, 0)


def test_featann_segment_writes_georeferenced_label_images(tmp_path, capsys):
    from napari_featann.cli import main

    src = spacenet()
    out = tmp_path / "labels"
    assert main(["segment", str(src), "-o", str(out), "--regions", "8", "--tile", "450"]) == 0
    scene = geometa(src)
    for r in (0, 450):
        for c in (0, 450):
            path = out / f"sample_geotiff_r{r}_c{c}.tif"
            labels = geometa(path)
            assert world(labels, 0, 0) == pytest.approx(world(scene, c, r))
            assert labels["ProjectedCSTypeGeoKey"] == scene["ProjectedCSTypeGeoKey"]
            assert not has_tag(path, NODATA)
    whole = tmp_path / "whole"
    assert main(["segment", str(src), "-o", str(whole), "--regions", "8"]) == 0
    assert geometa(whole / "sample_geotiff.tif") == scene


def test_no_data_scaling_is_saved_with_the_session_and_old_sessions_keep_theirs(tmp_path):
    import tifffile

    from napari_featann.core.images import to_float_rgb
    from napari_featann.io_images import image_digest, pixels_digest

    rng = np.random.default_rng(2)
    data = rng.gamma(4.0, 120.0, (160, 200)).astype(np.uint16) + 60
    data[:, :70] = 0  # a collar marked "no data"
    src = tmp_path / "scene.tif"
    tifffile.imwrite(src, data, photometric="minisblack", extratags=[(NODATA, "s", 0, "0", True)])
    s = Session.from_sources(src)
    rec = s.images[0]
    assert rec.meta["nodata"] == 0 and rec.meta["range"][0] > 60
    assert image_digest(rec) == pixels_digest(tifffile.imread(src))  # the pixels as stored
    back = load_session(save_session(s, tmp_path / "new"))
    assert back.images[0].meta == rec.meta
    np.testing.assert_array_equal(back.images[0].float_rgb(), rec.float_rgb())
    # a session saved before: no "nodata" nor "range"; it reopens with its old scaling
    del rec.meta["nodata"], rec.meta["range"]
    old = load_session(save_session(s, tmp_path / "old"))
    assert "nodata" not in old.images[0].meta and "range" not in old.images[0].meta
    np.testing.assert_array_equal(old.images[0].float_rgb(), to_float_rgb(data))
    assert to_float_rgb(data)[:, 70:].std() < back.images[0].float_rgb()[:, 70:].std()  # contrast
