"""GeoTIFF tags: read with the image, kept in its record, moved to a tile's corner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_featann.core.images import load_collection

SPACENET = Path(__file__).parents[2] / ".." / "shared" / "data" / "spacenet-sample" / (
    "sample_geotiff.tif")  # fmt: skip
GEOTIFF_CODES = (33550, 33922, 34264, 34735, 34736, 34737)


def world(geo: dict, col: float, row: float) -> tuple[float, float]:
    """Where raster point (``col``, ``row``) lies, by the GeoTIFF rules (one tiepoint and
    a pixel scale, or a 4x4 transformation)."""
    if "ModelTransformation" in geo:
        m = np.asarray(geo["ModelTransformation"], float).reshape(4, 4)
        x, y, _, _ = m @ [col, row, 0.0, 1.0]
        return float(x), float(y)
    i, j, _, x, y, _ = geo["ModelTiepoint"]
    sx, sy = geo["ModelPixelScale"][:2]
    return x + (col - i) * sx, y - (row - j) * sy


def test_the_spacenet_geotiff_keeps_its_tags_in_the_records_meta_but_not_gdal_nodata():
    import tifffile

    if not SPACENET.is_file():
        pytest.skip(f"{SPACENET} is not available")
    path = SPACENET
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        raw = {code: tags[code].value for code in GEOTIFF_CODES if code in tags}
        assert 42113 in tags  # GDAL_NODATA is in the file
    (rec,), _ = load_collection(path)
    geo = rec.meta["geotiff"]
    assert geo["ModelPixelScale"] == list(raw[33550]) == [0.5, 0.5, 0.0]
    assert geo["ModelTiepoint"] == list(raw[33922])
    assert geo["GeoKeyDirectory"] == list(raw[34735])
    assert geo["GeoAsciiParams"] == raw[34737]
    assert set(geo) == {"ModelPixelScale", "ModelTiepoint", "GeoKeyDirectory", "GeoAsciiParams"}
    assert json.loads(json.dumps(rec.meta)) == rec.meta  # a session file keeps it as it is
    tiles, _ = load_collection(path, tile=256)
    assert len(tiles) == 16 and all(t.meta["geotiff"] == geo for t in tiles)  # the scene's


def test_the_tags_kept_are_those_of_the_series_read_and_only_those_that_place_it(tmp_path):
    import tifffile

    path = tmp_path / "thumb-first.tif"
    with tifffile.TiffWriter(path) as tw:  # a thumbnail first, then the image
        tw.write(np.zeros((20, 20), np.uint8), extratags=[
            (33550, "d", 3, (10.0, 10.0, 0.0), True), (33922, "d", 6, (0, 0, 0, 5.0, 6.0, 0), True)
        ])  # fmt: skip
        tw.write(np.zeros((200, 200), np.uint8), extratags=[
            (33550, "d", 3, (1.0, 1.0, 0.0), True), (33922, "d", 6, (0, 0, 0, 5.0, 6.0, 0), True)
        ])  # fmt: skip
    with pytest.warns(UserWarning, match="read the largest"):
        (rec,), _ = load_collection(path)
    assert rec.shape2d == (200, 200) and rec.meta["geotiff"]["ModelPixelScale"][0] == 1.0
    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((40, 50), np.uint16))
    tifffile.imwrite(tmp_path / "scale-only.tif", np.zeros((40, 50), np.uint16),
                     extratags=[(33550, "d", 3, (1.0, 1.0, 0.0), True)])  # fmt: skip
    recs, _ = load_collection([tmp_path / "plain.tif", tmp_path / "scale-only.tif",
                               np.zeros((40, 50), np.uint8)])  # fmt: skip
    assert ["geotiff" in r.meta for r in recs] == [False] * 3  # nothing places them


@pytest.mark.parametrize(
    "geo",
    [
        {"ModelPixelScale": [0.5, 0.5, 0.0], "ModelTiepoint": [0, 0, 0, 733601.0, 3725139.0, 0]},
        # the general form: raster point (I, J) = (10.5, 20) lies at (X, Y)
        {"ModelPixelScale": [2.0, 3.0, 0.0], "ModelTiepoint": [10.5, 20, 0, 1000.0, 5000.0, 7]},
        # a negative y scale (y grows with the rows)
        {"ModelPixelScale": [2.0, -3.0, 0.0], "ModelTiepoint": [4, 2, 0, 1000.0, 5000.0, 0]},
        # rotated and sheared, as a matrix
        {"ModelTransformation": [0.4, 0.3, 0, 500.0, 0.2, -0.5, 0, 9000.0, 0, 0, 1, 0, 0, 0, 0, 1]},
    ],
)
def test_a_window_s_first_pixel_lies_where_the_scene_s_pixel_does(geo):
    from napari_featann.core.geotiff import shift_geotags

    before = json.dumps(geo)
    for row, col in [(0, 0), (256, 0), (0, 512), (768, 256)]:
        moved = shift_geotags(geo, row, col)
        for dr, dc in [(0, 0), (10, 0), (0, 7), (131, 99)]:  # every pixel, not only the corner
            assert world(moved, dc, dr) == pytest.approx(world(geo, col + dc, row + dr))
        if "ModelTiepoint" in geo:
            assert moved["ModelTiepoint"][:2] == [0.0, 0.0]  # the usual form, as GDAL writes
            assert moved["ModelTiepoint"][2] == geo["ModelTiepoint"][2]
            assert moved["ModelTiepoint"][5] == geo["ModelTiepoint"][5]
    assert json.dumps(geo) == before  # the scene's own tags are left as they are


def test_ground_control_points_keep_their_world_point_and_move_their_raster_point():
    from napari_featann.core.geotiff import shift_geotags

    gcps = [0, 0, 0, 100.0, 200.0, 0, 50, 40, 0, 150.0, 160.0, 0]  # no pixel scale
    moved = shift_geotags({"ModelTiepoint": gcps}, 30, 20)
    assert moved["ModelTiepoint"] == [-20, -30, 0, 100.0, 200.0, 0, 30, 10, 0, 150.0, 160.0, 0]


def test_mask_extratags_shift_a_tile_keep_a_mosaic_and_refuse_bad_values():
    from napari_featann.core.geotiff import mask_extratags

    geo = {"ModelPixelScale": [0.5, 0.5, 0.0], "ModelTiepoint": [0, 0, 0, 100.0, 200.0, 0],
           "GeoKeyDirectory": [1, 1, 0, 1, 3072, 0, 1, 32616], "GeoAsciiParams": "UTM|"}  # fmt: skip
    meta = {"geotiff": geo, "tile": [256, 512, 256, 256]}
    tags = {t[0]: t for t in mask_extratags(meta)}
    assert tags[33922][3] == (0.0, 0.0, 0.0, 356.0, 72.0, 0.0)
    assert tags[34735][1:4] == ("H", 8, (1, 1, 0, 1, 3072, 0, 1, 32616))
    assert tags[34737][1] == "s" and tags[34737][3] == "UTM|"
    whole = {t[0]: t for t in mask_extratags(meta, whole=True)}
    assert whole[33922][3] == (0.0, 0.0, 0.0, 100.0, 200.0, 0.0)
    assert mask_extratags({}) == [] and mask_extratags({"tile": [0, 0, 9, 9]}) == []
    for bad in ({"ModelTiepoint": [1, 2, 3]}, {"ModelTiepoint": ["a"] * 6},
                {"GeoKeyDirectory": [1, 1, 0, 0]}, {"Foo": [1]}, ["not", "a", "dict"]):  # fmt: skip
        with pytest.warns(UserWarning, match="georeferencing left out"):
            assert mask_extratags({"geotiff": bad}) == []
