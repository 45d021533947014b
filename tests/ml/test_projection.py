"""Tests for the UMAP projection (small n: numba compiles UMAP once per session)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("umap")

from napari_featann.core.progress import CancelAfter, Cancelled, Progress
from napari_featann.ml.projection import BOX, Projector, local_projection


def _blobs(n_per=50, dim=50, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, dim))
    centres[1, :] = 1.5  # blob distance ~10.6, blob radius ~7 (unit noise in 50-D)
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat([0, 1], n_per), centres


@pytest.fixture(scope="module")
def fitted():
    x, y, centres = _blobs()
    proj = Projector(pca_dim=16, seed=0)  # 50-D > 16: exercises the PCA path
    return proj, proj.fit(x), x, y, centres


def _loo_1nn_accuracy(xy, y):
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(1)] == y).mean())


def test_blobs_stay_separated(fitted):
    proj, xy, _, y, _ = fitted
    assert xy.shape == (100, 2) and xy.dtype == np.float32
    assert _loo_1nn_accuracy(xy, y) > 0.95
    assert proj._pca is not None and proj._pca.n_components_ == 16


def test_layout_fills_the_box(fitted):
    _, xy, *_ = fitted
    assert xy.min() >= -1e-5 and xy.max() <= BOX + 1e-5
    assert np.isclose((xy.max(0) - xy.min(0)).max(), BOX, atol=1e-4)


def test_transform_places_new_points_near_their_blob(fitted):
    proj, xy, _, y, centres = fitted
    rng = np.random.default_rng(1)
    new_a = (centres[0] + rng.normal(size=(6, centres.shape[1]))).astype(np.float32)
    placed = proj.transform(new_a)
    assert placed.shape == (6, 2) and placed.dtype == np.float32
    mean_a, mean_b = xy[y == 0].mean(0), xy[y == 1].mean(0)
    closer_to_a = np.linalg.norm(placed - mean_a, axis=1) < np.linalg.norm(placed - mean_b, axis=1)
    assert closer_to_a.all()


def test_same_seed_same_layout():
    x, _, _ = _blobs(n_per=20, seed=3)
    a = Projector(seed=7).fit(x)
    b = Projector(seed=7).fit(x)
    np.testing.assert_array_equal(a, b)


def test_semi_supervised_fit_with_unlabelled():
    x, _, _ = _blobs(n_per=20, seed=4)
    labels = np.full(len(x), -1)
    labels[:3], labels[20:23] = 1, 2
    xy = Projector(seed=0).fit(x, labels=labels)
    assert xy.shape == (40, 2) and np.isfinite(xy).all()
    # all -1 is the same as no supervision
    np.testing.assert_array_equal(
        Projector(seed=0).fit(x, labels=np.full(len(x), -1)), Projector(seed=0).fit(x)
    )


def test_init_from_previous_layout_with_new_rows():
    x, y, _ = _blobs(n_per=20, seed=5)
    proj = Projector(seed=0)
    first = proj.fit(x)
    init = first.copy()
    init[-3:] = np.nan  # e.g. segments created by a split
    again = proj.fit(x, init=init)
    assert again.shape == first.shape and np.isfinite(again).all()
    assert _loo_1nn_accuracy(again, y) > 0.95


@pytest.mark.parametrize("layout", ["one point", "on a line"])
def test_init_on_one_point_or_line_gives_a_finite_layout(layout):
    # one segment per grey image placed at the one-point layout, then a re-projection;
    # or points that all lie on a line (the 2-point layout): UMAP would divide by 0
    x = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    init = np.full((6, 2), BOX / 2)
    if layout == "on a line":
        init[:, 0] = np.arange(6)
    xy = Projector(seed=0).fit(x, init=init)
    assert np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, Projector(seed=0).fit(x, init=init))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_tiny_inputs(n):
    x = np.random.default_rng(n).normal(size=(n, 8)).astype(np.float32)
    proj = Projector()
    xy = proj.fit(x)
    assert xy.shape == (n, 2) and np.isfinite(xy).all()
    if n:
        assert proj.transform(x[:1]).shape == (1, 2)


def test_tiny_layouts_are_deterministic():
    x = np.eye(2, 4, dtype=np.float32)
    np.testing.assert_array_equal(Projector().fit(x), [[0, BOX / 2], [BOX, BOX / 2]])
    np.testing.assert_array_equal(Projector().fit(x[:1]), [[BOX / 2, BOX / 2]])
    proj = Projector()
    proj.fit(x)
    np.testing.assert_array_equal(proj.transform(x[::-1] + 1e-3), [[BOX, BOX / 2], [0, BOX / 2]])


def test_local_projection():
    x, _, _ = _blobs(n_per=6, seed=6)
    xy = local_projection(x, seed=0)
    assert xy.shape == (12, 2) and np.isfinite(xy).all()
    np.testing.assert_array_equal(xy, local_projection(x, seed=0))


def test_cancel_leaves_projector_unchanged():
    x, _, _ = _blobs(n_per=10, seed=7)
    proj = Projector()
    stopped = Progress()
    stopped.cancel()
    with pytest.raises(Cancelled):
        proj.fit(x, progress=stopped)
    with pytest.raises(Cancelled):  # cancelled at the end of the fit
        proj.fit(x, progress=CancelAfter(1))
    assert not proj.fitted
    with pytest.raises(RuntimeError):
        proj.transform(x)


def test_bad_inputs():
    proj = Projector()
    with pytest.raises(ValueError):
        proj.fit(np.zeros(5))
    with pytest.raises(ValueError):
        proj.fit(np.zeros((5, 3)), labels=np.zeros(4))
    with pytest.raises(ValueError):
        proj.fit(np.full((3, 3), np.nan))
    proj.fit(np.eye(2, 3))
    with pytest.raises(ValueError, match="dim"):
        proj.transform(np.zeros((1, 4)))


# -- exact neighbours above UMAP's small-data size (no NN-descent compilation) ---------
def test_exact_knn_matches_brute_force_with_self_first():
    from napari_featann.ml.projection import _exact_knn

    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    idx, dist = _exact_knn(x, x, 6, same=True)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    want = np.argsort(d, axis=1)[:, :6]
    np.testing.assert_array_equal(idx[:, 0], np.arange(200))
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(dist, np.take_along_axis(d, want, 1), atol=1e-4)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    qi, _ = _exact_knn(q, x, 3, same=False)
    dq = np.sqrt(((q[:, None] - x[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(qi, np.argsort(dq, axis=1)[:, :3])


def test_membership_is_umaps_smooth_knn_normalisation():
    from napari_featann.ml.projection import _membership

    rng = np.random.default_rng(5)
    dist = np.sort(rng.uniform(0.5, 3.0, size=(50, 15)), axis=1)
    fit = _membership(dist, subtract_nearest=True)  # as in UMAP's fit
    np.testing.assert_allclose(fit[:, 0], 1.0)  # the nearest neighbour has full membership
    for w in (fit, _membership(dist)):  # and as in its transform (rho = 0)
        np.testing.assert_allclose(w.sum(1), np.log2(15), rtol=1e-4)
        assert np.all(np.diff(w, axis=1) <= 1e-12)  # farther neighbours weigh less
    assert np.all(_membership(dist)[:, 0] < 1.0)


def test_large_fit_uses_exact_neighbours_and_places_new_points():
    x, y, centres = _blobs(n_per=2100, dim=20, seed=6)  # 4 200 points: above small data
    proj = Projector(pca_dim=None, seed=0)
    xy = proj.fit(x)
    assert proj._umap._knn_search_index is None  # our graph, no pynndescent index
    assert _loo_1nn_accuracy(xy[::10], y[::10]) > 0.95
    rng = np.random.default_rng(7)
    new = np.r_[centres[0] + rng.normal(size=(4, 20)), centres[1] + rng.normal(size=(4, 20))]
    placed = proj.transform(new.astype(np.float32))
    assert placed.shape == (8, 2) and placed.dtype == np.float32
    mean_a, mean_b = xy[y == 0].mean(0), xy[y == 1].mean(0)
    to_a = np.linalg.norm(placed - mean_a, axis=1) < np.linalg.norm(placed - mean_b, axis=1)
    np.testing.assert_array_equal(to_a, [True] * 4 + [False] * 4)


def test_warm_up_fits_once_per_process_in_the_background(monkeypatch):
    import threading

    import napari_featann.ml.projection as proj

    monkeypatch.setattr(proj, "_warmed", False)
    calls = []
    fit = proj.Projector.fit
    monkeypatch.setattr(
        proj.Projector,
        "fit",
        lambda self, x, *a, **k: calls.append(x.shape) or fit(self, x, *a, **k),
    )
    proj.warm_up()  # returns at once; a daemon thread fits
    for t in threading.enumerate():
        if t.name == "featann-warm-umap":
            t.join(timeout=120)
    assert calls == [(300, 96)] and proj._warmed
    proj.warm_up(background=False)
    proj.warm_up()
    assert len(calls) == 1  # once per process
