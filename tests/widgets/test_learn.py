"""The dock's Learn tab: metric learning, suggestions, proposals, batches, local view."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui

JOB_TIMEOUT = 240_000  # ms; the first job may pay torch's import on a loaded machine


def _open_labelled(dock, session_file, n=6):
    """Open the small session and label the ``n`` leftmost / rightmost points."""
    assert dock.load_session(session_file) is not None, dock.last_error
    s = dock.session
    a = dock.add_class("left")
    b = dock.add_class("right", "#00ff00")
    order = np.argsort(s.embedding[:, 0])
    dock.assign(s.segments.ids[order[:n]], a)
    dock.assign(s.segments.ids[order[-n:]], b)
    return s, a, b


def test_train_suggest_and_proposals(dock, qtbot, session_file):
    s, _, _ = _open_labelled(dock, session_file)
    before = s.embedding.copy()
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.train_metric("head")
        assert dock.busy and not dock.train_button.isEnabled()
    assert blocker.args == ["train metric", "done"], dock.last_error
    assert dock.train_button.isEnabled()
    assert s.embedding.shape == before.shape and np.isfinite(s.embedding).all()
    assert not np.allclose(s.embedding, before)
    assert s.refined_features is not None and len(s.refined_features) == len(s.segments)
    np.testing.assert_allclose(dock.scatter.points, s.embedding)

    ids = dock.suggest_uncertain(5)
    assert ids.size == 5
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == 0)
    np.testing.assert_array_equal(dock.scatter.ringed, np.sort(s.segments.rows_of(ids)))

    groups = dock.propose(k=5, min_agreement=0.5)
    assert groups and dock.proposal_list.count() == len(groups)
    # reject changes nothing
    classes_before = s.segment_class.copy()
    dock.reject_proposal(0)
    assert dock.proposal_list.count() == len(groups) - 1
    np.testing.assert_array_equal(s.segment_class, classes_before)
    if not dock.proposals:
        groups = dock.propose(k=5, min_agreement=0.5)
    cid, gids, _ = dock.proposals[0]
    dock.accept_proposal(0)
    assert np.all(s.segment_class[s.segments.rows_of(gids)] == cid)
    for seg in gids:
        img, flat = s.segment_pixels(int(seg))
        assert np.all(dock.layers_for(img)[1].data.ravel()[flat] == cid)
    assert dock.undo() is not None  # one undoable action per group
    assert np.all(s.segment_class[s.segments.rows_of(gids)] == 0)


def test_cancelled_training_keeps_the_embedding(dock, qtbot, session_file):
    s, _, _ = _open_labelled(dock, session_file)
    before = s.embedding
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.train_metric("head")
        dock.cancel()
    # the job checks the token at every batch, so a cancel right after the start lands
    assert blocker.args == ["train metric", "cancelled"]
    assert s.embedding is before and s.refined_features is None and s.metric_state is None
    assert dock.train_button.isEnabled() and not dock.busy


def test_add_images_and_local_view(dock, qtbot, session_file, photos):
    s, a, _ = _open_labelled(dock, session_file)
    n_img, n_seg = s.n_images, len(s.segments)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.add_images([photos[0][:, ::-1].copy()])
    assert blocker.args == ["add images", "done"], dock.last_error
    s = dock.session
    assert s.n_images == n_img + 1 and len(s.segments) > n_seg
    assert s.embedding.shape == (len(s.segments), 2) and np.isfinite(s.embedding).all()
    assert dock.image_spin.maximum() == s.n_images
    dock.current_image = n_img  # the new image gets its layers
    assert dock.layers_for(n_img)[1].data is s.class_masks[n_img]

    # local view of the new image's segments; a box there labels them
    new_ids = s.segments.ids[s.segments.image == n_img][:12]
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        job = dock.open_local_view(new_ids)
        assert dock.busy and job.pbar is not None  # UMAP runs in a worker, with a progress bar
    assert blocker.args == ["local view", "done"], dock.last_error
    view = dock.local_views[-1]
    assert view.points.shape == (new_ids.size, 2)
    from napari_featann.batches import local_view

    np.testing.assert_allclose(view.points, local_view(s, new_ids))  # the same layout
    assert dock.tabs.tabText(dock.tabs.currentIndex()).startswith("Local")
    dock.set_current_class(a)
    lo, hi = view.points.min(0) - 1, view.points.max(0) + 1
    rows = view.select_box(lo, hi)
    assert rows.size == new_ids.size
    assert np.all(s.segment_class[s.segments.rows_of(new_ids)] == a)
    img, flat = s.segment_pixels(int(new_ids[0]))
    assert np.all(dock.layers_for(img)[1].data.ravel()[flat] == a)
    row = s.segments.rows_of(new_ids[:1])[0]
    np.testing.assert_allclose(dock.scatter.colors[row], view.colors[0])


def test_add_images_reports_unreadable_files(dock, qtbot, session_file, photos, tmp_path,
                                             monkeypatch):  # fmt: skip
    import imageio.v3 as iio
    import napari.utils.notifications as notifications

    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    assert dock.load_session(session_file) is not None, dock.last_error
    n_img = dock.session.n_images
    folder = tmp_path / "more"
    folder.mkdir()
    iio.imwrite(folder / "new.png", photos[2][:, ::-1].copy())
    (folder / "broken.png").write_bytes(b"xx")
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.add_images(folder)
    assert blocker.args == ["add images", "done"], dock.last_error
    assert dock.session.n_images == n_img + 1
    assert len(warned) == 1 and warned[0].startswith("skipped: ") and "broken.png" in warned[0]
    assert any("broken.png" in k for k in dock.session.load_failures)
    assert dock.status_label.text().startswith("added 1 images")


def _box_all(view):
    view.select_box(*(view.points.min(0) - 1, view.points.max(0) + 1))


def test_one_labelled_class_proposes_nothing(dock, session_file):
    """Labels of one class only: every neighbour would vote for it, so no group at all."""
    assert dock.load_session(session_file) is not None, dock.last_error
    s = dock.session
    a = dock.add_class("only")
    dock.assign(s.segments.ids[np.argsort(s.embedding[:, 0])[:6]], a)
    assert dock.propose(k=5, min_agreement=0.5) == []
    assert dock.proposal_list.count() == 0 and not dock.accept_button.isEnabled()
    assert "at least 2 classes" in dock.status_label.text()
    assert np.count_nonzero(s.segment_class) == 6


def test_accepting_a_proposal_keeps_labels_given_since(dock, session_file):
    s, a, b = _open_labelled(dock, session_file)
    cid, ids, _conf = dock.propose(k=5, min_agreement=0.5)[0]
    other = b if cid == a else a
    dock.assign(ids[:1], other)  # the user labels one of the proposed segments otherwise
    dock.accept_proposal(0)
    rows = s.segments.rows_of(ids)
    assert s.segment_class[rows[0]] == other
    assert np.all(s.segment_class[rows[1:]] == cid)


def test_proposals_of_a_deleted_class_never_label_with_a_class_added_later(dock, session_file):
    """A deleted class's id goes to the next class added: its proposal groups are dropped."""
    s, a, b = _open_labelled(dock, session_file)
    groups = dock.propose(k=5, min_agreement=0.5)
    assert {cid for cid, _ids, _conf in groups} == {a, b}
    dock.class_manager.rename_class(b, "far right")
    texts = [dock.proposal_list.item(k).text() for k in range(dock.proposal_list.count())]
    assert sum(text.startswith("far right:") for text in texts) == 1  # the list follows
    dock.class_manager.delete_class(a)
    assert [cid for cid, _ids, _conf in dock.proposals] == [b]
    assert dock.proposal_list.count() == 1
    later = dock.add_class("later")
    assert later == a  # the freed id
    dock.accept_proposal(0)  # the group of "far right", the only one left
    assert not np.any(s.segment_class == later)


