"""Tests of the simulated annotator: box/lasso search, scores, and whole runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_featann.bench.common import iou_score
from napari_featann.bench.robot import COST_CLICK, COST_FIRST_CLICK, COST_SELECTION, COST_TRIGGER
from napari_featann.bench.robot_select import (
    best_box,
    best_lasso,
    best_selection,
    multiclass_iou,
)
from napari_featann.core.selection import points_in_box, points_in_polygon

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BACKBONE_WEIGHTS = SHARED / "weights" / "efficientnet_lite0_in1k_timm.pth"


# --------------------------------------------------------------------------- box search
def _two_clusters(seed=0):
    """50 points of class 0 near (0, 0), 30 of class 1 near (10, 10), 20 noise points."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.5, (50, 2))
    b = rng.normal(10, 0.5, (30, 2))
    noise = rng.uniform(-5, 15, (20, 2))
    xy = np.concatenate([a, b, noise])
    cls = np.concatenate([np.zeros(50), np.ones(30), rng.integers(0, 2, 20)]).astype(int)
    return xy, cls


@pytest.mark.parametrize("purity", [0.9, 1.0])
def test_box_holds_the_larger_cluster_and_respects_purity(purity):
    xy, cls = _two_clusters()
    sel = best_box(xy, cls, purity=purity)
    assert sel.kind == "box"
    assert sel.class_index == 0
    assert sel.purity >= purity
    assert sel.n_majority >= 45  # (almost) all of cluster A
    assert np.isin(np.arange(50), sel.members).mean() >= 0.9
    assert not np.isin(np.arange(50, 80), sel.members).any()  # nothing of cluster B
    # the drawn box selects exactly the members
    inside = points_in_box(xy, sel.vertices[0], sel.vertices[1])
    assert sorted(inside.tolist()) == sorted(sel.members.tolist())


def test_box_after_the_first_cluster_is_labelled_takes_the_second():
    xy, cls = _two_clusters()
    left = np.arange(50, len(xy))  # cluster A hidden ("hide labelled")
    sel = best_box(xy[left], cls[left], purity=0.9)
    assert sel.class_index == 1
    assert sel.n_majority >= 27
    assert sel.purity >= 0.9


def test_box_is_a_single_point_when_every_cell_is_mixed():
    xy = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    cls = np.array([0, 1, 0, 1])
    sel = best_box(xy, cls, purity=1.0)
    assert len(sel.members) == 1 and sel.purity == 1.0


def test_wrong_weight_keeps_a_small_cluster_of_the_other_class_out():
    rng = np.random.default_rng(2)
    xy = np.concatenate([rng.normal((0, 0), 0.3, (100, 2)), rng.normal((4, 0), 0.3, (100, 2)),
                         rng.normal((2, 0), 0.2, (15, 2))])  # fmt: skip
    cls = np.r_[np.zeros(200, int), np.ones(15, int)]
    greedy = best_box(xy, cls, purity=0.9)
    assert greedy.n_majority == 200 and len(greedy.members) == 215  # swallows the small one
    careful = best_box(xy, cls, purity=0.9, wrong_weight=9)
    assert careful.purity == 1.0 and careful.n_majority >= 95
    assert not np.isin(np.arange(200, 215), careful.members).any()


def test_gains_prefer_the_valuable_cluster_over_the_larger_one():
    rng = np.random.default_rng(3)
    xy = np.concatenate([rng.normal((0, 0), 0.2, (30, 2)), rng.normal((5, 0), 0.2, (8, 2))])
    cls = np.zeros(38, int)
    assert best_box(xy, cls, purity=0.9).n_majority == 38  # by count: one box over both
    # by gain: the 30 points would lose (-1 each), the 8 gain (+10 each)
    gains = np.r_[np.full(30, -1.0), np.full(8, 10.0)][:, None]
    by_gain = best_box(xy, cls, purity=0.9, gains=gains)
    assert sorted(by_gain.members.tolist()) == list(range(30, 38))
    sel = best_selection(xy, cls, 0.9, gains=gains)
    assert set(sel.members.tolist()) <= set(range(30, 38))


