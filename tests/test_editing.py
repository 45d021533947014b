import numpy as np
import pytest

from napari_featann import editing
from napari_featann.core.partition import PartitionParams
from napari_featann.core.regions import table_from_label_images
from napari_featann.session import Session


@pytest.fixture
def two_squares():
    """Two touching squares of different colour on grey; segments: background, left, right."""
    img = np.full((40, 60, 3), 120, np.uint8)
    img[10:30, 10:30] = (230, 40, 40)
    img[10:30, 30:50] = (40, 40, 230)
    s = Session.from_sources([img])
    s.partition_params.regions = 3
    s.partition()
    lab = np.ones((40, 60), np.int32)
    lab[10:30, 10:30] = 2
    lab[10:30, 30:50] = 3
    s.label_images = [lab]  # exact squares, so that pixel-exact results can be asserted
    s.segments = table_from_label_images([lab])
    s.segment_class = np.zeros(3, np.int32)
    s.next_id = 4
    return s


def test_touching_squares_merged_then_split_back(two_squares):
    s = two_squares
    merged = editing.merge(s, [2, 3])
    lab = s.label_images[0]
    assert merged == 2 and (lab[10:30, 10:50] == merged).all()
    neg_id, pos_id = editing.split(s, merged, positive=[(20, 20)], negative=[(20, 40)])
    lab = s.label_images[0]
    left = np.zeros_like(lab, bool)
    left[10:30, 10:30] = True
    right = np.zeros_like(lab, bool)
    right[10:30, 30:50] = True

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    # the blurred gradient (sigma 2) leaves the two corner pixels of the common border ambiguous
    assert iou(lab == pos_id, left) > 0.98
    assert iou(lab == neg_id, right) > 0.98
    assert (lab[12:28, 12:28] == pos_id).all() and (lab[12:28, 32:48] == neg_id).all()
    assert len(s.segments) == 3


def test_split_classes_and_undo(two_squares):
    s = two_squares
    a, b = s.add_class("a"), s.add_class("b")
    merged = editing.merge(s, [2, 3])
    s.assign([merged], a)
    editing.split(s, merged, [(20, 20)], [(20, 40)], positive_class=b)
    assert (s.class_masks[0][12:28, 12:28] == b).all()
    assert (s.class_masks[0][12:28, 32:48] == a).all()
    assert set(np.unique(s.class_masks[0][10:30, 10:50])) == {a, b}
    s.undo()
    assert (s.class_masks[0][10:30, 10:50] == a).all()
    assert len(s.segments) == 2
    s.redo()
    assert (s.class_masks[0][12:28, 12:28] == b).all()


def test_merge_rejects_non_adjacent_and_other_images():
    img = np.full((30, 60, 3), 120, np.uint8)
    img[5:15, 5:15] = 250
    img[5:15, 40:50] = 10
    s = Session.from_sources([img, img.copy()])
    s.partition_params.regions = 3
    s.partition()
    a, b = s.segment_at(0, 10, 10), s.segment_at(0, 10, 45)
    with pytest.raises(ValueError, match="adjacent"):
        editing.merge(s, [a, b])
    with pytest.raises(ValueError, match="one image"):
        editing.merge(s, [a, s.segment_at(1, 10, 10)])


def test_recut_keeps_labels_and_reports(two_squares):
    s = two_squares
    red = s.add_class("red")
    s.assign([2], red)
    report = editing.recut(s, PartitionParams(regions=3, criterion="area"))
    assert report.kept + report.moved == 1 and report.lost == 0
    # the hierarchy's left square differs from the exact one by its border pixels at most
    assert (s.class_masks[0][12:28, 12:28] == red).all()
    rows = s.segments.rows_of([s.segment_at(0, 20, 20)])
    assert s.segment_class[rows[0]] == red
    after_first = s.class_masks[0].copy()
    report = editing.recut(s, PartitionParams(regions=1))
    # the whole image is one segment: red covers < 50 % of it, so it cannot be carried over
    assert report.lost == 1
    assert s.segment_class.max() == 0
    s.undo()
    assert (s.class_masks[0] == after_first).all()


def test_undo_of_a_recut_of_all_images_brings_back_its_parameters(two_squares):
    s = two_squares
    before = s.partition_params
    editing.recut(s, PartitionParams(regions=2, criterion="area"))
    assert s.partition_params.criterion == "area" and s.partition_params.regions == 2
    s.undo()  # the old segments, and the parameters they were cut with (for added images)
    assert s.partition_params == before
    s.redo()
    assert s.partition_params.criterion == "area" and s.partition_params.regions == 2
    editing.recut(s, PartitionParams(regions=1), images=[0])  # (all images: one here)
    s.undo()
    assert s.partition_params.regions == 2


