"""A whole annotation in the dock, headless: real worker threads, real weights."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from dock_helpers import JOB_TIMEOUT, left_half, open_session

from napari_featann._widgets.link import camera, click_callback

pytestmark = pytest.mark.gui


def _pixels_of(session, seg_id):
    img, flat = session.segment_pixels(int(seg_id))
    return img, flat


def test_start_runs_the_pipeline_in_a_worker(dock, qtbot, photos):
    viewer = dock.viewer
    user_layers = [viewer.add_image(p, name=n) for p, n in zip(photos, "abc")]
    user_layers[1].scale, user_layers[1].translate = (2, 2), (100, 50)  # microns, a tile's place
    for k in range(dock.layer_list.count()):
        dock.layer_list.item(k).setSelected(True)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
        assert dock.busy
        assert not dock.start_button.isEnabled() and dock.cancel_button.isEnabled()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    s = dock.session
    assert s.n_images == 3 and len(s.segments) > 30
    assert s.embedding.shape == (len(s.segments), 2)
    assert dock.start_button.isEnabled() and not dock.cancel_button.isEnabled()
    # one image shown at a time; the user's layer is reused, the classes layer shares memory
    for i in range(3):
        dock.current_image = i
        image, classes, segments = dock.layers_for(i)
        assert image is user_layers[i]
        assert classes.data is s.class_masks[i]
        assert segments.data is s.label_images[i] and segments.contour == 1
        assert image.visible and classes.visible
        assert not any(layer.visible for layer in dock.layers_for((i + 1) % 3)[1:])
        for layer in (classes, segments):  # drawn over the image, wherever the user put it
            np.testing.assert_array_equal(layer.scale, image.scale)
            np.testing.assert_array_equal(layer.translate, image.translate)
    np.testing.assert_allclose(dock.scatter.points, s.embedding)
    # a click at a world position finds the segment under it in the placed image
    dock.current_image = 1
    r, c = 40, 30
    dock._on_canvas_click((100 + 2 * r, 50 + 2 * c))
    assert dock.layers.focused == (1, s.segment_at(1, r, c))
    # a preview of another cut is placed like the image too
    dock.partition_panel.regions.value = 5
    dock.preview_partition(sync=True)
    preview = dock.layers_for(1)[2]
    assert preview.visible and tuple(preview.translate) == (100, 50)


def test_a_stack_layer_is_annotated_plane_by_plane(dock, qtbot, tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    vol = np.full((4, 60, 70), 100, np.uint16) + rng.integers(0, 20, (4, 60, 70), np.uint16)
    for k in range(4):  # a bright square that moves through the planes
        vol[k, 10 + 5 * k : 30 + 5 * k, 15:40] += 900
    vol[3] //= 2  # a dimmer last plane keeps the stack's scaling
    user = dock.viewer.add_image(vol, name="vol", scale=(0.4, 1, 1))  # planes 0.4 apart
    items = [dock.layer_list.item(k) for k in range(dock.layer_list.count())]
    assert [it.text() for it in items] == ["vol"] and "4 planes" in items[0].toolTip()
    items[0].setSelected(True)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    s = dock.session
    assert [r.name for r in s.images] == ["vol_000", "vol_001", "vol_002", "vol_003"]
    # Start again with the stack still picked: the same session, its labels carried over
    mark = dock.add_class("mark")
    dock.assign([s.segment_at(1, 5, 5)], mark)
    assert dock.layer_list.item(0).isSelected()
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    assert dock.session.class_masks[1][5, 5] == mark
    s = dock.session
    s.assign([s.segment_at(1, 5, 5)], 0)
    image = dock.layers_for(3)[0]
    assert image is not user and image.data.shape == (60, 70)
    assert tuple(image.contrast_limits) == tuple(s.images[0].meta["range"])
    # the viewer's plane slider and the dock's image follow each other
    dock.viewer.dims.set_current_step(0, 2)
    assert dock.current_image == 2 and dock.layers_for(2)[0].visible
    dock.current_image = 3
    assert dock.viewer.dims.current_step[0] == 3
    # another volume on a coarser grid, half a plane off: the slider still lands on the plane
    from napari_featann._widgets.inputs import _shown_plane

    grid = dock.viewer.add_image(np.zeros((3, 6, 7)), name="grid", translate=(0.2, 0, 0))
    for k in (2, 1, 3):
        dock.current_image = k
        assert _shown_plane(user, dock.viewer.dims) == k and dock.current_image == k
    dock.viewer.layers.remove(grid)
    # without the stack's layer, another volume's slider does not switch the dock's image
    dock.viewer.layers.remove(user)
    other = dock.viewer.add_image(np.zeros((8, 60, 70), np.uint16), name="other")
    dock.viewer.dims.set_current_step(0, 2)
    assert dock.current_image == 3
    dock.viewer.layers.remove(other)
    # label the square of every plane (the segment under its centre)
    square = dock.add_class("square")
    ids = [s.segment_at(k, 20 + 5 * k, 27) for k in range(4)]
    s.assign(ids, square)
    files = dock.export_masks(tmp_path / "out")
    volume = tifffile.imread(files[-1])
    assert files[-1].name == "vol-stack.tif" and volume.shape == (4, 60, 70)
    for k in range(4):
        assert volume[k, 20 + 5 * k, 27] == square and volume[k, 5, 5] == 0
        np.testing.assert_array_equal(volume[k], dock.layers_for(k)[1].data)
    # the classes as one 3-D layer that follows the labelling and undo
    active = dock.layers_for(dock.current_image)[1]
    dock.viewer.layers.selection.active = active
    shown = dock.show_stack_volume()
    assert shown.name == "vol classes (3-D)" and not shown.editable
    assert dock.viewer.layers.selection.active is active  # painting goes on where it was
    assert dock.show_stack_volume() is shown and not shown.editable  # shown again: read-only
    np.testing.assert_array_equal(shown.data, volume)
    dock.assign([ids[1]], 0)  # plane 1's square unlabelled through the dock
    qtbot.waitUntil(lambda: shown.data[1, 25, 27] == 0, timeout=5000)
    assert shown.data[2, 30, 27] == square
    dock.viewer.layers.selection.active = shown  # Ctrl+Z there undoes in the session too
    qt_viewer = dock.viewer.window._qt_viewer
    keys = getattr(qt_viewer.canvas, "_key_map_handler", None) or qt_viewer._key_map_handler
    keys.press_key("Control-Z")
    keys.release_key("Control-Z")
    qtbot.waitUntil(lambda: shown.data[1, 25, 27] == square, timeout=5000)
    # without the stack's image layer the 3-D classes layer drives the dock's image
    dock.viewer.dims.set_current_step(0, 2)
    assert dock.current_image == 2


def test_only_2d_layers_are_reused_each_for_its_own_image():
    from napari.layers import Image

    from napari_featann._widgets.inputs import reused_layers
    from napari_featann.session import Session

    cells = Image(np.zeros((3, 20, 30), np.uint16), name="cells")  # a stack
    clash = Image(np.zeros((20, 30), np.uint8), name="cells_000")  # a plane's name
    single = Image(np.zeros((1, 20, 30), np.uint16), name="single")  # a 1-plane stack
    t4 = Image(np.zeros((5, 3, 20, 30), np.uint16), name="t4")  # 4-D: 5 RGB planes
    flat = Image(np.zeros((20, 30), np.uint8), name="flat")
    layers = [cells, clash, single, t4, flat]
    arrays = [np.asarray(la.data) for la in layers]
    s = Session.from_sources(arrays, names=[la.name for la in layers],
                             axes=["ZYX", "YX", "ZYX", None, "YX"])  # fmt: skip
    assert [r.name for r in s.images][:5] == ["cells_000", "cells_001", "cells_002",
                                              "cells_000-2", "single"]  # fmt: skip
    assert s.n_images == 11 and s.images[10].name == "flat"
    # not plane 0, not the 3-D layers, and flat after the 4-D layer's 5 planes
    assert reused_layers(s, layers) == {3: clash, 10: flat}


def test_undo_of_a_class_deletion_or_addition_updates_the_class_list(dock, session_file):
    s = open_session(dock, session_file)
    sky = dock.add_class("sky")
    dock.assign(s.segments.ids[:4], sky)
    dock.class_manager.delete_class(sky)
    assert dock.class_manager.list.count() == 0 and dock.current_class == 0
    assert dock.undo() == "delete class sky"
    assert dock.class_manager.list.count() == 1 and dock.current_class == sky
    img, flat = _pixels_of(s, s.segments.ids[0])
    assert np.all(dock.layers_for(img)[1].data.ravel()[flat] == sky)
    assert dock.layers_for(img)[1].get_color(sky)[3] > 0  # drawn, in the class colour
    dock.undo()  # the labels
    assert dock.undo() == "add class sky"
    assert dock.class_manager.list.count() == 0 and dock.current_class == 0
    assert dock.redo() == "add class sky"
    assert dock.class_manager.list.item(0).text().endswith("sky") and dock.current_class == sky


def test_box_labelling_undo_redo(dock, session_file):
    s = open_session(dock, session_file)
    sky = dock.add_class("sky")
    thing = dock.add_class("thing", "#00ff00")
    assert dock.current_class == thing
    dock.set_current_class(sky)
    ids = dock.select_box(*left_half(s.embedding))
    assert ids.size > 0 and np.array_equal(ids, dock.selected_ids)
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == sky)
    for seg in ids:
        img, flat = _pixels_of(s, seg)
        classes_layer = dock.layers_for(img)[1]
        assert np.all(classes_layer.data.ravel()[flat] == sky)
    # scatter colours follow the classes
    row = s.segments.rows_of(ids[:1])[0]
    np.testing.assert_allclose(dock.scatter.colors[row], (230 / 255, 25 / 255, 75 / 255, 1))

    # a second class by lasso on the other half
    dock.set_current_class(thing)
    lo, hi = s.embedding.min(0) - 0.1, s.embedding.max(0) + 0.1
    mid = np.median(s.embedding[:, 0])
    ids2 = dock.select_lasso(
        [(mid + 1e-3, lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (mid + 1e-3, hi[1])]
    )
    assert ids2.size > 0 and not np.intersect1d(ids, ids2).size
    assert np.all(s.segment_class[s.segments.rows_of(ids2)] == thing)

    assert dock.undo().startswith("label")
    assert np.all(s.segment_class[s.segments.rows_of(ids2)] == 0)
    for seg in ids2:
        img, flat = _pixels_of(s, seg)
        assert np.all(s.class_masks[img].ravel()[flat] == 0)
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == sky)
    dock.redo()
    img, flat = _pixels_of(s, ids2[0])
    assert np.all(dock.layers_for(img)[1].data.ravel()[flat] == thing)

    # hide labelled: the same box selects nothing more
    dock.set_hide_labelled(True)
    assert dock.scatter.hide_labelled
    assert dock.select_box(*left_half(s.embedding)).size == 0


def test_a_selection_over_labelled_points_relabels_them(dock, session_file):
    """With "hide labelled" off a box also takes labelled points: a correction by selection."""
    s = open_session(dock, session_file)
    fg = dock.add_class("foreground")
    bg = dock.add_class("background")
    dock.set_current_class(fg)
    everything = dock.select_box(s.embedding.min(0) - 1, s.embedding.max(0) + 1)
    assert np.all(s.segment_class == fg)
    dock.set_hide_labelled(False)
    dock.set_current_class(bg)
    ids = dock.select_box(*left_half(s.embedding))
    assert 0 < ids.size < everything.size
    rows = s.segments.rows_of(ids)
    assert np.all(s.segment_class[rows] == bg)
    assert np.count_nonzero(s.segment_class == fg) == everything.size - ids.size
    img, flat = _pixels_of(s, ids[0])
    assert np.all(s.class_masks[img].ravel()[flat] == bg)
    dock.undo()  # one action: everything is foreground again
    assert np.all(s.segment_class == fg)


def test_thumbnails_follow_a_labelling_off_its_frame(dock, qtbot, session_file):
    """The layer-list thumbnail is redrawn shortly after a box, not inside it."""
    s = open_session(dock, session_file)
    dock.add_class("thing", "#00ff00")
    layer = dock.layers_for(dock.layers.current)[1]
    before = layer.thumbnail.copy()
    lo, hi = s.embedding.min(0) - 1, s.embedding.max(0) + 1
    assert dock.select_box(lo, hi).size == len(s.segments)
    assert np.array_equal(layer.thumbnail, before)  # deferred: the box returned first
    qtbot.waitUntil(lambda: not np.array_equal(layer.thumbnail, before), timeout=3000)
    assert layer.thumbnail[..., 1].max() > before[..., 1].max()  # green now shows


def test_hand_painted_pixels_survive_assign(dock, session_file):
    s = open_session(dock, session_file)
    a = dock.add_class("a")
    b = dock.add_class("b")
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    seg = int(s.segments.ids[s.segments.in_image(0)][0])
    _img, flat = _pixels_of(s, seg)
    r, c = np.unravel_index(flat[len(flat) // 2], s.class_masks[0].shape)
    classes.brush_size = 3
    classes.paint((r, c), b)  # napari's brush; emits a paint event
    painted = np.flatnonzero(s.manual_masks[0].ravel())
    assert painted.size > 0 and np.all(s.class_masks[0].ravel()[painted] == b)

    dock.assign([seg], a)
    assert np.all(s.class_masks[0].ravel()[painted] == b)  # never overwritten
    rest = np.setdiff1d(flat, painted)
    assert np.all(s.class_masks[0].ravel()[rest] == a)

    dock.undo()  # the assignment
    dock.undo()  # the paint, from the same history
    assert not s.manual_masks[0].any()
    assert np.all(s.class_masks[0] == 0)


def test_polygon_fill_and_brush_paints_undo_and_redo(dock, session_file):
    """napari reports a polygon before it writes it, a brush stroke after: both are redone."""
    s = open_session(dock, session_file)
    a, b = dock.add_class("a"), dock.add_class("b")
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    square = (slice(15, 25), slice(15, 25))
    classes.paint_polygon([(10, 10), (10, 30), (30, 30), (30, 10)], a)  # the polygon tool
    classes.fill((20, 20), b)  # the fill bucket over the polygon
    classes.brush_size = 3
    with classes.block_history():  # a brush stroke
        classes.paint((50, 50), a)
    for _ in range(3):
        dock.undo()
    assert not s.class_masks[0].any() and not s.manual_masks[0].any()
    dock.redo()
    assert (s.class_masks[0][square] == a).all() and s.manual_masks[0][square].all()
    dock.redo()
    assert (s.class_masks[0][square] == b).all()
    dock.redo()
    assert s.class_masks[0][50, 50] == a and s.manual_masks[0][50, 50]
    dock.undo()
    dock.undo()  # back to the polygon alone
    assert (s.class_masks[0][square] == a).all() and s.class_masks[0][50, 50] == 0


def test_linked_selection(dock, session_file):
    s = open_session(dock, session_file)
    row = int(s.segments.in_image(2)[3])
    seg = int(s.segments.ids[row])
    dock.focus_segment(seg)
    assert dock.current_image == 2
    assert dock.layers.focused == (2, seg)
    assert dock.layers_for(2)[2].selected_label == seg
    assert dock.scatter.focused == row
    r0, c0, r1, c1 = s.segments.bbox[row]
    np.testing.assert_allclose(
        camera(dock.viewer).center[-2:], ((r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2)
    )

    # a click on a point shows its image
    row1 = int(s.segments.in_image(1)[0])
    dock.scatter.point_clicked.emit(row1)
    assert dock.current_image == 1 and dock.scatter.focused == row1

    # a plain click in napari focuses the point of the segment under the cursor
    target = int(s.segments.in_image(1)[5])
    _img, flat = _pixels_of(s, s.segments.ids[target])
    r, c = np.unravel_index(flat[0], s.label_images[1].shape)
    cb = click_callback(dock._on_canvas_click)
    event = SimpleNamespace(
        button=1, modifiers=(), pos=(10, 10), position=(r, c), type="mouse_press"
    )
    gen = cb(dock.viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert dock.scatter.focused == target
    assert dock.layers.focused == (1, int(s.segments.ids[target]))
    assert s.segment_class[target] == 0  # a plain click labels nothing

    # Alt+click gives the clicked segment the current class, pixels included; undoable
    cid = dock.add_class("clicked")
    dock.set_current_class(cid)
    event.modifiers, event.type = ("Alt",), "mouse_press"
    gen = cb(dock.viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert s.segment_class[target] == cid and dock.scatter.focused == target
    img, flat = _pixels_of(s, s.segments.ids[target])
    assert np.all(dock.layers_for(img)[1].data.reshape(-1)[flat] == cid)
    dock.undo()
    assert s.segment_class[target] == 0
    assert not np.any(dock.layers_for(img)[1].data.reshape(-1)[flat] == cid)


def test_launch_opens_images(make_napari_viewer, photos, tmp_path):
    import imageio.v3 as iio

    from napari_featann._widgets.launch import launch

    files = []
    for k, p in enumerate(photos[:2]):
        files.append(str(tmp_path / f"p{k}.png"))
        iio.imwrite(files[-1], p)
    _viewer, widget = launch(files, block=False, viewer=make_napari_viewer())
    try:
        assert widget.session.n_images == 2
        assert widget.layers_for(1)[0].data.shape == photos[1].shape
        assert widget.current_image == 0
    finally:
        widget.teardown()


def test_launch_refuses_a_tile_too_small_before_docking(make_napari_viewer, tmp_path):
    import imageio.v3 as iio

    from napari_featann._widgets.launch import launch

    iio.imwrite(tmp_path / "a.png", np.zeros((80, 90, 3), np.uint8))
    viewer = make_napari_viewer()
    with pytest.raises(ValueError, match="tiles must be at least 64 pixels, got 32"):
        launch([str(tmp_path / "a.png")], block=False, viewer=viewer, tile=32)
    assert not viewer.window.dock_widgets  # refused before the dock was made


def test_launch_with_bands_opens_a_multi_band_file(make_napari_viewer, tmp_path):
    import tifffile

    from napari_featann._widgets.launch import launch
    from napari_featann.cli import build_parser

    ms = (np.random.default_rng(0).random((40, 50, 8)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ms.tif", ms, photometric="minisblack", planarconfig="contig")
    args = build_parser().parse_args(["gui", str(tmp_path / "ms.tif"), "--bands", "4,2,1"])
    assert args.bands == [4, 2, 1]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["gui", "--bands", "4,2"])
    _viewer, widget = launch(
        args.images, block=False, viewer=make_napari_viewer(), bands=args.bands
    )
    try:
        image = widget.layers_for(0)[0]
        assert image.rgb and image.data.shape == (40, 50, 3)
        np.testing.assert_array_equal(image.data, ms[..., [4, 2, 1]])
    finally:
        widget.teardown()


def test_bands_field_picks_channels_of_a_multi_band_folder(make_napari_viewer, tmp_path):
    import tifffile

    from napari_featann._widgets.dock import FeatureSpaceWidget
    from napari_featann.io import load_session, save_session

    ms = (np.random.default_rng(1).random((40, 50, 6)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ms.tif", ms, photometric="minisblack", planarconfig="contig")
    widget = FeatureSpaceWidget(make_napari_viewer())
    try:
        # no bands: a clear message that names the field, and no session
        widget._guard(lambda: widget.load_images(tmp_path))
        assert widget.session is None and "Bands field" in widget.last_error
        assert "6 channels" in widget.last_error
        widget.bands_edit.setText("a,b,c")  # bad text: a message, still nothing lost
        widget._guard(lambda: widget.load_images(tmp_path))
        assert widget.session is None and "like 4,2,1" in widget.last_error
        widget.bands_edit.setText("5, 3, 0")
        widget._guard(lambda: widget.load_images(tmp_path))
        image = widget.layers_for(0)[0]
        assert image.rgb
        np.testing.assert_array_equal(image.data, ms[..., [5, 3, 0]])
        # the choice is used once: the field empties and shows the session's choice in grey
        assert widget.bands_edit.text() == ""
        assert widget.bands_edit.placeholderText() == "this session: 5,3,0"
        saved = save_session(widget.session, tmp_path / "s")
        widget.bands_edit.setText("2")  # one band: a grey image
        widget.load_images(tmp_path / "ms.tif")
        np.testing.assert_array_equal(widget.layers_for(0)[0].data, ms[..., 2])
        widget.set_session(load_session(saved))
        assert widget.bands_edit.placeholderText() == "this session: 5,3,0"
        # a later load of other images is not changed by an earlier choice
        viewer = widget.viewer
        photo = viewer.add_image(np.zeros((30, 40, 3), np.uint8), name="photo", rgb=True)
        zstack = viewer.add_image(np.zeros((10, 64, 64), np.uint16), name="zstack")
        layer = viewer.add_image(ms, name="bands")  # napari shows an (H, W, 6) array as planes
        items = {widget.layer_list.item(k).text(): widget.layer_list.item(k)
                 for k in range(widget.layer_list.count())}  # fmt: skip
        assert "6 channels" in items["bands"].toolTip()
        assert "10 planes" in items["zstack"].toolTip()
        widget.load_images([photo, zstack])
        assert widget.session.n_images == 11 and widget.layers_for(0)[0].data.shape == (30, 40, 3)
        widget.bands_edit.setText("2")  # bands for a z-stack: a message, the session kept
        before = widget.session
        widget._guard(lambda: widget.load_images([zstack]))
        assert widget.session is before and "no channel axis" in widget.last_error
        widget.bands_edit.setText("5,3,0")  # a multi-band napari layer: its channels
        widget.load_images([layer])
        np.testing.assert_array_equal(widget.layers_for(0)[0].data, ms[..., [5, 3, 0]])
        widget.bands_edit.setText("1")  # typed bands and Start with nothing picked: a message
        widget.layer_list.clearSelection()
        widget._guard(widget.start)
        assert "Bands apply when images are loaded" in widget.last_error and not widget.busy
    finally:
        widget.teardown()


def test_partition_panel_and_reprojection(dock, qtbot, session_file):
    s = open_session(dock, session_file)
    cid = dock.add_class("x")
    ids = dock.select_box(*left_half(s.embedding))
    n_before, labels0 = len(s.segments), s.label_images[0]

    # preview: the segments layer shows the candidate cut, the session is unchanged
    dock.partition_panel.regions.value = 8
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.preview_partition(sync=True)
    assert blocker.args == ["preview", "done"], dock.last_error
    seg_layer = dock.layers_for(0)[2]
    assert seg_layer.data is not labels0 and seg_layer.data.max() <= 10
    assert s.label_images[0] is labels0 and len(s.segments) == n_before
    dock.current_image = 1
    dock.current_image = 0
    assert dock.layers_for(0)[2].data is labels0  # back to the session's segments

    # apply to all with the same gradient: an undoable re-cut that keeps labels
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.apply_partition()
    assert blocker.args == ["re-cut", "done"], dock.last_error
    assert len(s.segments) < n_before and dock.session is s
    assert dock.layers_for(0)[2].data is s.label_images[0]
    assert np.any(s.segment_class == cid)
    assert len(dock.scatter.points) == len(s.segments)
    dock.undo()
    assert len(s.segments) == n_before
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == cid)

    # apply to the current image only: the other images keep their segments
    others = [lab.copy() for lab in s.label_images[1:]]
    dock.partition_panel.regions.value = 5
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.partition_panel.apply_one_button.native.click()
    assert blocker.args == ["re-cut", "done"], dock.last_error
    assert s.segments.in_image(0).size <= 7 and len(s.segments) < n_before
    for lab, before in zip(s.label_images[1:], others):
        np.testing.assert_array_equal(lab, before)
    assert s.partition_params.regions != 5  # the session's parameters are for all images
    assert dock.layers_for(0)[2].data is s.label_images[0]
    dock.undo()
    assert len(s.segments) == n_before

    # re-project with the labels
    old = s.embedding
    dock.projection_panel.n_neighbors.value = 5
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.reproject()
    assert blocker.args == ["re-project", "done"], dock.last_error
    assert s.embedding is not old and s.embedding.shape == old.shape
    assert s.projection_params.n_neighbors == 5
    np.testing.assert_allclose(dock.scatter.points, s.embedding)


def test_keys_are_bound_and_released(dock, session_file):
    from napari.utils.key_bindings import coerce_keybinding

    s = open_session(dock, session_file)
    a = dock.add_class("a")
    b = dock.add_class("b")
    viewer = dock.viewer
    viewer.keymap[coerce_keybinding("1")](viewer)
    assert dock.current_class == a
    viewer.keymap[coerce_keybinding("2")](viewer)
    assert dock.current_class == b
    ids = dock.select_box(*left_half(s.embedding))
    classes = dock.layers_for(0)[1]
    classes.keymap[coerce_keybinding("Control-Z")](classes)  # Ctrl+Z on a classes layer
    assert not np.any(s.segment_class[s.segments.rows_of(ids)])
    viewer.keymap[coerce_keybinding("Control-Shift-Z")](viewer)
    assert np.all(s.segment_class[s.segments.rows_of(ids)] == b)
    dock.teardown()
    assert coerce_keybinding("Control-Z") not in viewer.keymap
    assert (
        dock.viewer.mouse_drag_callbacks == [] or dock._click_cb not in viewer.mouse_drag_callbacks
    )


def test_a_large_layer_is_cut_into_tiles_placed_in_its_scene(dock, qtbot, photos):
    scene = np.concatenate([photos[0], photos[0][:, ::-1]], axis=1)  # 128 x 256
    layer = dock.viewer.add_image(scene, name="scene", scale=(2, 2), translate=(10, 20))
    dock.tile_spin.setValue(30)  # below the smallest tile: the smallest
    assert dock.chosen_tile() == 64
    dock.tile_spin.setValue(128)
    assert dock.chosen_tile() == 128
    dock.layer_list.item(0).setSelected(True)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", "done"], dock.last_error
    s = dock.session
    assert [r.name for r in s.images] == ["scene_r0_c0", "scene_r0_c128"]
    for i in range(2):
        dock.current_image = i
        image, classes, segments = dock.layers_for(i)
        assert image is not layer  # each tile has a layer of its own, at its place
        assert tuple(image.translate) == (10, 20 + 2 * 128 * i) and tuple(image.scale) == (2, 2)
        for other in (classes, segments):
            assert tuple(other.translate) == tuple(image.translate)
            assert tuple(other.scale) == (2, 2)
    # a click in the world finds the segment under it in the tile
    dock.current_image = 1
    dock._on_canvas_click((10 + 2 * 50, 20 + 2 * (128 + 30)))
    assert dock.layers.focused == (1, s.segment_at(1, 50, 30))
    assert layer.visible  # the scene stays under its tiles
    # Start again with the same layer and the same tile size: the same session
    dock.layer_list.item(0).setSelected(True)
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT):
        dock.start()
    assert dock.session.n_images == 2
    dock.tile_spin.setValue(0)  # tiling off: Start loads the layer again, whole
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT):
        dock.start()
    assert dock.session.n_images == 1 and dock.layers_for(0)[0] is layer
