"""Tests of the ``featann`` command line outside the benchmarks."""

from __future__ import annotations

import json

import numpy as np


def test_segment_cuts_a_large_image_into_tiles(tmp_path, capsys):
    import tifffile

    from napari_featann.cli import build_parser, main

    scene = (np.random.default_rng(0).random((200, 150)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "scene.tif", scene)
    argv = ["segment", str(tmp_path / "scene.tif"), "-o", str(tmp_path / "out"),
            "--regions", "5", "--tile", "100"]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["n_images"] == 4 and r["segments"] == 20
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["scene_r0_c0.tif", "scene_r0_c100.tif", "scene_r100_c0.tif",
                     "scene_r100_c100.tif"]  # fmt: skip
    assert tifffile.imread(tmp_path / "out" / "scene_r100_c100.tif").shape == (100, 50)
    assert build_parser().parse_args(["gui", "--tile", "512"]).tile == 512
    assert main([*argv[:-1], "32"]) == 2  # too small: an error
    assert "at least 64" in capsys.readouterr().err
