"""Metric learning through the session: training, suggestions, saving and loading."""

import numpy as np
import pytest

from napari_featann import learning
from napari_featann.io import load_session, save_session
from napari_featann.session import Session


@pytest.fixture
def session():
    """Two images cut into segments, with features in two noisy clusters (no CNN needed)."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (60, 80, 3)).astype(np.uint8)
    s = Session.from_sources([img, img[::-1].copy()], names=["a", "b"])
    s.partition_params.regions = 40
    s.partition()
    n = len(s.segments)
    truth = np.arange(n) % 2
    centres = rng.normal(0, 1, (2, 96))
    s.features = (centres[truth] + rng.normal(0, 1.5, (n, 96))).astype(np.float32)
    s.features /= np.linalg.norm(s.features, axis=1, keepdims=True)
    a, b = s.add_class("a"), s.add_class("b")
    s.assign(s.segments.ids[truth == 0][:6], a)
    s.assign(s.segments.ids[truth == 1][:6], b)
    return s


def test_suggestions_need_features():
    s = Session.from_sources([np.zeros((20, 20), np.uint8)])
    with pytest.raises(RuntimeError, match="extract features first"):
        learning.suggest_uncertain(s)
    with pytest.raises(RuntimeError, match="extract features first"):
        learning.suggest_proposals(s)


def test_the_learned_metric_is_saved_and_loaded(session, tmp_path):
    info = learning.train_metric(session, "head", reproject=False, epochs=3)
    assert info["n_labelled"] == 12 and session.metric_state[0] == "head"
    loaded = load_session(save_session(session, tmp_path / "m"))
    np.testing.assert_array_equal(loaded.refined_features, session.refined_features)
    assert loaded.metric_state[0] == "head"
    np.testing.assert_allclose(
        loaded.metric_state[1].embed(loaded.features), session.refined_features, atol=1e-6
    )
    np.testing.assert_array_equal(
        learning.suggest_uncertain(loaded, 5), learning.suggest_uncertain(session, 5)
    )
    got = [(c, ids.tolist()) for c, ids, _ in learning.suggest_proposals(loaded)]
    want = [(c, ids.tolist()) for c, ids, _ in learning.suggest_proposals(session)]
    assert got == want


def test_extracting_the_features_again_drops_the_learned_metric(session, cnn_params, tmp_path):
    """A head trained on other features (here 96-wide) does not fit the new ones: it and its
    refined features are dropped, so the session saves and opens again (a head of another
    width than the features is refused on load)."""
    learning.train_metric(session, "head", reproject=False, epochs=3)
    assert session.metric_state is not None and session.refined_features is not None
    session.feature_params = cnn_params
    session.extract_features()
    assert session.features.shape[1] != 96  # the CNN's width: the head no longer fits
    assert session.metric_state is None and session.refined_features is None
    loaded = load_session(save_session(session, tmp_path / "again"))
    assert loaded.metric_state is None and loaded.features.shape == session.features.shape


def test_a_trained_head_re_embeds_segments_added_after_training(session):
    learning.train_metric(session, "head", reproject=False, epochs=3)
    trained = session.refined_features.copy()
    extra = session.features[:2] * -1  # two new segments, as a split would add
    session.features = np.concatenate([session.features, extra])
    session.segments = session.segments.take(np.r_[np.arange(len(trained)), 0, 1])
    refined = learning.refined_features(session)
    assert refined.shape == (len(trained) + 2, trained.shape[1])
    np.testing.assert_allclose(refined[: len(trained)], trained, atol=1e-6)
    np.testing.assert_allclose(refined[-2:], session.metric_state[1].embed(extra), atol=1e-6)


def test_features_that_are_not_finite_are_refused_by_name(session):
    """One NaN row would make the head's output, and the layout, NaN for every segment."""
    from napari_featann.ml.metric import train_head

    session.project()
    layout = session.embedding.copy()
    rows = np.flatnonzero(session.segment_class == 0)[[2, 5]]  # two unlabelled segments
    session.features[rows[0]] = np.nan
    session.features[rows[1], 3] = np.inf
    named = [f"{session.segments.ids[r]} (image {'ab'[session.segments.image[r]]!r})" for r in rows]
    with pytest.raises(ValueError, match="metric learning refused: 2 segments") as err:
        learning.train_metric(session, "head", epochs=2)
    assert all(name in str(err.value) for name in named)
    with pytest.raises(ValueError, match="metric learning refused"):  # not only via UMAP
        learning.train_metric(session, "head", reproject=False, epochs=2)
    assert session.metric_state is None and session.refined_features is None
    np.testing.assert_array_equal(session.embedding, layout)  # nothing changed
    with pytest.raises(ValueError, match="projection refused: 2 segments"):
        session.project()
    np.testing.assert_array_equal(session.embedding, layout)
    labels = session.ml_labels()
    with pytest.raises(ValueError, match=rf"rows \[{rows[0]}, {rows[1]}\]"):
        train_head(session.features, labels, epochs=1, samples_per_epoch=32)

    # the same run on finite features trains and gives a finite layout
    session.features[rows] = session.features[rows[::-1] - 1]
    learning.train_metric(session, "head", epochs=2)
    assert np.isfinite(session.refined_features).all() and np.isfinite(session.embedding).all()


