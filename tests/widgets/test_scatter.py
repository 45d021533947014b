"""ScatterView: selection, picking, camera, thumbnails and level of detail, with real vispy
rendering (Xvfb). The focus, highlight and rings: test_scatter_overlays.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")
pytest.importorskip("vispy")

from scatter_helpers import click, drag, solid, to_canvas
from vispy.util import keys

from napari_featann._widgets.scatter import ScatterView
from napari_featann._widgets.scatter_lod import gl_renderer, is_software_renderer

pytestmark = pytest.mark.gui


# ---------------------------------------------------------------- programmatic selection


def test_select_box_returns_and_emits_one_cluster(qtbot, loaded, clusters):
    _, labels = clusters
    expected = np.flatnonzero(labels == 1)
    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        got = loaded.select_box((11.5, 1.5), (8.5, -1.5))  # corners in any order
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(blocker.args[0], expected)
    assert np.issubdtype(got.dtype, np.integer)


def test_select_lasso_triangle(qtbot, loaded, clusters):
    _, labels = clusters
    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        got = loaded.select_lasso([(5, 12), (1, 5.5), (9, 5.5)])
    np.testing.assert_array_equal(got, np.flatnonzero(labels == 2))
    np.testing.assert_array_equal(blocker.args[0], got)


def test_select_lasso_partial(qtbot, view):
    view.set_points([[0, 0], [1, 1], [3, 3], [0.2, 0.1]], solid(4))
    with qtbot.waitSignal(view.selection_made, timeout=2000):
        got = view.select_lasso(np.array([(-1, -1), (2, -1), (-1, 2)]))
    assert got.tolist() == [0, 3]
    with pytest.raises(ValueError):
        view.select_lasso([(0, 0), (1, 1)])


def test_hidden_points_are_not_selectable(qtbot, loaded, clusters):
    xy, labels = clusters
    mask = np.ones(len(xy), bool)
    hidden = np.flatnonzero(labels == 1)[::2]
    mask[hidden] = False
    loaded.set_visible_mask(mask)
    expected = np.setdiff1d(np.flatnonzero(labels == 1), hidden)
    with qtbot.waitSignal(loaded.selection_made, timeout=2000):
        got = loaded.select_box((8.5, -1.5), (11.5, 1.5))
    np.testing.assert_array_equal(got, expected)
    got = loaded.select_lasso([(8.5, -1.5), (11.5, -1.5), (11.5, 1.5), (8.5, 1.5)])
    np.testing.assert_array_equal(got, expected)
    assert not set(loaded.visible_indices()) & set(hidden)
    # a click on a hidden point picks nothing
    with qtbot.waitSignal(loaded.point_clicked, timeout=2000) as blocker:
        click(loaded, to_canvas(loaded, xy[hidden[0]])[0])
    assert blocker.args[0] != hidden[0]
    loaded.set_visible_mask(None)
    np.testing.assert_array_equal(
        loaded.select_box((8.5, -1.5), (11.5, 1.5)), np.flatnonzero(labels == 1)
    )
    with pytest.raises(ValueError):
        loaded.set_visible_mask(np.ones(3, bool))


def test_empty_area_emits_empty_selection(qtbot, loaded):
    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        got = loaded.select_box((20, 20), (30, 30))
    assert got.size == 0
    assert blocker.args[0].size == 0


# ---------------------------------------------------------------- mouse


def test_box_drag_selects_cluster_and_does_not_pan(qtbot, loaded, clusters):
    _, labels = clusters
    loaded.set_mode("box")
    before = loaded.camera_rect()
    c0, c1 = to_canvas(loaded, [(8.5, -1.5), (11.5, 1.5)])
    path = [c0 + t * (c1 - c0) for t in np.linspace(0, 1, 6)]
    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        drag(loaded, path)
    np.testing.assert_array_equal(blocker.args[0], np.flatnonzero(labels == 1))
    np.testing.assert_allclose(loaded.camera_rect(), before)


def test_qt_mouse_drag_box_selects_cluster(qtbot, loaded, clusters):
    """Real Qt mouse events, through vispy's Qt backend."""
    from qtpy.QtCore import QEvent, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    _, labels = clusters
    loaded.set_mode("box")
    a, b = to_canvas(loaded, [(-1.5, -1.5), (1.5, 1.5)])
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind, p, button, buttons):
        qtbot.wait(15)  # vispy drops moves closer than 10 ms apart
        event = QMouseEvent(kind, QPointF(*p), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(loaded.canvas.native, event)

    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        send(QEvent.Type.MouseButtonPress, a, left, left)
        for t in (0.3, 0.6, 1.0):
            send(QEvent.Type.MouseMove, a + t * (b - a), none, left)
        send(QEvent.Type.MouseButtonRelease, b, left, none)
    np.testing.assert_array_equal(blocker.args[0], np.flatnonzero(labels == 0))


def test_lasso_drag_selects_cluster(qtbot, loaded, clusters):
    _, labels = clusters
    loaded.set_mode("lasso")
    ring = [(5 + 2.5 * np.cos(a), 8 + 2.5 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24)]
    with qtbot.waitSignal(loaded.selection_made, timeout=2000) as blocker:
        drag(loaded, to_canvas(loaded, ring))
    np.testing.assert_array_equal(blocker.args[0], np.flatnonzero(labels == 2))


def test_drag_in_pan_mode_pans(qtbot, loaded):
    before = np.array(loaded.camera_rect())
    c = to_canvas(loaded, [(5, 4)])[0]
    with qtbot.assertNotEmitted(loaded.selection_made):
        drag(loaded, [c + np.array([dx, 0.0]) for dx in (0, 20, 40, 60)])
    after = np.array(loaded.camera_rect())
    assert after[0] < before[0]  # dragged right: the view moves left in data
    np.testing.assert_allclose(after[2] - after[0], before[2] - before[0])


def test_click_near_point_emits_its_index(qtbot, loaded, clusters):
    xy, _ = clusters
    i = 13
    px = to_canvas(loaded, xy[i])[0] + (2, -1)
    with qtbot.waitSignal(loaded.point_clicked, timeout=2000) as blocker:
        click(loaded, px)
    assert blocker.args == [i]
    # far from every point: -1; a click in box mode is a click, not a selection
    loaded.set_mode("box")
    with (
        qtbot.waitSignal(loaded.point_clicked, timeout=2000) as blocker,
        qtbot.assertNotEmitted(loaded.selection_made),
    ):
        click(loaded, to_canvas(loaded, (5, 3))[0])
    assert blocker.args == [-1]


def test_hover_emits_and_shows_thumbnail(qtbot, loaded, clusters):
    xy, _ = clusters
    loaded.set_thumbnail_provider(lambda i: np.full((12, 16, 3), 40 + i, np.uint8))
    px = tuple(to_canvas(loaded, xy[5])[0])
    with qtbot.waitSignal(loaded.hovered, timeout=2000) as blocker:
        loaded.canvas.events.mouse_move(pos=px, button=None, buttons=[], modifiers=())
    assert blocker.args == [5]
    label = loaded._hover_label  # the floating thumbnail
    qtbot.waitUntil(label.isVisible, timeout=2000)
    assert not label.pixmap().isNull()


def test_keys_and_buttons_switch_mode(qtbot, loaded):
    for key, mode in (("B", "box"), ("L", "lasso"), ("P", "pan"), ("L", "lasso")):
        loaded.canvas.events.key_press(key=keys.Key(key), text=key.lower(), modifiers=())
        assert loaded.mode == mode
    loaded.canvas.events.key_press(key=keys.ESCAPE, text="", modifiers=())
    assert loaded.mode == "pan"
    loaded._mode_buttons["box"].click()
    assert loaded.mode == "box"
    loaded.set_mode("pan")
    assert loaded._mode_buttons["pan"].isChecked()
    with pytest.raises(ValueError):
        loaded.set_mode("zoom")
    with qtbot.waitSignal(loaded.hide_labelled_toggled, timeout=2000) as blocker:
        loaded._hide_checkbox.click()
    assert blocker.args == [True]


# ---------------------------------------------------------------- camera, colours


def test_set_camera_rect_and_fit(loaded, clusters):
    xy, _ = clusters
    loaded.set_camera_rect((1, 2, 3, 4))
    x0, y0, x1, y1 = loaded.camera_rect()
    assert x0 <= 1 and y0 <= 2 and x1 >= 3 and y1 >= 4  # contains the request (aspect 1)
    assert min(x1 - x0, y1 - y0) == pytest.approx(2)
    loaded._fit_button.click()
    x0, y0, x1, y1 = loaded.camera_rect()
    assert (xy.min(0) >= (x0, y0)).all() and (xy.max(0) <= (x1, y1)).all()
    np.testing.assert_array_equal(np.sort(loaded.visible_indices()), np.arange(len(xy)))


def test_set_colors(loaded, clusters):
    xy, _ = clusters
    new = solid(len(xy), (0.1, 0.9, 0.1, 1.0))
    loaded.set_colors(new[:, :3])  # RGB gets alpha 1
    np.testing.assert_allclose(loaded.colors, new)
    with pytest.raises(ValueError):
        loaded.set_colors(new[:3])
    with pytest.raises(ValueError):
        loaded.points[0, 0] = 1.0  # read-only


# ---------------------------------------------------------------- thumbnails


def test_thumbnails_when_zoomed_in(loaded, clusters):
    xy, labels = clusters
    calls = []

    def provider(i):
        calls.append(i)
        return np.tile(np.uint8([0, 200, 0]), (10, 14, 1))

    loaded.set_thumbnail_provider(provider)
    assert loaded.thumbnails_shown() == len(xy)  # 24 points in view: at most THUMB_MAX
    loaded.set_camera_rect(8.5, -1.5, 11.5, 1.5)
    vis = loaded.visible_indices()
    assert set(vis) == set(np.flatnonzero(labels == 1))
    assert 0 < loaded.thumbnails_shown() <= 60
    assert loaded.thumbnails_shown() == vis.size
    img = loaded.render()
    assert (np.all(img[..., :3] == (0, 200, 0), axis=-1)).sum() > 100  # drawn, true colours
    loaded.set_camera_rect(7.0, -1.5, 10.0, 1.5)  # pan: some leave, cached ones stay
    assert loaded.thumbnails_shown() == loaded.visible_indices().size > 0
    assert len(calls) == len(set(calls))  # the provider is asked once per point


def test_no_thumbnails_zoomed_out_many_points(view):
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(1000, 2))
    view.set_points(xy, solid(1000))
    view.set_thumbnail_provider(lambda i: np.zeros((8, 8, 3), np.uint8))
    assert view.visible_indices().size == 1000
    assert view.thumbnails_shown() == 0
    view.set_camera_rect(-0.05, -0.05, 0.05, 0.05)
    assert 0 < view.thumbnails_shown() <= ScatterView.THUMB_MAX
    view.fit()
    assert view.thumbnails_shown() == 0
    view.set_thumbnail_provider(None)
    view.set_camera_rect(-0.05, -0.05, 0.05, 0.05)
    assert view.thumbnails_shown() == 0