def test_recut_on_davis_frame_keeps_labels(davis_files):
    s = Session.from_sources([davis_files[0]])
    s.partition_params.regions = 60
    s.partition()
    c = s.add_class("swan")
    s.assign(s.segments.ids[:10], c)
    before = s.class_masks[0].copy()
    report = editing.recut(s, PartitionParams(regions=150))
    assert report.lost == 0 and report.kept + report.moved == 10
    # a finer cut nests in the coarser one: every labelled pixel keeps its class
    assert (s.class_masks[0][before == c] == c).all()


def _labelled_grid():
    """One 50 x 50 image of 5 x 5 segments (ids r * 5 + c + 1), class a on a 3 x 3 block,
    on a 2-segment strip apart from it and on one segment in the far corner; class b on
    one segment alone."""
    from napari_featann.bench.speed import _grid_session

    s = _grid_session(1, 25, (50, 50))
    a, b = s.add_class("a"), s.add_class("b")
    s.assign([1, 2, 3, 6, 7, 8, 11, 12, 13], a)  # 900 px
    s.assign([5, 10], a)  # 200 px, a column away from the block
    s.assign([25], a)  # 100 px, the far corner
    s.assign([21], b)
    return s, a, b


def test_speck_segments_are_the_small_islands_of_each_class():
    s, a, _b = _labelled_grid()  # b: one part alone, never a speck
    assert editing.speck_segments(s, 0).tolist() == [25]  # below 0.2 x 900 px
    assert editing.speck_segments(s, 0, 0.5).tolist() == [5, 10, 25]
    assert editing.speck_segments(s, 0, 0.0).size == 0
    with pytest.raises(ValueError, match="min_fraction"):
        editing.speck_segments(s, 0, 1.5)
    before = s.class_masks[0].copy()
    s.assign(editing.speck_segments(s, 0), 0, "remove specks")
    assert (s.class_masks[0][40:, 40:] == 0).all() and s.segment_class[24] == 0
    assert (s.class_masks[0] != before).sum() == 100
    s.undo()
    assert np.array_equal(s.class_masks[0], before) and s.segment_class[24] == a


def test_a_segment_joined_to_the_main_part_by_paint_is_not_a_speck():
    s, a, _ = _labelled_grid()
    s.class_masks[0][30:40, 30:40] = a  # painted: the corner now touches the block's part
    s.manual_masks[0][30:40, 30:40] = True
    # the strip (200 px) is now below 0.2 x 1 100 px; the corner is part of the largest
    assert editing.speck_segments(s, 0).tolist() == [5, 10]


def test_hole_segments_are_the_unlabelled_segments_a_class_encloses():
    from napari_featann.bench.speed import _grid_session

    s = _grid_session(1, 49, (70, 70))  # 7 x 7 segments of 10 x 10, ids r * 7 + c + 1
    a, b = s.add_class("a"), s.add_class("b")
    ring = lambda d: [r * 7 + c + 1 for r in range(7) for c in range(7)  # noqa: E731
                      if max(abs(r - 3), abs(c - 3)) == d]  # fmt: skip
    s.assign(ring(3), a)  # the border ring: its inside is a hole of a
    s.assign(ring(1), b)  # around the centre: a hole of b within the hole of a
    holes = editing.hole_segments(s, 0)
    assert sorted(holes) == [a, b]
    assert holes[a].tolist() == sorted(ring(2))  # between the rings
    assert holes[b].tolist() == [25]  # the centre: the smallest hole around it is b's
    s.assign([25], a)  # labelled segments are never returned
    assert editing.hole_segments(s, 0)[a].tolist() == sorted(ring(2))
    s.assign(ring(3)[:3], 0)  # a gap in the outer ring: between the rings is open now
    assert editing.hole_segments(s, 0) == {}


def test_a_hole_closed_by_paint_counts_and_border_parts_never_do():
    from napari_featann.bench.speed import _grid_session

    s = _grid_session(1, 25, (50, 50))  # 5 x 5, ids r * 5 + c + 1
    a = s.add_class("a")
    s.assign([2, 6, 8], a)  # around 7 on three sides; 12 below is unlabelled
    assert editing.hole_segments(s, 0) == {}
    s.paint(0, np.pad(np.ones((10, 10), bool), ((20, 20), (10, 30))), a)  # paint over 12
    holes = editing.hole_segments(s, 0)
    assert list(holes) == [a] and holes[a].tolist() == [7]
    before = s.class_masks[0].copy()
    s.assign(editing.hole_segments(s, 0)[a], a, "fill holes")
    assert (s.class_masks[0][10:20, 10:20] == a).all() and (s.class_masks[0] != before).sum() == 100


