"""The "Correct" tab: split a segment by clicks, merge, undo, in a real viewer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from napari_featann._widgets.correct import CLICKS_LAYER, PREVIEW_LAYER

pytestmark = pytest.mark.gui


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture
def squares(weights):
    """Two touching squares (red, blue) that the session has as ONE segment (id 2)."""
    from napari_featann.core.regions import table_from_label_images
    from napari_featann.session import FeatureParams, Session

    img = np.full((40, 60, 3), 120, np.uint8)
    img[10:30, 10:30] = (230, 40, 40)
    img[10:30, 30:50] = (40, 40, 230)
    s = Session.from_sources([img], names=["squares"])
    s.partition_params.regions = 3
    s.partition()
    lab = np.ones((40, 60), np.int32)
    lab[10:30, 10:50] = 2
    s.label_images = [lab]
    s.segments = table_from_label_images([lab])
    s.segment_class = np.zeros(2, np.int32)
    s.next_id = 3
    s.feature_params = FeatureParams(weights=weights, device="cpu")
    s.features = s.compute_features()
    s.embedding = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    left = np.zeros((40, 60), bool)
    left[10:30, 10:30] = True
    return s, left


def test_split_by_clicks_then_undo_and_merge(dock, squares, qtbot):
    s, left = squares
    dock.set_session(s)
    cid = dock.add_class("red")
    dock.set_split_mode(True)
    assert dock.split_mode and dock._layer_named(CLICKS_LAYER) is not None
    assert dock.add_click(20, 20, positive=True)
    assert dock.split_preview() is None  # needs both kinds
    assert dock.add_click(20, 40, positive=False)
    preview = dock.split_preview()
    assert preview is not None and _iou(preview, left) > 0.95
    assert dock._layer_named(PREVIEW_LAYER) is not None
    names = [layer.name for layer in dock.viewer.layers]
    assert names.index(CLICKS_LAYER) > names.index(PREVIEW_LAYER)  # clicks drawn on top
    assert len(dock._layer_named(CLICKS_LAYER).data) == 2

    # a click outside the target: an error, nothing changes
    assert not dock.add_click(2, 2)
    assert "outside" in dock.last_error
    assert len(dock.clicks[0]) == 1 and len(dock.clicks[1]) == 1
    np.testing.assert_array_equal(dock.split_preview(), preview)

    n_points = len(dock.scatter.points)
    with qtbot.waitSignal(dock.job_finished, timeout=120_000) as blocker:
        job = dock.confirm_split(sync=False)
        assert dock.busy  # a job: features and places are computed off the main thread
        assert len(s.segments) == 2  # nothing changes before it is done
    assert blocker.args == ["split", "done"], dock.last_error
    neg_id, pos_id = job.result
    lab = s.label_images[0]
    assert len(s.segments) == 3 and _iou(lab == pos_id, left) > 0.95
    _image, classes, segments = dock.layers_for(0)
    assert segments.data is lab
    assert set(np.unique(segments.data[10:30, 10:50])) == {neg_id, pos_id}
    assert (classes.data[12:28, 12:28] == cid).all()
    assert (classes.data[12:28, 32:48] == 0).all()
    assert len(dock.scatter.points) == n_points + 1
    assert not dock._layer_named(PREVIEW_LAYER).visible and dock.split_target == 0

    # undo restores one segment, and the layers show it
    assert dock.undo() is not None
    lab = s.label_images[0]
    assert len(s.segments) == 2 and (lab[10:30, 10:50] == 2).all()
    assert segments.data is lab and set(np.unique(segments.data[10:30, 10:50])) == {2}
    assert (classes.data[10:30, 10:50] == 0).all()
    assert len(dock.scatter.points) == n_points

    # redo, then merge the two halves back
    dock.redo()
    assert len(s.segments) == 3
    merged = dock.merge_selected([neg_id, pos_id], sync=True).result
    assert len(s.segments) == 2 and (s.label_images[0][10:30, 10:50] == merged).all()
    assert dock.layers_for(0)[2].data is s.label_images[0]
    assert len(dock.scatter.points) == n_points

    dock.add_click(20, 20, True)  # the next split: the kept preview layer shows again
    dock.add_click(20, 40, False)
    assert dock._layer_named(PREVIEW_LAYER).visible
    dock.set_split_mode(False)
    assert dock._layer_named(CLICKS_LAYER) is None and dock._layer_named(PREVIEW_LAYER) is None


def test_merge_errors_change_nothing(dock, squares):
    s, _left = squares
    dock.set_session(s)
    dock.merge_button.click()  # nothing selected: an error message, no change
    assert "at least two" in dock.last_error and len(s.segments) == 2
    dock.set_split_mode(True)
    assert not dock.add_click(-5, -5)  # outside the image
    assert dock.split_target == 0
    dock.split_button.click()  # no clicks: an error, no change
    assert "positive and a negative" in dock.last_error and len(s.segments) == 2
    assert not s.history.can_undo


def _click(cb, viewer, position, button=1, modifiers=()):
    event = SimpleNamespace(button=button, modifiers=modifiers, pos=(10, 10),
                            position=position, type="mouse_press")  # fmt: skip
    gen = cb(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)


def test_canvas_clicks_polarity_and_ctrl_merge(dock, squares):
    s, left = squares
    dock.set_session(s)
    dock.set_split_mode(True)
    cb = dock._split_cb
    assert cb in dock.viewer.mouse_drag_callbacks
    _click(cb, dock.viewer, (20, 20))
    _click(cb, dock.viewer, (20, 40), modifiers=("Shift",))
    _click(cb, dock.viewer, (22, 42), button=2)
    pos, neg = dock.clicks
    assert pos == [(20, 20)] and neg == [(20, 40), (22, 42)]
    assert _iou(dock.split_preview(), left) > 0.95
    neg_id, pos_id = dock.confirm_split(sync=True).result
    _click(cb, dock.viewer, (20, 20), modifiers=("Control",))
    _click(cb, dock.viewer, (20, 40), modifiers=("Control",))
    assert dock.merge_selected(sync=True).result == min(neg_id, pos_id)
    assert len(s.segments) == 2
    dock.set_split_mode(False)
    assert cb not in dock.viewer.mouse_drag_callbacks


def test_remove_specks_unlabels_small_islands_and_undoes(dock):
    from napari_featann.bench.speed import _grid_session

    s = _grid_session(2, 25, (50, 50))  # 2 images of 5 x 5 segments of 10 x 10 pixels
    dock.set_session(s)
    cid = dock.add_class("object")
    dock.assign([1, 2, 3, 6, 7, 8, 11, 12, 13, 25], cid)  # a 3 x 3 block and the far corner
    layer = dock.layers.get(0, "classes")
    assert layer.data[45, 45] == cid
    dock.specks_button.click()  # 20 %: the 100-px corner is below 0.2 x 900 px
    assert not dock.last_error
    assert s.segment_class[24] == 0 and layer.data[45, 45] == 0 and layer.data[5, 5] == cid
    assert "removed 1 speck" in dock.status_label.text()
    dock.undo()
    assert s.segment_class[24] == cid and layer.data[45, 45] == cid
    dock.current_image = 1  # nothing labelled there
    assert dock.remove_specks() == 0 and "no specks" in dock.status_label.text()
    dock.speck_percent.setValue(100)
    dock.current_image = 0
    assert dock.remove_specks() == 1  # the corner again: the block is the largest part


def test_the_correct_tab_s_edits_are_disabled_while_a_job_runs(dock, qtbot):
    import threading

    from napari_featann.bench.speed import _grid_session

    s = _grid_session(1, 25, (50, 50))
    dock.set_session(s)
    cid = dock.add_class("object")
    dock.assign([1, 2, 3, 6, 7, 8, 11, 12, 13, 25], cid)  # a block and a speck in a corner
    edits = (dock.split_button, dock.merge_button, dock.specks_button, dock.holes_button)
    assert all(b.isEnabled() for b in edits)
    gate, reached = threading.Event(), threading.Event()

    def blocked(progress):
        progress.init(1, "waiting")
        reached.set()
        gate.wait(30)

    with qtbot.waitSignal(dock.job_finished, timeout=30_000):
        dock._run("re-cut", blocked, lambda _r: None, sync=False)
        try:
            qtbot.waitUntil(reached.is_set, timeout=5000)
            assert not any(b.isEnabled() for b in edits)  # as the guide says of the buttons
            dock.specks_button.click()  # a disabled button does nothing, says nothing
            assert s.segment_class[24] == cid and not dock.last_error
        finally:
            gate.set()
    assert all(b.isEnabled() for b in edits)


def test_fill_holes_labels_enclosed_segments_as_one_undo(dock):
    from napari_featann.bench.speed import _grid_session

    s = _grid_session(2, 49, (70, 70))  # 7 x 7 segments of 10 x 10 pixels, ids r * 7 + c + 1
    dock.set_session(s)
    a, b = dock.add_class("cell"), dock.add_class("nucleus")
    ring = lambda d: [r * 7 + c + 1 for r in range(7) for c in range(7)  # noqa: E731
                      if max(abs(r - 3), abs(c - 3)) == d]  # fmt: skip
    dock.assign(ring(3), a)
    dock.assign(ring(1), b)
    layer = dock.layers.get(0, "classes")
    assert layer.data[35, 35] == 0 and layer.data[15, 15] == 0
    dock.holes_button.click()
    assert not dock.last_error
    assert layer.data[35, 35] == b and layer.data[15, 15] == a  # the centre, between the rings
    assert (s.segment_class[s.segments.rows_of(ring(2))] == a).all()
    assert "filled 17 hole segments" in dock.status_label.text()
    dock.undo()  # both classes' fills at once
    assert layer.data[35, 35] == 0 and layer.data[15, 15] == 0
    assert s.segment_class[s.segments.rows_of([25])][0] == 0
    dock.redo()
    assert layer.data[35, 35] == b and layer.data[15, 15] == a
    dock.current_image = 1  # nothing labelled there
    assert dock.fill_holes() == 0 and "no holes" in dock.status_label.text()


def test_specks_and_holes_before_start_say_so(dock, squares_image):
    dock.load_images([squares_image], names=["squares"])  # loaded, not partitioned yet
    dock.add_class("a")
    steps = len(dock.session.history._done)
    for button in (dock.specks_button, dock.holes_button):
        dock.last_error = ""
        button.click()  # an error message, not an exception
        assert "press Start first" in dock.last_error
    assert len(dock.session.history._done) == steps  # nothing done
    with pytest.raises(RuntimeError, match="press Start first"):
        dock.fill_holes()


def test_a_re_cut_or_start_drops_clicks_on_the_old_segments(dock, squares):
    # the ids of a re-cut or of a new Start name other segments (or none): the clicks made on
    # the old ones must not split or merge them
    s, _left = squares
    dock.set_session(s)
    dock.set_split_mode(True)
    assert dock.add_click(20, 20, True) and dock.add_click(20, 40, False)
    assert dock.add_merge_click(2, 2) == 1 and dock.add_merge_click(20, 20) == 2
    dock.partition_panel.regions.value = 3
    dock.apply_partition(sync=True, images=[0])
    assert 2 not in s.segments.ids  # the re-cut's segments have new ids
    assert dock.split_target == 0 and dock.clicks == ([], []) and dock._merge_ids == []
    assert not dock._layer_named(PREVIEW_LAYER).visible
    assert dock.add_click(20, 20, True) and dock.add_merge_click(2, 2)  # clicks go on
    dock.start(sync=True)  # new segments, numbered from 1 again
    new = dock.session
    assert {1, 2} <= set(new.segments.ids.tolist())
    assert dock.split_target == 0 and dock.clicks == ([], []) and dock._merge_ids == []
    before = [lab.copy() for lab in new.label_images]
    dock.merge_button.click()  # nothing Ctrl+clicked since: nothing to merge
    assert "at least two" in dock.last_error
    assert all(np.array_equal(a, b) for a, b in zip(new.label_images, before, strict=True))
    assert not new.history.can_undo


def test_opening_another_session_drops_the_clicks_on_the_shown_one(dock, squares, squares_image):
    from napari_featann.session import Session

    s, _left = squares
    dock.set_session(s)
    dock.set_split_mode(True)
    assert dock.add_click(20, 20, True) and dock.add_click(20, 40, False)
    assert dock.add_merge_click(2, 2) == 1 and dock.add_merge_click(20, 20) == 2
    other = Session.from_sources([squares_image])
    other.partition_params.regions = 3
    other.partition()
    dock.set_session(other)  # as Open session does
    assert dock.split_target == 0 and dock.clicks == ([], []) and dock._merge_ids == []
    before = other.label_images[0].copy()
    dock.merge_button.click()  # the clicks were on the other session's segments
    assert "at least two" in dock.last_error
    assert np.array_equal(other.label_images[0], before) and not other.history.can_undo


def test_split_merge_and_undo_keep_the_scatter_view(dock, squares):
    """A structural edit keeps the zoom and pan, unless its new points fall out of view."""
    s, _left = squares
    dock.set_session(s)
    dock.scatter.set_camera_rect(0.7, 0.7, 1.3, 1.3)  # zoomed in on the segment to split
    view = dock.scatter.camera_rect()
    dock.set_split_mode(True)
    dock.add_click(20, 20, positive=True)
    dock.add_click(20, 40, positive=False)
    neg_id, pos_id = dock.confirm_split(sync=True).result
    assert len(dock.scatter.points) == 3
    np.testing.assert_allclose(dock.scatter.camera_rect(), view)
    dock.undo()
    np.testing.assert_allclose(dock.scatter.camera_rect(), view)
    dock.redo()
    np.testing.assert_allclose(dock.scatter.camera_rect(), view)
    dock.merge_selected([neg_id, pos_id], sync=True)
    np.testing.assert_allclose(dock.scatter.camera_rect(), view)
    dock.set_split_mode(False)

    dock.scatter.set_camera_rect(-0.2, -0.2, 0.2, 0.2)  # away from where the parts go
    dock.undo()  # the two parts come back, out of view: the scatter shows all points
    x0, y0, x1, y1 = dock.scatter.camera_rect()
    pts = dock.scatter.points
    assert (pts >= (x0, y0)).all() and (pts <= (x1, y1)).all()