def test_thumbnail_cap_and_broken_provider(view):
    # 200 points in a tiny area: more than THUMB_MAX in view -> none drawn
    rng = np.random.default_rng(2)
    view.set_points(rng.uniform(0, 0.01, (200, 2)), solid(200))

    def provider(i):
        if i % 2:
            raise RuntimeError("no crop")
        return np.zeros((4, 4), np.uint8)  # grey levels are accepted

    view.set_thumbnail_provider(provider)
    view.set_camera_rect(0, 0, 0.01, 0.01)
    assert view.thumbnails_shown() == 0
    view.set_points([[0, 0], [1, 0], [0, 1]], solid(3))
    view.set_camera_rect(-0.5, -0.5, 1.5, 1.5)
    assert view.thumbnails_shown() == 2  # point 1's provider raised


# ---------------------------------------------------------------- rendering, edge cases


def test_render_shows_points(loaded):
    img = loaded.render()
    assert img.ndim == 3 and img.shape[2] == 4 and img.dtype == np.uint8
    assert np.unique(img.reshape(-1, 4), axis=0).shape[0] > 1
    red = (img[..., 0] > 200) & (img[..., 1] < 100)
    assert red.sum() > 0


def test_empty_scatter(qtbot, view):
    view.set_points(np.zeros((0, 2)), np.zeros((0, 4)))
    assert view.points.shape == (0, 2)
    with qtbot.waitSignal(view.selection_made, timeout=2000) as blocker:
        got = view.select_box((0, 0), (1, 1))
    assert got.size == 0 and blocker.args[0].size == 0
    assert view.select_lasso([(0, 0), (1, 0), (0, 1)]).size == 0
    assert view.visible_indices().size == 0
    view.set_visible_mask(np.zeros(0, bool))
    view.highlight([])
    view.set_thumbnail_provider(lambda i: np.zeros((4, 4, 3), np.uint8))
    assert view.thumbnails_shown() == 0
    with qtbot.waitSignal(view.point_clicked, timeout=2000) as blocker:
        click(view, (100.0, 100.0))
    assert blocker.args == [-1]
    assert view.render().shape[2] == 4


