"""A seeded sequence of real user operations, the invariants checked after each.

On real images with the real backbone: box, lasso and Alt+click labelling,
paint, splits and merges (also planned, with labels given while they are
computed, as the GUI's worker does), re-cuts, Remove specks, Fill holes, class
edits, metric learning (head), re-projection, added images, undo and redo, and
saving and opening the session (then going on with the opened one). After
every step: the segment table is that of the label images, every pixel not
painted by hand shows its segment's class, the feature and scatter rows are
their segments' (features re-extracted for a few), the head's refined features
are its embedding of the features; an undo brings back exactly the state
before its step and a redo the state after it; an unchanged segment keeps its
point in the scatter; a saved session opens as it was.
"""

import dataclasses

import numpy as np
from scipy import ndimage

from napari_featann import batches, editing, learning
from napari_featann.io import load_session, save_session
from napari_featann.session import Session


def _state(s: Session) -> dict:
    seg = s.segments
    copy = lambda a: None if a is None else a.copy()  # noqa: E731
    return dict(
        labels=[a.copy() for a in s.label_images], ids=seg.ids.copy(), area=seg.area.copy(),
        bbox=seg.bbox.copy(), image=seg.image.copy(), classes_of=s.segment_class.copy(),
        masks=[a.copy() for a in s.class_masks], manual=[a.copy() for a in s.manual_masks],
        classes=[(k, c.name, c.color) for k, c in s.classes.items()],
        features=copy(s.features), embedding=copy(s.embedding), refined=copy(s.refined_features),
        next_id=s.next_id, params=s.partition_params.to_dict(),
    )  # fmt: skip


def _differ(a: dict, b: dict, layout: bool = True) -> list[str]:
    out = []
    for k, x in a.items():
        y = b[k]
        if k in ("embedding", "refined") and not layout:
            continue
        if k == "refined" and (x is None or y is None):
            continue  # a head's refined features are a cache, made again when used
        if isinstance(x, list) and x and isinstance(x[0], np.ndarray):
            same = len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y))
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            same = x is not None and y is not None and np.array_equal(x, y)
        else:
            same = x == y
        if not same:
            out.append(k)
    return out


def _check(s: Session, rng, tag: str) -> None:
    seg, n = s.segments, len(s.segments)
    assert len(np.unique(seg.ids)) == n and s.next_id > seg.ids.max(), tag
    for name in ("segment_class", "features", "embedding"):
        assert getattr(s, name) is None or len(getattr(s, name)) == n, f"{tag}: {name}"
    assert s.embedding is None or np.isfinite(s.embedding).all(), tag
    assert set(np.unique(s.segment_class).tolist()) <= {0, *s.classes}, tag
    for i, lab in enumerate(s.label_images):
        rows = np.flatnonzero(seg.image == i)
        ids, counts = np.unique(lab, return_counts=True)
        order = np.argsort(seg.ids[rows])
        assert np.array_equal(ids, seg.ids[rows][order]), f"{tag}: image {i}: ids"
        assert np.array_equal(counts, seg.area[rows][order]), f"{tag}: image {i}: areas"
        boxes = ndimage.find_objects(lab)
        for r in rows:
            o = boxes[int(seg.ids[r]) - 1]
            box = [o[0].start, o[1].start, o[0].stop, o[1].stop]
            assert list(seg.bbox[r]) == box, f"{tag}: box of {seg.ids[r]}"
        lut = np.zeros(int(lab.max()) + 1, np.int64)
        lut[seg.ids[rows]] = s.segment_class[rows]
        off = ~s.manual_masks[i] & (s.class_masks[i] != lut[lab])
        assert not off.any(), f"{tag}: image {i}: {int(off.sum())} pixels off their segment"
        assert set(np.unique(s.class_masks[i]).tolist()) <= {0, *s.classes}, tag
    rows = rng.choice(n, size=2, replace=False)
    np.testing.assert_allclose(s.compute_features(rows=rows), s.features[rows], atol=2e-3,
                               err_msg=f"{tag}: feature rows of other segments")  # fmt: skip
    state, refined = s.metric_state, s.refined_features
    if state is not None and refined is not None and len(refined) == n:
        np.testing.assert_allclose(state[1].embed(s.features), refined, atol=1e-4, err_msg=tag)


def _points(st: dict) -> dict:
    """Scatter point and features of each segment, by id and pixels."""
    out = {}
    for r, sid in enumerate(st["ids"].tolist()):
        y0, x0, y1, x1 = (int(v) for v in st["bbox"][r])
        pixels = st["labels"][int(st["image"][r])][y0:y1, x0:x1] == sid
        out[(sid, y0, x0, y1, x1, pixels.tobytes())] = r
    return out


def _unmoved(a: dict, b: dict, tag: str) -> None:
    """Segments unchanged from ``a`` to ``b`` keep their features and scatter points."""
    pa, pb = _points(a), _points(b)
    ra = np.array([pa[k] for k in pa.keys() & pb.keys()], int)
    rb = np.array([pb[k] for k in pa.keys() & pb.keys()], int)
    for k in ("features", "embedding"):
        assert np.array_equal(a[k][ra], b[k][rb]), f"{tag}: {k} of unchanged segments"