def test_only_allowed_classes_are_assigned():
    xy, cls = _two_clusters()
    sel = best_box(xy, cls, purity=0.9, classes=[1])
    assert sel.class_index == 1 and sel.n_majority >= 27
    assert best_box(xy[cls == 0], cls[cls == 0], purity=0.9, classes=[1]) is None


def test_box_of_no_point_is_none():
    assert best_box(np.zeros((0, 2)), np.zeros(0, int), 0.9) is None


def test_lasso_captures_a_curved_cluster_better_than_a_box():
    # class 0 on a ring's upper half, class 1 packed in the middle below it
    t = np.linspace(0, np.pi, 80)
    arc = np.c_[np.cos(t), np.sin(t)] * 5
    rng = np.random.default_rng(1)
    inner = rng.uniform([-3, -3], [3, 0.5], (60, 2))
    xy = np.concatenate([arc, inner])
    cls = np.r_[np.zeros(80, int), np.ones(60, int)]
    las = best_lasso(xy, cls, purity=0.9)
    assert las is not None and las.purity >= 0.9
    assert sorted(points_in_polygon(xy, las.vertices).tolist()) == sorted(las.members.tolist())
    box = best_box(xy, cls, purity=0.9)
    both = best_selection(xy, cls, purity=0.9)
    assert both.n_majority == max(box.n_majority, las.n_majority)
    assert best_selection(xy, cls, purity=0.9, lasso=False).kind == "box"


def test_traced_lasso_follows_a_concave_cluster_that_its_hull_cannot():
    """An L-shaped cluster with other points in its notch: only the outline is pure."""
    rng = np.random.default_rng(2)
    ell = np.concatenate([rng.uniform([0, 0], [10, 2], (150, 2)),
                          rng.uniform([0, 2], [2, 10], (120, 2))])  # fmt: skip
    notch = rng.uniform([3, 3], [10, 10], (200, 2))
    xy = np.concatenate([ell, notch])
    cls = np.r_[np.ones(len(ell), int), np.zeros(len(notch), int)]
    las = best_lasso(xy, cls, purity=0.9, grid=24, classes=[1])
    assert las is not None and las.class_index == 1 and las.purity >= 0.9
    assert las.n_majority >= 0.9 * len(ell)  # the hull of the L would take the notch too
    assert sorted(points_in_polygon(xy, las.vertices).tolist()) == sorted(las.members.tolist())


# --------------------------------------------------------------------------- scores
def test_multiclass_iou_matches_iou_score_when_all_is_labelled():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (20, 30))
    pred = np.where(rng.random(gt.shape) < 0.8, gt, rng.integers(0, 3, gt.shape))
    assert multiclass_iou(pred, gt, 3) == pytest.approx(iou_score(pred, gt, binary=False))


def test_multiclass_iou_counts_unlabelled_pixels_as_wrong():
    gt = np.array([[0, 0, 1, 1]])
    assert multiclass_iou(np.array([[0, 0, 1, 1]]), gt, 2) == 100.0
    assert multiclass_iou(np.array([[0, -1, 1, 1]]), gt, 2) == pytest.approx(75.0)


# --------------------------------------------------------------------------- whole runs
def _write_problem(root, n=4, size=96, seed=0):
    """Images with a red square (foreground) and a weak-contrast foreground strip.

    The strip is glued to the left background half, so a coarse partition
    leaves one impure segment per image that only a click correction fixes.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(n):
        img = np.empty((size, size, 3), np.float32)
        img[:] = (0.45, 0.5, 0.45)
        img[:, size // 2 :] = (0.2, 0.35, 0.7)
        mask = np.zeros((size, size), np.uint8)
        r, c = rng.integers(8, 30, 2)
        img[r : r + 28, c : c + 28] = (0.9, 0.15, 0.1)
        img[r + 28 : r + 40, c : c + 28] = (0.5, 0.5, 0.45)
        mask[r : r + 40, c : c + 28] = 255
        img += rng.normal(0, 0.01, img.shape).astype(np.float32)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(
            root / "images" / f"im{k}.png"
        )
        Image.fromarray(mask).save(root / "masks" / f"im{k}.png")
    return root


def _run(root, *extra):
    from napari_featann.bench.robot import robot_benchmark
    from napari_featann.cli import build_parser, feature_params, partition_params

    argv = ["bench", "robot", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--weights", str(BACKBONE_WEIGHTS), "--device", "cpu", "--regions", "3", *extra]  # fmt: skip
    args = build_parser().parse_args(argv)
    return robot_benchmark(args, partition_params(args), feature_params(args))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A full run with a generous budget and a tight, boxes-only one (shared by the tests)."""
    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    pytest.importorskip("umap")
    root = _write_problem(tmp_path_factory.mktemp("robot"))
    plot = root / "curve.png"
    try:
        import matplotlib  # noqa: F401

        plotting = ["--plot", str(plot)]
    except ImportError:
        plotting = []
    full = _run(root, "--budget", "20", "--metric-every", "1", *plotting,
                "--session-cache", str(root / "setup.featann"))  # fmt: skip
    tight = _run(root, "--budget", "1", "--no-corrections", "--no-metric-learning",
                 "--n-neighbors", "3", "--min-dist", "0.2",
                 "--session-cache", str(root / "setup.featann"))  # fmt: skip
    return {"full": full, "tight": tight, "plot": plot, "root": root}


