"""What the canvas shows of an image: its boundaries with a focused segment, its layers' order."""

from __future__ import annotations

import numpy as np
import pytest
from dock_helpers import open_session

pytestmark = pytest.mark.gui


def test_unchecking_boundaries_with_a_focused_segment_leaves_it_alone(dock, session_file):
    """Off, the boundaries go: only the focused segment stays drawn, in every image shown."""
    s = open_session(dock, session_file)
    seg = int(s.segments.ids[s.segments.in_image(2)[3]])
    dock.focus_segment(seg)
    focused = dock.layers_for(2)[2]
    assert focused.visible and not focused.show_selected_label  # all boundaries, one yellow
    dock.boundaries_check.setChecked(False)
    assert focused.visible and focused.show_selected_label  # the focused segment alone
    assert focused.selected_label == seg
    dock.boundaries_check.setChecked(True)
    assert focused.visible and not focused.show_selected_label and focused.contour == 1

    dock.current_image = 0  # the focus stays in image 2
    other = dock.layers_for(0)[2]
    assert other.visible
    dock.boundaries_check.setChecked(False)
    assert not other.visible  # no boundary in image 0
    dock.current_image = 2
    assert focused.visible and focused.show_selected_label  # still only the focused one


def test_a_deleted_image_or_classes_layer_comes_back_under_the_labels(dock, session_file):
    """napari adds a layer on top: made again, an image would hide its labels and boundaries."""
    s = open_session(dock, session_file)
    dock.current_image = 0
    layers = dock.viewer.layers
    image, classes, segments = dock.layers_for(0)
    layers.remove(image)  # the user deletes the image layer
    dock.current_image = 1
    dock.current_image = 0  # shown again: the image is made again
    image = dock.layers_for(0)[0]
    assert image.visible
    assert layers.index(image) < layers.index(classes) < layers.index(segments)
    layers.remove(classes)
    dock.current_image = 0
    classes = dock.layers_for(0)[1]
    assert classes.data is s.class_masks[0]
    assert layers.index(image) < layers.index(classes) < layers.index(segments)


def test_deleting_a_previewed_segments_layer_ends_the_preview(dock, session_file):
    """Clicks on the canvas are off during a preview; with its layer deleted, they work again."""
    s = open_session(dock, session_file)
    dock.current_image = 0
    dock.partition_panel.regions.value = 8
    dock.preview_partition(sync=True)
    assert dock.layers.previewing == 0
    dock.viewer.layers.remove(dock.layers_for(0)[2])  # the user deletes the previewed cut
    assert dock.layers.previewing is None
    assert dock.layers_for(0)[2].data is s.label_images[0]  # the session's segments again
    row = int(s.segments.in_image(0)[2])
    seg = int(s.segments.ids[row])
    _img, flat = s.segment_pixels(seg)
    r, c = np.unravel_index(flat[0], s.label_images[0].shape)
    dock._on_canvas_click((r, c))  # a plain click on the segment
    assert dock.layers.focused == (0, seg) and dock.scatter.focused == row


def test_a_point_clicked_during_a_preview_outlines_no_segment_of_the_preview(dock, session_file):
    """The preview's labels are not the session's segments: no outline goes on them.

    Before, the yellow outline went on the preview's region that happened to carry
    the clicked segment's id: another region, or none (all gone with the boundaries off).
    """
    s = open_session(dock, session_file)
    dock.current_image = 0
    dock.partition_panel.regions.value = 8
    dock.preview_partition(sync=True)
    assert dock.layers.previewing == 0
    preview = dock.layers_for(0)[2]
    local = preview.data.copy()
    row = int(s.segments.in_image(0)[2])
    seg = int(s.segments.ids[row])
    assert (local == seg).any()  # the preview has a region of that number
    assert not np.array_equal(local == seg, s.label_images[0] == seg)  # another region
    dock.scatter.point_clicked.emit(row)
    assert dock.current_image == 0 and dock.scatter.focused == row  # the link still works
    assert dock.layers.previewing == 0 and np.array_equal(preview.data, local)
    assert dock.layers.focused is None
    assert preview.colormap.map(seg).tolist() == preview.colormap.map(seg + 1).tolist()
    dock.boundaries_check.setChecked(False)
    assert not preview.show_selected_label  # the whole preview stays drawn
