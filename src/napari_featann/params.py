"""Parameters and small records of a session: classes, features, projection.

Plain dataclasses with no heavy import, re-exported by :mod:`napari_featann.session`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PALETTE", "ClassInfo", "FeatureParams", "ProjectionParams"]

PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000",
)  # fmt: skip


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
    segment, :mod:`napari_featann.ml.context`) to its crop feature.
    """

    backbone: str = "efficientnet_lite0"
    weights: str | None = None
    device: str | None = None
    batch_size: int = 32
    margin: int = 10
    context: bool = True


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
