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
    import pytest

    with pytest.raises(SystemExit):  # argparse: "give 1 or more"
        build_parser().parse_args(["gui", "--tile", "-3"])
    assert main([*argv[:-1], "32"]) == 2  # too small: an error
    assert "at least 64" in capsys.readouterr().err


def test_segment_takes_bands_and_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    import tifffile

    from napari_featann.cli import main

    cube = (np.random.default_rng(1).random((60, 70, 5)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cube.tif", cube)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "cube.tif"), "-o", str(out), "--regions", "6"]) == 2
    assert "5 channels" in capsys.readouterr().err  # a multi-band image needs bands
    argv = ["segment", str(tmp_path / "cube.tif"), "-o", str(out), "--bands", "4,2,1"]
    assert main([*argv, "--regions", "6"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["n_images"] == 1
    assert tifffile.imread(out / "cube.tif").shape == (60, 70)
    assert main([*argv, "--regions", "0"]) == 2  # not silently 100
    assert "regions must be >= 1" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["segment", str(tmp_path / "cube.tif"), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_bands_on_a_grey_image_say_it_is_grey_and_to_leave_them_out(tmp_path, capsys):
    import tifffile

    from napari_featann.cli import main

    grey = (np.random.default_rng(2).random((90, 90)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    argv = ["segment", str(tmp_path / "grey.tif"), "-o", str(tmp_path / "out"), "--bands", "0"]
    assert main([*argv, "--regions", "6"]) == 2
    err = capsys.readouterr().err
    assert "the image is grey (one channel" in err and "no --bands" in err
    assert "no channel axis" not in err


def test_oracle_refuses_an_empty_folder_and_a_zero_sweep(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_featann.cli import main

    (tmp_path / "empty").mkdir()
    (tmp_path / "images").mkdir()
    iio.imwrite(tmp_path / "images" / "a.png", np.zeros((20, 20), np.uint8))
    masks = str(tmp_path / "images")
    assert main(["bench", "oracle", "--images", str(tmp_path / "empty"), "--masks", masks]) == 2
    assert "no PNG, JPEG or TIFF images" in capsys.readouterr().err
    argv = ["bench", "oracle", "--images", masks, "--masks", masks, "--sweep", "0,5"]
    assert main(argv) == 2
    assert "region counts of 1 or more" in capsys.readouterr().err


def test_gui_without_a_qt_binding_says_how_to_install_one(monkeypatch, capsys):
    """pip installs napari without Qt: featann gui says so before anything else."""
    import sys

    from napari_featann._widgets import launch
    from napari_featann.cli import main

    monkeypatch.setitem(sys.modules, "qtpy", None)  # import qtpy fails, as without a binding
    opened = []
    monkeypatch.setattr(launch, "launch", lambda *a, **k: opened.append(a))
    assert main(["gui"]) == 2
    err = capsys.readouterr().err
    assert "featann gui needs a Qt binding" in err and "pip install" in err
    assert opened == []


def test_segment_never_overwrites_an_input_image(tmp_path, capsys, monkeypatch):
    """``featann segment x.tif -o .`` would write x.tif's label image over x.tif itself."""
    import tifffile

    from napari_featann.cli import main

    image = (np.random.default_rng(2).random((40, 50)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "x.tif", image)
    monkeypatch.chdir(tmp_path)
    assert main(["segment", "x.tif", "-o", ".", "--regions", "4"]) == 2
    assert "is the folder of the input image x.tif" in capsys.readouterr().err
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "x.tif"), image)  # untouched
    assert main(["segment", "x.tif", "-o", "labels", "--regions", "4"]) == 0  # elsewhere: fine
    assert tifffile.imread(tmp_path / "labels" / "x.tif").max() == 4


def test_oracle_names_the_mask_it_cannot_read(tmp_path, capsys):
    import imageio.v3 as iio

    from napari_featann.cli import main

    for d in ("images", "masks"):
        (tmp_path / d).mkdir()
    for stem in ("a", "b"):
        iio.imwrite(tmp_path / "images" / f"{stem}.png", np.zeros((20, 20), np.uint8))
    iio.imwrite(tmp_path / "masks" / "a.png", np.zeros((20, 20), np.uint8))
    (tmp_path / "masks" / "b.png").write_bytes(b"")  # an empty file, as a failed copy leaves
    argv = ["bench", "oracle", "--images", str(tmp_path / "images")]
    assert main([*argv, "--masks", str(tmp_path / "masks"), "--regions", "4"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "masks" / "b.png") in err and "the file is empty" in err


def test_label_and_scatter_benchmarks_refuse_counts_below_one(capsys):
    """``bench label --per-image 0`` died in numpy ("zero-size array to reduction ...")."""
    import pytest

    from napari_featann.cli import main

    for argv in (["label", "--per-image", "0"], ["label", "--n-images", "-2"],
                 ["scatter", "--points", "0"], ["scatter", "--frames", "0"]):  # fmt: skip
        with pytest.raises(SystemExit) as stop:  # argparse's usage error, before any work
            main(["bench", *argv])
        assert stop.value.code == 2
        assert "give 1 or more" in capsys.readouterr().err


def test_gui_refuses_a_tile_too_small_as_segment_does(tmp_path, capsys, monkeypatch):
    """``featann gui --tile 32`` opened napari with 64 px tiles; segment refuses 32."""
    import imageio.v3 as iio

    import napari_featann._widgets.launch as launch_module
    from napari_featann.cli import main

    iio.imwrite(tmp_path / "a.png", np.zeros((80, 90, 3), np.uint8))
    opened = []  # stands in for napari: the test must never open a window
    monkeypatch.setattr(launch_module, "launch", lambda *a, **k: opened.append(k))
    assert main(["segment", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                 "--tile", "32"]) == 2  # fmt: skip
    refused = capsys.readouterr().err.strip().splitlines()[-1]
    assert refused == "featann: error: tiles must be at least 64 pixels, got 32"
    assert main(["gui", str(tmp_path / "a.png"), "--tile", "32"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == refused
    assert not opened
    assert main(["gui", str(tmp_path / "a.png"), "--tile", "64"]) == 0  # the smallest: opens
    assert opened[0]["tile"] == 64


def _two_pngs(folder):
    import imageio.v3 as iio

    folder.mkdir()
    rng = np.random.default_rng(3)
    for stem in ("a", "b"):
        iio.imwrite(folder / f"{stem}.png", (rng.random((30, 40, 3)) * 255).astype(np.uint8))
    return folder


def test_segment_refuses_the_folder_of_an_input_image(tmp_path, capsys, monkeypatch):
    """``segment images -o images`` wrote a.tif beside a.png: the next run read them as images."""
    from napari_featann.cli import main

    images = _two_pngs(tmp_path / "images")
    (tmp_path / "link").symlink_to(images)
    monkeypatch.chdir(tmp_path)
    for argv in (["images", "-o", "images"], ["images", "-o", "images/../images/"],
                 ["images/a.png", "images/b.png", "-o", str(images)], ["images", "-o", "link"]):  # fmt: skip
        assert main(["segment", *argv, "--regions", "3"]) == 2
        assert "give another folder" in capsys.readouterr().err
        assert sorted(p.name for p in images.iterdir()) == ["a.png", "b.png"]  # nothing written
    assert main(["segment", "images", "-o", "images/labels", "--regions", "3"]) == 0  # below: fine
    assert sorted(p.name for p in (images / "labels").iterdir()) == ["a.tif", "b.tif"]


def test_segment_checks_the_output_folder_before_any_work(tmp_path, capsys, monkeypatch):
    """``-o /proc/x`` failed after the partition with "[Errno 2] ...", not naming --output."""
    from napari_featann.cli import main
    from napari_featann.session import Session

    images = _two_pngs(tmp_path / "images")
    (tmp_path / "file").write_text("")
    ran = []
    monkeypatch.setattr(Session, "partition", lambda self, *a, **k: ran.append(1))
    assert main(["segment", str(images), "-o", str(tmp_path / "file" / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("featann: error: -o/--output ") and "cannot write there" in err
    assert ran == []


def test_segment_refuses_thresholds_that_are_not_finite(tmp_path, capsys):
    """``--threshold nan`` exited 0 with one segment per image."""
    import pytest

    from napari_featann.cli import main

    images = _two_pngs(tmp_path / "images")
    for value in ("nan", "inf", "-inf"):
        with pytest.raises(SystemExit) as stop:  # argparse's usage error, before any work
            main(["segment", str(images), "-o", str(tmp_path / "out"), f"--threshold={value}"])
        assert stop.value.code == 2
        assert "give a finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["segment", str(images), "-o", str(tmp_path / "out"), "--frontier", "nan"])
    assert not (tmp_path / "out").exists()


def test_segment_fails_on_a_named_file_it_cannot_read_but_skips_them_in_a_folder(tmp_path, capsys):
    """``segment a.png nope.png -o out`` exited 0, leaving nope.png out without a word."""
    import imageio.v3 as iio

    from napari_featann.cli import main

    images = _two_pngs(tmp_path / "images")
    out = tmp_path / "out"
    for bad in (tmp_path / "nope.png", tmp_path / "fake.png"):
        if bad.name == "fake.png":
            bad.write_text("not an image")
        assert main(["segment", str(images / "a.png"), str(bad), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"cannot read {bad}" in err and "nothing written" in err
        assert not out.exists()  # nothing written, not even the folder
    (images / "fake.png").write_text("not an image")  # in a folder given alone: skipped, said
    iio.imwrite(images / "tiny.png", np.zeros((1, 1), np.uint8))
    assert main(["segment", str(images), "-o", str(out), "--regions", "3"]) == 0
    said = capsys.readouterr()
    assert f"[featann] skipped {images / 'fake.png'}: not a readable image" in said.err
    assert f"[featann] skipped {images / 'tiny.png'}: the image is too small" in said.err
    assert json.loads(said.out.splitlines()[-1])["n_images"] == 2


def test_feature_arguments_are_checked_before_any_work(tmp_path):
    """``--device auto`` failed in torch; a text weights file said "pop from empty list";
    ``--backbone notamodel`` said "Unknown model (notamodel)", after the partition."""
    import pytest

    from napari_featann.cli import build_parser, feature_params

    def params(*argv):
        return feature_params(build_parser().parse_args(["bench", "extract", "--images", ".",
                                                         *argv]))  # fmt: skip

    assert params("--device", "auto").device is None
    assert params("--device", "cpu").device == "cpu"
    with pytest.raises(ValueError, match="not a timm model name"):
        params("--backbone", "notamodel")
    (tmp_path / "notweights.pth").write_text("text")
    with pytest.raises(RuntimeError, match=r"--weights .*not a PyTorch checkpoint"):
        params("--weights", str(tmp_path / "notweights.pth"))
    with pytest.raises(SystemExit):
        params("--batch-size", "0")


def test_gui_checks_the_weights_files_before_napari_opens(tmp_path, capsys, monkeypatch):
    """``featann gui --weights nope.pth`` opened the window without a word."""
    import pytest

    import napari_featann._widgets.launch as launch_module
    from napari_featann.cli import build_parser, main
    from napari_featann.ml.errors import WeightsError

    opened = []  # stands in for napari: the test must never open a window
    monkeypatch.setattr(launch_module, "launch", lambda *a, **k: opened.append(k))
    missing = str(tmp_path / "nope.pth")
    for option in ("--weights", "--edge-weights"):
        assert main(["gui", option, missing]) == 2
        assert f"{option} {missing}: no such file" in capsys.readouterr().err
    assert not opened
    from napari_featann.cli import check_gui_args  # the check alone, as the tests call it

    with pytest.raises(WeightsError, match=r"--edge-weights .*nope\.pth: no such file"):
        check_gui_args(build_parser().parse_args(["gui", "--edge-weights", missing]))
    (tmp_path / "notweights.pth").write_text("text")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        check_gui_args(
            build_parser().parse_args(["gui", "--weights", f"{tmp_path}/notweights.pth"])
        )


def test_benchmarks_refuse_non_finite_numbers_when_parsing(capsys):
    """``bench robot --budget inf`` died after the projection; every float option of the
    benchmarks now refuses inf and nan at once, naming the option."""
    import pytest

    from napari_featann.cli import build_parser

    base = {"oracle": ["--images", ".", "--masks", "."], "label": [],
            "metric": ["--images", ".", "--masks", "."],
            "robot": ["--images", ".", "--masks", "."], "extract": ["--images", "."]}  # fmt: skip
    robot = ["--budget", "--purity", "--speck-fraction", "--wrong-weight", "--min-dist",
             "--threshold", "--frontier"]  # fmt: skip
    cases = [("robot", option) for option in robot]
    cases += [("metric", "--labelled-fraction"), ("label", "--fraction"),
              ("oracle", "--threshold"), ("extract", "--frontier")]  # fmt: skip
    for bench, option in cases:
        for value in ("inf", "nan", "-inf"):
            with pytest.raises(SystemExit) as stop:
                build_parser().parse_args(["bench", bench, *base[bench], f"{option}={value}"])
            assert stop.value.code == 2
            assert f"argument {option}: give a finite number" in capsys.readouterr().err
    args = build_parser().parse_args(["bench", "robot", *base["robot"], "--budget", "2.5"])
    assert args.budget == 2.5


def test_oracle_refuses_a_non_finite_sweep_and_extract_a_zero_batch(capsys):
    import pytest

    from napari_featann.cli import build_parser, main

    for sweep in ("5,inf", "nan"):
        assert main(["bench", "oracle", "--images", ".", "--masks", ".", "--sweep", sweep]) == 2
        assert "give finite numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "extract", "--images", ".", "--batch-size", "0"])
    assert "argument --batch-size: give 1 or more" in capsys.readouterr().err


def test_oracle_refuses_regions_with_a_sweep_that_would_replace_them(capsys):
    """``--regions 100 --sweep 50,100,200`` reported the 50-region cut at the top level."""
    from napari_featann.cli import main

    argv = ["bench", "oracle", "--images", ".", "--masks", ".", "--regions", "100"]
    assert main([*argv, "--sweep", "50,100,200"]) == 2
    assert "--sweep gives the region counts: leave --regions out" in capsys.readouterr().err


def test_context_levels_scale_and_weight_are_parsed_and_checked_when_parsing(capsys):
    import pytest

    from napari_featann.cli import build_parser, feature_params

    def params(bench, *argv):
        base = ["--images", "."] if bench == "extract" else ["--images", ".", "--masks", "."]
        return feature_params(build_parser().parse_args(["bench", bench, *base, *argv]))

    def settings(fp):
        return fp.context, fp.context_levels, fp.context_scale, fp.context_weight

    for bench in ("extract", "metric", "robot"):
        assert settings(params(bench)) == (True, 4, 1.5, "level")
        fp = params(bench, "--context-levels", "2", "--context-scale", "1")
        assert settings(fp) == (True, 2, 1.0, "level")
        fp = params(bench, "--context-levels", "2", "--context-scale", "1", "--context-weight",
                    "finest")  # fmt: skip
        assert settings(fp) == (True, 2, 1.0, "finest")  # the features of earlier versions
        assert params(bench, "--context-weight=level").context_weight == "level"
    fp = params("extract", "--no-context", "--context-scale=0.5")
    assert (fp.context, fp.context_scale) == (False, 0.5)
    refused = {"--context-levels": {"0": "give 1 or more", "2.5": "not a whole number"},
               "--context-scale": {"0": "give a number above 0 and at most 4",
                                   "4.5": "give a number above 0 and at most 4",
                                   "-1": "give a number above 0 and at most 4",
                                   "nan": "give a finite number", "inf": "give a finite number",
                                   "x": "not a number"},
               "--context-weight": {x: f"invalid choice: '{x}'"  # then the two values
                                    for x in ("Level", "cells", "")}}  # fmt: skip
    for option, values in refused.items():
        for value, said in values.items():
            with pytest.raises(SystemExit) as stop:  # argparse's usage error, before any work
                params("extract", f"{option}={value}")
            assert stop.value.code == 2
            assert f"argument {option}: {said}" in capsys.readouterr().err


def test_benchmark_seeds_and_the_oracle_s_clicks_are_checked_when_parsing(capsys):
    """``bench robot --seed -1`` partitioned and described every image before scikit-learn's
    PCA refused the seed; ``bench oracle --max-clicks 0`` was refused by the split bound,
    after the start, in its own words. Both are refused now by the parser, naming the option."""
    import pytest

    from napari_featann.cli import build_parser

    base = ["--images", ".", "--masks", "."]
    for bench in ("robot", "metric"):
        for seed in ("-1", str(2**32), "1.5"):
            with pytest.raises(SystemExit) as stop:
                build_parser().parse_args(["bench", bench, *base, "--seed", seed])
            assert stop.value.code == 2
            assert "argument --seed:" in capsys.readouterr().err
        args = build_parser().parse_args(["bench", bench, *base, "--seed", str(2**32 - 1)])
        assert args.seed == 2**32 - 1
    for clicks in ("0", "1"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(
                ["bench", "oracle", *base, "--splits", "--max-clicks", clicks]
            )
        assert "argument --max-clicks: give " in capsys.readouterr().err
    assert (
        build_parser().parse_args(["bench", "oracle", *base, "--max-clicks", "2"]).max_clicks == 2
    )


def test_options_a_benchmark_ignores_are_refused(capsys):
    """``bench extract --masks nope`` ran without a word (the extraction scores nothing), and
    ``bench oracle --seed 3`` or ``bench extract --seed 3`` took a seed they never use: an
    option that changes nothing is now refused by the parser, as any unknown one."""
    import pytest

    from napari_featann.cli import build_parser

    refused = [["extract", "--images", ".", "--masks", "nope"],
               ["extract", "--images", ".", "--seed", "3"],
               ["oracle", "--images", ".", "--masks", ".", "--seed", "3"]]  # fmt: skip
    for argv in refused:
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(["bench", *argv])
        assert stop.value.code == 2
        assert f"unrecognized arguments: {' '.join(argv[-2:])}" in capsys.readouterr().err
    for bench in ("metric", "robot"):  # those that draw at random keep it
        args = build_parser().parse_args(["bench", bench, "--images", ".", "--masks", ".",
                                          "--seed", "3"])  # fmt: skip
        assert args.seed == 3


def test_a_mask_file_given_as_the_masks_folder_is_named_as_a_file(tmp_path, capsys):
    """``--masks masks/a.png`` said "no such folder", of a file that is there."""
    from PIL import Image

    from napari_featann.cli import main

    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(tmp_path / "images" / "a.png")
    mask = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(mask)
    argv = ["bench", "oracle", "--images", str(tmp_path / "images"), "--masks"]
    assert main([*argv, str(mask)]) == 2
    assert f"--masks {mask}: is a file; give the folder of the masks" in capsys.readouterr().err
    assert main([*argv, str(tmp_path / "nope")]) == 2
    assert f"--masks {tmp_path / 'nope'}: no such folder" in capsys.readouterr().err


def test_a_negative_lod_cap_is_refused_when_parsing(capsys):
    """``bench scatter --lod-cap -5`` said "lod_cap must be None or an integer >= 0" (not the
    option's name), and only after the display check."""
    import pytest

    from napari_featann.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["bench", "scatter", "--lod-cap", "-5"])
    assert stop.value.code == 2
    assert "argument --lod-cap: give 0 or more, got -5" in capsys.readouterr().err
    assert build_parser().parse_args(["bench", "scatter", "--lod-cap", "0"]).lod_cap == 0


def test_gui_refuses_missing_images_and_an_empty_folder_before_napari_opens(
    tmp_path, capsys, monkeypatch
):
    """``featann gui nope.png`` or ``featann gui empty/`` opened the window before the
    dock failed to load them."""
    import napari_featann._widgets.launch as launch_module
    from napari_featann.cli import main

    opened = []  # stands in for napari: the test must never open a window
    monkeypatch.setattr(launch_module, "launch", lambda *a, **k: opened.append(k))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no image")
    (tmp_path / "a.png").write_bytes(b"")  # exists: whether it reads is the dock's to say
    missing = str(tmp_path / "nope.png")
    assert main(["gui", str(tmp_path / "a.png"), missing]) == 2
    assert f"no such file or folder: {missing}" in capsys.readouterr().err
    assert main(["gui", str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'} holds no .jpeg, .jpg, .png" in capsys.readouterr().err
    assert not opened
    assert main(["gui", str(tmp_path / "a.png")]) == 0 and len(opened) == 1


def test_the_help_shows_no_markup(capsys):
    """``featann --help`` began "The ``featann`` command line (also ``python -m ...``)": the
    docstring's reStructuredText quotes, shown as they are in a terminal."""
    import pytest

    from napari_featann.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "The featann command line (also python -m napari_featann)." in out
    assert "``" not in out


def test_tile_below_one_is_refused_with_the_smallest_tile_not_one(capsys):
    """``--tile 0`` said "give 1 or more", though every side under 64 is refused."""
    import pytest

    from napari_featann.cli import build_parser

    for command in ("segment", "gui"):
        argv = [command, "x.tif", "--tile", "0"] + (["-o", "out"] if command == "segment" else [])
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "argument --tile: tiles must be at least 64 pixels, got 0" in err
        assert "give 1 or more" not in err
