"""The "Show segment boundaries" checkbox with a focused (yellow) segment."""

from __future__ import annotations

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
