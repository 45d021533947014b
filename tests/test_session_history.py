"""Undo and redo keep the session consistent across every kind of edit.

The invariant: every pixel not painted by hand shows its segment's class, the
label images hold exactly the segments of the table, and no pixel holds a class
that does not exist.
"""

import numpy as np
import pytest

from napari_featann import editing
from napari_featann.core.partition import PartitionParams
from napari_featann.session import Session


@pytest.fixture
def session():
    rng = np.random.default_rng(7)
    img = rng.integers(0, 60, (64, 80, 3)).astype(np.uint8)
    img[10:40, 12:50] += 150
    img[45:60, 30:70, 1] += 120
    s = Session.from_sources([img, img[::-1, ::-1].copy()], names=["a", "b"])
    s.partition_params.regions = 25
    s.partition()
    return s


def _check(s: Session, tag: str) -> None:
    assert len(s.segment_class) == len(s.segments), tag
    for i in range(s.n_images):
        lab = s.label_images[i]
        rows = s.segments.image == i
        lut = np.zeros(int(lab.max()) + 1, np.int64)
        lut[s.segments.ids[rows]] = s.segment_class[rows]
        wrong = ~s.manual_masks[i] & (s.class_masks[i] != lut[lab])
        assert not wrong.any(), f"{tag}: image {i}: {int(wrong.sum())} pixels off their segment"
        assert set(np.unique(lab).tolist()) == set(s.segments.ids[rows].tolist()), tag
        assert set(np.unique(s.class_masks[i]).tolist()) - {0} <= set(s.classes), tag


def _snapshot(s: Session):
    return (
        [m.copy() for m in s.class_masks],
        [m.copy() for m in s.label_images],
        s.segment_class.copy(),
        sorted(s.classes),
    )


def _same(x, y) -> bool:
    return (
        all(np.array_equal(a, b) for a, b in zip(x[0], y[0], strict=True))
        and all(np.array_equal(a, b) for a, b in zip(x[1], y[1], strict=True))
        and np.array_equal(x[2], y[2])
        and x[3] == y[3]
    )


def _random_edit(s: Session, rng, k: int) -> None:
    op = rng.choice(["assign", "assign", "split", "merge", "recut", "paint", "remove", "add"])
    classes = list(s.classes)
    if op == "assign":
        ids = rng.choice(s.segments.ids, size=int(rng.integers(1, 8)), replace=False)
        s.assign(ids, int(rng.choice([0, *classes])))
    elif op == "split":
        row = int(np.argmax(s.segments.area))
        sid, img = int(s.segments.ids[row]), int(s.segments.image[row])
        yy, xx = np.nonzero(s.label_images[img] == sid)
        cls = int(rng.choice(classes)) if classes else None
        editing.split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])], positive_class=cls)
    elif op == "merge":
        lab = s.label_images[int(rng.integers(s.n_images))]
        edge = np.flatnonzero(lab[:, 1:] != lab[:, :-1])
        if edge.size:
            r, c = np.unravel_index(int(rng.choice(edge)), lab[:, 1:].shape)
            editing.merge(s, [int(lab[r, c]), int(lab[r, c + 1])])
    elif op == "recut":
        editing.recut(s, PartitionParams(regions=int(rng.integers(8, 40))),
                      images=[int(rng.integers(s.n_images))])  # fmt: skip
    elif op == "paint":
        img = int(rng.integers(s.n_images))
        mask = np.zeros(s.class_masks[img].shape, bool)
        y, x = int(rng.integers(50)), int(rng.integers(60))
        mask[y : y + 6, x : x + 6] = True
        s.paint(img, mask, int(rng.choice([0, *classes])))
    elif op == "remove" and classes:
        s.remove_class(int(rng.choice(classes)))
    elif op == "add" and len(classes) < 5:
        s.add_class(f"c{k}")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_edits_undo_and_redo_stay_consistent(session, seed):
    rng = np.random.default_rng(seed)
    s = session
    s.add_class("a")
    s.add_class("b")
    s.history.clear()
    for k in range(30):
        r = rng.random()
        if r < 0.15:
            s.undo()
        elif r < 0.25:
            s.redo()
        else:
            _random_edit(s, rng, k)
        _check(s, f"step {k}")
    states = [_snapshot(s)]
    while s.history.can_undo:
        s.undo()
        _check(s, "undo all")
        states.append(_snapshot(s))
    assert sorted(s.classes) == [1, 2] and not any(m.any() for m in s.class_masks)
    for expected in reversed(states[:-1]):
        s.redo()
        _check(s, "redo all")
        assert _same(_snapshot(s), expected)


def test_redo_of_a_structural_edit_brings_back_no_later_label(session):
    s = session
    a = s.add_class("a")
    row = int(np.argmax(s.segments.area))
    sid, img = int(s.segments.ids[row]), int(s.segments.image[row])
    yy, xx = np.nonzero(s.label_images[img] == sid)
    editing.split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])])
    s.assign(s.segments.ids[s.segments.image == 1][:5], a)
    editing.recut(s, PartitionParams(regions=12), images=[0])
    for _ in range(3):
        s.undo()
    assert s.redo().startswith("split")
    assert not (s.segment_class > 0).any()  # the assign came after the split
    assert not any(m.any() for m in s.class_masks)
    _check(s, "after redo")