def test_local_views_follow_labels_hide_labelled_and_close_when_segments_go(dock,
                                                                           session_file):  # fmt: skip
    s, _a, b = _open_labelled(dock, session_file)
    labelled = s.segments.ids[s.segment_class > 0][:3]
    unlabelled = s.segments.ids[(s.segment_class == 0) & (s.segments.image == 0)][:7]
    dock.open_local_view(np.concatenate([labelled, unlabelled]), sync=True)
    view = dock.local_views[-1]
    view._hide_checkbox.setChecked(True)  # the tab's own "Hide labelled"
    assert view._vis_idx.size == 7
    before = s.segment_class[s.segments.rows_of(labelled)].copy()
    dock.set_current_class(b)
    _box_all(view)  # only the 7 shown points take the class
    np.testing.assert_array_equal(s.segment_class[s.segments.rows_of(labelled)], before)
    assert np.all(s.segment_class[s.segments.rows_of(unlabelled)] == b)
    dock.undo()  # the view's colours follow the session (here: undo)
    rows = s.segments.rows_of(view.segment_ids)
    np.testing.assert_allclose(view.colors, dock.point_colors()[rows])
    assert view._vis_idx.size == 7
    dock.partition_panel.regions.value = 12
    dock.apply_partition(sync=True, images=[0])  # the view's segments of image 0 are gone
    assert view not in dock.local_views
    assert not any(dock.tabs.tabText(k).startswith("Local") for k in range(dock.tabs.count()))
    _box_all(view)  # a closed view labels nothing (and raises nothing)


