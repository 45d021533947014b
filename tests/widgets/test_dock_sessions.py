"""The dock's sessions: what Start runs on and when it replaces the session shown,
what may change while it runs, cancel and errors, what loading shows and reports,
and saving and opening session files.

Beside test_dock.py, which holds the whole annotation.
"""

from __future__ import annotations

import numpy as np
import pytest
from dock_helpers import JOB_TIMEOUT, gate_features, left_half, open_session

pytestmark = pytest.mark.gui


def _start(dock, qtbot, status="done"):
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", status], dock.last_error


def test_start_runs_on_a_session_or_folder_opened_after_a_pick(dock, qtbot, photos, tmp_path,
                                                               session_file):  # fmt: skip
    import imageio.v3 as iio

    dock.viewer.add_image(photos[0], name="mine")
    dock.layer_list.item(0).setSelected(True)  # picked earlier, then a session is opened
    s = open_session(dock, session_file)
    mark = dock.add_class("mark")
    dock.assign(s.segments.ids[:5], mark)
    _start(dock, qtbot)
    assert [r.name for r in dock.session.images] == [r.name for r in s.images]
    assert mark in dock.session.classes
    # the same after Open folder…
    folder = tmp_path / "folder"
    folder.mkdir()
    iio.imwrite(folder / "p1.png", photos[1])
    dock.layer_list.item(0).setSelected(True)
    dock.load_images(folder)
    _start(dock, qtbot)
    assert [r.name for r in dock.session.images] == ["p1"]
    assert not dock.layer_list.selectedItems()  # the list no longer claims the old pick


def test_a_tiles_change_after_loading_is_said_not_ignored(dock, photos, session_file):
    scene = np.concatenate([photos[0], photos[0]], axis=1)  # 128 x 256
    s = dock.load_images([scene], names=["scene"], tile=128)
    assert s.n_images == 2
    for value in (0, 64):  # nothing picked: Start would run on the tiles as they are
        dock.tile_spin.setValue(value)
        dock._guard(dock.start)
        assert "Tiles" in dock.last_error and not dock.busy and dock.session is s
    # an opened session: the Tiles shown then count as its own; a change is said
    s = open_session(dock, session_file)
    dock.last_error = ""
    dock.tile_spin.setValue(128)
    dock._guard(dock.start)
    assert "Tiles" in dock.last_error and not dock.busy and dock.session is s


def test_no_class_can_be_deleted_while_start_runs(dock, qtbot, session_file, monkeypatch):
    s = open_session(dock, session_file)
    a = dock.add_class("a")
    dock.select_box(s.embedding.min(0) - 1, s.embedding.max(0) + 1)  # every segment: a
    reached, release = gate_features(monkeypatch)
    manager = dock.class_manager
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
        try:
            qtbot.waitUntil(reached.is_set, timeout=JOB_TIMEOUT)
            b = manager.add_class("b")  # allowed, and the list is rebuilt
            manager.set_current(a)
            assert not manager.delete_button.isEnabled()
            manager.delete_button.click()
            with pytest.raises(RuntimeError, match="wait for the running job"):
                manager.delete_class(a)
            assert dock.undo() is None  # Ctrl+Z: nothing, and the status line says why
            assert "while a job runs" in dock.status_label.text()
        finally:
            release.set()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    s2 = dock.session
    assert list(s2.classes) == [a, b]
    assert set(np.unique(s2.segment_class)) == {a}
    assert manager.delete_button.isEnabled()  # the job is over


def test_a_failed_or_cancelled_start_on_a_new_pick_keeps_the_session(dock, qtbot, session_file,
                                                                     photos, tmp_path):  # fmt: skip
    s = open_session(dock, session_file)
    a = dock.add_class("a")
    dock.assign(s.segments.ids[:5], a)
    image = dock.layers_for(0)[0]
    dock.viewer.add_image(photos[1], name="new")
    for k in range(dock.layer_list.count()):
        item = dock.layer_list.item(k)
        item.setSelected(item.text() == "new")
    weights = dock.features_panel.weights.value
    dock.features_panel.weights.value = str(tmp_path / "missing.pth")
    _start(dock, qtbot, "error")  # a new session for "new", whose pipeline fails
    assert "missing.pth" in dock.last_error
    assert dock.session is s and s.n_images == 3 and list(s.classes) == [a]
    assert dock.layers_for(0)[0] is image and len(dock.scatter.points) == len(s.segments)
    dock.features_panel.weights.value = weights
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
        dock.cancel()
    assert blocker.args == ["pipeline", "cancelled"]
    assert dock.session is s and dock.layers_for(0)[0] is image
    assert [it.text() for it in dock.layer_list.selectedItems()] == ["new"]  # still picked


