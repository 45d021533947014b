"""The ``featann`` command line (also ``python -m napari_featann``).

Progress goes to stderr; each benchmark prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["main"]


def _add_partition_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("partition")
    g.add_argument(
        "--gradient",
        choices=("classic", "hed"),
        default=None,
        help="edge map (default: hed when --edge-weights is given, else classic)",
    )
    g.add_argument("--edge-weights", metavar="PATH", help="HED weights file (hed_bsds500.pth)")
    g.add_argument(
        "--multiscale",
        action="store_true",
        help="average edges over scales 0.5, 1, 1.5, 2 (the paper's setting)",
    )
    g.add_argument("--criterion", choices=("area", "volume", "dynamics"), default="volume")
    cut = g.add_mutually_exclusive_group()
    cut.add_argument("--threshold", type=_threshold, help="cut at this criterion value")
    cut.add_argument("--regions", type=int, help="cut to about N regions per image (default 100)")
    g.add_argument(
        "--frontier",
        type=_finite,
        default=0.0,
        help="weak-contour filter: remove contours with mean gradient below this",
    )


def _add_feature_args(p: argparse.ArgumentParser) -> None:
    from .params import CONTEXT_WEIGHTS, FeatureParams  # no heavy import

    d = FeatureParams()  # the options' defaults are the parameters' own
    g = p.add_argument_group("features")
    g.add_argument("--backbone", default="efficientnet_lite0", help="timm model name")
    g.add_argument(
        "--weights",
        metavar="PATH",
        help="local backbone weights; without it, timm's hub (needs internet)",
    )
    g.add_argument("--device", default=None,
                   help="torch device: auto (the default: cuda if present, else cpu), cpu, "
                   "cuda or cuda:N")  # fmt: skip
    g.add_argument("--batch-size", type=_positive, default=32)
    g.add_argument(
        "--no-context",
        action="store_true",
        help="describe segments by their masked crop only (no whole-image context maps)",
    )
    g.add_argument("--context-levels", type=_positive, default=d.context_levels, metavar="N",
                   help="context: pool the backbone's N deepest feature levels (default %(default)s; "
                   "at most as many as the backbone has, 5 for EfficientNet)")  # fmt: skip
    g.add_argument("--context-scale", type=_context_scale, default=d.context_scale, metavar="F",
                   help="context: resize each image by F for the whole-image pass, after "
                   "the cap of 1024 pixels on the long side (default %(default)s; above 0, at most "
                   "4)")  # fmt: skip
    g.add_argument("--context-weight", choices=CONTEXT_WEIGHTS, default=d.context_weight,
                   help="context: weight small segments' blocks down by each level's own map "
                   "(level, the default: full from 2 of its cells) or all by the finest map "
                   "pooled (finest: full from 4 of its cells, the rule before this option)")  # fmt: skip


def _finite(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"give a finite number, got {text!r}")
    return value


def _context_scale(text: str) -> float:
    """argparse type of ``--context-scale``: a finite number above 0, at most 4."""
    from .params import MAX_CONTEXT_SCALE

    value = _finite(text)
    if not 0 < value <= MAX_CONTEXT_SCALE:
        raise argparse.ArgumentTypeError(f"give a number above 0 and at most "
                                         f"{MAX_CONTEXT_SCALE}, got {text!r}")  # fmt: skip
    return value


def _threshold(text: str) -> float:
    """argparse type of ``--threshold``: a finite number."""
    if text.strip().lower().lstrip("+") in ("inf", "infinity"):
        raise argparse.ArgumentTypeError(f"give a finite number, got {text!r}; any threshold "
                                         "at or above the hierarchy's top (a large number) "
                                         "gives one segment per image")  # fmt: skip
    return _finite(text)


def _weights_file(path: str | None, option: str) -> None:
    """Refuse, before any work, a weights file that is missing or is no PyTorch checkpoint."""
    if path:
        from .ml.errors import check_weights_file

        check_weights_file(path, option)


def partition_params(args):
    """PartitionParams from parsed arguments (the HED weights file checked)."""
    from .core.gradient import PAPER_SCALES
    from .core.partition import PartitionParams

    _weights_file(args.edge_weights, "--edge-weights")
    gradient = args.gradient or ("hed" if args.edge_weights else "classic")
    regions = args.regions if args.threshold is None else None
    if args.threshold is None and regions is None:
        regions = 100  # validate() refuses 0 or less
    return PartitionParams(
        gradient=gradient, edge_weights=args.edge_weights,
        scales=PAPER_SCALES if args.multiscale else (1.0,), criterion=args.criterion,
        threshold=args.threshold, regions=regions, frontier=args.frontier,
    ).validate()  # fmt: skip


def feature_params(args):
    """FeatureParams from parsed arguments, checked before any work: the backbone is a
    timm model, the weights file a PyTorch checkpoint, the device usable (``auto``: None,
    CUDA when available, else the CPU)."""
    from .ml.errors import resolve_device
    from .ml.extractor import check_backbone_name
    from .session import FeatureParams

    check_backbone_name(args.backbone)
    _weights_file(args.weights, "--weights")
    device = args.device
    if device is not None and device.strip().lower() == "auto":
        device = None
    resolve_device(device)  # "--device cuda" on a machine without CUDA: said now
    return FeatureParams(backbone=args.backbone, weights=args.weights, device=device,
                         batch_size=args.batch_size,
                         context=not getattr(args, "no_context", False),
                         context_levels=args.context_levels,
                         context_scale=args.context_scale,
                         context_weight=args.context_weight).validate()  # fmt: skip


def _input_folders(images) -> dict[Path, str]:
    """The folders the images named on the command line are in (or are), resolved, each
    with the argument that names it; a link counts in its own folder and its target's."""
    folders: dict[Path, str] = {}
    for arg in images:
        p = Path(arg)
        for q in (p.absolute(), p.resolve()):
            folders.setdefault(q if p.is_dir() else q.parent, arg)
    return folders


