"""The ``featann`` command line (also ``python -m napari_featann``).

Progress goes to stderr; each benchmark prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
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
    cut.add_argument("--threshold", type=float, help="cut at this criterion value")
    cut.add_argument("--regions", type=int, help="cut to about N regions per image (default 100)")
    g.add_argument(
        "--frontier",
        type=float,
        default=0.0,
        help="weak-contour filter: remove contours with mean gradient below this",
    )


def _add_feature_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("features")
    g.add_argument("--backbone", default="efficientnet_lite0", help="timm model name")
    g.add_argument(
        "--weights",
        metavar="PATH",
        help="local backbone weights; without it, timm's hub (needs internet)",
    )
    g.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument(
        "--no-context",
        action="store_true",
        help="describe segments by their masked crop only (no whole-image context maps)",
    )


def partition_params(args):
    """PartitionParams from parsed arguments."""
    from .core.gradient import PAPER_SCALES
    from .core.partition import PartitionParams

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
    """FeatureParams from parsed arguments."""
    from .session import FeatureParams

    return FeatureParams(backbone=args.backbone, weights=args.weights, device=args.device,
                         batch_size=args.batch_size,
                         context=not getattr(args, "no_context", False))  # fmt: skip


def _cmd_segment(args) -> int:
    import numpy as np

    from .core.progress import StderrProgress
    from .io import source_files
    from .session import Session

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output {out} is a file; give a folder for the label images")
    params = partition_params(args)  # bad parameters stop here, before any work
    session = Session.from_sources(args.images if len(args.images) > 1 else args.images[0],
                                   bands=args.bands, tile=args.tile)  # fmt: skip
    for src, why in session.load_failures.items():
        print(f"[featann] skipped {src}: {why}", file=sys.stderr)
    sources = source_files(session)
    clash = [rec.name for rec in session.images if (out / f"{rec.name}.tif").resolve() in sources]
    if clash:  # a label image would overwrite an input image: refuse before any work
        raise ValueError(f"--output {out}: the label image of {clash[0]} would overwrite an "
                         f"input image ({out / (clash[0] + '.tif')}); give another folder")  # fmt: skip
    session.partition_params = params
    session.partition(StderrProgress())
    out.mkdir(parents=True, exist_ok=True)
    import tifffile

    for rec, lab in zip(session.images, session.label_images):
        tifffile.imwrite(out / f"{rec.name}.tif", lab.astype(np.int32), compression="zlib")
    print(json.dumps({"n_images": session.n_images, "segments": len(session.segments),
                      "output": str(out), "skipped": session.load_failures}))  # fmt: skip
    return 0


def _cmd_bench(args) -> int:
    from .core.progress import StderrProgress

    if args.bench == "oracle":
        from .bench.oracle import oracle_benchmark

        sweep = _sweep(args.sweep, by_threshold=args.threshold is not None)
        result = oracle_benchmark(args.images, args.masks, partition_params(args),
                                  StderrProgress(), limit=args.limit, sweep=sweep,
                                  splits=args.splits, max_clicks=args.max_clicks)  # fmt: skip
    elif args.bench == "label":
        from .bench.speed import labelling_benchmark

        result = labelling_benchmark(args.n_images, args.per_image, viewer=args.viewer,
                                     fraction=args.fraction)  # fmt: skip
    elif args.bench == "scatter":
        from .bench.scatter_speed import scatter_benchmark

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
        from .bench.robot import robot_benchmark

        result = robot_benchmark(args, partition_params(args), feature_params(args),
                                 progress=StderrProgress())  # fmt: skip
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
    low = 0.0 if by_threshold else 1.0
    if any(v < low or (not by_threshold and v != int(v)) for v in values):
        what = "thresholds of 0 or more" if by_threshold else "whole region counts of 1 or more"
        raise ValueError(f"--sweep {text!r}: give {what}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"give 1 or more, got {value}")
    return value


def _bands(text: str) -> list[int]:
    from .core.images import parse_bands

    try:
        bands = parse_bands(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if bands is None:
        raise argparse.ArgumentTypeError("give one channel index (grey) or three (R,G,B), from 0")
    return bands


def _cmd_gui(args) -> int:
    from .core.images import check_tile

    check_tile(args.tile)  # refused as by featann segment, not raised to the smallest tile
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
    parser = argparse.ArgumentParser(prog="featann", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="partition images into candidate segments")
    seg.add_argument("images", nargs="+", help="image files or one folder")
    seg.add_argument("-o", "--output", required=True, help="folder for the label images (TIFF)")
    seg.add_argument("--bands", type=_bands, metavar="R,G,B",
                     help="channels of multi-band images to use as red, green, blue (or one, grey)")  # fmt: skip
    seg.add_argument("--tile", type=_positive, metavar="PX",
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
        b.add_argument("--masks", required=name != "extract", help="folder of masks (same stems)")
        b.add_argument("--limit", type=_positive, help="use only the first N images")
        b.add_argument(
            "--seed", type=int, default=0, help="seed of the projection and of metric learning"
        )
        _add_partition_args(b)
        if name == "oracle":
            b.add_argument(
                "--sweep",
                metavar="N1,N2,...",
                help="several region counts (or thresholds with --threshold) on "
                "the same hierarchies; the JSON's 'sweep' lists them all",
            )
            b.add_argument(
                "--splits",
                action="store_true",
                help="also the seconds per image of click splits (the robot's clicks and "
                "prices) needed at best, after a free oracle labelling, to reach each IoU "
                "(binary masks)",
            )
            b.add_argument("--max-clicks", type=int, default=4,
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
        b.set_defaults(func=_cmd_bench)

    lab = bsub.add_parser("label", help="time one box labelling every segment of many images")
    lab.add_argument("--n-images", type=_positive, default=100)
    lab.add_argument("--per-image", type=_positive, default=100)
    lab.add_argument("--viewer", action="store_true",
                     help="time the dock's whole path in napari (needs a display)")  # fmt: skip
    lab.add_argument("--fraction", type=float, default=1.0,
                     help="part of the scatter the box covers (default: all of it)")  # fmt: skip
    lab.set_defaults(func=_cmd_bench)
    sc = bsub.add_parser("scatter", help="scatter pan/zoom frame times (needs a display)")
    sc.add_argument("--points", type=_positive, default=100_000)
    sc.add_argument("--frames", type=_positive, default=60)
    sc.add_argument("--lod-cap", type=int, default=None,
                    help="points drawn while the camera moves (0: level of detail off; "
                    "default: the view's own, by renderer)")  # fmt: skip
    sc.set_defaults(func=_cmd_bench)

    gui = sub.add_parser("gui", help="open napari with the plugin docked")
    gui.add_argument("images", nargs="*", help="images or a folder (default: sample data)")
    gui.add_argument("--edge-weights", metavar="PATH", help="HED weights for the gradient")
    gui.add_argument("--weights", metavar="PATH", help="local backbone weights")
    gui.add_argument("--bands", type=_bands, metavar="R,G,B",
                     help="channels of multi-band images to use as red, green, blue (or one, grey)")  # fmt: skip
    gui.add_argument("--tile", type=_positive, metavar="PX",
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
