"""What the simulated annotator sees, and where it draws its box or lasso in the scatter.

The robot sees the scatter of the *unlabelled* segments (a person ticks
"hide labelled") and, like a person looking at the thumbnails, knows which
class each point shows. One selection should label as many segments of one
class as possible while staying pure enough.

Box search
----------
The visible points are binned on a ``G x G`` grid (``G = 48`` by default)
spanning their bounding box, with one count per class and cell. A 2-D prefix
sum per class gives the class counts of any rectangle of cells in O(1), and
all ``(G(G+1)/2)^2`` rectangles (1.4 M for G = 48) are scored at once with
numpy: a rectangle is feasible when its majority class holds at least
``purity`` of its points; the best one holds the most points of its majority
class (ties: fewer points in all). The grid is tried twice, the second time
shifted by half a cell, and the box finally drawn is the tight bounding box
of the chosen points, so it selects exactly them. When no rectangle is
feasible (every occupied cell is mixed) the box shrinks to a single point.

Lasso
-----
Cells whose points are at least ``purity`` of one class (and, when gains
are given, cells where giving that class gains) form, per class, 8-connected
components (a grid DBSCAN). For each of the largest components two lassos
are tried: the convex hull of its points, and its outline traced along the
cell edges (what a person draws around an irregular cluster). A candidate
is kept when the points inside it (outside points included) are still pure
enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.selection import points_in_polygon
from .common import gt_classes, iou_score, is_binary

__all__ = ["GroundTruth", "Selection", "best_box", "best_lasso", "best_selection", "multiclass_iou",
           "seeded_clicks"]  # fmt: skip


@dataclass
class Selection:
    """A box or lasso drawn in the scatter, with what it captures.

    Attributes
    ----------
    kind : {"box", "lasso"}
    class_index : int
        Majority class of the captured points (the class it will assign).
    members : ndarray of int
        Indices (into the points searched) of the captured points.
    n_majority : int
        How many members are of ``class_index``.
    vertices : ndarray, shape (m, 2)
        For a box, its two corners ``[lo, hi]``; for a lasso, the polygon.
    """

    kind: str
    class_index: int
    members: np.ndarray
    n_majority: int
    vertices: np.ndarray

    @property
    def purity(self) -> float:
        """Fraction of the members in the majority class."""
        return self.n_majority / max(len(self.members), 1)


def _lattice(xy: np.ndarray, grid: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin and cell size (x, y) of a ``grid x grid`` lattice over the points' extent,
    shifted by ``shift`` cells."""
    lo, hi = xy.min(0), xy.max(0)
    width = np.maximum(hi - lo, 1e-9) / (grid - 1 if shift else grid)
    return lo - shift * width, width