def _output_folder(out: Path, images) -> Path | None:
    """Check ``-o/--output`` before any work: not the folder of an input image, a folder
    that exists or can be made, writable. Returns the first folder made here (None: it
    existed), for :func:`_remove_made`."""
    from .checks import probe_writable

    if out.exists() and not out.is_dir():
        raise ValueError(f"-o/--output {out} is a file; give a folder for the label images")
    folders = _input_folders(images)
    for q in {out.absolute(), out.resolve()}:
        # the label images would lie among the images: the next run would read them as
        # images, and x.tif's label image would overwrite x.tif
        if q in folders:
            arg = folders[q]
            what = "the input folder" if Path(arg).is_dir() else "the folder of the input image"
            raise ValueError(f"-o/--output {out} is {what} {arg}: the label images would be "
                             "written among the images; give another folder")  # fmt: skip
    made = None  # the first folder made here, if any
    if not out.exists():
        made = out.absolute()
        while not made.parent.exists():
            made = made.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_writable(out)
    except OSError as exc:
        _remove_made(out, made)
        raise ValueError(f"-o/--output {out}: cannot write there "
                         f"({exc.strerror or exc}); give a writable folder") from None  # fmt: skip
    return made


def _remove_made(out: Path, made: Path | None) -> None:
    """Remove the folders made for ``out`` (up to ``made``) while they are empty."""
    if made is None:
        return
    folder = out.absolute()
    while folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        if folder == made:
            break
        folder = folder.parent


def _cmd_segment(args) -> int:
    """Partition images into label images (TIFF), one per image, in ``-o/--output``.

    Everything that can be checked is checked before any work: the parameters, the output
    folder (not the folder of an input image; made if missing; writable), and every file
    named on the command line (a missing or unreadable one is an error and nothing is
    written). Bad files inside a folder given alone are skipped, each said on stderr.
    """
    out = Path(args.output)
    params = partition_params(args)  # bad parameters stop here, before any work
    made = _output_folder(out, args.images)
    try:
        written = _segment_into(out, args, params)
    except BaseException:
        _remove_made(out, made)  # a failed run leaves no empty folder behind
        raise
    print(json.dumps(written))
    return 0


