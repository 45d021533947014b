"""Candidate segments from a higra watershed hierarchy.

The hierarchy is built once per gradient; cuts (by threshold or by number
of regions) and changes of the weak-contour filter reuse it, so a re-cut
never recomputes the gradient.

Following the method's reference code, the hierarchy is built on the
region adjacency graph of a first watershed of the 4-adjacency pixel
graph (edge weight = mean gradient of the two pixels). Regions carry their
pixel area, so area and volume are measured in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from .gradient import GRADIENT_METHODS

__all__ = [
    "CRITERIA",
    "Hierarchy",
    "PartitionParams",
    "build_hierarchy",
    "cut_hierarchy",
    "partition_image",
]

CRITERIA = ("area", "volume", "dynamics")


def _float(value, name: str) -> float:
    """``value`` as a float; ValueError naming ``name`` for what is no number.

    Text is refused although ``float("50")`` reads it, and so are booleans: they
    passed the checks and failed later (``"50" > 0``), or cut to 1 region.
    """
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _number(value, name: str) -> float:
    """``value`` as a finite float; ValueError naming ``name`` for text, NaN or infinity."""
    x = _float(value, name)
    if not np.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return x


@dataclass
class PartitionParams:
    """Parameters of a partition, shared by the CLI, the session and the widgets.

    Attributes
    ----------
    gradient : {"classic", "hed"}
        The edge map.
    edge_weights : str or None
        HED weights file (needed for ``gradient="hed"``).
    scales : tuple of float
        Scales whose edge maps are averaged (``(1.0,)``: single scale).
    criterion : {"area", "volume", "dynamics"}
        The watershed hierarchy's attribute.
    threshold : float or None
        Horizontal cut at this criterion value: pixels for area, pixels x
        gradient for volume, gradient x 1000 for dynamics (the reference
        code's convention, so one slider range fits all three).
    regions : int or None
        Cut to about this many regions per image instead; used when
        ``threshold`` is None.
    frontier : float
        Weak-contour filter: contours whose mean gradient is below this
        value are removed before cutting (0 disables it).
    """

    gradient: str = "classic"
    edge_weights: str | None = None
    scales: tuple = (1.0,)
    criterion: str = "volume"
    threshold: float | None = None
    regions: int | None = 100
    frontier: float = 0.0
    extra: dict = field(default_factory=dict)

    def validate(self) -> PartitionParams:
        """Check values; raise ValueError with a clear message. Returns self.

        Numbers must be finite: a NaN threshold cut nothing and an infinite one
        gave one segment per image without a word (a threshold above the
        hierarchy's top, any large number, does that on purpose).
        """
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {self.criterion!r}; choose one of {CRITERIA}")
        if self.gradient not in GRADIENT_METHODS:
            raise ValueError(f"unknown gradient {self.gradient!r}; choose one of "
                             f"{GRADIENT_METHODS}")  # fmt: skip
        if self.threshold is None and self.regions is None:
            raise ValueError("give a threshold or a number of regions")
        if self.threshold is not None:
            if np.isposinf(_float(self.threshold, "threshold")):
                raise ValueError("threshold must be a finite number, got inf; a threshold at "
                                 "or above the hierarchy's top (any large number) gives one "
                                 "segment per image")  # fmt: skip
            if not _number(self.threshold, "threshold") >= 0:
                raise ValueError(f"threshold must be >= 0, got {self.threshold}")
        if self.regions is not None:
            r = _number(self.regions, "regions")
            if r != int(r) or r < 1:
                raise ValueError(f"regions must be >= 1 (a whole number), got {self.regions}")
        f = _number(self.frontier, "frontier")
        if not 0.0 <= f < 1.0:
            raise ValueError(f"frontier must be in [0, 1), got {self.frontier}")
        try:
            scales = [_float(s, "scales") for s in self.scales]
        except (TypeError, ValueError):
            raise ValueError(f"scales must be numbers, got {self.scales!r}") from None
        if not all(np.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"scales must be finite numbers > 0, got {tuple(self.scales)}")
        if self.gradient == "hed" and not self.edge_weights:
            raise ValueError("the HED gradient needs an edge weights file")
        return self

    def gradient_key(self) -> tuple:
        """What determines the gradient (a re-cut that keeps it reuses the map)."""
        return (
            self.gradient,
            self.edge_weights if self.gradient == "hed" else None,
            tuple(float(s) for s in self.scales),
        )

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return {
            "gradient": self.gradient,
            "edge_weights": self.edge_weights,
            "scales": [float(s) for s in self.scales],
            "criterion": self.criterion,
            "threshold": self.threshold,
            "regions": self.regions,
            "frontier": float(self.frontier),
        }

    @classmethod
    def from_dict(cls, d: dict) -> PartitionParams:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["scales"] = tuple(d.get("scales", (1.0,)))
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "extra"}
        return cls(**known)


@dataclass
class Hierarchy:
    """A watershed hierarchy of one image, ready to be cut many times.

    Attributes
    ----------
    shape : tuple of int
        Image height and width.
    basins : ndarray, shape (H, W), int32
        The first watershed's regions (0-based): leaves 0..n-1 of the tree
        (leaves n..2n-1 are their pendant minima, see :func:`build_hierarchy`).
    tree, altitudes
        The higra tree over the basins and its node altitudes.
    criterion : str
    frontier : float
    """

    shape: tuple
    basins: np.ndarray
    tree: object
    altitudes: np.ndarray
    criterion: str
    frontier: float
    _explorer: object = None

    @property
    def n_leaves(self) -> int:
        """Number of basins of the first watershed."""
        return int(self.tree.num_leaves()) // 2

    def explorer(self):
        """A cached :class:`higra.HorizontalCutExplorer`."""
        if self._explorer is None:
            import higra as hg

            self._explorer = hg.HorizontalCutExplorer(self.tree, self.altitudes)
        return self._explorer


@lru_cache(maxsize=8)
def _pixel_graph(shape: tuple[int, int]):
    """4-adjacency graph of an image shape (cached: building it costs ~0.1 s per frame)."""
    import higra as hg

    return hg.get_4_adjacency_graph(shape)


def build_hierarchy(
    gradient: np.ndarray, criterion: str = "volume", frontier: float = 0.0
) -> Hierarchy:
    """Watershed hierarchy of a gradient map.

    Parameters
    ----------
    gradient : ndarray, shape (H, W), float in [0, 1]
    criterion : {"area", "volume", "dynamics"}
    frontier : float
        Weak-contour filter threshold in gradient units (0 disables).

    Returns
    -------
    Hierarchy
    """
    import higra as hg

    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {CRITERIA}")
    gradient = np.asarray(gradient, dtype=np.float32)
    if gradient.ndim != 2:
        raise ValueError(f"expected a 2-D gradient, got shape {gradient.shape}")
    shape = gradient.shape
    graph = _pixel_graph(tuple(int(x) for x in shape))
    weights = hg.weight_graph(graph, gradient, hg.WeightFunction.mean)
    basins = hg.labelisation_watershed(graph, weights)  # 1-based
    rag = hg.make_region_adjacency_graph_from_labelisation(graph, basins)
    n = rag.num_vertices()
    # Each basin v gets a pendant vertex n+v, joined by an edge at the basin's lowest
    # gradient: that edge is a minimum of the graph, so basins behave as the minima of
    # the pixel graph (their depth counts for volume and dynamics) at ~1/20 of the cost.
    basin_min = ndi.minimum(gradient, basins, np.arange(1, n + 1)).astype(np.float64) - 1e-7
    src, dst = rag.edge_list()
    aug = hg.UndirectedGraph(2 * n)
    aug.add_edges(np.concatenate([src, np.arange(n)]), np.concatenate([dst, np.arange(n, 2 * n)]))
    passes = hg.rag_accumulate_on_edges(rag, hg.Accumulators.min, weights)
    aug_weights = np.concatenate([passes, basin_min])
    area = np.concatenate([np.bincount(basins.ravel() - 1, minlength=n), np.zeros(n)])
    if criterion == "area":
        tree, alt = hg.watershed_hierarchy_by_area(aug, aug_weights, vertex_area=area)
    elif criterion == "volume":
        tree, alt = hg.watershed_hierarchy_by_volume(aug, aug_weights, vertex_area=area)
    else:
        tree, alt = hg.watershed_hierarchy_by_dynamics(aug, aug_weights)
    if frontier > 0:
        mean_w = hg.rag_accumulate_on_edges(rag, hg.Accumulators.mean, weights)
        filt_weights = np.concatenate([mean_w, np.zeros(n)])
        tree, alt = hg.filter_weak_frontier_nodes_from_tree(
            tree, alt, edge_weights=filt_weights, strength_threshold=float(frontier)
        )
    leaf_of_pixel = np.asarray(rag.vertex_map, dtype=np.int32).reshape(shape)
    return Hierarchy(shape, leaf_of_pixel, tree, np.asarray(alt), criterion, float(frontier))


def _altitude_of(threshold: float, criterion: str) -> float:
    return threshold / 1000.0 if criterion == "dynamics" else float(threshold)


def cut_hierarchy(
    hierarchy: Hierarchy, threshold: float | None = None, regions: int | None = None
) -> np.ndarray:
    """Horizontal cut of a hierarchy, as a label image.

    Parameters
    ----------
    hierarchy : Hierarchy
    threshold : float, optional
        Criterion value of the cut (see :class:`PartitionParams`).
    regions : int, optional
        Cut to the smallest partition with at least this many regions
        (capped at the number of basins). Used when ``threshold`` is None.

    Returns
    -------
    ndarray, shape (H, W), int32
        Labels 1..k, consecutive.
    """
    import higra as hg

    if threshold is None and regions is None:
        raise ValueError("give a threshold or a number of regions")
    explorer = hierarchy.explorer()
    if threshold is not None:
        cut = explorer.horizontal_cut_from_altitude(_altitude_of(threshold, hierarchy.criterion))
    else:
        n = int(min(max(1, regions), hierarchy.n_leaves))
        cut = explorer.horizontal_cut_from_num_regions(n)
    nodes = np.asarray(cut.nodes())
    lut = np.zeros(hierarchy.tree.num_vertices(), np.int32)
    lut[nodes] = np.arange(1, nodes.size + 1, dtype=np.int32)
    # each node takes the label of the cut node above it (on the basin tree, not on pixels)
    marked = lut > 0
    node_labels = hg.propagate_sequential(hierarchy.tree, lut, ~marked)
    leaf_labels = np.asarray(node_labels[: hierarchy.n_leaves], dtype=np.int32)
    return leaf_labels[hierarchy.basins]


def partition_image(gradient: np.ndarray, params: PartitionParams) -> np.ndarray:
    """Build the hierarchy of ``gradient`` and cut it with ``params`` (labels 1..k)."""
    params.validate()
    h = build_hierarchy(gradient, params.criterion, params.frontier)
    return cut_hierarchy(h, params.threshold, params.regions)
