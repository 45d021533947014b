"""Suggestions: class entropy, most uncertain segments, kNN label proposals."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.ml.suggest import (
    Proposal,
    class_entropy,
    kmeans_pp,
    knn_predict,
    knn_proposals,
    most_uncertain,
)


def two_blobs(n=200, d=8, gap=6.0, seed=0):
    """Two Gaussian classes along dim 0, half of each labelled; plus probes.

    Returns embeddings, labels (-1 = unlabelled), index of probes deep in
    class 0, deep in class 1, and midway between the classes (all unlabelled).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d))
    x[:, 0] += gap * y
    labels = np.where(np.arange(n) < n // 2, y, -1)
    probes = np.zeros((3, d))
    probes[:, 0] = [0.0, gap, gap / 2]
    x = np.vstack([x, probes])
    x[:, 1] += 3 * gap  # away from the origin, so cosine neighbours are Euclidean ones
    x = x.astype(np.float32)
    labels = np.concatenate([labels, [-1, -1, -1]])
    return x, labels, (n, n + 1, n + 2)


# -- k-means++ --------------------------------------------------------------------------------
def test_kmeans_pp_finds_separated_clusters_and_is_seeded():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, size=(30, 2)) for c in (0.0, 5.0, 10.0)])
    centres, assign = kmeans_pp(x, 3, seed=1)
    assert sorted(np.round(centres[:, 0]).tolist()) == [0.0, 5.0, 10.0]
    assert len(np.unique(assign[:30])) == len(np.unique(assign[30:60])) == 1
    c2, a2 = kmeans_pp(x, 3, seed=1)
    np.testing.assert_array_equal(assign, a2)
    np.testing.assert_array_equal(centres, c2)


def test_kmeans_pp_clips_k_to_distinct_points():
    centres, assign = kmeans_pp(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), 5)
    assert len(centres) == 2
    assert assign[0] == assign[1] != assign[2]


# -- class entropy ------------------------------------------------------------------------------
def test_entropy_is_higher_between_classes_than_inside():
    x, labels, (deep0, deep1, middle) = two_blobs()
    h = class_entropy(x, labels)
    assert h.shape == (len(x),)
    assert h[middle] > 0.5 * np.log(2)
    assert h[middle] > 5 * max(h[deep0], h[deep1])
    assert np.all(h[labels >= 0] == 0)
    assert np.all((h >= 0) & (h <= np.log(2) + 1e-9))


def test_entropy_of_mixed_cluster_is_high():
    # both classes labelled at the same spot: no distance can tell them apart
    x = np.array([[0.0], [0.0], [0.0], [0.0], [10.0], [10.0], [0.1]])
    labels = np.array([0, 1, 0, 1, 1, 1, -1])
    h = class_entropy(x, labels, seed=0)
    assert h[-1] == pytest.approx(np.log(2), abs=1e-6)


def test_entropy_is_deterministic_and_accepts_n_classes():
    x, labels, _ = two_blobs(seed=3)
    np.testing.assert_array_equal(
        class_entropy(x, labels, seed=5), class_entropy(x, labels, seed=5)
    )
    h = class_entropy(x, labels, n_classes=4)  # 8 clusters instead of 4: same picture
    assert h.shape == (len(x),)


@pytest.mark.parametrize("labels", [[-1, -1, -1, -1], [2, 2, -1, -1]])
def test_entropy_needs_two_classes(labels):
    with pytest.raises(ValueError, match="at least 2 classes"):
        class_entropy(np.eye(4), np.array(labels))


def test_most_uncertain_returns_unlabelled_by_decreasing_entropy():
    x, labels, (_, _, middle) = two_blobs()
    idx = most_uncertain(x, labels, k=5)
    assert len(idx) == 5
    assert middle in idx  # among 103 unlabelled segments
    assert np.all(labels[idx] < 0)
    h = class_entropy(x, labels)
    assert np.all(np.diff(h[idx]) <= 0)
    assert len(most_uncertain(x, labels, k=10_000)) == np.count_nonzero(labels < 0)


# -- kNN proposals ---------------------------------------------------------------------------------
def test_knn_proposals_group_by_class_and_skip_labelled():
    x, labels, (deep0, deep1, _) = two_blobs()
    labels = np.where(labels == 1, 7, labels)  # class ids need not be 0..C-1
    props = knn_proposals(x, labels, k=10, min_agreement=0.8)
    assert [p.class_id for p in props] == [0, 7]
    assert all(isinstance(p, Proposal) for p in props)
    proposed = np.concatenate([p.indices for p in props])
    assert len(np.unique(proposed)) == len(proposed)  # one class per segment
    assert np.all(labels[proposed] < 0)  # never a labelled row
    for p in props:
        assert len(p) == len(p.confidence)
        assert np.all(p.confidence >= 0.8)
        assert np.all(np.diff(p.indices) > 0)
    assert deep0 in props[0].indices
    assert deep1 in props[1].indices
    # ground truth of the unlabelled blob rows: proposals are right
    y = np.arange(len(x) - 3) % 2
    for p, cls in zip(props, (0, 1)):
        rows = p.indices[p.indices < len(y)]
        assert np.mean(y[rows] == cls) > 0.95