def _segment_into(out: Path, args, params) -> dict:
    import numpy as np

    from .core.progress import StderrProgress
    from .session import Session

    folder = len(args.images) == 1 and Path(args.images[0]).is_dir()
    session = Session.from_sources(args.images[0] if folder else args.images,
                                   bands=args.bands, tile=args.tile)  # fmt: skip
    failures = session.load_failures
    if failures and not folder:  # a file named on the command line: never silently left out
        bad = "; ".join(f"{src}: {why}" for src, why in failures.items())
        raise ValueError(f"cannot read {bad} (nothing written)")
    for src, why in failures.items():
        print(f"[featann] skipped {src}: {why}", file=sys.stderr)
    session.partition_params = params
    session.partition(StderrProgress())
    import tifffile

    from .core.geotiff import mask_extratags

    for rec, lab in zip(session.images, session.label_images):
        target = out / f"{rec.name}.tif"
        try:
            geo = mask_extratags(rec.meta)  # a GeoTIFF's place (a tile's: moved to its corner)
            tifffile.imwrite(target, lab.astype(np.int32), compression="zlib", extratags=geo)
        except OSError as exc:
            raise ValueError(
                f"-o/--output: cannot write {target} ({exc.strerror or exc})"
            ) from None
    return {"n_images": session.n_images, "segments": len(session.segments),
            "output": str(out), "skipped": failures}  # fmt: skip


def _cmd_bench(args) -> int:
    from .core.progress import StderrProgress

    if args.bench == "oracle":
        from .bench.oracle import oracle_benchmark

        sweep = _sweep(args.sweep, by_threshold=args.threshold is not None)
        if sweep and args.regions is not None:  # it would be replaced by the sweep's first
            raise ValueError("--sweep gives the region counts: leave --regions out (or sweep "
                             "thresholds: --threshold T --sweep T1,T2,...)")  # fmt: skip
        result = oracle_benchmark(args.images, args.masks, partition_params(args),
                                  StderrProgress(), limit=args.limit, sweep=sweep,
                                  splits=args.splits, max_clicks=args.max_clicks)  # fmt: skip
    elif args.bench == "label":
        from .bench.speed import labelling_benchmark

        if args.viewer:
            from .bench.scatter_speed import require_display

            require_display("featann bench label --viewer")
        result = labelling_benchmark(args.n_images, args.per_image, viewer=args.viewer,
                                     fraction=args.fraction)  # fmt: skip
    elif args.bench == "scatter":
        from .bench.scatter_speed import require_display, scatter_benchmark

        require_display("featann bench scatter")  # Qt aborts the process without one
        result = scatter_benchmark(args.points, args.frames, lod_cap=args.lod_cap)
    elif args.bench == "extract":
        from .bench.speed import extraction_benchmark

        result = extraction_benchmark(args.images, partition_params(args), feature_params(args),
                                      limit=args.limit, progress=StderrProgress())  # fmt: skip
    elif args.bench == "metric":
        from .bench.metric import metric_benchmark

        result = metric_benchmark(
            args.images, args.masks, partition_params(args), feature_params(args),
            labelled_fraction=args.labelled_fraction, mode=args.mode, seed=args.seed,
            limit=args.limit, progress=StderrProgress(), session_cache=args.session_cache,
        )  # fmt: skip
    elif args.bench == "robot":
        from .bench.plot import plot_robot
        from .bench.robot import robot_benchmark

        result = robot_benchmark(args, partition_params(args), feature_params(args),
                                 progress=StderrProgress(), plot=False)  # fmt: skip
        print(json.dumps(result), flush=True)  # before the plot: a failing plot keeps it
        if args.plot:
            plot_robot(result, args.images, args.plot)
        return 0
    else:  # pragma: no cover - argparse restricts choices
        raise SystemExit(f"unknown benchmark {args.bench}")
    print(json.dumps(result))
    return 0