def test_one_point(qtbot, view):
    view.set_points([[3.0, 4.0]], [[0.2, 0.4, 1.0, 1.0]])
    x0, y0, x1, y1 = view.camera_rect()
    assert x0 < 3 < x1 and y0 < 4 < y1
    assert view.select_box((2, 3), (4, 5)).tolist() == [0]
    view.focus_point(0)
    with qtbot.waitSignal(view.point_clicked, timeout=2000) as blocker:
        click(view, to_canvas(view, (3.0, 4.0))[0])
    assert blocker.args == [0]
    view.render()


def test_invalid_points(view):
    with pytest.raises(ValueError):
        view.set_points(np.zeros((3, 3)), solid(3))
    with pytest.raises(ValueError):
        view.set_points(np.zeros((3, 2)), solid(2))
    with pytest.raises(ValueError):
        view.set_points([[0, np.nan]], solid(1))


def test_100k_points(view):
    rng = np.random.default_rng(3)
    n = 100_000
    view.set_points(rng.normal(size=(n, 2)), rng.random((n, 4)))
    view.set_colors(rng.random((n, 4)))
    view.set_visible_mask(rng.random(n) < 0.5)
    img = view.render()
    assert img.shape[2] == 4
    assert view.points.shape == (n, 2)


# ---------------------------------------------------------------- level of detail

