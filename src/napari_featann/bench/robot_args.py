"""Command-line options of the simulated-annotator benchmark."""

from __future__ import annotations


def add_robot_args(p) -> None:
    """Add the robot benchmark's options to an argparse parser."""
    g = p.add_argument_group("simulated annotator")
    g.add_argument(
        "--budget", type=float, default=4.0, help="modelled effort budget, seconds per image"
    )
    g.add_argument(
        "--purity",
        type=float,
        default=0.9,
        help="a selection is accepted when this fraction shares its class",
    )
    g.add_argument(
        "--metric-every", type=int, default=10, help="metric learning after every k selections"
    )
    g.add_argument("--no-metric-learning", action="store_true")
    g.add_argument("--no-corrections", action="store_true")
    g.add_argument("--no-lasso", action="store_true", help="boxes only (as in the paper)")
    g.add_argument(
        "--grid", type=int, default=48, help="cells per axis of the box/lasso search grid"
    )
    g.add_argument("--max-clicks", type=int, default=4, help="clicks at most per corrected segment")
    g.add_argument(
        "--min-part",
        type=int,
        default=16,
        help="pixels: smaller wrong parts of a segment are not worth a click",
    )
    g.add_argument(
        "--wrong-weight",
        type=float,
        default=0.0,
        help="a selection maximises (segments of its class) - W x (other segments); 0: the "
        "most segments of one class within the purity",
    )
    g.add_argument(
        "--objective",
        choices=["segments", "iou"],
        default="segments",
        help="what a selection maximises within the purity: 'segments' of its class (as the "
        "issue states it), or 'iou': pixels made right minus pixels made wrong, each weighted "
        "by 1 / (scored pixels of its image), which approximates the per-image IoU gain",
    )
    g.add_argument(
        "--foreground-only",
        action="store_true",
        help="binary masks: select only the foreground, counting on unlabelled pixels being "
        "exported as background",
    )
    g.add_argument(
        "--session-cache",
        metavar="PATH.featann",
        help="reuse the partition and features saved in this session file (written when "
        "absent or made from other images or parameters)",
    )
    g.add_argument("--plot", metavar="PNG", help="write IoU against effort to this PNG")