FIELDS = ["n_images", "mean_iou", "median_iou", "boxes_per_image", "clicks_per_image",
          "metric_learning_runs", "machine_seconds_per_image", "effort_seconds_per_image",
          "curve", "oracle_iou", "params", "robot"]  # fmt: skip


def _modelled_effort(r) -> float:
    clicked = (r["corrections"] + r["corrections_abandoned"] + r["click_labels"]
               + r["speck_removals"])  # fmt: skip
    return (COST_SELECTION * (r["boxes"] + r["lassos"]) + COST_FIRST_CLICK * clicked
            + COST_CLICK * (r["clicks"] - clicked)
            + COST_TRIGGER * (r["metric_learning_runs"] + r["reprojections"])
            + r["metric_machine_seconds"])  # fmt: skip


@pytest.mark.slow
def test_report_fields_and_json(runs):
    for r in (runs["full"], runs["tight"]):
        assert all(f in r for f in FIELDS)
        assert json.loads(json.dumps(r)) == r
        assert r["n_images"] == 4
        assert (r["scoring"], r["n_classes"]) == ("binary foreground IoU", 2)
    assert runs["tight"]["setup_from_cache"] is True
    projection = runs["tight"]["params"]["projection"]
    assert (projection["n_neighbors"], projection["min_dist"]) == (3, 0.2)
    assert runs["full"]["params"]["projection"]["n_neighbors"] == 30  # the session's default


@pytest.mark.slow
def test_a_cached_session_is_projected_with_the_default_umap_settings(runs, tmp_path):
    from napari_featann.bench.common import cached_session, image_files
    from napari_featann.cli import build_parser, feature_params, partition_params
    from napari_featann.io import load_session, save_session
    from napari_featann.session import ProjectionParams

    root = runs["root"]
    s = load_session(root / "setup.featann")
    s.projection_params.n_neighbors = 7  # as if saved by a run with other settings
    save_session(s, tmp_path / "other.featann")
    args = build_parser().parse_args(
        ["bench", "robot", "--images", str(root / "images"), "--masks", str(root / "masks"),
         "--weights", str(BACKBONE_WEIGHTS), "--device", "cpu", "--regions", "3"])  # fmt: skip
    cached = cached_session(tmp_path / "other.featann", image_files(root / "images"),
                            partition_params(args), feature_params(args))  # fmt: skip
    assert cached is not None and cached.embedding is None
    assert cached.projection_params == ProjectionParams()


@pytest.mark.parametrize("bad", [["--n-neighbors", "1"], ["--min-dist", "1.5"]])
def test_bad_umap_options_are_refused(bad):
    from napari_featann.bench.robot_args import RobotOptions
    from napari_featann.cli import build_parser

    args = build_parser().parse_args(["bench", "robot", "--images", ".", "--masks", ".", *bad])
    with pytest.raises(ValueError, match=r"--n-neighbors|--min-dist"):
        RobotOptions.from_args(args)