def _sweep(text: str | None, by_threshold: bool) -> list[float] | None:
    """The values of ``--sweep``: region counts of 1 or more, or thresholds of 0 or more."""
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--sweep {text!r}: give numbers separated by commas") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"--sweep {text!r}: give finite numbers")
    low = 0.0 if by_threshold else 1.0
    if any(v < low or (not by_threshold and v != int(v)) for v in values):
        what = "thresholds of 0 or more" if by_threshold else "whole region counts of 1 or more"
        raise ValueError(f"--sweep {text!r}: give {what}")
    return values


def _whole(text: str) -> int:
    """argparse: the text as a whole number, else an error that quotes it."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"give 1 or more, got {value}")
    return value


def _non_negative(text: str) -> int:
    """argparse type: a whole number of 0 or more."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"give 0 or more, got {value}")
    return value


def _seed(text: str) -> int:
    """A seed as numpy, scikit-learn and UMAP take it: a whole number in [0, 2**32)."""
    value = _whole(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"give a whole number from 0 to 2**32 - 1, got {value}")
    return value


def _tile_side(text: str) -> int:
    """argparse type of ``--tile``: a whole number; below 1 refused as a tile too small.

    Sides from 1 to ``MIN_TILE - 1`` pass here and are refused by ``check_tile``
    before any work, with the same words."""
    from .core.images import MIN_TILE

    value = _whole(text)
    if value < 1:  # "give 1 or more" would suggest that 1 to 63 are taken
        raise argparse.ArgumentTypeError(f"tiles must be at least {MIN_TILE} pixels, got {value}")
    return value


def _at_least_two(text: str) -> int:
    value = _positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"give 2 or more (a positive and a negative click), "
                                         f"got {value}")  # fmt: skip
    return value


def _finite_floats(parser: argparse.ArgumentParser) -> None:
    """Every float option of a benchmark's parser takes finite numbers only."""
    for action in parser._actions:
        if action.type is float:
            action.type = _finite