LOD_N, LOD_CAP = 50_000, 5_000


def drawn_positions(w):
    """The positions the points visual holds now (what the GPU draws)."""
    return w._markers._data["a_position"][:, :2]


def drawn_indices(w, xy):
    """Indices of the drawn points, found by their positions in the visual's buffer."""
    where = {row.tobytes(): i for i, row in enumerate(np.asarray(xy, np.float32))}
    return np.array(sorted(where[row.tobytes()] for row in drawn_positions(w)), np.intp)


@pytest.fixture
def big(view):
    """50k points uniform in [0, 10]^2, grey, level-of-detail cap 5k."""
    xy = np.random.default_rng(4).uniform(0, 10, (LOD_N, 2))
    view.set_points(xy, solid(LOD_N, (0.7, 0.7, 0.7, 1.0)))
    view.lod_cap = LOD_CAP
    return view, xy


def test_lod_subsample_while_moving_all_after_settle(qtbot, big):
    view, xy = big
    assert view.drawn_count == LOD_N and not view.lod_active  # new points: all drawn at once
    view.set_camera_rect(2, 2, 8, 8)  # a camera move
    assert view.lod_active
    assert view.drawn_count == LOD_CAP
    first = drawn_indices(view, xy)
    assert first.size == LOD_CAP and np.unique(first).size == LOD_CAP
    view.set_camera_rect(3, 3, 7, 7)  # the same (seeded) subsample on every move
    np.testing.assert_array_equal(drawn_indices(view, xy), first)
    qtbot.waitUntil(lambda: view.drawn_count == LOD_N, timeout=5000)  # settled
    assert not view.lod_active
    np.testing.assert_array_equal(drawn_positions(view), xy.astype(np.float32))
    # a drag in pan mode (the real interaction) moves the camera too
    c = to_canvas(view, [(5, 5)])[0]
    drag(view, [c + np.array([dx, 0.0]) for dx in (0, 20, 40)])
    assert view.drawn_count == LOD_CAP
    img = view.render()  # render() draws what a settled camera shows: all points
    assert view.drawn_count == LOD_N and img.shape[2] == 4


