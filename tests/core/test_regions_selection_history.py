import numpy as np
import pytest

from napari_featann.core.history import Action, History
from napari_featann.core.regions import SegmentTable, offset_labels, table_from_label_images
from napari_featann.core.selection import points_in_box, points_in_polygon


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