@pytest.mark.parametrize(
    "bad", [["--min-part", "-5"], ["--wrong-weight", "-1"]], ids=["min-part", "wrong-weight"]
)
def test_negative_part_sizes_and_weights_are_refused(bad):
    from napari_featann.bench.robot_args import RobotOptions
    from napari_featann.cli import build_parser

    args = build_parser().parse_args(["bench", "robot", "--images", ".", "--masks", ".", *bad])
    with pytest.raises(ValueError, match=bad[0]):
        RobotOptions.from_args(args)


@pytest.mark.parametrize("bad, said", [
    (["--purity", "1.5"], "--purity must be in (0, 1], got 1.5"),
    (["--budget", "0"], "--budget must be above 0 (seconds per image), got 0"),
    (["--grid", "1"], "--grid must be 2 or more, got 1"),
    (["--max-clicks", "1", "--metric-every", "0"],
     "--metric-every must be 1 or more, got 0; --max-clicks must be 2 or more, got 1"),
])  # fmt: skip
def test_each_bad_robot_option_is_named_with_its_value(bad, said):
    """``--purity 1.5`` said "--budget must be > 0 and --purity in (0, 1]" and ``--grid 0``
    "--metric-every must be >= 1, --grid >= 2, --max-clicks >= 2": which option was wrong
    was left to guess. Only the wrong ones are named now, each with its value."""
    from napari_featann.bench.robot_args import RobotOptions
    from napari_featann.cli import build_parser

    args = build_parser().parse_args(["bench", "robot", "--images", ".", "--masks", ".", *bad])
    with pytest.raises(ValueError) as refused:
        RobotOptions.from_args(args)
    assert str(refused.value) == said


def test_a_budget_below_the_cost_of_one_box_is_warned_about(capsys):
    """``--budget 1`` on 2 images (2 s, a box costs 3 s) gave mean_iou 0.0 without a word."""
    from napari_featann.bench.robot_args import warn_budget

    warn_budget(1.0, 2)
    err = capsys.readouterr().err
    assert "warning: --budget 1 s per image gives 2 s for 2 image(s)" in err and "3 s" in err
    warn_budget(1.0, 4)  # 4 s: one box fits
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_iou_rises_with_effort(runs):
    curve = np.asarray(runs["full"]["curve"])
    assert np.all(np.diff(curve[:, 0]) > 0)
    assert np.all(np.diff(curve[:, 1]) >= 0)
    assert curve[-1, 1] > curve[0, 1] + 50
    assert runs["full"]["mean_iou"] == curve[-1, 1]


@pytest.mark.slow
def test_effort_matches_the_counted_interactions(runs):
    for r in (runs["full"], runs["tight"]):
        n = r["n_images"]
        assert r["effort_seconds_per_image"] * n == pytest.approx(_modelled_effort(r), abs=0.05)
        assert r["boxes_per_image"] * n == r["boxes"] + r["lassos"]
        assert r["clicks_per_image"] * n == pytest.approx(r["clicks"])


@pytest.mark.slow
def test_corrections_fix_the_impure_segments(runs):
    r = runs["full"]
    assert r["corrections"] >= 1 and r["clicks"] >= 2
    assert r["mean_iou"] > r["oracle_iou"] + 5  # beyond what labelling segments can reach
    assert r["n_segments_final"] > r["n_segments"]
    assert r["stopped"] == "done"


@pytest.mark.slow
def test_budget_is_respected(runs):
    r = runs["tight"]
    assert r["stopped"] == "budget"
    assert r["effort_seconds_per_image"] <= 1.0
    assert max(p[0] for p in r["curve"]) <= 1.0
    assert r["boxes"] == 1  # a second box (3 s) does not fit in 4 images x 1 s
    assert r["clicks"] == 0 and r["metric_learning_runs"] == 0
    assert r["mean_iou"] <= runs["full"]["mean_iou"]