def test_re_projecting_after_training_keeps_the_learned_metric(dock, session_file):
    """Re-project fits the scatter on the refined features, as training did, not the raw ones."""
    from napari_featann.learning import refined_features

    s, _, _ = _open_labelled(dock, session_file)
    dock.train_metric("head", sync=True)
    assert s.metric_state is not None, dock.last_error
    want = s.fork()
    want.project(features=refined_features(s))
    raw = s.fork()
    raw.project()
    dock.reproject(sync=True)
    np.testing.assert_allclose(s.embedding, want.embedding, atol=1e-4)
    assert not np.allclose(s.embedding, raw.embedding, atol=1e-2)
    np.testing.assert_allclose(dock.scatter.points, s.embedding)


def test_local_view_clicks_are_linked_like_the_main_scatter(dock, session_file):
    """A point clicked in a local view focuses its segment; a segment clicked in napari rings
    its point in the local views that hold it."""
    s, _a, _b = _open_labelled(dock, session_file)
    in1 = s.segments.ids[s.segments.image == 1]
    ids = np.concatenate([s.segments.ids[s.segments.image == 0][:4], in1[:4]])
    dock.open_local_view(ids, sync=True)
    view = dock.local_views[-1]
    dock.current_image = 0
    k = int(np.flatnonzero(view.segment_ids == in1[2])[0])
    view.point_clicked.emit(k)  # as a click on the point (the view's own picking emits this)
    row = int(s.segments.rows_of(in1[2:3])[0])
    assert dock.current_image == 1 and dock.layers.focused == (1, int(in1[2]))
    assert dock.scatter.focused == row and view.focused == k

    def click_segment(seg):  # a plain click on the napari canvas, inside the segment
        r, c = np.argwhere(s.label_images[1] == seg)[0]
        dock._on_canvas_click((float(r), float(c)))

    click_segment(in1[0])
    assert view.focused == int(np.flatnonzero(view.segment_ids == in1[0])[0])
    assert dock.scatter.focused == int(s.segments.rows_of(in1[:1])[0])
    click_segment(in1[-1])  # a segment the view does not hold: its ring goes
    assert view.focused == -1 and dock.layers.focused == (1, int(in1[-1]))
    view.point_clicked.emit(k)
    view.point_clicked.emit(-1)  # a click beside every point clears the focus, as in the main one
    assert view.focused == -1 and dock.scatter.focused == -1


def test_local_views_are_disabled_while_a_job_runs(dock, qtbot, session_file):
    """As the main scatter: no box or lasso in a local view while a job runs."""
    s, a, _ = _open_labelled(dock, session_file)
    ids = s.segments.ids[s.segment_class == 0][:8]
    dock.open_local_view(ids, sync=True)
    view = dock.local_views[-1]
    assert view.isEnabled()
    dock.set_current_class(a)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.open_local_view(ids[:4])  # a job
        assert dock.busy and not dock.scatter.isEnabled()
        assert not view.isEnabled()
        _box_all(view)  # from code only (the view is disabled): nothing labelled, and said
        assert np.all(s.segment_class[s.segments.rows_of(ids)] == 0)
        assert "job runs" in dock.status_label.text()
    assert blocker.args == ["local view", "done"], dock.last_error
    assert all(v.isEnabled() for v in dock.local_views) and len(dock.local_views) == 2


def _split(dock, s, seg):
    """Split segment ``seg`` by a positive and a negative click in it (sync)."""
    img = int(s.segments.image[s.segments.rows_of([seg])[0]])
    dock.current_image = img
    pix = np.argwhere(s.label_images[img] == seg)
    dock.set_split_mode(True)
    assert dock.add_click(*pix[0], positive=True) and dock.add_click(*pix[-1], positive=False)
    ids = dock.confirm_split(sync=True).result
    dock.set_split_mode(False)
    return ids


def test_local_views_close_when_a_kept_id_changes_shape(dock, session_file):
    """A split keeps the old id for its negative part, a merge keeps the smallest id: the
    views holding them close (their points and thumbnails would be stale), and the edit's
    status says so; an undo that changes a view's segment closes it too."""
    s, _a, _b = _open_labelled(dock, session_file)
    in0 = s.segments.ids[s.segments.image == 0]
    dock.open_local_view(in0[:6], sync=True)
    split_view = dock.local_views[-1]
    dock.open_local_view(in0[10:16], sync=True)  # untouched by the split
    other = dock.local_views[-1]
    neg, pos = _split(dock, s, int(in0[0]))
    assert neg == in0[0] and pos not in in0  # the old id stays, for a smaller part
    assert split_view not in dock.local_views and other in dock.local_views
    assert dock.status_label.text().startswith(f"split segment {neg}")
    assert "1 local view(s) closed" in dock.status_label.text()

    dock.open_local_view([neg, pos], sync=True)  # the split's parts
    parts = dock.local_views[-1]
    dock.undo()  # pos is gone, neg grows back
    assert parts not in dock.local_views and other in dock.local_views
    assert dock.status_label.text().startswith("undo: ")
    assert "1 local view(s) closed" in dock.status_label.text()

    # a merge of a view's segment with a bigger id outside it: the smaller id stays
    lab, held = s.label_images[0], set(int(i) for i in other.segment_ids)
    pairs = {(int(x), int(y)) for a_, b_ in ((lab[:, :-1], lab[:, 1:]), (lab[:-1], lab[1:]))
             for x, y in zip(a_.ravel(), b_.ravel()) if x in held and y not in held and x < y}  # fmt: skip
    assert pairs
    dock.merge_selected(sorted(pairs)[0], sync=True)
    assert sorted(pairs)[0][0] in s.segments.ids
    assert other not in dock.local_views
    assert "1 local view(s) closed" in dock.status_label.text()


