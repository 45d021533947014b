"""The user's hands on the viewer's layers: deleted, renamed, cleared, a session file opened
during a job, the dock closed; the dock and its session survive them.
"""

from __future__ import annotations

import numpy as np
import pytest
from dock_helpers import JOB_TIMEOUT, gate_features, left_half, open_session

pytestmark = pytest.mark.gui


def _job(dock, qtbot, run, name="pipeline"):
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        run()
    assert blocker.args == [name, "done"], dock.last_error


def test_start_after_deleting_a_picked_image_layer_keeps_the_session(dock, qtbot, photos):
    """The deleted layer leaves the list's pick; that is no new pick, the labels stay."""
    viewer = dock.viewer
    for p, n in zip(photos, "abc"):
        viewer.add_image(p, name=n)
    _job(dock, qtbot, dock.start)
    s = dock.session
    mark = dock.add_class("mark")
    ids = s.segments.ids[s.segments.in_image(1)[:3]]
    dock.assign(ids, mark)
    labelled = s.class_masks[1] == mark
    viewer.layers.remove(viewer.layers["b"])  # the user deletes an image the session holds
    assert [it.text() for it in dock.layer_list.selectedItems()] == ["a", "c"]
    _job(dock, qtbot, dock.start)
    s2 = dock.session
    assert s2.n_images == 3 and [r.name for r in s2.images] == ["a", "b", "c"]
    assert mark in s2.classes and np.array_equal(s2.class_masks[1] == mark, labelled)
    dock.current_image = 1  # its image layer is made again from the session
    image, classes, _segments = dock.layers_for(1)
    assert image.name == "b" and image.visible and classes.data is s2.class_masks[1]


def test_the_dock_survives_deleted_renamed_and_cleared_layers(dock, qtbot, session_file):
    s = open_session(dock, session_file)
    mark = dock.add_class("mark")
    for i in range(s.n_images):
        dock.current_image = i
    viewer = dock.viewer
    image, classes, segments = dock.layers_for(0)
    viewer.layers.remove(dock.layers_for(1)[1])  # a classes layer
    viewer.layers.remove(dock.layers_for(2)[2])  # a segments layer
    image.name, classes.name, segments.name = "x", "y", "z"  # renamed, moved, hidden
    viewer.layers.move(viewer.layers.index(image), len(viewer.layers))
    classes.visible = False
    name = s.images[1].name
    mine = viewer.add_labels(np.zeros((9, 9), np.uint8), name=f"{name} classes")  # a collision
    dock.select_box(*left_half(s.embedding))  # labels in every image
    painted = [cm.copy() for cm in s.class_masks]
    for i in (1, 2, 0):
        dock.current_image = i
        assert dock.layers_for(i)[1].data is s.class_masks[i] and dock.layers_for(i)[1].visible
    viewer.layers.clear()  # every layer closed
    assert dock.undo() is not None and dock.redo() is not None
    dock.current_image = 1
    _img, classes, _seg = dock.layers_for(1)
    assert classes in viewer.layers and classes is not mine and classes.data is s.class_masks[1]
    _job(dock, qtbot, dock.start)
    s = dock.session
    assert all(np.array_equal(a, b) for a, b in zip(painted, s.class_masks))  # no label lost
    dock.partition_panel.regions.value = 15
    _job(dock, qtbot, dock.apply_partition, "re-cut")  # labels carried by overlap
    assert (dock.session.segment_class == mark).any() and dock.session.class_masks[2].any()
    assert mine.data.shape == (9, 9) and not mine.data.any()  # the user's layer untouched


def test_a_session_opened_while_a_job_runs_is_shown_when_it_ends(dock, qtbot, session_file,
                                                                  monkeypatch):  # fmt: skip
    """The reader's layers were left untaken, and nothing was said, before."""
    s = open_session(dock, session_file)
    mark = dock.add_class("mark")
    dock.assign(s.segments.ids[:5], mark)
    reached, release = gate_features(monkeypatch)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
        try:
            qtbot.waitUntil(reached.is_set, timeout=JOB_TIMEOUT)
            opened = dock.viewer.open(str(session_file), plugin="napari-featann")
            qtbot.waitUntil(lambda: "shown when" in dock.status_label.text(), timeout=5000)
            assert dock.busy and dock.session is s
        finally:
            release.set()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    shown = dock.session
    assert shown is opened[0].metadata["featann_session"] and not shown.classes
    assert dock.layers_for(0)[1] in opened
    assert "opened session" in dock.status_label.text()


def test_closing_the_dock_while_start_runs_tears_it_down(dock, qtbot, session_file, tmp_path):
    """napari's close button takes the dock out without closeEvent: it used to live on."""
    from napari_featann._widgets.dock import FeatureSpaceWidget
    from napari_featann.io import load_session

    viewer = dock.viewer
    s = open_session(dock, session_file)
    dock.set_autosave_minutes(5)
    mark = dock.add_class("mark")
    dock.assign(s.segments.ids[:5], mark)
    dock.start()
    with qtbot.captureExceptions() as exceptions:
        dock.parent().destroyOnClose()  # the dock's title-bar close button
        qtbot.waitUntil(lambda: not dock.job.running, timeout=JOB_TIMEOUT)
        qtbot.wait(50)
    assert not exceptions, [str(e[1]) for e in exceptions]
    assert dock.session is s  # the cancelled job committed nothing
    assert dock._click_cb not in viewer.mouse_drag_callbacks
    saved = load_session(dock.autosave_path())  # the unsaved labels were autosaved
    assert np.array_equal(saved.class_masks[0], s.class_masks[0])
    # opened again from the Plugins menu: a new dock, alone on the layers
    again = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(again, name="Feature Space Annotation")
    try:
        assert again.session is None
        layer = next(la for la in viewer.layers if la.name.endswith(" classes"))
        assert not any("featann" in key for key in layer.metadata)  # the old dock let go
    finally:
        again.teardown()
