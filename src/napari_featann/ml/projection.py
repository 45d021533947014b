"""2-D projection of segment features with UMAP.

:class:`Projector` fits a (optionally semi-supervised) UMAP on the feature
vectors, after a PCA to ``pca_dim`` dimensions, and places new segments with
``transform``. :func:`local_projection` re-projects a selected subset with
the reference code's local parameters.

Layouts are mapped into the box [0, 10] x [0, 10] by one affine map (the
same scale on both axes, so distances keep their aspect) fitted in
:meth:`Projector.fit` and reused in :meth:`Projector.transform`; points
placed later may fall slightly outside the box.

From 4 096 to 50 000 points (Euclidean metric) the neighbour graph is exact
and computed here, not by UMAP's NN-descent, whose numba code would compile
in every new process (about 50 s); new points are then placed by
:meth:`Projector.transform` itself.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from ..core.progress import Progress, ensure_progress

__all__ = ["BOX", "Projector", "local_projection", "warm_up"]

#: Side of the square that fitted layouts are mapped into.
BOX = 10.0

# Below this many points UMAP's spectral initialisation is unreliable
# (eigsh failures, disconnected k-NN graphs); a random init is used instead.
_SPECTRAL_MIN_N = 64

# UMAP finds the neighbours of 4096 points or more with NN-descent (pynndescent), whose
# numba functions compile in every new process: 50 s of the first projection of 6 700
# segments here (docs/benchmarks.md, section 7). Up to this many points the exact
# neighbours are computed instead (sklearn, brute force on the PCA-reduced features:
# 0.3 s for 6 700 points, 10 s for 50 000 on this 2-core CPU) and handed to UMAP.
_UMAP_EXACT_MIN_N = 4096
_EXACT_KNN_MAX_N = 50_000


_WARM_LOCK = threading.Lock()
_warmed = False


def warm_up(background: bool = True) -> None:
    """Compile UMAP's numba code now with a small fit, so the first projection is quick.

    In a new process the first fit compiles UMAP's functions (about 13 s on a
    2-core CPU, docs/benchmarks.md section 7); a fit of 300 random points
    compiles what the fits of any size use. Once per process.

    Parameters
    ----------
    background : bool
        Do it in a daemon thread and return at once.
    """

    def work() -> None:
        global _warmed
        with _WARM_LOCK:
            if _warmed:
                return
            x = np.random.default_rng(0).normal(size=(300, 96)).astype(np.float32)
            Projector(seed=0).fit(x)  # float32 rows reduced by PCA, as real features are
            _warmed = True

    if _warmed:
        return
    if background:
        threading.Thread(target=work, name="featann-warm-umap", daemon=True).start()
    else:
        work()


def _exact_knn(query: np.ndarray, reference: np.ndarray, k: int, same: bool):
    """Indices and Euclidean distances of each query row's ``k`` nearest reference rows.

    With ``same`` (query is reference) every row is its own first neighbour, as
    UMAP expects of a precomputed graph.
    """
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(reference)
    dist, idx = nn.kneighbors(None if same else query)
    if same:  # kneighbors(None) leaves each row out: put it back in front
        n = len(reference)
        idx = np.c_[np.arange(n), idx[:, : k - 1]]
        dist = np.c_[np.zeros(n), dist[:, : k - 1]]
    return idx.astype(np.int32), dist.astype(np.float32)


def _uses_exact_graph(metric: str, n: int) -> bool:
    """Whether a fit of ``n`` points builds its own exact neighbour graph."""
    return metric == "euclidean" and _UMAP_EXACT_MIN_N <= n <= _EXACT_KNN_MAX_N


def _membership(dist: np.ndarray, subtract_nearest: bool = False, iterations: int = 64):
    """UMAP's fuzzy membership of each row's neighbours (``smooth_knn_dist``, in numpy).

    Weights ``exp(-(d - rho) / sigma)``, ``sigma`` found by bisection so that
    each row's weights sum to ``log2(k)``. ``rho`` is the nearest distance with
    ``subtract_nearest`` (UMAP's fit, local connectivity 1), else 0 (UMAP's
    transform, which lowers the local connectivity by one).
    """
    d = np.asarray(dist, np.float64)
    rho = d[:, :1] if subtract_nearest else np.zeros((len(d), 1))
    target = np.log2(d.shape[1])
    lo, hi = np.zeros((len(d), 1)), np.full((len(d), 1), np.inf)
    sigma = np.ones((len(d), 1))
    for _ in range(iterations):
        total = np.exp(-np.maximum(d - rho, 0.0) / sigma).sum(1, keepdims=True)
        big = total > target
        hi = np.where(big, sigma, hi)
        lo = np.where(big, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2, (lo + hi) / 2)
    return np.exp(-np.maximum(d - rho, 0.0) / np.maximum(sigma, 1e-12))


def _as_features(features, name: str = "features") -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, dim) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return x


def _tiny_layout(n: int) -> np.ndarray:
    """Deterministic positions for n <= 2 points."""
    mid = BOX / 2
    if n == 1:
        return np.array([[mid, mid]], np.float32)
    if n == 2:
        return np.array([[0.0, mid], [BOX, mid]], np.float32)
    return np.zeros((0, 2), np.float32)


class Projector:
    """Semi-supervised UMAP projection to 2-D with a reusable fit.

    Parameters
    ----------
    n_neighbors : int
        UMAP neighbourhood size; clipped to ``n - 1`` for small inputs. The
        default, 15, is the reference code's; sessions use
        :class:`~napari_featann.session.ProjectionParams` (30).
    min_dist : float
        UMAP minimum distance between embedded points (reference code 0.01;
        sessions 0.1).
    target_weight : float
        Balance between label supervision (1) and feature structure (0),
        used when labels are given.
    pca_dim : int or None
        Features with more dimensions are first reduced by a (seeded) PCA to
        this many; None disables the PCA.
    metric : str
        UMAP metric in the (PCA-reduced) feature space.
    seed : int
        Seed of the PCA and UMAP; the same inputs and seed give the same layout.

    Attributes
    ----------
    embedding_ : ndarray, shape (n, 2) or None
        The last fitted layout, in the [0, 10] box.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, (50, 20)), rng.normal(8, 1, (50, 20))]
    >>> proj = Projector(seed=0)
    >>> xy = proj.fit(x)  # doctest: +SKIP
    >>> xy.shape
    (100, 2)  # doctest: +SKIP
    """

    def __init__(
        self,
        n_neighbors: int = 15,
        min_dist: float = 0.01,
        target_weight: float = 0.5,
        pca_dim: int | None = 64,
        metric: str = "euclidean",
        seed: int = 0,
    ) -> None:
        if n_neighbors < 2:
            raise ValueError("n_neighbors must be >= 2")
        if not 0.0 <= target_weight <= 1.0:
            raise ValueError("target_weight must be in [0, 1]")
        self.n_neighbors = int(n_neighbors)
        self.min_dist = float(min_dist)
        self.target_weight = float(target_weight)
        self.pca_dim = None if pca_dim is None else int(pca_dim)
        self.metric = metric
        self.seed = int(seed)
        self.embedding_: np.ndarray | None = None
        self._pca = None
        self._umap = None
        self._train: np.ndarray | None = None  # reduced training features (tiny fits)
        self._offset = np.zeros(2, np.float32)
        self._scale = 1.0
        self._dim: int | None = None

    # -- helpers ---------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self.embedding_ is not None

    def _fit_pca(self, x: np.ndarray):
        n, d = x.shape
        if self.pca_dim is None or d <= self.pca_dim or n < 2:
            return None
        from sklearn.decomposition import PCA

        k = min(self.pca_dim, n, d)
        return PCA(n_components=k, random_state=self.seed).fit(x)

    @staticmethod
    def _reduce(pca, x: np.ndarray) -> np.ndarray:
        return x if pca is None else pca.transform(x).astype(np.float32)

    @staticmethod
    def _box_affine(raw: np.ndarray) -> tuple[np.ndarray, float]:
        lo, hi = raw.min(axis=0), raw.max(axis=0)
        span = float((hi - lo).max())
        scale = BOX / span if span > 0 else 1.0
        # Centre the shorter axis inside the box.
        offset = lo - (BOX / scale - (hi - lo)) / 2
        return offset.astype(np.float32), scale

    def _fill_init(self, init, reduced: np.ndarray) -> np.ndarray:
        """Previous positions; rows of NaN get the mean of their 3 nearest placed points."""
        xy = np.array(init, dtype=np.float64)
        n = len(reduced)
        if xy.shape != (n, 2):
            raise ValueError(f"init must have shape ({n}, 2), got {xy.shape}")
        known = np.all(np.isfinite(xy), axis=1)
        if not known.any():
            raise ValueError("init has no finite row")
        if not known.all():
            k = min(3, int(known.sum()))
            idx, _ = _exact_knn(reduced[~known], reduced[known], k, same=False)
            xy[~known] = xy[known][idx].mean(axis=1)
        span = xy.max(axis=0) - xy.min(axis=0)
        flat = span <= 1e-6 * max(float(span.max()), 1.0)
        if flat.any():  # UMAP divides each axis of its init by its span: a flat one gives NaN
            rng = np.random.default_rng(self.seed)
            xy[:, flat] += rng.normal(0.0, 1e-3 * max(float(span.max()), 1.0), (n, int(flat.sum())))
        return xy

    # -- API -------------------------------------------------------------
    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray | None = None,
        init: np.ndarray | None = None,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Fit the projection and return the layout of ``features``.

        Parameters
        ----------
        features : ndarray, shape (n, dim)
            One feature vector per segment.
        labels : ndarray of int, shape (n,), optional
            Class per segment, -1 for unlabelled. When at least one segment
            is labelled, UMAP is fit semi-supervised (categorical target,
            ``target_weight``).
        init : ndarray, shape (n, 2), optional
            Previous positions (e.g. the current layout) so that a
            re-projection stays recognisable. Rows of NaN (new segments) are
            filled from their nearest neighbours in feature space.
        progress : Progress, optional
            ``init(1, "projection")`` (checks for cancellation first) and
            ``update(1)`` when done. A cancelled fit leaves the projector
            unchanged.

        Returns
        -------
        ndarray of float32, shape (n, 2)
            Positions in the [0, 10] x [0, 10] box.

        Raises
        ------
        ValueError
            If the shapes of ``features``, ``labels`` or ``init`` disagree.
        Cancelled
            If ``progress`` is cancelled.
        """
        x = _as_features(features)
        n = len(x)
        y = None
        if labels is not None:
            y = np.asarray(labels).astype(np.int64).reshape(-1)
            if len(y) != n:
                raise ValueError(f"{len(y)} labels for {n} feature rows")
            if not (y >= 0).any():
                y = None
        progress = ensure_progress(progress)
        progress.init(1, "projection")

        pca = self._fit_pca(x)
        reduced = self._reduce(pca, x)
        if n <= 2:
            umap_model = None
            out = _tiny_layout(n)
            offset, scale = np.zeros(2, np.float32), 1.0
        else:
            umap_model, raw = self._fit_umap(reduced, y, init)
            offset, scale = self._box_affine(raw)
            out = ((raw - offset) * scale).astype(np.float32)
        progress.update(1)

        # Commit only after the checkpoint: a cancelled fit changes nothing.
        self._pca, self._umap, self._train = pca, umap_model, reduced
        self._offset, self._scale, self._dim = offset, scale, x.shape[1]
        self.embedding_ = out
        return out.copy()

    def _fit_umap(self, reduced: np.ndarray, y, init):
        with warnings.catch_warnings():
            # "Tensorflow not installed; ParametricUMAP will be unavailable"
            warnings.simplefilter("ignore", ImportWarning)
            import umap

        n = len(reduced)
        if init is not None:
            umap_init = self._fill_init(init, reduced)
        elif n < _SPECTRAL_MIN_N:
            umap_init = "random"
        else:
            umap_init = "spectral"
        k = max(2, min(self.n_neighbors, n - 1))
        exact = _uses_exact_graph(self.metric, n)
        knn = (*_exact_knn(reduced, reduced, k, same=True), None) if exact else (None,) * 3
        model = umap.UMAP(
            n_neighbors=k,
            n_components=2,
            min_dist=self.min_dist,
            metric=self.metric,
            target_metric="categorical",
            target_weight=self.target_weight,
            init=umap_init,
            random_state=self.seed,
            transform_seed=self.seed,
            precomputed_knn=knn,
        )
        with warnings.catch_warnings():
            # random_state forces n_jobs=1: expected, reproducibility comes first.
            warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
            # with our own neighbours UMAP has no search index; transform() places
            # new points itself then
            warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            warnings.filterwarnings("ignore", message=".*spectral initialisation failed.*")
            raw = model.fit_transform(reduced, y=y)
        return model, np.asarray(raw, np.float64)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Place new segments in the fitted layout.

        Parameters
        ----------
        features : ndarray, shape (m, dim)
            Feature vectors with the ``dim`` used in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (m, 2)
            Positions in the same frame as :meth:`fit`'s output (may fall
            slightly outside the [0, 10] box).

        Raises
        ------
        RuntimeError
            If the projector is not fitted.
        ValueError
            If the feature dimension differs from the fit.
        """
        if not self.fitted:
            raise RuntimeError("Projector.transform called before fit")
        x = _as_features(features)
        if x.shape[1] != self._dim:
            raise ValueError(f"features have dim {x.shape[1]}, the fit used {self._dim}")
        if len(x) == 0:
            return np.zeros((0, 2), np.float32)
        reduced = self._reduce(self._pca, x)
        if self._umap is None:
            if len(self._train) == 0:
                return np.full((len(x), 2), BOX / 2, np.float32)
            # Tiny fit: take the position of the nearest fitted point.
            d2 = ((reduced[:, None, :] - self._train[None, :, :]) ** 2).sum(-1)
            return self.embedding_[np.argmin(d2, axis=1)].copy()
        if _uses_exact_graph(self.metric, len(self._train)):
            # Fitted on our exact neighbours: place each new point where UMAP's own
            # transform starts it, at the membership-weighted mean of the positions
            # of its nearest fitted points (UMAP then refines that start by a few
            # epochs of layout optimisation, which this skips).
            k = min(self._umap.n_neighbors, len(self._train))
            idx, dist = _exact_knn(reduced, self._train, k, same=False)
            w = _membership(dist)
            xy = (w[:, :, None] * self.embedding_[idx]).sum(1) / w.sum(1, keepdims=True)
            return xy.astype(np.float32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
            raw = np.asarray(self._umap.transform(reduced), np.float64)
        return ((raw - self._offset) * self._scale).astype(np.float32)


def local_projection(
    features: np.ndarray, seed: int = 0, progress: Progress | None = None
) -> np.ndarray:
    """Re-project a subset of segments on its own.

    Uses ``n_neighbors=min(5, n - 1)`` and ``min_dist=0.1``, as the reference
    code does for a selection.

    Parameters
    ----------
    features : ndarray, shape (n, dim)
        Feature vectors of the selected segments.
    seed : int
        Seed for reproducibility.
    progress : Progress, optional
        See :meth:`Projector.fit`.

    Returns
    -------
    ndarray of float32, shape (n, 2)
        Positions in the [0, 10] x [0, 10] box.
    """
    return Projector(n_neighbors=5, min_dist=0.1, seed=seed).fit(features, progress=progress)