def test_a_renamed_layer_is_listed_and_stays_picked(dock, qtbot, photos):
    layer = dock.viewer.add_image(photos[0], name="a")
    dock.layer_list.item(0).setSelected(True)
    layer.name = "renamed"
    assert [dock.layer_list.item(k).text() for k in range(dock.layer_list.count())] == ["renamed"]
    assert dock.picked_layers() == [layer] and dock.listed_layers() == [layer]
    dock.layer_list.clearSelection()
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock._guard(dock.start)  # nothing picked and no session: every listed layer
        assert dock.busy, dock.last_error
        dock.cancel()
    assert blocker.args == ["pipeline", "cancelled"]
    dock.viewer.layers.remove(layer)  # and a removed layer is no longer followed
    layer.name = "gone"
    assert dock.layer_list.count() == 0


def test_new_images_clear_the_scatter_of_the_previous_session(dock, session_file, photos):
    s = open_session(dock, session_file)
    np.testing.assert_allclose(dock.scatter.points, s.embedding)
    dock.load_images(photos[:1], names=["x"])  # not projected yet: no points
    assert dock.session.embedding is None and len(dock.scatter.points) == 0
    s = open_session(dock, session_file)  # and a projected session shows its own
    np.testing.assert_allclose(dock.scatter.points, s.embedding)


def test_cancel_leaves_the_session_intact(dock, qtbot, session_file):
    s = open_session(dock, session_file)
    cid = dock.add_class("x")
    dock.select_box(*left_half(s.embedding))
    before = (s.embedding.copy(), s.segments.ids.copy(), s.segment_class.copy(),
              [m.copy() for m in s.class_masks])  # fmt: skip
    dock.partition_panel.regions.value = 40
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
        dock.cancel()
    assert blocker.args == ["pipeline", "cancelled"]
    assert dock.session is s
    np.testing.assert_array_equal(s.embedding, before[0])
    np.testing.assert_array_equal(s.segments.ids, before[1])
    np.testing.assert_array_equal(s.segment_class, before[2])
    for m, old in zip(s.class_masks, before[3]):
        np.testing.assert_array_equal(m, old)
    assert s.history.can_undo and dock.start_button.isEnabled()
    assert cid in s.classes


def test_missing_weights_is_reported_and_changes_nothing(dock, qtbot, session_file, tmp_path):
    s = open_session(dock, session_file)
    dock.features_panel.weights.value = str(tmp_path / "missing.pth")
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", "error"]
    assert "missing.pth" in dock.last_error
    assert dock.session is s and s.embedding is not None


def test_too_many_context_levels_fail_before_the_partition(dock, qtbot, session_file):
    s = open_session(dock, session_file)
    labels, ids, emb = list(s.label_images), s.segments.ids.copy(), s.embedding.copy()
    dock.partition_panel.regions.value = 40  # a new cut, which the job must not reach
    dock.features_panel.context_levels.value = 6  # EfficientNet-Lite0 has 5 feature levels
    stages = []  # what the progress bar showed, stage by stage
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        job = dock.start()
        job.pbar.events.description.connect(lambda event: stages.append(event.value))
    assert blocker.args == ["pipeline", "error"]
    assert "context_levels is 6" in dock.last_error and "has 5 feature levels" in dock.last_error
    assert any("checking the backbone" in d for d in stages), stages
    assert not any("gradient" in d or "partition" in d for d in stages), stages  # never cut
    assert dock.session is s and all(a is b for a, b in zip(s.label_images, labels))
    np.testing.assert_array_equal(s.segments.ids, ids)
    np.testing.assert_array_equal(s.embedding, emb)
    np.testing.assert_allclose(dock.scatter.points, emb)


