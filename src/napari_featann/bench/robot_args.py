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
    g.add_argument("--plot", metavar="PNG", help="write IoU against effort to this PNG")
