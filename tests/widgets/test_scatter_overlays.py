"""ScatterView's focus ring, highlight and rings (scatter_overlays.py), with real vispy (Xvfb).

The fixtures ``clusters``, ``view`` and ``loaded`` are in conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")
pytest.importorskip("vispy")

pytestmark = pytest.mark.gui


def ringed_positions(visual):
    """The positions a ring visual holds now (none when it is empty)."""
    data = visual._data
    return np.zeros((0, 2), np.float32) if data is None else data["a_position"][:, :2]


def test_focus_point_centres_camera_keeping_zoom(loaded, clusters):
    xy, _ = clusters
    loaded.set_camera_rect(-2, -2, 2, 2)
    x0, y0, x1, y1 = loaded.camera_rect()
    loaded.focus_point(20)
    assert loaded.focused == 20
    r = loaded.camera_rect()
    np.testing.assert_allclose([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2], xy[20], atol=1e-6)
    np.testing.assert_allclose([r[2] - r[0], r[3] - r[1]], [x1 - x0, y1 - y0], rtol=1e-6)
    loaded.clear_focus()
    assert loaded.focused == -1
    with pytest.raises(IndexError):
        loaded.focus_point(len(xy))


def test_highlight_and_rings(loaded, clusters):
    xy, _ = clusters
    loaded.highlight([3, 1, 3])
    loaded.ring([5, 1])  # apart from the highlight: neither replaces the other
    loaded.render()
    loaded.highlight([])
    np.testing.assert_array_equal(loaded.ringed, [1, 5])
    with pytest.raises(IndexError):
        loaded.ring([-1])
    loaded.set_points(xy)  # new points: no rings
    assert loaded.ringed.size == 0
    with pytest.raises(IndexError):
        loaded.highlight([len(xy)])


def test_each_overlay_is_uploaded_alone_and_the_mask_hides_their_points(loaded, clusters):
    """highlight() uploads the highlight only, ring() the rings only; a mask change both."""
    xy, _ = clusters
    hl, rings = loaded._hl_markers, loaded._ring_markers
    uploads = {"highlight": 0, "ring": 0}
    hl.events.data_updated.connect(lambda _e: uploads.update(highlight=uploads["highlight"] + 1))
    rings.events.data_updated.connect(lambda _e: uploads.update(ring=uploads["ring"] + 1))
    loaded.highlight([1, 2])
    assert uploads == {"highlight": 1, "ring": 0}
    loaded.ring([2, 3])
    assert uploads == {"highlight": 1, "ring": 1}
    np.testing.assert_array_equal(ringed_positions(hl), xy[[1, 2]].astype(np.float32))
    np.testing.assert_array_equal(ringed_positions(rings), xy[[2, 3]].astype(np.float32))
    mask = np.ones(len(xy), bool)
    mask[2] = False  # hidden: neither ringed nor highlighted on screen
    loaded.set_visible_mask(mask)
    assert uploads == {"highlight": 2, "ring": 2}
    np.testing.assert_array_equal(ringed_positions(hl), xy[[1]].astype(np.float32))
    np.testing.assert_array_equal(ringed_positions(rings), xy[[3]].astype(np.float32))
    np.testing.assert_array_equal(loaded.ringed, [2, 3])  # hidden ones included
    loaded.set_visible_mask(None)
    np.testing.assert_array_equal(ringed_positions(rings), xy[[2, 3]].astype(np.float32))
    loaded.focus_point(4)
    assert len(ringed_positions(loaded._focus_markers)) == 1
    loaded.set_points(xy)  # new points: all three cleared
    assert ringed_positions(hl).size == 0 and ringed_positions(rings).size == 0
    assert loaded.focused == -1 and ringed_positions(loaded._focus_markers).size == 0