def test_session_files(dock, qtbot, session_file, tmp_path):
    s = open_session(dock, session_file)
    cid = dock.add_class("sky")
    ids = dock.select_box(*left_half(s.embedding))
    out = dock.save_session(tmp_path / "mine")
    assert out.name == "mine.featann" and not dock.dirty
    upper = dock.save_session(tmp_path / "UPPER.FEATANN")  # as save_session names it
    assert upper == tmp_path / "UPPER.FEATANN" and upper.is_file()
    assert dock.session_path == upper and not (tmp_path / "UPPER.FEATANN.featann").exists()

    # a broken file: clear error, nothing lost
    bad = tmp_path / "bad.featann"
    bad.write_bytes(b"not a session")
    assert dock.load_session(bad) is None
    assert "not a napari-featann session" in dock.last_error and dock.session is s

    # napari's reader (File > Open) adds tagged layers; the dock adopts that session
    dock.viewer.open(str(out), plugin="napari-featann")
    qtbot.waitUntil(lambda: dock.session is not s, timeout=5000)
    s2 = dock.session
    assert np.all(s2.segment_class[s2.segments.rows_of(ids)] == cid)
    assert dock.layers_for(0)[1].data is s2.class_masks[0]
    segments = dock.layers.get(0, "segments")  # the reader's, adopted, and still read-only
    assert segments.metadata["featann_session"] is s2 and not segments.editable

    # the writer finds the session in the layers' metadata
    from napari_featann._plugin_io import write_session

    layer = dock.layers_for(0)[1]
    written = write_session(tmp_path / "w.featann", [layer.as_layer_data_tuple()])
    assert written == [str(tmp_path / "w.featann")]

    masks = dock.export_masks(tmp_path / "masks")
    assert len(masks) == 3 and (tmp_path / "masks" / "legend.json").is_file()
    dock.autosave_target = tmp_path / "auto.featann"
    assert dock.autosave() == tmp_path / "auto.featann"


def test_save_and_open_in_the_background(dock, qtbot, session_file, tmp_path):
    s = open_session(dock, session_file)
    cid = dock.add_class("sky")
    first = dock.select_box(*left_half(s.embedding))
    dock.assign(first, cid)
    saved_masks = [m.copy() for m in s.class_masks]
    with qtbot.waitSignal(dock.session_written, timeout=JOB_TIMEOUT) as written:
        assert dock.save_session(tmp_path / "bg", wait=False) == tmp_path / "bg.featann"
        # labelling goes on while the file is written: the file holds the earlier state
        rest = np.setdiff1d(s.segments.ids, first)
        dock.assign(rest, cid)
        assert dock.dirty
    assert written.args == [str(tmp_path / "bg.featann")] and not dock.writing
    assert dock.dirty  # the later labels are not in the file

    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        assert dock.load_session(tmp_path / "bg.featann", wait=False) is None
    assert blocker.args == ["open session", "done"]
    s2 = dock.session
    assert s2 is not s and dock.session_path == tmp_path / "bg.featann"
    for a, b in zip(s2.class_masks, saved_masks):
        np.testing.assert_array_equal(a, b)
    assert dock.layers_for(0)[1].data is s2.class_masks[0]
    segments = dock.layers.get(0, "segments")  # the reader's, adopted, and still read-only
    assert segments.metadata["featann_session"] is s2 and not segments.editable

    # a bad file read in the background: an error, and the session shown stays
    bad = tmp_path / "bad.featann"
    bad.write_bytes(b"not a session")
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.load_session(bad, wait=False)
    assert blocker.args == ["open session", "error"]
    assert "not a napari-featann session" in dock.last_error and dock.session is s2


def test_saving_to_a_folder_is_refused_and_writes_nothing(dock, session_file, tmp_path):
    s = open_session(dock, session_file)
    dock.assign(s.segments.ids[:3], dock.add_class("sky"))
    (tmp_path / "adir").mkdir()
    (tmp_path / "x.featann").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    for path, message in [
        (tmp_path / "adir", "adir is a folder"),  # wrote adir.featann beside it
        (f"{tmp_path}/newdir/", "ends with a path separator"),  # wrote newdir.featann
        (tmp_path / "x", "x.featann is a folder"),
    ]:
        assert dock.save_session(path) is None
        assert message in dock.last_error and dock.dirty, (path, dock.last_error)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_failed_background_save_keeps_the_session_unsaved(dock, qtbot, session_file, tmp_path):
    s = open_session(dock, session_file)
    dock.assign(s.segments.ids[:3], dock.add_class("sky"))
    assert dock.dirty
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    dock.save_session(blocked / "x.featann", wait=False)
    qtbot.waitUntil(lambda: not dock.writing, timeout=JOB_TIMEOUT)
    assert dock.dirty and "could not save" in dock.last_error