def test_lod_selection_picking_colours_on_all_points(qtbot, big):
    view, xy = big
    view.set_camera_rect(2, 2, 8, 8)
    assert view.drawn_count == LOD_CAP
    drawn = set(drawn_indices(view, xy).tolist())
    inside = np.flatnonzero(((xy >= 4) & (xy <= 6)).all(axis=1))
    with qtbot.waitSignal(view.selection_made, timeout=2000) as blocker:
        got = view.select_box((4, 4), (6, 6))
    np.testing.assert_array_equal(got, inside)
    np.testing.assert_array_equal(blocker.args[0], inside)
    hidden = [i for i in inside.tolist() if i not in drawn]
    assert len(hidden) > 0.8 * inside.size  # most of the selection was not drawn
    lasso = view.select_lasso([(4, 4), (6, 4), (6, 6), (4, 6)])
    np.testing.assert_array_equal(lasso, inside)
    # a click exactly on a point that is not drawn picks it (one under no later point's disc,
    # which would be drawn over it once the camera is still)
    r = 0.5 * view._point_size * view._units_per_px()
    i = next(j for j in hidden if not (np.hypot(*(xy[j + 1 :] - xy[j]).T) <= r).any())
    with qtbot.waitSignal(view.point_clicked, timeout=2000) as blocker:
        click(view, to_canvas(view, xy[i])[0])
    assert blocker.args == [i]
    # focus and highlight of points that are not drawn
    view.focus_point(hidden[1])
    assert view.focused == hidden[1]
    np.testing.assert_allclose(view._focus_markers._data["a_position"][0, :2], xy[hidden[1]],
                               rtol=1e-6)  # fmt: skip
    view.highlight(hidden[:10])
    assert len(view._hl_markers._data) == 10
    # new colours while moving: the drawn subsample shows them, all points keep them
    view.set_camera_rect(2, 2, 8, 8)
    green = solid(LOD_N, (0.1, 0.9, 0.1, 1.0))
    view.set_colors(green)
    assert view.drawn_count == LOD_CAP
    np.testing.assert_allclose(view._markers._data["a_bg_color"], green[:LOD_CAP])
    np.testing.assert_allclose(view.colors, green)
    qtbot.waitUntil(lambda: view.drawn_count == LOD_N, timeout=5000)
    np.testing.assert_allclose(view._markers._data["a_bg_color"], green)


def test_lod_with_mask_cap_off_and_few_points(qtbot, big):
    view, xy = big
    left = xy[:, 0] < 5  # about 25k visible
    view.set_visible_mask(left)
    view.set_camera_rect(1, 1, 9, 9)
    assert view.drawn_count == LOD_CAP
    assert (drawn_positions(view)[:, 0] < 5).all()  # hidden points stay hidden
    got = view.select_box((0, 0), (10, 10))
    np.testing.assert_array_equal(got, np.flatnonzero(left))  # all visible, not the subsample
    few = np.zeros(LOD_N, bool)
    few[:3000] = True  # fewer visible than the cap: all of them, even while moving
    view.set_visible_mask(few)
    view.set_camera_rect(2, 2, 8, 8)
    assert view.drawn_count == 3000 and not view.lod_active
    view.set_visible_mask(None)
    view.set_camera_rect(1, 1, 9, 9)
    assert view.drawn_count == LOD_CAP
    view.lod_cap = None  # off: all points at once, and on every move
    assert view.drawn_count == LOD_N and view.lod_cap is None
    view.set_camera_rect(2, 2, 8, 8)
    assert view.drawn_count == LOD_N and not view.lod_active
    with pytest.raises(ValueError):
        view.lod_cap = -1
    # the default cap follows the renderer: 10k under software OpenGL (Xvfb), 20k on a GPU
    assert (ScatterView.LOD_CAP, ScatterView.LOD_CAP_SOFTWARE) == (20_000, 10_000)
    small = ScatterView()
    qtbot.addWidget(small)
    small.show()
    qtbot.waitUntil(lambda: gl_renderer(small.canvas) is not None, timeout=5000)
    software = is_software_renderer(gl_renderer(small.canvas))
    assert small.lod_cap == (ScatterView.LOD_CAP_SOFTWARE if software else ScatterView.LOD_CAP)
    # n <= cap: nothing changes
    small.set_points(xy[:1000], solid(1000))
    small.set_camera_rect(2, 2, 8, 8)
    assert small.drawn_count == 1000 and not small.lod_active