def test_undoing_a_deletion_never_meets_a_newer_class_on_its_id(session):
    s = session
    cat = s.add_class("cat")
    s.remove_class(cat)
    dog = s.add_class("dog")
    assert dog == cat  # the lowest free id comes back
    s.assign(s.segments.ids[:5], dog)
    assert s.undo().startswith("label") and s.undo() == "add class dog"
    assert s.classes == {}
    assert s.undo() == "delete class cat" and s.classes[cat].name == "cat"
    for _ in range(3):
        s.redo()
    assert {c.name for c in s.classes.values()} == {"dog"}
    assert (s.segment_class == dog).sum() == 5
    _check(s, "after redo")


def test_assign_nothing_leaves_no_history_step(session):
    s = session
    s.add_class("a")
    s.history.clear()
    assert s.assign([], 1) == {}
    assert not s.history.can_undo


def test_a_structural_edit_keeps_only_its_images_masks_for_undo(session):
    from napari_featann.structure import Structure

    s = session
    a = s.add_class("a")
    s.assign(s.segments.ids, a)  # every image labelled
    row = int(
        np.flatnonzero(s.segments.image == 1)[np.argmax(s.segments.area[s.segments.image == 1])]
    )
    sid = int(s.segments.ids[row])
    yy, xx = np.nonzero(s.label_images[1] == sid)
    editing.split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])])
    action = s.history._done[-1]
    held = [c.cell_contents for f in (action.undo, action.redo) for c in f.__closure__ or ()]
    states = [x for x in held if isinstance(x, Structure)]
    assert len(states) == 2 and all(set(x.class_masks) == {1} for x in states)
    s.undo()
    _check(s, "after undo")
    assert (s.class_masks[0] == a).all() and (s.class_masks[1] == a).all()


def test_refined_features_follow_the_segments_through_edits_and_undo(session, monkeypatch):
    # a split then a merge give back as many segments as before, but not the same rows:
    # the refined features of the old rows must not pass for those of the new ones
    from napari_featann import learning

    rng = np.random.default_rng(0)
    s = session
    n = len(s.segments)
    s.features = rng.normal(size=(n, 16)).astype(np.float32)
    s.compute_features = lambda table=None, **_: rng.normal(size=(len(table), 16)).astype(
        np.float32
    )
    # the fine-tuned backbone (no real one here): random features for the new segments
    monkeypatch.setattr(learning, "_backbone_features", lambda _s, _m, _p, table, _l=None:
                        rng.normal(size=(len(table), 8)).astype(np.float32))  # fmt: skip
    trained = rng.normal(size=(n, 8)).astype(np.float32)
    s.refined_features, s.metric_state = trained, ("full", None)  # as after fine-tuning
    old = dict(zip(s.segments.ids.tolist(), trained))
    sid = int(s.segments.ids[3])
    pix = np.argwhere(s.label_images[0] == sid)
    parts = editing.split(s, sid, [tuple(pix[0])], [tuple(pix[-1])])
    lab = s.label_images[0]
    pair = next([int(a), int(b)] for a, b in zip(lab[:, :-1].ravel(), lab[:, 1:].ravel()) if a != b)
    editing.merge(s, pair)
    assert len(s.segments) == n
    now = learning.refined_features(s)
    assert now is not trained and len(now) == n  # not the stale rows of `trained`
    for i, row in zip(s.segments.ids.tolist(), now):  # untouched segments keep their rows
        if i not in (*parts, *pair):
            np.testing.assert_array_equal(row, old[i])
    s.undo()
    s.undo()
    assert learning.refined_features(s) is trained  # the rows of the segments they belong to


def test_undoing_a_class_deletion_keeps_a_layout_and_metric_learnt_since(session):
    # deleting a class changes no segment: undoing it must bring the class back, not the
    # scatter layout and refined features of before a training made after the deletion
    from napari_featann import learning

    rng = np.random.default_rng(0)
    s = session
    n = len(s.segments)
    s.features = rng.normal(size=(n, 24)).astype(np.float32)
    s.project()
    a, b, c = s.add_class("a"), s.add_class("b"), s.add_class("c")
    for cid, rows in ((a, [0, 1, 2]), (b, [3, 4, 5]), (c, [6, 7])):
        s.assign(s.segments.ids[rows], cid)
    labelled = [m.copy() for m in s.class_masks]
    s.remove_class(c)
    learning.train_metric(s, "head", epochs=2)  # re-embeds and re-projects
    layout, refined = s.embedding, s.refined_features
    assert s.undo() == "delete class c"
    assert s.embedding is layout and s.refined_features is refined
    assert learning.refined_features(s) is refined
    assert all(np.array_equal(x, y) for x, y in zip(s.class_masks, labelled, strict=True))
    assert np.array_equal(s.segment_class[6:8], [c, c])
    _check(s, "after undo")
    s.redo()
    assert s.embedding is layout and s.refined_features is refined
    assert c not in s.classes and not (s.segment_class == c).any()
    _check(s, "after redo")