def test_a_cancelled_save_keeps_the_old_file_and_the_session_unsaved(dock, qtbot, session_file,
                                                                      tmp_path, monkeypatch):  # fmt: skip
    import threading

    s = open_session(dock, session_file)
    path = dock.save_session(tmp_path / "s.featann")
    before = path.read_bytes()
    dock.assign(s.segments.ids[:3], dock.add_class("sky"))
    reached, release = threading.Event(), threading.Event()
    write_array = np.lib.format.write_array

    def gated(*args, **kwargs):  # the worker waits inside its first array
        reached.set()
        release.wait(60)
        return write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", gated)
    dock.save_session(path, wait=False)
    assert reached.wait(JOB_TIMEOUT / 1000) and dock.writing and not dock.dirty
    dock._writer.cancel()
    release.set()
    qtbot.waitUntil(lambda: not dock.writing, timeout=JOB_TIMEOUT)
    assert dock._writer.status == "cancelled"
    assert path.read_bytes() == before and not path.with_name("s.featann.tmp").exists()
    assert dock.dirty  # still unsaved: autosave and the close prompt know it
    dock.save_session(path)  # and a new save works
    assert not dock.dirty and path.read_bytes() != before


def test_closing_the_viewer_autosaves_unsaved_labels(make_napari_viewer, qtbot, session_file,
                                                     tmp_path, monkeypatch):  # fmt: skip
    from napari_featann._widgets.dock import FeatureSpaceWidget
    from napari_featann.io import load_session

    monkeypatch.setenv("FEATANN_HOME", str(tmp_path))
    viewer = make_napari_viewer(show=True)
    dock = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(dock)
    qtbot.waitUntil(lambda: dock._watched_window is not None, timeout=5000)
    s = open_session(dock, session_file)
    dock.autosave_target = tmp_path / "closing.featann"
    sky = dock.add_class("sky")
    dock.assign(s.segments.ids[:7], sky)
    assert not dock.autosave_target.exists()
    viewer.close()
    saved = load_session(tmp_path / "closing.featann")
    assert (saved.segment_class == sky).sum() == 7
    assert np.array_equal(saved.class_masks[0], s.class_masks[0])


def test_opening_a_session_removes_the_old_layers_in_one_batch(dock, session_file):
    """napari's canvas cleans up (a full gc.collect) once per batch, not once per layer."""
    open_session(dock, session_file)
    for i in range(3):  # every image shown once: three layers each
        dock.current_image = i
    old = [layer for layer in dock.viewer.layers if layer.metadata.get("featann_role")]
    assert len(old) == 9
    events = []
    layers = dock.viewer.layers
    layers.events.begin_batch.connect(lambda e: events.append("begin"))
    layers.events.end_batch.connect(lambda e: events.append("end"))
    layers.events.removed.connect(lambda e: events.append(e.value))
    s = open_session(dock, session_file)
    removed = [e for e in events if not isinstance(e, str)]
    assert {id(la) for la in removed} == {id(la) for la in old}
    first, last = events.index(removed[0]), events.index(removed[-1])
    assert "begin" in events[:first] and "end" in events[last:]
    assert "end" not in events[first:last] and "begin" not in events[first:last]
    assert not any(la in layers for la in old)
    assert dock.layers_for(0)[1].data is s.class_masks[0]  # the new session is shown


def test_classes_layers_cannot_be_painted_while_a_job_runs(dock, qtbot, session_file):
    import threading

    s = open_session(dock, session_file)
    dock.add_class("a")  # without a class nothing can be painted anyway
    dock.current_image = 0
    assert dock.layers_for(0)[1].editable
    gate, reached = threading.Event(), threading.Event()

    def blocked(progress):
        progress.init(1, "waiting")
        reached.set()
        gate.wait(30)
        return None

    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT):
        dock._run("re-cut", blocked, lambda _r: None, sync=False)
        qtbot.waitUntil(reached.is_set, timeout=5000)
        assert not dock.layers_for(0)[1].editable  # the job's masks stay as it read them
        dock.current_image = s.n_images - 1  # a layer made during the job too
        assert not dock.layers_for(s.n_images - 1)[1].editable
        gate.set()
    assert dock.layers_for(0)[1].editable and dock.layers_for(s.n_images - 1)[1].editable


def test_showing_a_session_with_fewer_images_than_the_current_index(dock, squares_image):
    from napari_featann.session import Session

    def session(n):
        s = Session.from_sources([squares_image] * n, names=[f"im{k}" for k in range(n)])
        s.partition_params.regions = 3
        s.partition()
        return s

    dock.set_session(session(4))
    for k in range(4):
        dock.current_image = k  # every image shown: its layers are in the viewer
    dock.set_session(session(1))  # removing those layers resets the viewer's sliders
    assert dock.current_image == 0 and dock.session.n_images == 1
    assert dock.last_error in (None, "")