def _grid(xy: np.ndarray, grid: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell (row, col) of every point on the :func:`_lattice` of the points."""
    start, width = _lattice(xy, grid, shift)
    cell = np.floor((xy - start) / width).astype(np.int64)
    cell = np.clip(cell, 0, grid - 1)
    return cell[:, 1], cell[:, 0]  # rows follow y, columns x


def _class_counts(rows, cols, cls, n_classes: int, grid: int) -> np.ndarray:
    flat = (cls * grid + rows) * grid + cols
    return np.bincount(flat, minlength=n_classes * grid * grid).reshape(n_classes, grid, grid)


def _rectangle_search(counts: np.ndarray, purity: float, classes=None, wrong_weight: float = 0.0,
                      gain_grid: np.ndarray | None = None, chunk: int = 128):  # fmt: skip
    """Best feasible cell rectangle: ``(value, n_class, n_total, class, r0, r1, c0, c1)`` or None.

    Rectangles are half-open in cell units: rows ``r0 <= r < r1``. A rectangle
    may take class ``c`` (one of ``classes``, default all) when at least
    ``purity`` of its points are of class ``c``. Its value is
    ``n_c - wrong_weight * (n_total - n_c)``, or, with ``gain_grid`` (per class
    and cell, the summed gain of giving that class to the cell's points), the
    summed gain.
    """
    n_classes, grid, _ = counts.shape
    prefix = np.zeros((n_classes, grid + 1, grid + 1), np.int32)
    prefix[:, 1:, 1:] = counts.cumsum(1).cumsum(2)
    if gain_grid is not None:
        gprefix = np.zeros((n_classes, grid + 1, grid + 1), np.float64)
        gprefix[:, 1:, 1:] = gain_grid.cumsum(1).cumsum(2)
    r_start, r_end = np.triu_indices(grid + 1, 1)  # all (start, end) pairs of rows
    p = int(np.ceil(purity * 10000 - 1e-6))
    allowed = range(n_classes) if classes is None else classes
    present = [c for c in allowed if prefix[c, -1, -1] > 0]
    everything = prefix.sum(0)
    best = None
    if not present:
        return None
    for s in range(0, r_start.size, chunk):
        ra, rb = r_start[s : s + chunk], r_end[s : s + chunk]
        strip = everything[rb, :] - everything[ra, :]
        total = (strip[:, None, :] - strip[:, :, None]).astype(np.int64)
        for c in present:
            strip = prefix[c, rb, :] - prefix[c, ra, :]  # (nr, G+1): counts left of each column
            # rect[k, c0, c1]: class-c count in rows ra..rb, columns c0..c1 (<= 0 when c1 <= c0)
            rect = (strip[:, None, :] - strip[:, :, None]).astype(np.int64)
            pure = (rect > 0) & (rect * 10000 >= p * total)  # purity in integers
            if gain_grid is not None:
                g = gprefix[c, rb, :] - gprefix[c, ra, :]
                value = g[:, None, :] - g[:, :, None]
            else:
                value = rect - wrong_weight * (total - rect)
            score = np.where(pure, value, -np.inf)
            top = float(score.max())
            if top == -np.inf:
                continue
            ties = np.flatnonzero(score == top)
            k = int(ties[total.flat[ties].argmin()])  # among ties, the fewest points
            i, c0, c1 = np.unravel_index(k, score.shape)
            cand = (top, int(rect[i, c0, c1]), int(total[i, c0, c1]), int(c),
                    int(ra[i]), int(rb[i]), int(c0), int(c1))  # fmt: skip
            if best is None or (cand[0], -cand[2]) > (best[0], -best[2]):
                best = cand
    return best


def best_box(xy, cls, purity: float, grid: int = 48, n_classes: int | None = None,
             classes=None, wrong_weight: float = 0.0, gains=None):  # fmt: skip
    """The box capturing the most points of one class with at least ``purity`` of them.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Positions of the visible (unlabelled) points.
    cls : ndarray of int, shape (n,)
        Class index (>= 0) of each point.
    purity : float in (0, 1]
        Minimum fraction of the captured points in the box's class.
    grid : int
        Cells per axis of the search grid.
    n_classes : int, optional
        Number of classes (default ``cls.max() + 1``).
    classes : sequence of int, optional
        The classes a box may assign (default all); e.g. only the foreground
        when unlabelled pixels count as background.
    wrong_weight : float
        The box maximises ``n_majority - wrong_weight * n_other`` (0: the
        most points of its class, as long as the purity holds; larger values
        make the robot more careful, like a person who would rather draw two
        clean boxes than fix wrong labels).
    gains : ndarray, shape (n, n_classes), optional
        The value of giving each class to each point; the box then maximises
        the summed gain of its points (within the purity) instead of a count.

    Returns
    -------
    Selection or None
        None when there is no point (of an allowed class).

    Examples
    --------
    >>> xy = np.array([[0, 0], [0.1, 0], [0, 0.1], [5, 5]], float)
    >>> sel = best_box(xy, np.array([0, 0, 0, 1]), purity=0.9)
    >>> sel.class_index, sorted(sel.members.tolist())
    (0, [0, 1, 2])
    """
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    cls = np.asarray(cls, np.int64).reshape(-1)
    if len(xy) == 0:
        return None
    n_classes = _n_classes(cls, n_classes, classes)
    best, best_cells = None, None
    for shift in (0.0, 0.5):
        rows, cols = _grid(xy, grid, shift)
        counts = _class_counts(rows, cols, cls, n_classes, grid)
        gain_grid = None if gains is None else _gain_grid(rows, cols, gains, grid)
        found = _rectangle_search(counts, purity, classes, wrong_weight, gain_grid)
        if found is not None and (best is None or (found[0], -found[2]) > (best[0], -best[2])):
            best, best_cells = found, (rows, cols)
    if best is None:  # every occupied cell is mixed: one point alone is always pure
        members = np.flatnonzero(
            np.isin(cls, list(range(n_classes) if classes is None else classes))
        )[:1]
        if members.size == 0:
            return None
        c = int(cls[members[0]])
    else:
        _, _, _, c, r0, r1, c0, c1 = best
        rows, cols = best_cells
        members = np.flatnonzero((rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1))
    return _make("box", members, cls, c, np.stack([xy[members].min(0), xy[members].max(0)]))


def _gain_grid(rows, cols, gains: np.ndarray, grid: int) -> np.ndarray:
    """Per class and cell, the summed gain of giving that class to the cell's points."""
    gains = np.asarray(gains, np.float64)
    flat = rows * grid + cols
    out = np.zeros((gains.shape[1], grid * grid))
    for c in range(gains.shape[1]):
        out[c] = np.bincount(flat, weights=gains[:, c], minlength=grid * grid)
    return out.reshape(-1, grid, grid)


def _value(sel: Selection, wrong_weight: float, gains) -> float:
    """What a selection is worth: its gain, else its class count minus weighted others."""
    if gains is not None:
        return float(np.asarray(gains)[sel.members, sel.class_index].sum())
    return sel.n_majority - wrong_weight * (len(sel.members) - sel.n_majority)


def _n_classes(cls: np.ndarray, n_classes, classes) -> int:
    if n_classes is not None:
        return int(n_classes)
    return int(max(cls.max(), max(classes, default=0) if classes is not None else 0)) + 1


def _make(kind, members, cls, c: int, vertices) -> Selection:
    n_major = int(np.count_nonzero(cls[members] == c))
    return Selection(kind, int(c), members, n_major, np.asarray(vertices, np.float64))


def best_lasso(xy, cls, purity: float, grid: int = 48, n_classes: int | None = None,
               classes=None, wrong_weight: float = 0.0, components: int = 3,
               gains=None):  # fmt: skip
    """The best convex-hull lasso around a pure cluster, or None.

    Parameters are those of :func:`best_box`; ``components`` is how many of
    the largest pure components per class are tried.

    Returns
    -------
    Selection or None
        None when no candidate hull is pure enough.
    """
    from scipy import ndimage

    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    cls = np.asarray(cls, np.int64).reshape(-1)
    if len(xy) < 3:
        return None
    n_classes = _n_classes(cls, n_classes, classes)
    rows, cols = _grid(xy, grid, 0.0)
    counts = _class_counts(rows, cols, cls, n_classes, grid)
    total = counts.sum(0)
    gain_grid = None if gains is None else _gain_grid(rows, cols, gains, grid)
    extent = float(np.ptp(xy, axis=0).max()) or 1.0
    best = None
    for c in range(n_classes) if classes is None else classes:
        cell_sets = [(counts[c] > 0) & (counts[c] >= purity * total - 1e-9)]
        if gain_grid is not None:
            cell_sets.append(gain_grid[c] > 0)
        for cells in cell_sets:
            comp, n = ndimage.label(cells, structure=np.ones((3, 3), bool))
            if n == 0:
                continue
            sizes = np.bincount(comp.ravel(), weights=counts[c].ravel(), minlength=n + 1)
            sizes[0] = 0
            for label in np.argsort(sizes)[::-1][:components]:
                if sizes[label] < 3:
                    break
                inside = np.flatnonzero(comp[rows, cols] == label)
                polygons = [_hull(xy[inside], extent), _outline(comp == label, xy)]
                for v in polygons:
                    if v is None:
                        continue
                    sel = _make("lasso", points_in_polygon(xy, v), cls, c, v)
                    if sel.purity >= purity - 1e-9 and (
                        best is None
                        or (_value(sel, wrong_weight, gains), -len(sel.members))
                        > (_value(best, wrong_weight, gains), -len(best.members))
                    ):
                        best = sel
    return best


def _hull(points: np.ndarray, extent: float) -> np.ndarray | None:
    """Convex hull of ``points``, pushed out a hair so that its own vertices are inside."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        return None
    v = points[hull.vertices]
    direction = v - v.mean(0)
    norm = np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    return v + direction / norm * 1e-6 * extent


def _outline(cells: np.ndarray, xy: np.ndarray, up: int = 4) -> np.ndarray | None:
    """The outer outline of a set of grid cells (of :func:`_grid` over ``xy``), in data units.

    The cell mask is upsampled ``up`` times and traced by marching squares, so
    the outline runs along the cell edges (cutting a corner by a quarter cell).
    """
    from skimage.measure import find_contours

    mask = np.pad(cells, 1).repeat(up, 0).repeat(up, 1).astype(np.float64)
    contours = find_contours(mask, 0.5, fully_connected="high")
    if not contours:
        return None
    rc = max(contours, key=len)  # the outer boundary is the longest
    cell = (rc + 0.5) / up - 1.0  # (row, col) in cell units
    start, width = _lattice(xy, cells.shape[0], 0.0)
    v = start + cell[:, ::-1] * width  # (col, row) -> (x, y)
    return v if len(v) >= 3 else None


def best_selection(xy, cls, purity: float, grid: int = 48, n_classes: int | None = None,
                   lasso: bool = True, classes=None, wrong_weight: float = 0.0,
                   gains=None):  # fmt: skip
    """The better of :func:`best_box` and (when ``lasso``) :func:`best_lasso`.

    A lasso wins only when its value (see :func:`best_box`) is strictly higher.
    """
    box = best_box(xy, cls, purity, grid, n_classes, classes, wrong_weight, gains)
    if not lasso or box is None:
        return box
    las = best_lasso(xy, cls, purity, grid, n_classes, classes, wrong_weight, gains=gains)
    if las is None:
        return box
    better = _value(las, wrong_weight, gains) > _value(box, wrong_weight, gains)
    return las if better else box


def _largest_part(mask: np.ndarray) -> tuple[int, tuple[int, int] | None]:
    """Size of the largest 4-connected part of ``mask`` and its most interior pixel."""
    from scipy import ndimage

    comp, n = ndimage.label(mask)
    if n == 0:
        return 0, None
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    k = int(sizes.argmax())
    part = np.pad(comp == k, 1)
    dist = ndimage.distance_transform_edt(part)
    r, c = np.unravel_index(int(dist.argmax()), dist.shape)
    return int(sizes[k]), (int(r) - 1, int(c) - 1)


def seeded_clicks(preview, inside: np.ndarray, want: np.ndarray, other: np.ndarray, offset,
                  min_part: int):  # fmt: skip
    """The robot's clicks on one segment, one more after each preview.

    The first positive and negative clicks go to the most interior pixels of
    the largest parts of ``want`` and ``other``; each later click goes to the
    most interior pixel of the largest part the preview still gets wrong
    (positive where more of ``want`` is missed than taken in by mistake),
    until that part is smaller than ``min_part``.

    Parameters
    ----------
    preview : callable
        ``preview(positive, negative)``: the positive part (boolean, the
        shape of ``want``) that these clicks (image coordinates) would split off.
    inside, want, other : ndarray of bool
        The segment's pixels, those of the class to split off and those of the
        class that stays, in the segment's bounding box (``want`` and
        ``other`` non-empty).
    offset : (int, int)
        Image coordinates of the bounding box's first pixel.
    min_part : int

    Yields
    ------
    (ndarray of bool, dict)
        The preview and the clicks so far, ``{True: positive, False: negative}``
        lists of (row, col); the number of clicks is the total length.
    """
    r0, c0 = offset
    _, p = _largest_part(want)
    _, q = _largest_part(other)
    seeds = {True: [(p[0] + r0, p[1] + c0)], False: [(q[0] + r0, q[1] + c0)]}
    while True:
        m = preview(seeds[True], seeds[False])
        yield m, seeds
        missed, _ = _largest_part(want & ~m)
        extra, _ = _largest_part(inside & m & ~want)
        positive = missed >= extra
        size, at = _largest_part((want & ~m) if positive else (inside & m & ~want))
        if size < min_part:
            return
        seeds[positive].append((at[0] + r0, at[1] + c0))


# --------------------------------------------------------------------------- ground truth seen
class GroundTruth:
    """What the robot perceives: ground-truth class indices per image and class
    histograms (pixels per class) per segment row of a session.

    Parameters
    ----------
    gts : list of ndarray (H, W)
        Masks; binary ones (all of them) become classes 0/1, otherwise the
        distinct values are mapped to 0..C-1 in increasing order.
    """

    def __init__(self, gts: list[np.ndarray]) -> None:
        self.binary = all(is_binary(g) for g in gts)
        if self.binary:
            self.values = np.array([0, 1])
            self.gt = [gt_classes(g) for g in gts]
        else:
            self.values = np.unique(np.concatenate([np.unique(g) for g in gts]))
            self.gt = [np.searchsorted(self.values, g).astype(np.int64) for g in gts]
        self.n_classes = int(self.values.size)
        self._per_image: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.hist = np.zeros((0, self.n_classes), np.int64)

    def refresh(self, session, images=None) -> None:
        """Recompute the histograms of the segments of some images (default all)."""
        images = range(session.n_images) if images is None else images
        c = self.n_classes
        for i in images:
            lab = session.label_images[i].ravel()
            ids, inv = np.unique(lab, return_inverse=True)
            hist = np.bincount(inv * c + self.gt[i].ravel(), minlength=ids.size * c)
            hist = hist.reshape(ids.size, c)
            self._per_image[int(i)] = (ids[ids > 0], hist[ids > 0])
        ids = np.concatenate([v[0] for v in self._per_image.values()])
        hist = np.concatenate([v[1] for v in self._per_image.values()])
        self.hist = np.zeros((len(session.segments), c), np.int64)
        self.hist[session.segments.rows_of(ids)] = hist

    @property
    def major(self) -> np.ndarray:
        """Majority class index of every segment row."""
        return self.hist.argmax(1)

    def oracle_iou(self, session) -> float:
        """Mean IoU when every segment gets its majority class (the partition's upper bound)."""
        major = self.major + 1
        scores = []
        for i in range(session.n_images):
            rows = session.segments.in_image(i)
            lab = session.label_images[i]
            lut = np.zeros(int(lab.max()) + 1, np.int64)
            lut[session.segments.ids[rows]] = major[rows]
            scores.append(self.score(lut[lab], i))
        return float(np.mean(scores))

    def score(self, class_mask: np.ndarray, img: int) -> float:
        """IoU (percent) of a class mask (0 = unlabelled, k + 1 = class k) on image ``img``."""
        gt = self.gt[img]
        if self.binary:
            return iou_score(class_mask == 2, gt, binary=True)
        return multiclass_iou(class_mask.astype(np.int64) - 1, gt, self.n_classes)


def multiclass_iou(pred: np.ndarray, gt: np.ndarray, n_classes: int) -> float:
    """Mean IoU (percent) over the classes present; ``pred < 0`` is unlabelled (always wrong).

    Equals :func:`~napari_featann.bench.common.iou_score` (multi-class) when
    every pixel is labelled.
    """
    p = np.clip(pred.ravel(), -1, None) + 1
    conf = np.bincount(p * n_classes + gt.ravel(), minlength=(n_classes + 1) * n_classes)
    conf = conf.reshape(n_classes + 1, n_classes)
    inter = np.diag(conf[1:])
    union = conf[1:].sum(1) + conf.sum(0) - inter
    present = union > 0
    return 100.0 if not present.any() else 100.0 * float(np.mean(inter[present] / union[present]))
