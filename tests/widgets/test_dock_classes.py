"""The class list and hand painting in the dock: deleting a class, painting without one."""

from __future__ import annotations

import numpy as np
import pytest
from dock_helpers import open_session

pytestmark = pytest.mark.gui


def test_a_deleted_class_s_hand_painted_pixels_take_a_later_class(dock, session_file):
    """Deleting a class frees its hand-painted pixels; undoing the deletion protects them again."""
    s = open_session(dock, session_file)
    a, b = dock.add_class("a"), dock.add_class("b")
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    seg = int(s.segments.ids[s.segments.in_image(0)][0])
    _img, flat = s.segment_pixels(seg)
    r, c = np.unravel_index(flat[len(flat) // 2], s.class_masks[0].shape)
    classes.brush_size = 3
    classes.paint((r, c), a)  # napari's brush, inside the segment
    painted = np.flatnonzero(s.manual_masks[0].ravel())
    assert painted.size and np.all(s.class_masks[0].ravel()[painted] == a)

    dock.class_manager.delete_class(a)
    assert not s.class_masks[0].any()
    dock.assign([seg], b)  # the whole segment, the pixels painted with "a" included
    assert np.all(classes.data.ravel()[flat] == b)

    dock.undo()  # the assignment
    dock.undo()  # the deletion: the painted pixels are "a" again, and protected
    assert np.all(s.class_masks[0].ravel()[painted] == a)
    assert np.array_equal(np.flatnonzero(s.manual_masks[0].ravel()), painted)
    assert dock.redo() == "delete class a"  # free again
    assert not s.manual_masks[0].any()
    dock.assign([seg], b)
    assert np.all(classes.data.ravel()[flat] == b)


def test_nothing_can_be_painted_without_a_class(dock, session_file):
    """With no class, napari's brush would paint label 1 unseen, shown by the next class added."""
    s = open_session(dock, session_file)
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    brush = dock.viewer.window._qt_viewer.controls.widgets[classes].paint_button
    assert not s.classes
    assert not classes.editable and not brush.isEnabled()  # napari's paint tools are off
    a = dock.add_class("a")
    assert classes.editable and brush.isEnabled() and classes.selected_label == a
    classes.mode = "paint"
    dock.class_manager.delete_class(a)  # the last class: the brush is put away
    assert not classes.editable and classes.mode == "pan_zoom"
    dock.current_image = 1  # a layer made now cannot be painted either
    assert not dock.layers_for(1)[1].editable
    dock.undo()  # the deletion: the class is back, and so is painting
    assert dock.layers_for(1)[1].editable and classes.editable
    dock.undo()  # the addition
    assert not classes.editable
    assert not s.class_masks[0].any() and not s.manual_masks[0].any()


def test_napari_s_label_box_stays_on_a_class(dock, session_file):
    """A label that is no class (napari's new-label key, a typed value) would paint unseen."""
    s = open_session(dock, session_file)
    a, b = dock.add_class("a"), dock.add_class("b")
    dock.set_current_class(a)
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    classes.brush_size = 3
    classes.selected_label = b  # another class: kept, it paints b
    classes.paint((20, 20), classes.selected_label)
    assert s.class_masks[0][20, 20] == b
    classes.selected_label = int(classes.data.max()) + 1  # as napari's M key (new label)
    assert classes.selected_label == a  # back on the current class
    classes.paint((40, 40), classes.selected_label)
    classes.selected_label = 0  # 0 (unlabelled) is a value napari's eraser paints: kept
    assert classes.selected_label == 0
    classes.selected_label = 9
    assert classes.selected_label == a
    c = dock.add_class("c")  # would have taken pixels painted with label 3
    assert c == 3 and s.class_masks[0][40, 40] == a
    assert set(np.unique(s.class_masks[0])) <= {0, a, b}


def test_undo_follows_a_rename(dock, session_file):
    s = open_session(dock, session_file)
    cid = dock.add_class("sky")
    dock.class_manager.rename_class(cid, "clouds")
    assert dock.undo() == "rename class sky to clouds"
    assert s.classes[cid].name == "sky"
    shown = [dock.class_manager.list.item(k).text() for k in range(dock.class_manager.list.count())]
    assert any("sky" in t for t in shown) and not any("clouds" in t for t in shown)


def test_a_class_coloured_by_name_or_short_hex_colours_its_points(dock, session_file):
    """napari takes any colour for a class; the scatter failed on all but #rrggbb.

    Before, adding a class coloured "red" raised in the scatter's sync (the class was
    in the session already), and so did every labelling after it.
    """
    s = open_session(dock, session_file)
    red = dock.add_class("named", "red")
    green = dock.add_class("short", "#0f0")
    dock.assign(s.segments.ids[[0, 1]], red)
    dock.assign(s.segments.ids[[2]], green)
    np.testing.assert_allclose(dock.scatter.colors[:3], [[1, 0, 0, 1]] * 2 + [[0, 1, 0, 1]])
    dock.class_manager.recolor_class(red, "#0000ff")
    np.testing.assert_allclose(dock.scatter.colors[:2], [[0, 0, 1, 1]] * 2)


def test_undo_and_redo_of_class_edits_move_the_brush_quietly(dock, session_file, monkeypatch):
    """A class gone by undo or redo leaves the brush on a remaining class, without the warning
    meant for a label chosen in napari's box (it came once per classes layer)."""
    import napari.utils.notifications as notifications

    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    s = open_session(dock, session_file)
    dock.current_image = 1
    dock.current_image = 0  # two classes layers
    layers = [dock.layers_for(i)[1] for i in (0, 1)]
    a, b = dock.add_class("a"), dock.add_class("b")
    assert dock.undo() == "add class b"
    assert dock.current_class == a and [x.selected_label for x in layers] == [a, a]
    dock.redo()
    dock.set_current_class(b)
    dock.class_manager.delete_class(b)
    dock.undo()
    dock.set_current_class(b)
    assert dock.redo() == "delete class b"
    assert dock.current_class == a and [x.selected_label for x in layers] == [a, a]
    dock.undo()
    dock.set_current_class(a)
    layers[0].selected_label = b  # another class in napari's box: kept until b goes
    assert dock.undo() == "add class b" and [x.selected_label for x in layers] == [a, a]
    b = dock.add_class("b")
    dock.class_manager.delete_class(a)
    dock.class_manager.delete_class(b)  # no class left: the boxes keep b
    assert not s.classes and [x.selected_label for x in layers] == [b, b]
    c = dock.add_class("c")  # on a's id: the boxes go to it
    assert c == a and [x.selected_label for x in layers] == [c, c]
    assert warned == [] and list(s.classes) == [c]
    layers[1].selected_label = 7  # chosen in napari: that is what the warning is for
    assert layers[1].selected_label == c and len(warned) == 1


def test_a_labelling_that_changes_nothing_adds_no_undo_step_nor_unsaved_change(dock, session_file):
    """Giving segments the class they have: no empty step to undo, nothing new to save."""
    s = open_session(dock, session_file)
    a = dock.add_class("a")
    seg = int(s.segments.ids[0])
    dock.assign([seg], a)
    steps = len(s.history)
    dock.dirty = False  # as after a save
    assert dock.assign([seg], a) == {}
    assert len(s.history) == steps and not dock.dirty
    assert "nothing changed" in dock.status_label.text()
    assert dock.undo() == "label 1 segments as a"
