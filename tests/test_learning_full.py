"""A full fine-tuning's backbone gives the features of segments made or brought back later.

Real computation: two DAVIS frames downscaled, the local EfficientNet-Lite0 weights,
a one-epoch fine-tuning of a few samples.
"""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from napari_featann import editing, learning
from napari_featann.core.progress import ensure_progress
from napari_featann.io import load_session, save_session
from napari_featann.session import Session

QUICK = dict(epochs=1, samples_per_epoch=8, batch_size=4, m=2, hflip=False)


def _session(files, params) -> Session:
    """Two small DAVIS frames, cut into 12 segments each, with features, layout and labels."""
    imgs = [np.asarray(Image.open(f).convert("RGB").resize((107, 60), Image.BILINEAR))
            for f in files[:2]]  # fmt: skip
    s = Session.from_sources(imgs, names=["swan", "car"])
    s.partition_params.regions = 12
    s.partition()
    s.feature_params = params
    s.extract_features()
    s.project()
    a, b = s.add_class("a"), s.add_class("b")
    s.assign(s.segments.ids[:3], a)
    s.assign(s.segments.ids[-3:], b)
    return s


def _split_largest(s: Session) -> tuple[int, int]:
    """Split the largest segment between its first and last pixel."""
    row = int(np.argmax(s.segments.area))
    sid, img = int(s.segments.ids[row]), int(s.segments.image[row])
    yy, xx = np.nonzero(s.label_images[img] == sid)
    return editing.split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])])


def _fine_tuned(s: Session, ids) -> np.ndarray:
    """What the fine-tuned backbone gives these segments when it embeds the whole session."""
    every = learning._backbone_features(s, s.metric_state[1], ensure_progress(None))
    return every[s.segments.rows_of(ids)]


