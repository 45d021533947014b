import numpy as np
import pytest

from napari_featann.core.history import Action, History
from napari_featann.core.regions import SegmentTable, offset_labels, table_from_label_images
from napari_featann.core.selection import new_points, points_in_box, points_in_polygon


def test_table_columns():
    a = np.array([[1, 1, 2], [3, 3, 2]])
    t = table_from_label_images([a, offset_labels(a, 3)])
    assert t.ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert t.image.tolist() == [0, 0, 0, 1, 1, 1]
    assert t.bbox[1].tolist() == [0, 2, 2, 3]
    assert t.area.tolist() == [2] * 6
    np.testing.assert_allclose(t.centroid[1], [0.5, 2.0])
    assert t.rows_of([5, 1]).tolist() == [4, 0]
    with pytest.raises(KeyError):
        t.rows_of([99])
    t2 = SegmentTable.from_arrays(t.to_arrays())
    assert (t2.bbox == t.bbox).all() and len(t.take([0, 2])) == 2


def test_repeated_ids_across_images_rejected():
    a = np.array([[1, 2]])
    with pytest.raises(ValueError, match="repeat"):
        table_from_label_images([a, a])


def test_box_and_lasso():
    pts = np.array([[0, 0], [1, 1], [2, 2], [5, 5], [0.5, 0.2]])
    assert points_in_box(pts, (2.5, 2.5), (-0.5, -0.5)).tolist() == [0, 1, 2, 4]
    tri = [[-1, -1], [4, -1], [-1, 4]]  # x + y < 3
    assert points_in_polygon(pts, tri).tolist() == [0, 1, 4]
    with pytest.raises(ValueError):
        points_in_polygon(pts, [[0, 0], [1, 1]])


@pytest.mark.parametrize(
    "ids, error, match",
    [
        ([1.5], ValueError, r"whole numbers, got \[1.5\]"),  # was row of id 1
        ([np.nan], ValueError, "whole numbers"),
        ([np.inf], ValueError, "whole numbers"),
        (np.array([True, False]), TypeError, "booleans"),  # was ids 1 and 0
        (["2"], TypeError, "must be integers"),
    ],
)
def test_segment_ids_must_be_whole_numbers(ids, error, match):
    t = table_from_label_images([np.array([[1, 1, 2], [3, 3, 2]])])
    with pytest.raises(error, match=match):
        t.rows_of(ids)
    assert t.rows_of([3.0, 1]).tolist() == [2, 0]  # whole floats are ids
    assert t.rows_of(np.array([[2], [3]], np.uint8)).tolist() == [1, 2]


@pytest.mark.parametrize(
    "corners, error, match",
    [
        (((np.nan, 0), (1, 1)), ValueError, "corner0 must not be NaN"),  # selected nothing
        (((0, 0), (1, 1, 1)), ValueError, r"corner1 must have shape \(x, y\)"),  # broadcast error
        ((0, 1), ValueError, r"got shape \(\)"),  # one number for both axes
        ((("a", "b"), (1, 1)), TypeError, "corner0 must be numbers"),
    ],
)
def test_box_corners_are_checked(corners, error, match):
    pts = np.array([[0, 0], [1, 1], [5, 5]])
    with pytest.raises(error, match=match):
        points_in_box(pts, *corners)
    assert points_in_box(pts, (-np.inf, -np.inf), (np.inf, 2)).tolist() == [0, 1]  # open sides


@pytest.mark.parametrize(
    "vertices, match",
    [
        ([0, 0, 4, 0, 0, 4], r"shape \(m, 2\).*got shape \(6,\)"),  # read as 3 vertices
        ([(0, 0), (np.nan, 4), (4, 0)], "must not be NaN or infinite"),  # selected nothing
        ([(0, 0), (np.inf, 0), (0, 4)], "must not be NaN or infinite"),
    ],
)
def test_lasso_vertices_are_checked(vertices, match):
    with pytest.raises(ValueError, match=match):
        points_in_polygon(np.array([[0.5, 0.5]]), vertices)


def test_new_points_are_the_positions_not_there_before():
    old = np.array([[0, 0], [1, 1], [2, 2]], np.float32)
    new = np.array([[2, 2], [0, 0], [1, 2], [1, 1.5]], np.float32)  # x alone or y alone: new
    assert new_points(old, new).tolist() == [2, 3]
    assert new_points(np.zeros((0, 2)), new).tolist() == [0, 1, 2, 3]
    assert new_points(old, np.zeros((0, 2))).size == 0


def test_history_undo_redo_and_limit():
    state = []
    h = History(limit=2)
    for k in range(3):
        state.append(k)
        h.push(Action(f"add {k}", undo=state.pop, redo=lambda k=k: state.append(k)))
    assert len(h) == 2
    assert h.undo().description == "add 2" and state == [0, 1]
    assert h.redo().description == "add 2" and state == [0, 1, 2]
    h.undo()
    h.undo()
    assert h.undo() is None and state == [0]


def test_history_drops_the_oldest_actions_beyond_its_memory_budget():
    h = History(max_bytes=100)
    for k in range(5):
        h.push(Action(f"edit {k}", undo=lambda: None, redo=lambda: None, nbytes=40))
    assert len(h) == 2 and h.nbytes == 80  # 3 x 40 > 100: the oldest went
    assert h.undo().description == "edit 4" and h.undo().description == "edit 3"
    assert h.undo() is None
    h.push(Action("huge", undo=lambda: None, redo=lambda: None, nbytes=1000))
    assert len(h) == 1  # the last action is always kept
    h.push(Action("small", undo=lambda: None, redo=lambda: None))
    assert [a.description for a in h._done] == ["small"]  # the huge one is dropped first


def test_split_states_count_toward_the_budget(squares_image):
    from napari_featann import editing
    from napari_featann.session import Session

    s = Session.from_sources([squares_image])
    s.partition_params.regions = 3
    s.partition()
    sid = s.segment_at(0, 16, 16)
    editing.split(s, sid, [(10, 10)], [(22, 22)])
    held = s.history.nbytes
    assert held >= 2 * 48 * 64 + 48 * 64 * 4  # two mask copies and the new label image
    s.history.max_bytes = held - 1
    editing.merge(s, [sid, s.next_id - 1])
    assert len(s.history) == 1 and s.history._done[0].description.startswith("merge")


def test_history_merges_the_last_actions_into_one():
    state = []
    h = History()
    for k in range(3):
        state.append(k)
        h.push(Action(f"add {k}", undo=state.pop, redo=lambda k=k: state.append(k)))
    h.merge_last(2, "add 1 and 2")
    assert len(h) == 2
    assert h.undo().description == "add 1 and 2" and state == [0]
    assert h.redo().description == "add 1 and 2" and state == [0, 1, 2]  # in order
    assert h.undo() and h.undo().description == "add 0" and state == []
    with pytest.raises(ValueError, match="merge"):
        h.merge_last(1, "nothing left")
