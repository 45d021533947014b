"""Plots of the benchmarks (matplotlib, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["PAPER_DAVIS", "check_plot_file", "plot_curves", "plot_robot", "require_matplotlib"]

# Reference points on DAVIS from the paper (mean IoU, seconds per image).
PAPER_DAVIS = {"paper (feature space annotation)": (8.74, 84.53),
               "f-BRS, 5 clicks": (6.0, 82.44), "f-BRS, 3 clicks": (4.2, 79.87)}  # fmt: skip


def require_matplotlib() -> None:
    """Raise ValueError when matplotlib, which is not a dependency, cannot be imported.

    Called before a benchmark starts, so that ``--plot`` fails at once rather
    than after the whole run.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(
            "--plot needs matplotlib, which napari-featann does not install: "
            "pip install matplotlib (or napari-featann[all])"
        ) from None


def check_plot_file(path, option: str = "--plot"):
    """Refuse (ValueError naming ``option``), before a benchmark's work, a plot file that
    could not be written after it.

    matplotlib must be importable, the name must end in a format it writes (``.png``,
    ``.pdf``, ``.svg``...: without one it would add ``.png`` to the name, and an unknown
    one fails only when the plot is drawn), and the file must be writable
    (:func:`~.common.check_output_file`).

    Returns
    -------
    Path
        ``path``.
    """
    from .common import check_output_file

    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        said = f"'.{suffix}' is no image format matplotlib writes" if suffix else "no extension"
        raise ValueError(f"{option} {path}: {said}; give a name ending in .png (or "
                         f"{', '.join('.' + f for f in formats if f != 'png')})")  # fmt: skip
    return check_output_file(option, path)


def plot_curves(curves: dict, path, oracle: float | None = None, title: str = "",
                references: dict | None = None) -> None:  # fmt: skip
    """Write a PNG of mean IoU against modelled effort per image.

    Parameters
    ----------
    curves : dict of str to list of [effort, iou]
        One line per run.
    path : str or Path
    oracle : float, optional
        Drawn as a dashed line (the partition's upper bound without corrections).
    references : dict of str to (seconds, iou), optional
        Points from the literature; default the paper's DAVIS figures.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = PAPER_DAVIS if references is None else references
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for label, curve in curves.items():
        xy = np.asarray(curve, float).reshape(-1, 2)
        ax.step(xy[:, 0], xy[:, 1], where="post", label=label)
    if oracle is not None:
        ax.axhline(oracle, ls="--", c="grey", lw=1, label=f"oracle labelling ({oracle:.1f})")
    for (name, (sec, iou)), marker in zip(refs.items(), "o^vsD"):
        ax.plot([sec], [iou], marker, ls="none", label=f"{name}: {iou:g} @ {sec:g} s")
    ax.set_xlabel("modelled effort per image (s)")
    ax.set_ylabel("mean IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_robot(result: dict, images, path) -> None:
    """Write the IoU-against-effort curve of a ``featann bench robot`` result to ``path``.

    Raises
    ------
    ValueError
        The PNG cannot be written (naming ``--plot`` and the path).
    """
    opts = result["robot"]
    label = "robot" + ("" if opts["metric_learning"] else ", no metric learning")
    label += "" if opts["corrections"] else ", no corrections"
    davis = "davis" in str(images).lower()  # the paper's figures are for DAVIS
    try:
        plot_curves({label: result["curve"]}, path, oracle=result["oracle_iou"],
                    title=f"{result['n_images']} images, {opts['budget']:g} s/image budget",
                    references=None if davis else {})  # fmt: skip
    except OSError as exc:
        raise ValueError(f"--plot {path}: {exc}") from None
