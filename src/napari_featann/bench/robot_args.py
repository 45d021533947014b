"""Command-line options of the simulated-annotator benchmark, the options object, and
the cost model (seconds of human effort; see :mod:`napari_featann.bench.robot`)."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

COST_SELECTION = 3.0  # a box or a lasso
COST_FIRST_CLICK = 2.4  # the first click on a segment
COST_CLICK = 0.9  # each further click on it
COST_TRIGGER = 1.0  # starting metric learning (its machine time is added)


def add_robot_args(p) -> None:
    """Add the robot benchmark's options to an argparse parser (defaults: :class:`RobotOptions`)."""
    d = RobotOptions()
    g = p.add_argument_group("simulated annotator")
    g.add_argument(
        "--budget", type=float, default=d.budget, help="modelled effort budget, seconds per image"
    )
    g.add_argument(
        "--purity",
        type=float,
        default=d.purity,
        help="a selection is accepted when this fraction shares its class",
    )
    g.add_argument(
        "--metric-every",
        type=int,
        default=d.metric_every,
        help="metric learning after every k selections",
    )
    g.add_argument("--no-metric-learning", action="store_true")
    g.add_argument("--no-corrections", action="store_true")
    g.add_argument("--no-lasso", action="store_true", help="boxes only (as in the paper)")
    g.add_argument(
        "--no-relabel-selections",
        action="store_true",
        help="with --foreground-only: never box labelled points back to the background",
    )
    g.add_argument(
        "--no-specks",
        action="store_true",
        help="with --foreground-only: never press Remove specks (clear small foreground islands)",
    )
    g.add_argument(
        "--speck-fraction",
        type=float,
        default=d.speck_fraction,
        help="Remove specks clears parts smaller than this fraction of the image's largest",
    )
    g.add_argument(
        "--grid", type=int, default=d.grid, help="cells per axis of the box/lasso search grid"
    )
    g.add_argument(
        "--max-clicks", type=int, default=d.max_clicks, help="clicks at most per corrected segment"
    )
    g.add_argument(
        "--min-part",
        type=int,
        default=d.min_part,
        help="pixels: smaller wrong parts of a segment are not worth a click",
    )
    g.add_argument(
        "--wrong-weight",
        type=float,
        default=d.wrong_weight,
        help="a selection maximises (segments of its class) - W x (other segments); 0: the "
        "most segments of one class within the purity",
    )
    g.add_argument(
        "--objective",
        choices=["segments", "iou"],
        default=d.objective,
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
    u = p.add_argument_group("projection (UMAP)")
    u.add_argument("--n-neighbors", type=int, default=None,
                   help="UMAP neighbours (default: the session's, 30)")  # fmt: skip
    u.add_argument("--min-dist", type=float, default=None,
                   help="UMAP min_dist (default: the session's, 0.1)")  # fmt: skip


def warn_budget(budget: float, n_images: int) -> None:
    """Warn on stderr when the whole budget pays for no box or lasso."""
    if budget * n_images < COST_SELECTION:
        print(f"featann: warning: --budget {budget:g} s per image gives {budget * n_images:g} s "
              f"for {n_images} image(s), less than one box or lasso ({COST_SELECTION:g} s): "
              "the robot can label next to nothing", file=sys.stderr)  # fmt: skip


@dataclass
class RobotOptions:
    """Options of the simulated annotator (see :mod:`napari_featann.bench.robot`)."""

    budget: float = 4.0
    purity: float = 0.9
    metric_every: int = 5
    metric_learning: bool = True
    corrections: bool = True
    relabel_selections: bool = True
    specks: bool = True
    speck_fraction: float = 0.2
    lasso: bool = True
    grid: int = 48
    max_clicks: int = 4
    min_part: int = 16
    foreground_only: bool = False
    wrong_weight: float = 0.0
    objective: str = "segments"
    seed: int = 0
    n_neighbors: int | None = None
    min_dist: float | None = None

    @classmethod
    def from_args(cls, args) -> RobotOptions:
        """Options from parsed ``featann bench robot`` arguments (missing ones: defaults)."""
        d = cls()
        opts = cls(
            budget=float(getattr(args, "budget", d.budget)),
            purity=float(getattr(args, "purity", d.purity)),
            metric_every=int(getattr(args, "metric_every", d.metric_every)),
            metric_learning=not getattr(args, "no_metric_learning", False),
            corrections=not getattr(args, "no_corrections", False),
            relabel_selections=not getattr(args, "no_relabel_selections", False),
            specks=not getattr(args, "no_specks", False),
            speck_fraction=float(getattr(args, "speck_fraction", d.speck_fraction)),
            lasso=not getattr(args, "no_lasso", False),
            grid=int(getattr(args, "grid", d.grid)),
            max_clicks=int(getattr(args, "max_clicks", d.max_clicks)),
            min_part=int(getattr(args, "min_part", d.min_part)),
            foreground_only=bool(getattr(args, "foreground_only", False)),
            wrong_weight=float(getattr(args, "wrong_weight", d.wrong_weight)),
            objective=str(getattr(args, "objective", d.objective)),
            seed=int(getattr(args, "seed", d.seed) or 0),
            n_neighbors=getattr(args, "n_neighbors", None),
            min_dist=getattr(args, "min_dist", None),
        )
        numbers = ("budget", "purity", "speck_fraction", "wrong_weight", "min_dist")
        bad = [n for n in numbers if not math.isfinite(getattr(opts, n) or 0.0)]
        if bad:
            raise ValueError(f"--{bad[0].replace('_', '-')} must be a finite number")
        if opts.objective not in ("segments", "iou"):
            raise ValueError("--objective must be 'segments' or 'iou'")
        rules = [  # (option, value, whether it is good, what it must be)
            ("--budget", opts.budget, opts.budget > 0, "above 0 (seconds per image)"),
            ("--purity", opts.purity, 0 < opts.purity <= 1, "in (0, 1]"),
            ("--metric-every", opts.metric_every, opts.metric_every >= 1, "1 or more"),
            ("--grid", opts.grid, opts.grid >= 2, "2 or more"),
            ("--max-clicks", opts.max_clicks, opts.max_clicks >= 2, "2 or more"),
            ("--min-part", opts.min_part, opts.min_part >= 0, "0 or more"),
            ("--wrong-weight", opts.wrong_weight, opts.wrong_weight >= 0, "0 or more"),
            ("--speck-fraction", opts.speck_fraction, 0 <= opts.speck_fraction <= 1, "in [0, 1]"),
            ("--n-neighbors", opts.n_neighbors,
             opts.n_neighbors is None or opts.n_neighbors >= 2, "2 or more"),
            ("--min-dist", opts.min_dist,
             opts.min_dist is None or 0 <= opts.min_dist <= 1, "in [0, 1]"),
        ]  # fmt: skip
        bad = [f"{option} must be {want}, got {value:g}" for option, value, good, want in rules
               if not good]  # fmt: skip
        if bad:  # each wrong option named with its value, not a list of every rule
            raise ValueError("; ".join(bad))
        return opts
