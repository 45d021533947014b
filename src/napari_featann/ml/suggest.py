"""Where to label next: class entropy of segments and kNN label proposals.

Numpy only. Nothing here changes labels: these functions rank segments
(:func:`class_entropy`, :func:`most_uncertain`) or propose labels grouped by
class (:func:`knn_proposals`) and the caller (the session, through the widget)
decides what to apply.

In this module, as everywhere in ``napari_featann.ml``, a label ``< 0``
(conventionally ``-1``) marks an unlabelled segment; any non-negative int is a
class id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_featann.finite import require_finite_rows

__all__ = [
    "Proposal",
    "class_entropy",
    "kmeans_pp",
    "knn_predict",
    "knn_proposals",
    "most_uncertain",
]

_CHUNK = 4096  # query rows per similarity block: bounds memory at _CHUNK x n_reference


# -- validation helpers ------------------------------------------------------------
def _as_2d_float(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def _as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise ValueError("labels must be integers (-1 = unlabelled)")
        labels = labels.astype(np.int64)
    return labels.astype(np.int64, copy=False)


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


# -- k nearest neighbours ----------------------------------------------------------
def _topk_cosine(query: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` most similar reference rows.

    Works in blocks of ``_CHUNK`` query rows. Rows of the result are sorted by
    decreasing similarity.
    """
    q = _l2_normalise(query)
    r = _l2_normalise(reference)
    k = min(k, len(r))
    idx = np.empty((len(q), k), dtype=np.int64)
    sim = np.empty((len(q), k), dtype=np.float32)
    for start in range(0, len(q), _CHUNK):
        s = q[start : start + _CHUNK] @ r.T
        if k < s.shape[1]:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
        psim = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-psim, axis=1, kind="stable")
        idx[start : start + len(s)] = np.take_along_axis(part, order, axis=1)
        sim[start : start + len(s)] = np.take_along_axis(psim, order, axis=1)
    return idx, sim