def test_suggestions_refuse_features_that_are_not_finite_by_name(session):
    rows = np.flatnonzero(session.segment_class == 0)[[1, 4]]
    session.features[rows[0], 0] = np.nan
    session.features[rows[1], 7] = -np.inf
    named = ", ".join(
        f"{session.segments.ids[r]} (image {'ab'[session.segments.image[r]]!r})" for r in rows
    )
    with pytest.raises(ValueError, match="uncertainty suggestions refused: 2 segments") as err:
        learning.suggest_uncertain(session, 5)
    assert named in str(err.value)
    with pytest.raises(ValueError, match="label proposals refused: 2 segments") as err:
        learning.suggest_proposals(session)
    assert named in str(err.value)


def test_a_diverged_full_fine_tuning_is_refused_before_storing_anything(cnn_params):
    """A huge learning rate makes the fine-tuned backbone's output NaN for every segment."""
    rng = np.random.default_rng(3)
    s = Session.from_sources([rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)], names=["a"])
    s.partition_params.regions = 8
    s.partition()
    s.feature_params = cnn_params
    s.extract_features()
    s.project()
    layout = s.embedding.copy()
    a, b = s.add_class("a"), s.add_class("b")
    s.assign(s.segments.ids[:2], a)
    s.assign(s.segments.ids[2:4], b)
    quick = dict(epochs=1, samples_per_epoch=4, batch_size=4, m=2, hflip=False)
    with learning._torch_threads(1):  # on a busy 2-core box, 1 thread is several times faster
        for reproject in (False, True):
            with pytest.raises(ValueError, match=r"learning \(full\) refused: 8 segments"):
                learning.train_metric(s, "full", reproject=reproject, lr=1e30, **quick)
            assert s.metric_state is None and s.refined_features is None
            np.testing.assert_array_equal(s.embedding, layout)
        # the paper's learning rate trains and stores finite features
        learning.train_metric(s, "full", reproject=False, **quick)
    assert s.metric_state[0] == "full" and np.isfinite(s.refined_features).all()


@pytest.mark.parametrize("context", [False, True])
def test_a_full_fine_tuning_embeds_added_images_and_edited_segments(cnn_params, context):
    """New segments get the fine-tuned backbone's features; the other rows stay as they were."""
    from dataclasses import replace

    from napari_featann import editing
    from napari_featann.batches import add_images
    from napari_featann.core.progress import ensure_progress

    rng = np.random.default_rng(3)
    s = Session.from_sources([rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)], names=["a"])
    s.partition_params.regions = 8
    s.partition()
    s.feature_params = replace(cnn_params, context=context)
    s.extract_features()
    s.project()
    a, b = s.add_class("a"), s.add_class("b")
    s.assign(s.segments.ids[:2], a)
    s.assign(s.segments.ids[2:4], b)
    quick = dict(epochs=1, samples_per_epoch=4, batch_size=4, m=2, hflip=False)

    def model_features(ids):  # the fine-tuned backbone on the whole session, as training does
        allf = learning._backbone_features(s, s.metric_state[1], ensure_progress(None))
        return allf[s.segments.rows_of(ids)]

    def rows_by_id():
        return dict(zip(s.segments.ids.tolist(), s.refined_features))

    with learning._torch_threads(1):
        learning.train_metric(s, "full", reproject=False, **quick)
        n = len(s.segments)
        trained = s.refined_features.copy()
        add_images(s, [rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)], names=["b"])
        assert s.refined_features is not None and len(s.refined_features) == len(s.segments) > n
        np.testing.assert_array_equal(s.refined_features[:n], trained)
        new_ids = s.segments.ids[n:]
        np.testing.assert_allclose(s.refined_features[n:], model_features(new_ids), atol=1e-5)
        assert learning.refined_features(s) is s.refined_features

        before = rows_by_id()
        row = int(np.argmax(s.segments.area))
        sid, img = int(s.segments.ids[row]), int(s.segments.image[row])
        yy, xx = np.nonzero(s.label_images[img] == sid)
        new_id = editing.split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])])[1]
        after = rows_by_id()
        assert len(s.refined_features) == len(s.segments) == len(before) + 1
        for i in set(before) - {sid}:
            np.testing.assert_array_equal(after[i], before[i])
        parts = [sid, new_id]
        got = np.array([after[i] for i in parts])
        np.testing.assert_allclose(got, model_features(parts), atol=1e-5)
        s.undo()
        assert rows_by_id().keys() == before.keys()
        s.redo()
        np.testing.assert_array_equal(np.array([rows_by_id()[i] for i in parts]), got)
