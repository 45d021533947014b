"""Parameters and small records of a session: classes, features, projection.

Plain dataclasses with no heavy import, re-exported by :mod:`napari_featann.session`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

__all__ = [
    "CONTEXT_WEIGHTS",
    "PALETTE",
    "ClassInfo",
    "FeatureParams",
    "ProjectionParams",
    "hex_color",
]

#: Largest ``FeatureParams.context_scale``: the whole-image pass of a 1024-pixel image
#: at 4x already sees 4096 x 4096 pixels.
MAX_CONTEXT_SCALE = 4

#: ``FeatureParams.context_weight``: how a segment's context blocks are weighted by its
#: size (:func:`napari_featann.ml.context.pool_in_segments`). "level": each block by its
#: own map, full from 2 of its cells; "finest": all blocks by the finest map pooled, full
#: from 4 of its cells (the rule of sessions saved before the setting existed).
CONTEXT_WEIGHT_CELLS = {"level": 2.0, "finest": 4.0}  # map cells for a block's full weight
CONTEXT_WEIGHTS = tuple(CONTEXT_WEIGHT_CELLS)

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000",
)  # fmt: skip


def hex_color(color, default: str | None = None) -> str:
    """A class colour as ``#rrggbb`` (lower case), from any colour a user may give.

    Parameters
    ----------
    color : str or sequence of numbers or None
        A CSS colour name (``"red"``, ``"tomato"``), hex (``"#0f0"``,
        ``"#00FF00"``; an alpha digit pair is dropped: classes are drawn opaque),
        ``"rgb(255, 0, 0)"``, or 3 (or 4) numbers: all in [0, 1] (fractions,
        as napari takes them), else whole numbers in 0..255.
    default : str, optional
        Returned (normalised) for None or blank text.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Not a colour.

    Examples
    --------
    >>> hex_color("#0F0"), hex_color("red"), hex_color((0, 0.5, 1))
    ('#00ff00', '#ff0000', '#0080ff')
    """
    if color is None or (isinstance(color, str) and not color.strip()):
        if default is None:
            raise ValueError("no colour given")
        color = default
    if isinstance(color, str):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(color.strip())[:3]
        except ValueError:
            raise ValueError(f"not a colour: {color!r}; give a name such as 'red', or "
                             "'#rrggbb', '#rgb' or (r, g, b)") from None  # fmt: skip
    else:
        try:
            values = list(color)
        except TypeError:
            values = []
        real = [isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values]
        if len(values) not in (3, 4) or not all(real):
            raise ValueError(f"not a colour: {color!r}; give 3 numbers (r, g, b) or a name")
        values = values[:3]
        if all(0 <= v <= 1 for v in values):
            rgb = [round(float(v) * 255) for v in values]
        elif all(isinstance(v, numbers.Integral) and 0 <= v <= 255 for v in values):
            rgb = [int(v) for v in values]
        else:
            raise ValueError(f"not a colour: {color!r}; give numbers all in [0, 1], or whole "
                             "numbers from 0 to 255")  # fmt: skip
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


@dataclass
class ClassInfo:
    """A class: id (1..255), name and colour (``#rrggbb``)."""

    id: int
    name: str
    color: str


@dataclass
class FeatureParams:
    """CNN feature parameters.

    ``weights`` is a local weights file; None means timm's hub
    (``pretrained=True``), which needs internet. ``context`` appends each
    segment's context descriptor (whole-image feature maps pooled in the
    segment, :mod:`napari_featann.ml.context`) to its crop feature: the
    ``context_levels`` deepest feature levels of the backbone (at most as many
    as it has), from a pass over the image resized by ``context_scale`` (in
    (0, 4], after the cap of 1024 pixels on the long side), each block weighted
    down for small segments by the rule ``context_weight`` names (one of
    :data:`CONTEXT_WEIGHTS`). The defaults, four levels at 1.5 with the
    per-level weight, gave 87.8 % / 97.9 % 10-NN foreground / background
    agreement on the DAVIS dev set, and 92.4 % / 92.9 % on the DSB2018 nuclei
    image, against 84.8 % / 95.9 % and 93.7 % / 89.5 % for two levels at 1 with
    the finest-map weight (the setting of session files written before these
    fields existed, which keep it when loaded; :mod:`napari_featann.ml.context`).
    """

    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    device: str | None = None
    batch_size: int = 32
    margin: int = 10
    context: bool = True
    context_levels: int = 4
    context_scale: float = 1.5
    context_weight: str = "level"

    def validate(self) -> FeatureParams:
        """Check the types and ranges (not that the backbone or weights exist); raise
        ValueError with a clear message. Returns self."""
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ValueError(f"backbone must be a timm model name, got {self.backbone!r}")
        for key in ("weights", "device"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be text or None, got {value!r}")
        _check_whole(self.batch_size, "batch_size", 1)
        _check_whole(self.margin, "margin", 0)
        if not isinstance(self.context, bool):
            raise ValueError(f"context must be true or false, got {self.context!r}")
        _check_whole(self.context_levels, "context_levels", 1)
        scale = self.context_scale
        real = isinstance(scale, numbers.Real) and not isinstance(scale, bool)
        if not real or not 0 < scale <= MAX_CONTEXT_SCALE:  # NaN fails too
            raise ValueError(f"context_scale must be a number in (0, {MAX_CONTEXT_SCALE}], "
                             f"got {scale!r}")  # fmt: skip
        if not isinstance(self.context_weight, str) or self.context_weight not in CONTEXT_WEIGHTS:
            raise ValueError(f"context_weight must be one of {', '.join(CONTEXT_WEIGHTS)}, "
                             f"got {self.context_weight!r}")  # fmt: skip
        return self


@dataclass
class ProjectionParams:
    """UMAP parameters.

    ``target_weight`` and ``pca_dim`` follow the reference code; ``n_neighbors``
    (30, the reference code's 15) and ``min_dist`` (0.1, there 0.01) are the
    values that gave the simulated annotator 1.8 IoU points more on the DAVIS dev
    set (mean of five seeds, docs/benchmarks.md section 5).
    """

    n_neighbors: int = 30
    min_dist: float = 0.1
    target_weight: float = 0.5
    pca_dim: int = 64
    seed: int = 0

    def validate(self) -> ProjectionParams:
        """Check the values as UMAP needs them; raise ValueError with a clear message.
        Returns self."""
        _check_whole(self.n_neighbors, "n_neighbors", 2)
        for key in ("min_dist", "target_weight"):
            value = getattr(self, key)
            real = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not real or not 0 <= value <= 1:  # NaN fails too
                raise ValueError(f"{key} must be a number in [0, 1], got {value!r}")
        if self.pca_dim is not None:
            _check_whole(self.pca_dim, "pca_dim", 1)
        _check_whole(self.seed, "seed", 0)
        if self.seed >= 2**32:
            raise ValueError(f"seed must be below 2**32, got {self.seed}")
        return self


def _check_whole(value, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