def _vote(
    neighbour_labels: np.ndarray, neighbour_sims: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote over neighbours' class indices (0..n_classes-1).

    Returns the winning class index and its share of the votes per row. Ties
    in the count are broken by the larger sum of similarities: that term is
    scaled into (-1, 1) so it never outweighs one vote.
    """
    n, k = neighbour_labels.shape
    counts = np.zeros((n, n_classes), dtype=np.float64)
    sims = np.zeros((n, n_classes), dtype=np.float64)
    rows = np.repeat(np.arange(n), k)
    np.add.at(counts, (rows, neighbour_labels.ravel()), 1.0)
    np.add.at(sims, (rows, neighbour_labels.ravel()), neighbour_sims.ravel())
    score = counts + sims / (2 * k + 1)
    winner = np.argmax(score, axis=1)
    share = counts[np.arange(n), winner] / k
    return winner, share


def knn_predict(
    features: np.ndarray,
    reference_mask: np.ndarray,
    labels: np.ndarray,
    query_mask: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Majority class of the ``k`` nearest reference rows, for each query row.

    Parameters
    ----------
    features : (n, d) array of float
        Vectors; cosine similarity is used (rows are L2-normalised here).
    reference_mask : (n,) array of bool
        Rows with a known class that vote. Their labels must be ``>= 0``.
    labels : (n,) array of int
        Class ids of the reference rows (other rows are ignored).
    query_mask : (n,) array of bool
        Rows to classify.
    k : int
        Number of neighbours (clipped to the number of reference rows).

    Returns
    -------
    predicted : (n_query,) array of int
        Predicted class id of each query row, in row order.
    agreement : (n_query,) array of float
        Fraction of the neighbours that voted for that class, in (0, 1].

    Raises
    ------
    ValueError
        When a reference or query row holds a NaN or an infinity (named by
        its index): its similarities would be NaN and the vote arbitrary.
        Other rows are not used, and not checked.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ref = np.flatnonzero(reference_mask)
    qry = np.flatnonzero(query_mask)
    require_finite_rows(features, rows=np.union1d(ref, qry))
    if len(ref) == 0:
        raise ValueError("no reference (labelled) rows to vote")
    classes, ref_cls = np.unique(labels[ref], return_inverse=True)
    if len(qry) == 0:
        return np.empty(0, dtype=classes.dtype), np.empty(0, dtype=np.float64)
    nn_idx, nn_sim = _topk_cosine(features[qry], features[ref], k)
    winner, share = _vote(ref_cls[nn_idx], nn_sim, len(classes))
    return classes[winner], share


# -- k-means++ ---------------------------------------------------------------------
def _sq_dists(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans_pp(
    x: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means with k-means++ initialisation (Lloyd iterations).

    Parameters
    ----------
    x : (n, d) array of float
        Points to cluster.
    k : int
        Number of clusters; clipped to the number of distinct points.
    seed : int, optional
        Seed of the k-means++ draws; the result is deterministic for a seed.
    max_iter : int, optional
        Maximum number of Lloyd iterations.

    Returns
    -------
    centres : (k', d) array of float64
        Cluster centres (``k' <= k``: clusters left empty are dropped).
    assignment : (n,) array of int
        Index of the nearest centre of each point.

    Examples
    --------
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> c, a = kmeans_pp(x, 2)
    >>> bool(a[0] == a[1] and a[2] == a[3] and a[0] != a[2])
    True
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("kmeans_pp needs at least one point")
    k = int(min(k, len(np.unique(x, axis=0))))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rng = np.random.default_rng(seed)
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    closest = _sq_dists(x, centres[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        i = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centres[j] = x[i]
        closest = np.minimum(closest, _sq_dists(x, centres[j : j + 1])[:, 0])
    assignment = np.full(n, -1)
    for _ in range(max_iter):
        new = np.argmin(_sq_dists(x, centres), axis=1)
        if np.array_equal(new, assignment):
            break
        assignment = new
        for j in range(len(centres)):
            members = assignment == j
            if members.any():
                centres[j] = x[members].mean(0)
    used = np.unique(assignment)
    remap = np.full(len(centres), -1)
    remap[used] = np.arange(len(used))
    return centres[used], remap[assignment]


# -- uncertainty ---------------------------------------------------------------------
def _default_temperature(sq_unlabelled, xl, centres, assign) -> float:
    """Median squared distance of unlabelled rows to their nearest centre, or a fallback."""
    if sq_unlabelled:
        t = float(np.median(np.concatenate([d.min(1) for d in sq_unlabelled])))
        if t > 0:
            return t
    t = float(((xl - centres[assign]) ** 2).sum(1).mean())
    return t if t > 0 else 1.0


def class_entropy(
    embeddings: np.ndarray,
    labels: np.ndarray,
    n_classes: int | None = None,
    seed: int = 0,
    *,
    temperature: float | None = None,
) -> np.ndarray:
    """Class entropy of every segment: how unsure its class is, given the labels.

    1. k-means++ over the labelled embeddings with ``k = 2 * n_classes``.
    2. Each cluster gets the class distribution of its labelled members.
    3. A segment's class distribution is the mix of the clusters'
       distributions, weighted by ``softmax(-d_j**2 / temperature)`` over its
       squared distances ``d_j**2`` to the cluster centres.
    4. The entropy (in nats) of that distribution is returned.

    A segment deep inside a pure cluster scores ~0; one between clusters of
    different classes, or in a cluster whose labels are mixed, scores high.

    Parameters
    ----------
    embeddings : (n, d) array of float
        One vector per segment (backbone features or metric-learned vectors).
    labels : (n,) array of int
        Class id per segment, ``< 0`` for unlabelled.
    n_classes : int, optional
        Number of classes used to size k-means (``k = 2 * n_classes``).
        Defaults to the number of distinct labelled classes.
    seed : int, optional
        Seed of k-means++.
    temperature : float, optional
        Softmax temperature in squared-distance units. Defaults to the median
        squared distance of the unlabelled segments to their nearest centre,
        which makes the weights independent of the scale and dimension of the
        embeddings, and stays sensible with very few labels (when every
        cluster is a single labelled point and the k-means inertia is 0).

    Returns
    -------
    entropy : (n,) array of float64
        Entropy in nats, in ``[0, log(number of labelled classes)]``.
        Labelled segments get 0, so they never rank as uncertain; callers that
        rank several sources should still mask labelled rows themselves.

    Raises
    ------
    ValueError
        If fewer than two classes are labelled (nothing to be unsure between),
        or a row of ``embeddings`` holds a NaN or an infinity.

    Examples
    --------
    >>> emb = np.array([[0.0], [0.1], [1.0], [1.1], [0.05], [0.55]])
    >>> lab = np.array([0, 0, 1, 1, -1, -1])
    >>> h = class_entropy(emb, lab)
    >>> bool(h[5] > h[4]), float(h[0])
    (True, 0.0)
    """
    x = _as_2d_float(embeddings, "embeddings").astype(np.float64)
    labels = _as_labels(labels, len(x))
    require_finite_rows(x, "embeddings")  # a NaN row would rank at random
    lab = labels >= 0
    classes, cls_idx = np.unique(labels[lab], return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"class entropy needs labelled segments of at least 2 classes, got {len(classes)}"
        )
    n_classes = len(classes) if n_classes is None else max(int(n_classes), len(classes))
    xl = x[lab]
    centres, assign = kmeans_pp(xl, 2 * n_classes, seed=seed)
    dist = np.zeros((len(centres), len(classes)))
    np.add.at(dist, (assign, cls_idx), 1.0)
    dist /= dist.sum(1, keepdims=True)
    rows = np.flatnonzero(~lab)
    sq = [_sq_dists(x[rows[s : s + _CHUNK]], centres) for s in range(0, len(rows), _CHUNK)]
    if temperature is None:
        temperature = _default_temperature(sq, xl, centres, assign)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

    entropy = np.zeros(len(x))
    for start, d2 in zip(range(0, len(rows), _CHUNK), sq):
        r = rows[start : start + _CHUNK]
        logits = -d2 / temperature
        logits -= logits.max(1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(1, keepdims=True)
        p = w @ dist
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy[r] = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    return np.maximum(entropy, 0.0)


def most_uncertain(
    embeddings: np.ndarray,
    labels: np.ndarray,
    k: int = 20,
    *,
    n_classes: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of the ``k`` unlabelled segments of highest class entropy.

    Parameters
    ----------
    embeddings : (n, d) array of float
        One vector per segment.
    labels : (n,) array of int
        Class id per segment, ``< 0`` for unlabelled.
    k : int, optional
        How many to return (fewer if fewer segments are unlabelled).
    n_classes, seed
        Passed to :func:`class_entropy`.

    Returns
    -------
    indices : (k',) array of int
        Row indices, most uncertain first (ties keep row order).
    """
    labels = np.asarray(labels)
    h = class_entropy(embeddings, labels, n_classes=n_classes, seed=seed)
    unl = np.flatnonzero(labels < 0)
    order = np.argsort(-h[unl], kind="stable")
    return unl[order[: max(int(k), 0)]]


# -- label proposals -------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """Segments proposed for one class, to be accepted or rejected together.

    Attributes
    ----------
    class_id : int
        Proposed class.
    indices : (m,) array of int
        Row indices of the segments, ascending.
    confidence : (m,) array of float
        Fraction of each segment's neighbours that voted for ``class_id``.
    """

    class_id: int
    indices: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def _isolated_runs(nn_cls: np.ndarray, nn_sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class of each row's nearest neighbours, judged at their own distance.

    For each row (neighbours sorted by decreasing cosine similarity), the run
    of its first ``j`` neighbours that share the nearest one's class ``c``
    sets a radius: the (Euclidean, on the unit sphere) distance ``rho`` of
    the ``j``-th. The agreement is ``j`` over the number of neighbours within
    ``2 * rho``: 1 when no other class comes that near, less when other
    classes' examples lie about as near as the run's.

    Returns
    -------
    cls : (n,) array of int
        The run's class index (that of the nearest neighbour).
    agreement : (n,) array of float64
    """
    if nn_cls.shape[1] == 0:
        return np.zeros(len(nn_cls), np.int64), np.zeros(len(nn_cls))
    cls = nn_cls[:, 0]
    run = np.cumprod(nn_cls == cls[:, None], axis=1).sum(1)  # >= 1
    dist2 = np.maximum(2.0 - 2.0 * nn_sim.astype(np.float64), 0.0)  # chord distance squared
    rho2 = np.take_along_axis(dist2, (run - 1)[:, None], axis=1)
    within = (dist2 <= 4.0 * rho2 + 1e-9).sum(1)  # (2 rho) ** 2, with rounding slack
    return cls, run / within


def knn_proposals(
    features: np.ndarray,
    labels: np.ndarray,
    k: int = 10,
    min_agreement: float = 0.8,
) -> list[Proposal]:
    """Propose a class for unlabelled segments whose labelled neighbours agree.

    Each unlabelled segment gets the majority class of its ``k`` nearest
    labelled segments (cosine similarity); it is proposed when that class
    holds at least ``min_agreement`` of the votes. Proposals are grouped by
    class so the UI can accept or reject one group in one action. Nothing is
    applied here.

    A class with fewer than ``min_agreement * k`` labelled segments can never
    hold that share of ``k`` votes, so it is judged at its own scale instead:
    a segment not proposed by the vote, whose nearest labelled neighbours
    (``j`` of them, ``j`` at most that class's size) are of that class, is
    proposed for it when they make up at least ``min_agreement`` of the
    labelled segments within twice the distance of the ``j``-th (a rare class
    labelled in a cluster of its own thus gets that cluster's segments). The
    proposals of classes with enough labelled segments are the vote's alone.

    Parameters
    ----------
    features : (n, d) array of float
        One vector per segment.
    labels : (n,) array of int
        Class id per segment, ``< 0`` for unlabelled.
    k : int, optional
        Number of labelled neighbours that vote (clipped to the number of
        labelled segments).
    min_agreement : float, optional
        Minimum share of votes, in ``(0, 1]``.

    Returns
    -------
    proposals : list of Proposal
        One per class that received proposals, by ascending class id. Empty
        when fewer than two classes are labelled (the neighbours of every
        segment would then agree, whatever the segment) or nothing is
        unlabelled. A confidence is the vote's share, or for a rare class
        the share described above.

    Raises
    ------
    ValueError
        If a row of ``features`` holds a NaN or an infinity, or on bad
        arguments.

    Examples
    --------
    >>> f = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.95, 0.05]])
    >>> [(p.class_id, p.indices.tolist()) for p in knn_proposals(f, [1, 1, 2, 2, -1], k=2)]
    [(1, [4])]
    """
    x = _as_2d_float(features, "features")
    labels = _as_labels(labels, len(x))
    require_finite_rows(x)  # a NaN similarity would rank neighbours at random
    if not 0.0 < min_agreement <= 1.0:
        raise ValueError(f"min_agreement must be in (0, 1], got {min_agreement}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    lab = labels >= 0
    if len(np.unique(labels[lab])) < 2 or lab.all():
        return []
    ref, unl = np.flatnonzero(lab), np.flatnonzero(~lab)
    classes, ref_cls, sizes = np.unique(labels[ref], return_inverse=True, return_counts=True)
    nn_idx, nn_sim = _topk_cosine(x[unl], x[ref], k)
    nn_cls = ref_cls[nn_idx]
    winner, share = _vote(nn_cls, nn_sim, len(classes))
    keep = share >= min_agreement - 1e-9
    rare = sizes < min_agreement * nn_idx.shape[1] - 1e-9  # the vote can never propose them
    if rare.any() and not keep.all():
        run_cls, agreement = _isolated_runs(nn_cls, nn_sim)
        extra = ~keep & rare[run_cls] & (agreement >= min_agreement - 1e-9)
        winner = np.where(extra, run_cls, winner)
        share = np.where(extra, agreement, share)
        keep |= extra
    pred = classes[winner]
    out = []
    for c in np.unique(pred[keep]):
        sel = keep & (pred == c)
        out.append(Proposal(int(c), unl[sel], share[sel].astype(np.float32)))
    return out