def test_closing_the_dock_gives_the_classes_layers_napari_s_own_undo(dock, session_file):
    s = open_session(dock, session_file)
    sky = dock.add_class("sky")
    dock.assign(s.segments.ids[:6], sky)
    viewer, classes = dock.viewer, dock.layers_for(0)[1]
    dock.teardown()  # as closing the dock
    viewer.layers.selection.active = classes
    classes.paint((5, 5), 7)  # napari's brush, after the dock is gone
    before = s.segment_class.copy()
    qt_viewer = viewer.window._qt_viewer
    keys = getattr(qt_viewer.canvas, "_key_map_handler", None) or qt_viewer._key_map_handler
    keys.press_key("Control-Z")
    keys.release_key("Control-Z")
    assert np.array_equal(s.segment_class, before)  # the closed session is not undone
    assert classes.data[5, 5] != 7  # napari undid its own brush stroke


def test_paint_in_the_reader_s_classes_layer_before_the_dock_counts_as_hand_paint(
    make_napari_viewer, session_file, tmp_path, monkeypatch
):
    from napari_featann._widgets.dock import FeatureSpaceWidget
    from napari_featann.io import load_session, save_session

    monkeypatch.setenv("FEATANN_HOME", str(tmp_path))
    s = load_session(session_file)
    sky, sea = s.add_class("sky"), s.add_class("sea")
    ids = s.segments.ids[s.segments.image == 0]
    s.assign(ids, sky)
    # out of step, as after Start with earlier labels: pixels keep a class their segment lost
    s.segment_class[s.segments.rows_of(ids[:1])] = 0
    stale = np.zeros(s.class_masks[0].shape, bool)
    stale.ravel()[s.segment_pixels(int(ids[0]))[1]] = True
    path = save_session(s, tmp_path / "out_of_step")

    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-featann")
    (classes,) = [la for la in viewer.layers if la.name == f"{s.images[0].name} classes"]
    as_read = classes.data.copy()
    classes.brush_size = 5
    classes.paint((20, 30), sea)  # napari's brush, before any dock
    painted = classes.data != as_read
    classes.paint((60, 60), sea)  # and a stroke undone in napari: no paint left there
    classes.undo()
    assert painted.any() and np.array_equal(classes.data != as_read, painted)

    dock = FeatureSpaceWidget(viewer)  # adopts the opened session
    try:
        s2 = dock.session
        assert s2 is classes.metadata["featann_session"]
        assert np.array_equal(s2.manual_masks[0], painted) and dock.dirty
        dock.assign(ids, 0)  # relabelling the segments leaves the hand paint alone…
        assert np.all(s2.class_masks[0][painted] == sea)
        assert np.all(s2.class_masks[0][stale & ~painted] == 0)  # …but not stale pixels
    finally:
        dock.teardown()


def test_export_masks_writes_tiff_for_georeferenced_images(dock, tmp_path):
    """The dock's Export masks wrote PNG only, which cannot hold a GeoTIFF's place."""
    import tifffile

    from napari_featann.core.partition import PartitionParams
    from napari_featann.session import Session

    img = np.zeros((64, 80), np.uint16)
    img[10:40, 20:60] = 1000
    geo = tmp_path / "scene.tif"
    tifffile.imwrite(geo, img, extratags=[
        (33550, 12, 3, (0.5, 0.5, 0.0), True),  # ModelPixelScale
        (33922, 12, 6, (0.0, 0.0, 0.0, 733601.0, 3725139.0, 0.0), True),  # ModelTiepoint
        (34735, 3, 8, (1, 1, 0, 1, 1024, 0, 1, 1), True),  # GeoKeyDirectory: projected
    ])  # fmt: skip
    s = Session.from_sources(geo, partition=PartitionParams(regions=4))
    s.partition()
    dock.set_session(s)
    mark = dock.add_class("roof")
    dock.assign([s.segment_at(0, 20, 30)], mark)
    (mask, *_) = dock.export_masks(tmp_path / "out")
    assert mask.suffix == ".tif"
    with tifffile.TiffFile(mask) as tif:
        assert tif.geotiff_metadata["ModelTiepoint"][3:5] == [733601.0, 3725139.0]
        np.testing.assert_array_equal(tif.asarray(), s.class_masks[0])
    plain = Session.from_sources([img], names=["plain"], partition=PartitionParams(regions=4))
    plain.partition()
    dock.set_session(plain)
    (png, *_) = dock.export_masks(tmp_path / "out2")
    assert png.suffix == ".png"  # no place to keep: PNG as before