def _clustered(s: Session, rng) -> None:
    """Features in three clusters (no CNN), for the session's segments and any new ones."""
    centres = rng.normal(0, 6, (3, 16))
    n = len(s.segments)
    s.features = (centres[np.arange(n) % 3] + rng.normal(0, 1, (n, 16))).astype(np.float32)
    s.compute_features = lambda table=None, **_: (
        centres[np.arange(len(table)) % 3] + rng.normal(0, 1, (len(table), 16))
    ).astype(np.float32)


def _split_one(s: Session) -> tuple[int, int]:
    sid = int(s.segments.ids[5])
    img = int(s.segments.image[5])
    pix = np.argwhere(s.label_images[img] == sid)
    return editing.split(s, sid, [tuple(pix[0])], [tuple(pix[-1])])


def _positions(s: Session) -> dict[int, np.ndarray]:
    return dict(zip(s.segments.ids.tolist(), s.embedding, strict=True))


def _inside(points: np.ndarray, layout: np.ndarray) -> bool:
    """Finite and in the layout's bounding box (with a margin of 5% of its span)."""
    margin = 0.05 * np.ptp(layout, axis=0)
    return bool(
        np.isfinite(points).all()
        and (points >= layout.min(0) - margin).all()
        and (points <= layout.max(0) + margin).all()
    )


def test_undo_and_redo_of_a_split_keep_a_metric_trained_since(session):
    # split, train the metric, undo: the training stays; the segment the split had
    # replaced comes back placed in the trained layout, by the trained head and model
    from napari_featann import learning

    s = session
    _clustered(s, np.random.default_rng(0))
    s.project()
    a, b = s.add_class("a"), s.add_class("b")
    s.assign(s.segments.ids[[0, 3, 6]], a)
    s.assign(s.segments.ids[[1, 4, 7]], b)
    old, new = _split_one(s)
    learning.train_metric(s, "head", epochs=2)
    metric, model, refined = s.metric_state, s._projector, s.refined_features
    trained = _positions(s)
    refined_of = dict(zip(s.segments.ids.tolist(), refined, strict=True))
    layout = s.embedding.copy()
    assert s.undo().startswith("split")
    _check(s, "after undo")
    assert s.metric_state is metric and s._projector is model
    back = s.segments.rows_of([old])[0]
    for sid, p in _positions(s).items():
        if sid != old:
            np.testing.assert_array_equal(p, trained[sid])
            np.testing.assert_array_equal(s.refined_features[s.segments.rows_of([sid])[0]],
                                          refined_of[sid])  # fmt: skip
    assert new not in _positions(s)
    assert _inside(s.embedding[back], layout)
    head = metric[1]
    np.testing.assert_allclose(
        s.refined_features[back], head.embed(s.features[back : back + 1])[0], atol=1e-6
    )
    assert learning.refined_features(s) is s.refined_features
    undone = _positions(s)
    assert s.redo().startswith("split")
    _check(s, "after redo")
    assert s.metric_state is metric and s._projector is model
    for sid, p in _positions(s).items():
        if sid not in (old, new):
            np.testing.assert_array_equal(p, trained[sid])
            np.testing.assert_array_equal(p, undone[sid])
    parts = s.segments.rows_of([old, new])
    assert _inside(s.embedding[parts], layout)
    assert s.refined_features.shape == (len(s.segments), refined.shape[1])


def test_undo_of_a_split_made_before_a_re_projection_keeps_that_layout_and_its_model(session):
    # split, re-project (another UMAP model), undo: the new layout stays, with the model that
    # made it, so that the segment that comes back and points placed later land in it
    s = session
    _clustered(s, np.random.default_rng(0))
    s.project()
    first = s._projector
    old, _ = _split_one(s)
    s.projection_params.seed = 1
    s.embedding = None  # a layout of its own, not one started from the old
    s.project()
    second, layout = s._projector, _positions(s)
    assert second is not first
    s.undo()
    assert s._projector is second
    for sid, p in _positions(s).items():
        if sid != old:
            np.testing.assert_array_equal(p, layout[sid])
    # the segments' own features land by their points in the layout shown
    offset = np.linalg.norm(s.place(s.features) - s.embedding, axis=1)
    span = np.ptp(s.embedding, axis=0).max()
    assert np.median(offset) < 0.1 * span
    s.redo()
    assert s._projector is second
    offset = np.linalg.norm(s.place(s.features) - s.embedding, axis=1)
    assert np.median(offset) < 0.1 * span


def test_undo_and_redo_of_a_split_with_no_layout_change_bring_back_its_own(session):
    # nothing trained or re-projected since the split: undo and redo bring back the very
    # arrays and model of each side, as before layouts made since were kept
    s = session
    _clustered(s, np.random.default_rng(0))
    s.project()
    model, layout = s._projector, s.embedding
    _split_one(s)
    split_layout = s.embedding
    s.undo()
    assert s.embedding is layout and s._projector is model
    s.redo()
    assert s.embedding is split_layout and s._projector is model