class _Sequence:
    def __init__(self, s: Session, spare, rng, tmp_path):
        self.s, self.spare, self.rng, self.tmp = s, spare, rng, tmp_path
        self.done, self.undone = [], []  # the history's steps: (before, after, layout, name)
        self.layout = 0  # changes with every re-projection and metric learning

    def _cls(self, zero=True) -> int:
        return int(self.rng.choice([0] * zero + list(self.s.classes) or [0]))

    def _step(self, name, fn):
        s, n, before = self.s, len(self.s.history), _state(self.s)
        result = fn()
        after = _state(s)
        if len(s.history) == n:
            assert not _differ(before, after), f"{name}: a change without an undo step"
        else:
            assert len(s.history) == n + 1, name
            self.done.append((before, after, self.layout, name))
            self.undone.clear()
            _unmoved(before, after, name)
        return result

    def _pixel(self, img):
        r, c = (int(self.rng.integers(m)) for m in self.s.label_images[img].shape)
        return r, c

    def _segment_points(self, big=40):
        s = self.s
        rows = np.flatnonzero(s.segments.area >= big)
        row = int(self.rng.choice(rows))
        sid, img = int(s.segments.ids[row]), int(s.segments.image[row])
        yy, xx = np.nonzero(s.label_images[img] == sid)
        k = self.rng.choice(yy.size, size=2, replace=False)
        return sid, [(int(yy[k[0]]), int(xx[k[0]]))], [(int(yy[k[1]]), int(xx[k[1]]))]

    def _neighbours(self):
        lab = self.s.label_images[int(self.rng.integers(self.s.n_images))]
        edge = np.flatnonzero(lab[:, 1:] != lab[:, :-1])
        r, c = np.unravel_index(int(self.rng.choice(edge)), lab[:, 1:].shape)
        return [int(lab[r, c]), int(lab[r, c + 1])]

    def op_assign(self):
        ids = self.rng.choice(self.s.segments.ids, size=int(self.rng.integers(1, 8)))
        c = self._cls()
        self._step("assign", lambda: self.s.assign(ids, c))

    def op_alt_click(self):
        img = int(self.rng.integers(self.s.n_images))
        sid = self.s.segment_at(img, *self._pixel(img))
        c = self._cls(False)
        self._step("alt-click", lambda: self.s.assign([sid], c))

    def op_box(self):
        e = self.s.embedding
        lo, span = e.min(0), e.max(0) - e.min(0)
        p0 = lo + self.rng.random(2) * span
        ids = self.s.select_box(p0, p0 + self.rng.random(2) * span / 2, self.rng.random() < 0.5)
        c = self._cls()
        self._step("box", lambda: self.s.assign(ids, c))

    def op_lasso(self):
        e = self.s.embedding
        t = np.sort(self.rng.random(6)) * 2 * np.pi
        radius = (e.max(0) - e.min(0)).mean() * 0.3
        lasso = e[int(self.rng.integers(len(e)))] + radius * np.c_[np.cos(t), np.sin(t)]
        ids = self.s.select_lasso(lasso, self.rng.random() < 0.3)
        c = self._cls()
        self._step("lasso", lambda: self.s.assign(ids, c))

    def op_paint(self):
        s, img = self.s, int(self.rng.integers(self.s.n_images))
        labelled = np.flatnonzero(s.segment_class)
        if labelled.size and self.rng.random() < 0.7:  # over a labelled segment
            row = int(self.rng.choice(labelled))
            img, (r0, c0) = int(s.segments.image[row]), s.segments.bbox[row][:2]
            r, c = int(r0), int(c0)
        else:
            r, c = self._pixel(img)
        mask = np.zeros(s.class_masks[img].shape, bool)
        mask[r : r + 6, c : c + 6] = True
        k = self._cls()
        self._step("paint", lambda: self.s.paint(img, mask, k))

    def op_split(self):
        sid, pos, neg = self._segment_points()
        cls = self._cls() or None
        self._step("split", lambda: editing.split(self.s, sid, pos, neg, positive_class=cls))

    def op_merge(self):
        ids = self._neighbours()
        self._step("merge", lambda: editing.merge(self.s, ids))

    def op_recut(self):
        s = self.s
        params = dataclasses.replace(s.partition_params, regions=int(self.rng.integers(12, 30)))
        images = None if self.rng.random() < 0.4 else [int(self.rng.integers(s.n_images))]
        self._step("recut", lambda: editing.recut(s, params, images=images))

    def op_planned(self):
        """A split or merge planned (the GUI's worker), labels given meanwhile, then applied."""
        s = self.s
        if self.rng.random() < 0.5:
            sid, pos, neg = self._segment_points()
            planned, ids = editing.plan_split(s, sid, pos, neg), [sid]
        else:
            ids = self._neighbours()
            planned = editing.plan_merge(s, ids)
        for _ in range(int(self.rng.integers(1, 3))):
            getattr(self, str(self.rng.choice(["op_assign", "op_paint", "op_classes"])))()
        c = self._cls()
        self._step("meanwhile", lambda: s.assign(ids, c))
        new = self._step("apply", lambda: planned.apply(s))
        rows = s.segments.rows_of(np.atleast_1d(new))
        assert (s.segment_class[rows] == c).all(), "labels given meanwhile were dropped"

    def op_specks(self):
        ids = editing.speck_segments(self.s, int(self.rng.integers(self.s.n_images)), 0.5)
        if ids.size:
            self._step("specks", lambda: self.s.assign(ids, 0))

    def op_holes(self):
        s, holes = self.s, editing.hole_segments(self.s, int(self.rng.integers(self.s.n_images)))

        def fill():
            steps = sum(bool(s.assign(ids, c)) for c, ids in holes.items())
            if steps > 1:
                s.history.merge_last(steps, "fill holes")

        if holes:
            self._step("holes", fill)

    def op_classes(self):
        s, c, x = self.s, self._cls(False), self.rng.random()
        if (x < 0.3 and len(s.classes) < 5) or not c:
            self._step("add class", s.add_class)
        elif x < 0.6:
            self._step("delete class", lambda: s.remove_class(c))
        elif f"n{c}" not in [i.name for i in s.classes.values()]:
            self._step("rename", lambda: s.rename_class(c, f"n{c}"))

    def op_undo(self):
        if not self.done:
            assert not self.s.history.can_undo
            return
        before, after, layout, name = self.done.pop()
        now = _state(self.s)
        assert not _differ(after, now, layout == self.layout), f"before undoing {name}"
        self.s.undo()
        back = _state(self.s)
        assert not _differ(before, back, layout == self.layout), f"undo of {name}"
        _unmoved(now, back, f"undo of {name}")
        self.layout += layout != self.layout  # points that came back were placed anew
        self.undone.append((before, after, layout, name))

    def op_redo(self):
        if not self.undone:
            assert not self.s.history.can_redo
            return
        before, after, layout, name = self.undone.pop()
        now = _state(self.s)
        self.s.redo()
        again = _state(self.s)
        assert not _differ(after, again, layout == self.layout), f"redo of {name}"
        _unmoved(now, again, f"redo of {name}")
        self.layout += layout != self.layout
        self.done.append((before, after, layout, name))

    def op_train(self):
        if (np.bincount(self.s.segment_class, minlength=256)[1:] >= 2).sum() >= 2:
            learning.train_metric(self.s, "head", epochs=2, samples_per_epoch=256,
                                  reproject=self.rng.random() < 0.7)  # fmt: skip
            self.layout += 1

    def op_add_images(self):
        if self.spare:
            s, before = self.s, _state(self.s)
            batches.add_images(s, [self.spare.pop()], names=[f"more{s.n_images}"])
            after, m = _state(s), len(before["ids"])
            for k in ("ids", "image", "classes_of", "features", "embedding"):
                assert np.array_equal(after[k][:m], before[k]), f"added images changed {k}"
            self.done.clear()
            self.undone.clear()

    def op_save_load(self):
        s = self.s
        opened = load_session(save_session(s, self.tmp / f"s{len(self.done)}"))
        assert not _differ(_state(s), _state(opened)), "a saved session opens otherwise"
        assert (s.metric_state is None) == (opened.metric_state is None)
        if self.rng.random() < 0.5:  # go on with the opened session, as the GUI does
            opened._extractor, opened._extractor_key = s._extractor, s._extractor_key
            self.s = opened
            self.done.clear()
            self.undone.clear()

    WEIGHTS = dict(assign=4, alt_click=2, box=3, lasso=2, paint=2, split=3, merge=3, recut=1,
                   planned=2, specks=1, holes=1, classes=2, undo=5, redo=3, train=1, add_images=1,
                   save_load=1)  # fmt: skip


def test_a_seeded_sequence_of_user_operations_keeps_the_session_consistent(
    davis_files, cnn_params, tmp_path
):
    import imageio.v3 as iio

    pixels = [np.ascontiguousarray(iio.imread(p)[::6, ::6]) for p in davis_files]
    s = Session.from_sources(pixels, names=[p.stem for p in davis_files], features=cnn_params)
    s.partition_params.regions = 20
    s.projection_params.n_neighbors = 8
    s.run()
    s.add_class("a"), s.add_class("b")
    rng = np.random.default_rng(7)
    seq = _Sequence(s, [pixels[0][::-1].copy()], rng, tmp_path)
    names = list(seq.WEIGHTS)
    p = np.array([seq.WEIGHTS[n] for n in names], float)
    seen = set()
    for k in range(90):
        op = "save_load" if k in (30, 60) else str(rng.choice(names, p=p / p.sum()))
        getattr(seq, f"op_{op}")()
        seen.add(op)
        _check(seq.s, rng, f"step {k} ({op})")
    while seq.s.history.can_undo:
        seq.op_undo()
    _check(seq.s, rng, "all undone")
    while seq.s.history.can_redo:
        seq.op_redo()
    _check(seq.s, rng, "all redone")
    assert seen == set(names)