@pytest.mark.slow
def test_plot_is_a_png(runs):
    pytest.importorskip("matplotlib")
    assert runs["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_click_labelling_gives_a_wrong_segment_its_class():
    """With an implicit background, the best click labels the segment with most foreground."""
    from napari_featann.bench.robot import RobotOptions, _Robot
    from napari_featann.bench.robot_select import GroundTruth
    from napari_featann.bench.speed import _grid_session
    from napari_featann.core.progress import Progress

    s = _grid_session(2, 4, (40, 40))  # 2 images of 2 x 2 segments of 20 x 20 pixels
    gts = [np.zeros((40, 40), np.uint8) for _ in range(2)]
    gts[0][:20, :20] = 1  # segment 1 of image 0: all foreground
    gts[1][:20, :10] = 1  # segment 1 of image 1: half foreground
    truth = GroundTruth(gts)
    truth.refresh(s)
    robot = _Robot(s, truth, RobotOptions(foreground_only=True), Progress())
    row, cls, gain = robot.plan_relabel()
    assert (int(s.segments.ids[row]), cls, gain) == (1, 1, 400.0)
    robot.relabel(row, cls)
    assert s.segment_class[row] == 2 and robot.counts["clicks"] == 1
    assert robot.effort == COST_FIRST_CLICK
    assert np.all(s.class_masks[0][:20, :20] == 2) and robot.ious[0] == 100.0
    # the half-foreground segment is no better as foreground than as background: no click
    assert robot.plan_relabel() is None


@pytest.mark.parametrize("objective", ["segments", "iou"])
def test_a_relabelling_selection_takes_wrong_foreground_back(objective):
    """With an implicit background, a box over labelled points gives the background class to
    segments wrongly shown as foreground, when that raises the score."""
    from napari_featann.bench.robot import RobotOptions, _Robot
    from napari_featann.bench.robot_select import GroundTruth
    from napari_featann.bench.speed import _grid_session
    from napari_featann.core.progress import Progress

    s = _grid_session(2, 4, (40, 40))  # 2 images of 2 x 2 segments of 20 x 20 pixels
    gts = [np.zeros((40, 40), np.uint8) for _ in range(2)]
    gts[0][:20, :] = 1  # the top two segments of each image are foreground
    gts[1][:20, :] = 1
    truth = GroundTruth(gts)
    truth.refresh(s)
    fg = truth.major == 1
    s.embedding = np.where(fg[:, None], [0.0, 0.0], [5.0, 5.0]) + np.arange(8)[:, None] * 0.01
    opts = RobotOptions(foreground_only=True, purity=0.5, objective=objective)
    robot = _Robot(s, truth, opts, Progress())
    assert robot.plan_reselection() is None  # nothing shows foreground yet
    s.assign(s.segments.ids, 2)  # everything labelled foreground: half of it wrongly
    robot.ious = np.array([truth.score(s.class_masks[i], i) for i in range(2)])
    assert robot.ious.tolist() == [50.0, 50.0]
    sel, members, gain = robot.plan_reselection()
    assert sorted(members.tolist()) == np.flatnonzero(~fg).tolist() and gain > 0
    assert sel.class_index == 0  # the implicit background
    robot.select(sel, labelled_too=True)
    assert np.all(s.segment_class[~fg] == 1) and np.all(s.segment_class[fg] == 2)
    assert robot.ious.tolist() == [100.0, 100.0] and robot.counts["reselections"] == 1
    assert robot.effort == 3.0
    assert robot.plan_reselection() is None  # no wrong foreground left


@pytest.mark.slow
def test_a_stack_and_its_mask_stack_are_scored_plane_by_plane(tmp_path):
    """The benchmarks read a TIFF stack and a mask stack of as many planes."""
    import imageio.v3 as iio
    import tifffile

    from napari_featann.bench.oracle import oracle_benchmark
    from napari_featann.core.partition import PartitionParams

    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    flat = _write_problem(tmp_path / "flat", n=3)
    stack = tmp_path / "stack"
    (stack / "images").mkdir(parents=True)
    (stack / "masks").mkdir()
    ims = np.stack([iio.imread(flat / "images" / f"im{k}.png") for k in range(3)])
    masks = np.stack([iio.imread(flat / "masks" / f"im{k}.png") for k in range(3)])
    tifffile.imwrite(
        stack / "images" / "vol.tif", ims, photometric="rgb", metadata={"axes": "ZYXS"}
    )
    tifffile.imwrite(stack / "masks" / "vol.tif", masks, photometric="minisblack",
                     metadata={"axes": "ZYX"})  # fmt: skip
    params = PartitionParams(regions=3)
    as_files = oracle_benchmark(flat / "images", flat / "masks", params)
    as_stack = oracle_benchmark(stack / "images", stack / "masks", params)
    assert as_stack["n_images"] == 3 and as_stack["mean_iou"] == as_files["mean_iou"] > 50
    cache = str(tmp_path / "setup.featann")
    first = _run(stack, "--budget", "6", "--no-metric-learning", "--session-cache", cache)
    again = _run(stack, "--budget", "6", "--no-metric-learning", "--session-cache", cache)
    assert first["n_images"] == 3 and first["mean_iou"] > 50
    assert again["setup_from_cache"] and not first["setup_from_cache"]
    tifffile.imwrite(stack / "masks" / "vol.tif", masks[:2], photometric="minisblack",
                     metadata={"axes": "ZYX"})  # fmt: skip
    with pytest.raises(ValueError, match="3 images or planes but 2 masks"):
        oracle_benchmark(stack / "images", stack / "masks", params)


def test_oracle_with_splits_reports_the_effort_splits_need(tmp_path, capsys):
    """``featann bench oracle --splits``: the glued strip is fixed by a split past the oracle."""
    import imageio.v3 as iio

    from napari_featann.cli import main

    root = _write_problem(tmp_path / "p", n=3)
    argv = ["bench", "oracle", "--images", str(root / "images"), "--masks", str(root / "masks"),
            "--sweep", "2,3", "--splits"]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for cut in r["sweep"]:
        bound = cut["split_bound"]
        assert bound["start_iou"] == cut["mean_iou"] < 90
        assert bound["final_iou"] > bound["start_iou"] + 5 and bound["segments_split"] >= 3
        reached = [v for v in bound["effort_to_reach"].values() if v is not None]
        assert reached == sorted(reached) and 0 < reached[-1] == bound["final_effort"]
        assert bound["max_clicks"] == 4
    multi = tmp_path / "multi"
    (multi / "masks").mkdir(parents=True)
    for k in range(3):
        mask = iio.imread(root / "masks" / f"im{k}.png") // 255
        mask[:4] = 2
        iio.imwrite(multi / "masks" / f"im{k}.png", mask.astype(np.uint8))
    argv = ["bench", "oracle", "--images", str(root / "images"), "--masks", str(multi / "masks"),
            "--splits"]  # fmt: skip
    assert main(argv) == 2
    assert "--splits needs binary masks" in capsys.readouterr().err


@pytest.mark.parametrize("objective", ["segments", "iou"])
def test_remove_specks_clears_a_stray_foreground_island(objective):
    """With an implicit background, one press of Remove specks (a first click's cost) on the
    image where it gains clears a small foreground island that the ground truth lacks."""
    from napari_featann.bench.robot import RobotOptions, _Robot
    from napari_featann.bench.robot_select import GroundTruth
    from napari_featann.bench.speed import _grid_session
    from napari_featann.core.progress import Progress

    def robot(island_is_foreground, **options):
        s = _grid_session(2, 25, (50, 50))  # 2 images of 5 x 5 segments of 10 x 10 pixels
        gts = [np.zeros((50, 50), np.uint8) for _ in range(2)]
        for gt in gts:
            gt[:30, :30] = 1  # a 3 x 3 block of segments
            gt[40:, 40:] = island_is_foreground
        truth = GroundTruth(gts)
        truth.refresh(s)
        opts = RobotOptions(foreground_only=True, objective=objective, **options)
        r = _Robot(s, truth, opts, Progress())
        block = [1, 2, 3, 6, 7, 8, 11, 12, 13]
        s.assign(block + [25] + [i + 25 for i in block], 2)  # image 1: no island labelled
        r.ious[:] = [truth.score(s.class_masks[i], i) for i in range(2)]
        return r

    r = robot(False)
    image, ids, gain = r.specks.plan(r)
    assert (image, ids.tolist()) == (0, [25]) and gain > 0
    r.remove_specks(image, ids)
    assert r.s.segment_class[24] == 0 and (r.s.class_masks[0][40:, 40:] == 0).all()
    assert r.ious.tolist() == [100.0, 100.0]
    assert r.effort == COST_FIRST_CLICK and r.counts["clicks"] == r.counts["speck_removals"] == 1
    assert r.specks.plan(r) is None
    r = robot(True)  # the island is foreground: clearing it would lose pixels
    assert r.specks.plan(r) is None
    assert robot(False, specks=False).specks is None