def _bands(text: str) -> list[int]:
    from .core.images import parse_bands

    try:
        bands = parse_bands(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if bands is None:
        raise argparse.ArgumentTypeError("give one channel index (grey) or three (R,G,B), from 0")
    return bands


def check_gui_args(args) -> None:
    """What ``featann gui`` checks before napari opens (a window opened on a bad argument
    would only say so later, if at all): every image path named exists (a folder given
    alone holds image files), the tile side, as ``featann segment`` refuses it (not raised
    to the smallest tile), and the weights files (ValueError / WeightsError)."""
    from .core.images import IMAGE_SUFFIXES, check_tile, list_image_files

    missing = [arg for arg in args.images if not Path(arg).exists()]
    if missing:
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    folder = args.images[0] if len(args.images) == 1 else None
    if folder and Path(folder).is_dir() and not list_image_files(folder):
        raise ValueError(f"{folder} holds no {', '.join(sorted(IMAGE_SUFFIXES))} file")
    check_tile(args.tile)
    _weights_file(args.weights, "--weights")
    _weights_file(args.edge_weights, "--edge-weights")


def _cmd_gui(args) -> int:
    check_gui_args(args)
    try:
        import qtpy  # noqa: F401  (pip installs napari without a Qt binding)
    except (ImportError, RuntimeError) as exc:
        raise RuntimeError(
            f"{exc}: featann gui needs a Qt binding for napari; install one, e.g. "
            "pip install 'napari-featann[pyqt6]' (or 'napari[all]')"
        ) from None
    from ._widgets.launch import launch

    launch(args.images, edge_weights=args.edge_weights, weights=args.weights, block=True,
           bands=args.bands, tile=args.tile)  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="featann", description=__doc__.splitlines()[0].replace("``", "")
    )
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="partition images into candidate segments")
    seg.add_argument("images", nargs="+", help="image files or one folder")
    seg.add_argument("-o", "--output", required=True, help="folder for the label images (TIFF)")
    seg.add_argument("--bands", type=_bands, metavar="R,G,B",
                     help="channels of multi-band images to use as red, green, blue (or one, grey)")  # fmt: skip
    seg.add_argument("--tile", type=_tile_side, metavar="PX",
                     help="cut images larger than PX pixels into PX x PX tiles, each its own "
                     "label image")  # fmt: skip
    _add_partition_args(seg)
    seg.set_defaults(func=_cmd_segment)

    bench = sub.add_parser("bench", help="benchmarks on images with ground truth")
    bsub = bench.add_subparsers(dest="bench", required=True)
    for name, help_ in (
        ("oracle", "oracle IoU: each segment labelled with its majority ground-truth class"),
        ("extract", "feature extraction speed against the bare forward pass"),
        ("metric", "kNN accuracy of unlabelled segments before/after metric learning"),
        ("robot", "simulated annotator: IoU against modelled effort"),
    ):
        b = bsub.add_parser(name, help=help_)
        b.add_argument("--images", required=True, help="folder of images")
        if name != "extract":  # the extraction benchmark scores nothing
            b.add_argument("--masks", required=True, help="folder of masks (same stems)")
        b.add_argument("--limit", type=_positive, help="use only the first N images")
        if name in ("metric", "robot"):  # the oracle and extraction draw nothing at random
            b.add_argument("--seed", type=_seed, default=0,
                           help="seed of the projection and of metric learning")  # fmt: skip
        _add_partition_args(b)
        if name == "oracle":
            b.add_argument(
                "--sweep",
                metavar="N1,N2,...",
                help="several region counts (without --regions), or thresholds with "
                "--threshold (whose own value the list replaces), on the same hierarchies; "
                "the JSON's top level is the first value's, its 'sweep' lists them all",
            )
            b.add_argument(
                "--splits",
                action="store_true",
                help="also the seconds per image of click splits (the robot's clicks and "
                "prices) needed at best, after a free oracle labelling, to reach each IoU "
                "(binary masks)",
            )
            b.add_argument("--max-clicks", type=_at_least_two, default=4,
                           help="with --splits: clicks at most per segment")  # fmt: skip
        else:
            _add_feature_args(b)
        if name == "metric":
            b.add_argument("--labelled-fraction", type=float, default=0.2)
            b.add_argument("--mode", choices=("head", "full"), default="head")
            b.add_argument(
                "--session-cache",
                metavar="PATH.featann",
                help="reuse the partition and features saved in this session file",
            )
        if name == "robot":
            from .bench.robot_args import add_robot_args

            add_robot_args(b)
        _finite_floats(b)
        b.set_defaults(func=_cmd_bench)

    lab = bsub.add_parser("label", help="time one box labelling every segment of many images")
    lab.add_argument("--n-images", type=_positive, default=100)
    lab.add_argument("--per-image", type=_positive, default=100)
    lab.add_argument("--viewer", action="store_true",
                     help="time the dock's whole path in napari (needs a display)")  # fmt: skip
    lab.add_argument("--fraction", type=float, default=1.0,
                     help="part of the scatter the box covers (default: all of it)")  # fmt: skip
    _finite_floats(lab)
    lab.set_defaults(func=_cmd_bench)
    sc = bsub.add_parser("scatter", help="scatter pan/zoom frame times (needs a display)")
    sc.add_argument("--points", type=_positive, default=100_000)
    sc.add_argument("--frames", type=_positive, default=60)
    sc.add_argument("--lod-cap", type=_non_negative, default=None,
                    help="points drawn while the camera moves (0: level of detail off; "
                    "default: the view's own, by renderer)")  # fmt: skip
    sc.set_defaults(func=_cmd_bench)

    gui = sub.add_parser("gui", help="open napari with the plugin docked")
    gui.add_argument("images", nargs="*", help="images or a folder (default: sample data)")
    gui.add_argument("--edge-weights", metavar="PATH", help="HED weights for the gradient")
    gui.add_argument("--weights", metavar="PATH", help="local backbone weights")
    gui.add_argument("--bands", type=_bands, metavar="R,G,B",
                     help="channels of multi-band images to use as red, green, blue (or one, grey)")  # fmt: skip
    gui.add_argument("--tile", type=_tile_side, metavar="PX",
                     help="cut images larger than PX pixels into PX x PX tiles (large scenes)")  # fmt: skip
    gui.set_defaults(func=_cmd_gui)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("[featann] interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"featann: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