def _nearest(space: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.argmin(((space[None] - rows[:, None]) ** 2).sum(-1), axis=1)


def test_split_parts_get_the_fine_tuned_features_and_are_placed_by_them(davis_files, cnn_params):
    s = _session(davis_files, cnn_params)
    with learning._torch_threads(1):
        learning.train_metric(s, "full", **QUICK)  # the layout is fit on the refined features
        layout, refined, base = s.embedding.copy(), s.refined_features.copy(), s.features.copy()
        parts = list(_split_largest(s))
        rows = s.segments.rows_of(parts)
        np.testing.assert_allclose(s.refined_features[rows], _fine_tuned(s, parts), atol=1e-5)
    assert not np.allclose(s.refined_features[rows], s.features[rows], atol=1e-3)
    # each part goes next to its nearest neighbour among the segments of before, in the
    # fine-tuned backbone's space (the base backbone's neighbour is elsewhere for one)
    by_refined = layout[_nearest(refined, s.refined_features[rows])]
    by_base = layout[_nearest(base, s.features[rows])]
    assert np.linalg.norm(by_refined - by_base, axis=1).max() > 1.0
    assert np.linalg.norm(s.embedding[rows] - by_refined, axis=1).max() < 0.3


def test_undo_of_an_edit_made_before_a_full_fine_tuning_embeds_what_comes_back(
    davis_files, cnn_params
):
    s = _session(davis_files, replace(cnn_params, context=True))  # crop and context blocks
    sid, new_id = _split_largest(s)  # before the fine-tuning: its parts have base features
    with learning._torch_threads(1):
        learning.train_metric(s, "full", **QUICK)
        layout, refined = s.embedding.copy(), s.refined_features.copy()
        s.undo()  # the unsplit segment comes back
        row = s.segments.rows_of([sid])
        assert s.metric_state[0] == "full" and len(s.refined_features) == len(s.segments)
        assert learning.refined_features(s) is s.refined_features
        np.testing.assert_allclose(s.refined_features[row], _fine_tuned(s, [sid]), atol=1e-5)
        assert not np.allclose(s.refined_features[row], s.features[row], atol=1e-3)
        near = layout[_nearest(refined, s.refined_features[row])]
        assert np.linalg.norm(s.embedding[row] - near) < 0.3
        others = np.flatnonzero(s.segments.ids != sid)
        np.testing.assert_allclose(s.refined_features[others], _fine_tuned(s, s.segments.ids[others]),
                                   atol=1e-5)  # fmt: skip
        s.redo()  # and its parts again
        parts = [sid, new_id]
        rows = s.segments.rows_of(parts)
        np.testing.assert_allclose(s.refined_features[rows], _fine_tuned(s, parts), atol=1e-5)


@pytest.fixture(scope="module")
def full_file(davis_files, backbone_weights, tmp_path_factory):
    """A session after a full fine-tuning, saved: (session, path, its weights, its refined
    features). The first test below splits the session; the others read only the file."""
    import copy

    from napari_featann.params import FeatureParams

    params = FeatureParams(weights=str(backbone_weights), device="cpu")  # crop and context
    s = _session(davis_files, params)
    with learning._torch_threads(1):
        learning.train_metric(s, "full", reproject=False, **QUICK)
    path = save_session(s, tmp_path_factory.mktemp("full") / "full")
    weights = copy.deepcopy(s.metric_state[1].state_dict())
    return s, path, weights, s.refined_features.copy()


def _rewritten(path, out, edit):
    """``path`` written again to ``out`` with ``edit(arrays, meta)``'s arrays and metadata."""
    import json

    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    arrays = edit(arrays, meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)
    return out


def _same_weights(model, weights: dict) -> bool:
    import torch

    back = model.state_dict()
    return list(back) == list(weights) and all(torch.equal(back[k], weights[k]) for k in weights)


def test_a_reopened_full_session_embeds_new_segments_with_its_fine_tuned_backbone(full_file):
    """The file holds the fine-tuned backbone: a split after opening gives its parts the
    refined features that the split gives them in the session that was saved."""
    s, path, weights, refined = full_file
    loaded = load_session(path)
    assert loaded.metric_state[0] == "full"
    assert _same_weights(loaded.metric_state[1], weights)  # every weight as trained
    np.testing.assert_array_equal(loaded.refined_features, refined)
    with learning._torch_threads(1):
        parts = _split_largest(s)
        assert _split_largest(loaded) == parts  # and no warning: nothing is dropped
    rows, again = s.segments.rows_of(parts), loaded.segments.rows_of(parts)
    np.testing.assert_allclose(loaded.refined_features[again], s.refined_features[rows], atol=1e-6)
    assert not np.allclose(loaded.refined_features[again], loaded.features[again], atol=1e-3)
    np.testing.assert_allclose(loaded.embedding[again], s.embedding[rows], atol=1e-6)
    assert learning.refined_features(loaded) is loaded.refined_features


def test_a_full_session_file_opens_without_the_base_weights_file(full_file, tmp_path):
    """The saved tensors replace every weight: the base weights are not read to rebuild it."""
    _, path, weights, _ = full_file

    def moved(arrays, meta):
        meta["params"]["features"]["weights"] = str(tmp_path / "moved-away.pth")
        return arrays

    loaded = load_session(_rewritten(path, tmp_path / "moved.featann", moved))
    assert loaded.metric_state[0] == "full"
    assert _same_weights(loaded.metric_state[1], weights)


def test_a_full_session_file_saved_without_its_backbone_says_that_an_edit_drops_them(
    full_file, tmp_path
):
    """Files written before the backbone was saved keep the refined features only: they are
    dropped with a warning, not mixed."""
    from napari_featann.io_metric import BACKBONE, BACKBONE_META

    _, path, _, refined = full_file

    def old(arrays, meta):
        del meta[BACKBONE_META]  # as such a file was written
        return {k: v for k, v in arrays.items() if not k.startswith(BACKBONE)}

    loaded = load_session(_rewritten(path, tmp_path / "old.featann", old))
    assert loaded.metric_state is None
    np.testing.assert_array_equal(loaded.refined_features, refined)
    assert learning.refined_features(loaded) is loaded.refined_features  # as before saving
    with pytest.warns(UserWarning, match="fine-tuned backbone .* is not in this session"):
        _split_largest(loaded)
    assert loaded.refined_features is None
    assert learning.refined_features(loaded) is loaded.features  # one space for all segments
    loaded.undo()  # the refined features of the file come back with its segments
    np.testing.assert_array_equal(loaded.refined_features, refined)