def test_knn_proposals_respect_min_agreement():
    # the query has 2 neighbours of class 1 and 1 of class 2 among k=3
    f = np.array([[1.0, 0.0], [0.99, 0.1], [0.98, -0.1], [0.0, 1.0], [1.0, 0.01]])
    labels = np.array([1, 1, 2, 2, -1])
    assert knn_proposals(f, labels, k=3, min_agreement=0.8) == []
    (p,) = knn_proposals(f, labels, k=3, min_agreement=0.6)
    assert p.class_id == 1
    np.testing.assert_array_equal(p.indices, [4])
    np.testing.assert_allclose(p.confidence, [2 / 3], rtol=1e-6)


def test_knn_proposals_edge_cases():
    f = np.eye(3)
    assert knn_proposals(f, np.array([-1, -1, -1])) == []
    assert knn_proposals(f, np.array([0, 1, 1])) == []
    with pytest.raises(ValueError, match="min_agreement"):
        knn_proposals(f, np.array([0, 1, -1]), min_agreement=0.0)
    with pytest.raises(ValueError, match="shape"):
        knn_proposals(f, np.array([0, 1]))


def test_knn_proposals_need_two_labelled_classes():
    """With one class labelled every neighbour votes for it: no evidence, no proposal."""
    x, labels, (deep0, deep1, _) = two_blobs()
    only0 = np.where(labels == 1, -1, labels)
    assert knn_proposals(x, only0, k=10, min_agreement=0.8) == []
    assert knn_proposals(x[:, ::-1], np.where(labels == 0, -1, labels), k=3) == []
    # a second class, even with one example, makes the vote informative again
    only0[np.flatnonzero(labels == 1)[0]] = 1
    props = knn_proposals(x, only0, k=1)
    assert [p.class_id for p in props] == [0, 1]
    assert deep0 in props[0].indices and deep1 in props[1].indices


def test_knn_proposals_propose_a_rare_class_in_its_own_cluster():
    """A class of 3 examples can never hold 8 of 10 votes: it is judged at its own scale."""
    rng = np.random.default_rng(0)
    d = 8
    centres = 10 * np.eye(d)[:3]  # big class 1, big class 2, rare class 5: apart in angle
    sizes, spread = (60, 60, 8), (1.0, 1.0, 0.5)  # the rare, tight cluster: 3 labelled
    x = np.vstack([c + s * rng.normal(size=(n, d)) for c, n, s in zip(centres, sizes, spread)])
    truth = np.repeat([1, 2, 5], sizes)
    labels = truth.copy()
    labels[30:60] = labels[90:120] = -1  # half of each big class unlabelled
    labels[123:] = -1
    assert np.count_nonzero(labels == 5) == 3
    props = {p.class_id: p for p in knn_proposals(x, labels, k=10, min_agreement=0.8)}
    assert sorted(props) == [1, 2, 5]
    np.testing.assert_array_equal(props[5].indices, np.arange(123, 128))
    assert np.all(props[5].confidence >= 0.8)
    for c in (1, 2):  # the big classes' clusters still get their class, from the vote
        np.testing.assert_array_equal(truth[props[c].indices], c)
        assert len(props[c]) == 30
        assert np.all(props[c].confidence >= 0.8)

    # a rare class mixed into a big cluster, as near as the big class's examples: no proposal
    mixed = labels.copy()
    mixed[[0, 1, 2]] = 5  # three examples of the big class 1 relabelled 5
    proposed = {p.class_id: p.indices for p in knn_proposals(x, mixed, k=10, min_agreement=0.8)}
    assert not np.isin(np.arange(30, 60), proposed.get(5, [])).any()


def test_features_that_are_not_finite_are_refused_by_row():
    """A NaN similarity would rank neighbours, and a NaN distance clusters, at random."""
    x, labels, _ = two_blobs()
    x = x.copy()
    x[[4, 9], 1] = [np.nan, -np.inf]
    with pytest.raises(ValueError, match=r"features must be finite: rows \[4, 9\]"):
        knn_proposals(x, labels)
    with pytest.raises(ValueError, match=r"embeddings must be finite: rows \[4, 9\]"):
        most_uncertain(x, labels)


def test_knn_predict_refuses_reference_and_query_rows_that_are_not_finite():
    """A NaN row's similarities are NaN: its neighbours, so its vote, would be arbitrary."""
    x, labels, _ = two_blobs()  # rows 0-99 labelled, 100-199 not (their class: row % 2)
    ref, qry = np.arange(len(x)) < 100, (np.arange(len(x)) >= 100) & (np.arange(len(x)) < 200)
    pred, _ = knn_predict(x, ref, labels, qry, k=5)
    assert (pred == np.arange(100, 200) % 2).mean() > 0.95  # finite: the blobs are told apart
    for rows in ([7, 160], [160], [7]):  # in the reference, the query, or both
        bad = x.copy()
        bad[rows, 3] = np.nan if len(rows) > 1 else np.inf
        with pytest.raises(ValueError, match=rf"features must be finite: rows \[{rows[0]}"):
            knn_predict(bad, ref, labels, qry, k=5)
    # a row that neither votes nor is asked about is not used, and not refused
    bad = x.copy()
    bad[[199, 201], 0] = np.nan  # a query row left out, and a probe
    kept, _ = knn_predict(bad, ref, labels, qry & (np.arange(len(x)) < 199), k=5)
    np.testing.assert_array_equal(kept, pred[:-1])