def test_undoing_an_accepted_proposal_puts_the_group_back(dock, session_file):
    s, _a, _b = _open_labelled(dock, session_file)
    groups = dock.propose(k=5, min_agreement=0.5)
    assert len(groups) == 2
    cid, ids, _conf = groups[1]
    dock.accept_proposal(1)
    assert [g[0] for g in dock.proposals] == [groups[0][0]]
    dock.undo()
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == 0)
    assert [g[0] for g in dock.proposals] == [groups[0][0], cid]  # back, at its place
    assert dock.proposal_list.count() == 2 and dock.accept_button.isEnabled()
    assert "back in the list" in dock.status_label.text()
    dock.redo()
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == cid)
    assert [g[0] for g in dock.proposals] == [groups[0][0]]
    dock.undo()
    dock.accept_proposal(1)  # accepting it again is one more undoable action
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == cid)
    dock.assign(ids[:1], 0)  # an unrelated undo leaves the list alone
    dock.undo()
    assert [g[0] for g in dock.proposals] == [groups[0][0]]


def test_labelling_a_suggestion_keeps_the_other_rings(dock, qtbot, session_file):
    """Labelling one suggested segment (a box, an Alt+click) takes only its ring away: the
    others stay ringed beside the selection's highlight. Undo rings it again, redo takes it
    out again; a new layout (re-projection) drops the suggestions, stale by then."""
    s, a, _b = _open_labelled(dock, session_file)
    ids = dock.suggest_uncertain(5)
    np.testing.assert_array_equal(dock.suggested_ids, ids)
    rows = s.segments.rows_of(ids)
    pts = dock.scatter.points
    # the suggested point farthest from any other: a box around it holds it alone
    gap = [np.delete(np.linalg.norm(pts - pts[r], axis=1), r).min() for r in rows]
    k = int(np.argmax(gap))
    dock.set_current_class(a)
    half = gap[k] / 3
    assert dock.select_box(pts[rows[k]] - half, pts[rows[k]] + half).tolist() == [ids[k]]
    assert s.segment_class[rows[k]] == a
    rest = np.delete(ids, k)
    np.testing.assert_array_equal(dock.suggested_ids, rest)  # (main: all 5 still suggested)
    np.testing.assert_array_equal(dock.scatter._highlight, rows[k : k + 1])  # the selection
    np.testing.assert_array_equal(dock.scatter.ringed, np.sort(s.segments.rows_of(rest)))

    seg = int(rest[0])  # Alt+click another suggested segment on the napari canvas
    img = int(s.segments.image[s.segments.rows_of([seg])[0]])
    dock.current_image = img
    r, c = np.argwhere(s.label_images[img] == seg)[0]
    dock._on_canvas_click((float(r), float(c)), True)
    assert s.segment_class[s.segments.rows_of([seg])[0]] == a
    np.testing.assert_array_equal(dock.suggested_ids, rest[1:])
    np.testing.assert_array_equal(dock.scatter.ringed, np.sort(s.segments.rows_of(rest[1:])))
    np.testing.assert_array_equal(dock.scatter._highlight, rows[k : k + 1])

    dock.undo()  # unlabelled again: suggested and ringed again
    np.testing.assert_array_equal(dock.suggested_ids, rest)
    np.testing.assert_array_equal(dock.scatter.ringed, np.sort(s.segments.rows_of(rest)))
    dock.redo()
    np.testing.assert_array_equal(dock.suggested_ids, rest[1:])
    np.testing.assert_array_equal(dock.scatter.ringed, np.sort(s.segments.rows_of(rest[1:])))

    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.reproject()  # another layout: the suggestions are stale
    assert blocker.args == ["re-project", "done"], dock.last_error
    assert dock.suggested_ids.size == 0 and dock.scatter.ringed.size == 0
    dock.undo()  # unlabelling the Alt+clicked segment brings no stale suggestion back
    assert dock.suggested_ids.size == 0 and dock.scatter.ringed.size == 0