def test_software_renderers_are_recognised():
    assert is_software_renderer("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert is_software_renderer("Mesa X11 softpipe")
    assert is_software_renderer("Google SwiftShader")
    assert not is_software_renderer("NVIDIA H100 80GB HBM3/PCIe/SSE2")
    assert not is_software_renderer("AMD Radeon Pro 5500M OpenGL Engine")


# ---------------------------------------------------------------- the points visual


def test_points_drawn_as_discs_of_their_colour(view):
    """Each point is a filled disc of its own colour, ``point_size`` pixels across."""
    xy = np.array([(0.0, 0.0), (10.0, 0.0)])
    red, blue = (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)
    view.set_points(xy, np.float32([red, blue]))
    view.set_camera_rect(-5.0, -5.0, 15.0, 5.0)
    img = view.render()[..., :3].astype(int)
    background = img[2, 2].copy()
    for (x, y), rgb in zip(to_canvas(view, xy), ((255, 0, 0), (0, 0, 255))):
        r, c = int(np.rint(y)), int(np.rint(x))
        np.testing.assert_allclose(img[r, c], rgb, atol=2)  # the centre has the point's colour
        inside = np.all(np.abs(img[r - 6 : r + 7, c - 6 : c + 7] - rgb) <= 2, axis=-1).sum()
        # a disc of diameter point_size: about pi/4 of its bounding square (rim antialiased)
        size = view._point_size
        assert 0.4 * size**2 <= inside <= size**2
        far = img[r - 10, c]  # beyond the disc: background
        np.testing.assert_array_equal(far, background)
    bounds = view._markers._compute_bounds(0, None)
    assert bounds == (0.0, 10.0)
    with pytest.raises(ValueError):
        view._markers.set_data(np.zeros((3, 4)))


def test_set_points_keep_view_keeps_the_camera_unless_the_new_points_are_out_of_it(
    loaded, clusters
):
    xy, _ = clusters
    loaded.set_camera_rect(8.5, -1.5, 11.5, 1.5)
    view = loaded.camera_rect()
    inside = np.concatenate([xy[1:], [(10.2, 0.3)]])  # one point gone, one new in view
    loaded.set_points(inside, solid(len(inside)), keep_view=True)
    np.testing.assert_allclose(loaded.camera_rect(), view)
    loaded.set_points(xy, solid(len(xy)))  # without keep_view: fitted
    assert loaded.camera_rect()[0] < -1
    loaded.set_camera_rect(8.5, -1.5, 11.5, 1.5)
    outside = np.concatenate([xy, [(-3.0, 6.0)]])  # the new point out of view: fitted
    loaded.set_points(outside, solid(len(outside)), keep_view=True)
    x0, y0, x1, y1 = loaded.camera_rect()
    assert x0 < -3 < 11 < x1 and y0 < -1 < 8 < y1
    loaded.set_camera_rect(8.5, -1.5, 11.5, 1.5)
    moved = xy * 0.5 + 4.5  # another layout (every point new): fitted, though some are in view
    loaded.set_points(moved, solid(len(moved)), keep_view=True)
    x0, y0, x1, y1 = loaded.camera_rect()
    assert x0 <= moved[:, 0].min() and x1 >= moved[:, 0].max()


def test_backspace_shows_the_points_a_kept_view_left_out(loaded, clusters):
    """After an update that keeps the view (a split adds points), Backspace fits all of
    today's points, not the points of the last fit."""
    xy, _ = clusters
    loaded.set_camera_rect(8.5, -1.5, 11.5, 1.5)
    view = loaded.camera_rect()
    grown = np.concatenate([xy, [(10.2, 0.3), (40.0, 30.0)]])  # one new point in view
    loaded.set_points(grown, solid(len(grown)), keep_view=True)
    np.testing.assert_allclose(loaded.camera_rect(), view)  # kept
    loaded.canvas.events.key_press(key=keys.BACKSPACE, text="", modifiers=())
    x0, y0, x1, y1 = loaded.camera_rect()
    assert x0 <= grown[:, 0].min() and x1 >= 40.0 and y0 <= grown[:, 1].min() and y1 >= 30.0


def test_a_click_picks_the_point_drawn_on_top(qtbot, view):
    """Of points at one place, or of overlapping discs, a click picks the one the user sees."""
    red, blue, green = (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0), (0.0, 1.0, 0.0, 1.0)
    xy = np.array([(0.0, 0.0), (0.0, 0.0), (5.0, 0.0), (5.06, 0.0)])  # two pairs
    view.set_points(xy, np.float32([red, blue, green, red]))
    view.set_camera_rect(-5.0, -5.0, 10.0, 5.0)
    img = view.render()[..., :3].astype(int)
    (x, y), (x2, y2) = to_canvas(view, xy[[0, 2]])
    np.testing.assert_allclose(img[int(np.rint(y)), int(np.rint(x))], (0, 0, 255), atol=2)
    with qtbot.waitSignal(view.point_clicked, timeout=2000) as blocker:
        click(view, (x, y))
    assert blocker.args == [1]  # blue, drawn over red
    # point 3's disc covers the centre of point 2 and is drawn over it: the nearest is 2
    assert (xy[3, 0] - xy[2, 0]) / view._units_per_px() < 0.5 * view._point_size
    r, c = int(np.rint(y2)), int(np.rint(x2))
    np.testing.assert_allclose(img[r, c], (255, 0, 0), atol=2)
    with qtbot.waitSignal(view.point_clicked, timeout=2000) as blocker:
        click(view, (x2, y2))
    assert blocker.args == [3]