def test_image_edits_check_the_image_index_and_the_partition(squares_image):
    s = Session.from_sources([squares_image])
    with pytest.raises(RuntimeError, match="partition the images first"):
        editing.speck_segments(s, 0)
    s.partition_params.regions = 3
    s.partition()
    for call in (lambda: editing.speck_segments(s, 1), lambda: editing.hole_segments(s, -1),
                 lambda: editing.recut(s, PartitionParams(regions=2), images=[0, 5])):  # fmt: skip
        with pytest.raises(IndexError, match="the session has 1"):
            call()
    assert not s.history.can_undo  # nothing changed


def test_recut_of_an_image_named_twice_cuts_it_once(squares_image):
    s = Session.from_sources([squares_image, squares_image[::-1].copy()])
    s.partition_params.regions = 3
    s.partition()
    red = s.add_class("red")
    s.assign([s.segment_at(1, 30, 40)], red)
    twin = Session.from_sources([squares_image, squares_image[::-1].copy()])
    twin.partition_params.regions = 3
    twin.partition()
    twin.add_class("red")
    twin.assign([twin.segment_at(1, 30, 40)], red)
    once = editing.recut(twin, PartitionParams(regions=5), images=[1])
    twice = editing.recut(s, PartitionParams(regions=5), images=[1, 1])
    # the table holds each segment of the label images once, and nothing else
    assert np.unique(s.segments.ids).size == len(s.segments)
    for i in range(2):
        ids = np.unique(s.label_images[i])
        assert np.array_equal(np.sort(s.segments.ids[s.segments.image == i]), ids[ids > 0])
    assert len(s.segments) == len(twin.segments) and twice.new_segments == once.new_segments
    assert (twice.kept, twice.moved, twice.lost) == (once.kept, once.moved, once.lost)
    assert np.array_equal(s.class_masks[1], twin.class_masks[1])


def test_labels_given_while_an_edit_is_computed_stay_when_it_is_applied(squares_image):
    s = Session.from_sources([squares_image, squares_image[::-1].copy()])
    s.partition_params.regions = 6
    s.partition()
    a = s.add_class("a")
    sid = s.segment_at(0, 30, 40)
    pix = np.argwhere(s.label_images[0] == sid)
    planned = editing.plan_split(s, sid, [tuple(pix[0])], [tuple(pix[-1])])
    other = s.segments.ids[s.segments.image == 1][:3]
    s.assign(other, a)  # while the split is computed (a GUI computes it in a worker)
    labelled = s.class_masks[1].copy()
    planned.apply(s)
    assert (s.segment_class[s.segments.rows_of(other)] == a).all()
    assert np.array_equal(s.class_masks[1], labelled)
    lut = np.zeros(s.next_id, np.int64)
    lut[s.segments.ids] = s.segment_class
    for i in range(2):  # every pixel shows its segment's class
        assert np.array_equal(s.class_masks[i], lut[s.label_images[i]])
    s.undo()
    assert (s.segment_class[s.segments.rows_of(other)] == a).all()
    s.undo()
    assert not s.segment_class.any() and not s.class_masks[1].any()


def test_labels_given_to_the_segments_an_edit_replaces_while_it_is_computed_stay(two_squares):
    """A scatter box labels segments while a split, merge or re-cut runs in a worker: the
    new segments take the labels of the moment the edit is applied (they took those of the
    moment it was planned, and a label given to the segment split was silently dropped)."""
    s = two_squares
    a, b = s.add_class("a"), s.add_class("b")
    planned = editing.plan_split(s, 2, [(12, 12)], [(28, 28)])
    s.assign([2], a)  # meanwhile
    assert planned.apply(s) == (2, 4)
    assert (s.segment_class[s.segments.rows_of([2, 4])] == a).all()
    assert (s.class_masks[0][10:30, 10:30] == a).all()
    planned = editing.plan_split(s, 3, [(12, 32)], [(28, 48)], positive_class=b)
    s.assign([3], a)
    editing_ids = planned.apply(s)
    assert list(s.segment_class[s.segments.rows_of(editing_ids)]) == [a, b]  # as asked
    planned = editing.plan_merge(s, [2, 4])
    s.assign([2, 4], b)
    assert s.segment_class[s.segments.rows_of([planned.apply(s)])][0] == b
    assert (s.class_masks[0][10:30, 10:30] == b).all()
    planned = editing.plan_recut(s, PartitionParams(regions=3))
    s.assign([1], a)  # the background
    report = planned.apply(s)
    lut = np.zeros(s.next_id, np.int64)
    lut[s.segments.ids] = s.segment_class
    assert lut[s.label_images[0]][0, 0] == a and lut[s.label_images[0]][20, 20] == b
    assert np.array_equal(s.class_masks[0], lut[s.label_images[0]])
    assert report.kept + report.moved == 4 and not report.lost  # the background counted
    assert s.history.last_done.description == f"re-cut 1 images ({report.message()})"
    s.undo()
    assert s.segment_class[s.segments.rows_of([1])][0] == a


def test_a_recut_never_swaps_the_session_s_parameters_while_it_runs(two_squares, monkeypatch):
    # a re-cut runs in a worker thread: the main thread (an autosave, the panels) must see
    # the session's own parameters all along, not the re-cut's
    s = two_squares
    before = s.partition_params
    seen = []
    real_cut = editing.cut_hierarchy

    def cut(hierarchy, threshold=None, regions=None):
        seen.append(s.partition_params)
        return real_cut(hierarchy, threshold, regions)

    monkeypatch.setattr(editing, "cut_hierarchy", cut)
    planned = editing.plan_recut(s, PartitionParams(regions=2, criterion="area"), images=[0])
    assert seen and all(p is before for p in seen)
    assert s.partition_params is before
    planned.apply(s)  # on the main thread: all images re-cut (one here), their parameters now
    assert s.partition_params.criterion == "area" and s.partition_params.regions == 2


def test_a_recut_of_no_image_is_refused_and_adds_no_undo_step(two_squares):
    s = two_squares
    assert not s.history.can_undo
    with pytest.raises(ValueError, match="no image"):
        editing.recut(s, PartitionParams(regions=2), images=[])
    assert not s.history.can_undo


def test_an_edit_whose_new_segment_has_features_not_finite_is_refused(
    two_squares, cnn_params, poison_backbone
):
    s = two_squares
    s.feature_params = cnn_params
    s.extract_features()
    lab, feats = s.label_images[0].copy(), s.features.copy()
    poison_backbone(s)  # the merged segment's features come out NaN
    with pytest.raises(ValueError, match=r"editing segments refused: 1 segment has") as err:
        editing.merge(s, [2, 3])
    assert "(image " in str(err.value) and "the edit was not made" in str(err.value)
    np.testing.assert_array_equal(s.label_images[0], lab)
    np.testing.assert_array_equal(s.features, feats)
    assert len(s.segments) == 3 and not s.history.can_undo


def _state(s: Session) -> tuple:
    return (s.segment_class.tolist(), [m.tolist() for m in s.label_images],
            [m.tolist() for m in s.class_masks], sorted(s.classes), len(s.history))  # fmt: skip


@pytest.mark.parametrize(
    "ids, error, match",
    [
        ([2.6, 3], ValueError, r"whole numbers, got \[2.6\]"),  # merged 2 and 3
        ([np.nan, 3], ValueError, "whole numbers"),  # "unknown segment ids: [-9223372036854775808]"
        (np.array([False, True, True]), TypeError, "booleans"),  # "unknown segment ids: [0]"
        ([], ValueError, "nothing to merge"),  # "segments to merge must lie in one image"
    ],
)
def test_merge_refuses_ids_that_are_no_whole_numbers_and_nothing(two_squares, ids, error, match):
    s = two_squares
    before = _state(s)
    for call in (lambda: editing.merge(s, ids), lambda: editing.merge_image(s, ids)):
        with pytest.raises(error, match=match):
            call()
    assert _state(s) == before


def test_split_checks_the_segment_id_and_the_class(two_squares):
    s = two_squares
    s.add_class("a")
    before = _state(s)
    clicks = [(15, 15)], [(25, 25)]
    with pytest.raises(ValueError, match="segment id must be a whole number"):
        editing.split(s, 2.5, *clicks)  # was segment 2
    for cls, error in ((True, TypeError), (1.5, ValueError)):  # both were class 1
        with pytest.raises(error, match="class id"):
            editing.split(s, 2, *clicks, positive_class=cls)
    assert _state(s) == before


@pytest.mark.parametrize("params", [{"regions": 2}, None, "regions=2"])
def test_recut_takes_partition_params_only(two_squares, params):
    s = two_squares
    before = _state(s)
    with pytest.raises(TypeError, match="params must be PartitionParams"):  # AttributeError
        editing.recut(s, params)
    with pytest.raises(ValueError, match="regions must be a number, got '2'"):  # failed later
        editing.recut(s, PartitionParams(regions="2"))
    assert _state(s) == before


def test_recut_of_one_image_given_as_an_int(two_squares):
    report = editing.recut(two_squares, PartitionParams(regions=2), images=0)  # not iterable
    assert report.new_segments == len(two_squares.segments)
    assert two_squares.undo().startswith("re-cut 1 images")
