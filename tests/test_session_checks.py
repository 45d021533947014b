"""Wrong arguments to the Session's public calls raise a clear error and change nothing.

Each test takes a snapshot of everything a call could change (segment classes,
class masks, hand-painted flags, classes, the undo history) and checks that a
refused call left all of it as it was: no half-done edit, no empty undo step.
"""

import numpy as np
import pytest

from napari_featann.session import Session


@pytest.fixture
def session(squares_image):
    """Two images (48x64 and 40x50), three segments each, classes "a" and "b"."""
    s = Session.from_sources([squares_image, squares_image[:40, :50].copy()], names=["a", "b"])
    s.partition_params.regions = 3
    s.partition()
    s.add_class("a")
    s.add_class("b")
    return s


def _snapshot(s: Session) -> tuple:
    return (
        s.segment_class.copy(),
        [m.copy() for m in s.class_masks],
        [m.copy() for m in s.manual_masks],
        [(c.id, c.name, c.color) for c in s.classes.values()],
        len(s.history),
    )


def _unchanged(s: Session, before: tuple) -> bool:
    now = _snapshot(s)
    return (
        np.array_equal(now[0], before[0])
        and all(np.array_equal(x, y) for x, y in zip(now[1], before[1], strict=True))
        and all(np.array_equal(x, y) for x, y in zip(now[2], before[2], strict=True))
        and now[3:] == before[3:]
    )


@pytest.mark.parametrize(
    "ids, error, match",
    [
        ([1.7], ValueError, r"whole numbers, got \[1.7\]"),  # was segment 1
        (np.array([1.7, 2.2]), ValueError, "whole numbers"),  # was segments 1 and 2
        (np.array([np.nan]), ValueError, "whole numbers"),  # was id -2**63
        (np.array([True, True, False, False, False, False]), TypeError, "booleans"),
        (["1"], TypeError, "must be integers"),  # was segment 1
        (None, TypeError, "must be integers"),
    ],
)
def test_segment_ids_that_are_no_whole_numbers_are_refused(session, ids, error, match):
    before = _snapshot(session)
    with pytest.raises(error, match=match):
        session.assign(ids, 1)
    assert _unchanged(session, before)


def test_whole_float_ids_sets_and_generators_are_taken(session):
    session.assign(np.array([1.0, 2.0]), 1)
    session.assign({3}, 2)
    session.assign((i for i in [4]), 2)
    assert session.segment_class[session.segments.rows_of([1, 2, 3, 4])].tolist() == [1, 1, 2, 2]


@pytest.mark.parametrize(
    "class_id, error", [(True, TypeError), (1.5, ValueError), ("1", TypeError)]
)
def test_a_class_id_that_is_no_class_is_refused(session, class_id, error):
    before = _snapshot(session)
    with pytest.raises(error, match="class id"):
        session.assign([1, 2], class_id)
    assert _unchanged(session, before)


def test_a_labelling_that_changes_nothing_records_no_undo_step(session):
    n = len(session.history)
    assert session.assign([1, 2], 0) == {}  # unlabelled already
    assert len(session.history) == n
    assert session.assign([1, 2], 1)  # a change: one step
    assert len(session.history) == n + 1
    before = _snapshot(session)
    assert session.assign([2, 1], 1) == {}  # the same again
    assert _unchanged(session, before)
    assert session.undo() == "label 2 segments as a"


def _paint_calls(s: Session | None):
    full = np.ones((48, 64), bool)  # image 0
    return {
        "mask of another shape": (lambda: s.paint(0, np.ones((10, 10), bool), 1), ValueError,
                                  r"the mask has shape \(10, 10\); the image has \(48, 64\)"),
        "no such class": (lambda: s.paint(0, full, 9), KeyError, "no class with id 9"),
        "class 300": (lambda: s.paint(0, full, 300), KeyError, "no class with id 300"),
        "image -1": (lambda: s.paint(-1, np.ones((40, 50), bool), 1), IndexError, "no image -1"),
        "image 2": (lambda: s.paint(2, full, 1), IndexError, r"the session has 2 \(0 to 1\)"),
        "brush index -1": (lambda: s.mark_painted(0, [-1], 0, 1), ValueError,
                           "pixel indices must be in 0 to 3071"),
        "brush index out": (lambda: s.mark_painted(0, [48 * 64], 0, 1), ValueError,
                            "pixel indices"),
        "brush index 1.5": (lambda: s.mark_painted(0, [1.5], 0, 1), ValueError, "whole numbers"),
        "brush value 300": (lambda: s.mark_painted(0, [5], 0, 300), ValueError, "0 to 255"),
        "brush values 2 for 3": (lambda: s.mark_painted(0, [5, 6, 7], [0, 0], 1), ValueError,
                                 "one per pixel"),
        "brush image -1": (lambda: s.mark_painted(-1, [5], 0, 1), IndexError, "no image -1"),
    }  # fmt: skip


@pytest.mark.parametrize("case", list(_paint_calls(None)))
def test_paint_and_brush_check_the_image_mask_class_and_pixels(session, case):
    call, error, match = _paint_calls(session)[case]
    before = _snapshot(session)
    with pytest.raises(error, match=match):
        call()
    assert _unchanged(session, before)


def test_the_eraser_and_any_label_of_napari_s_brush_are_still_recorded(session):
    mask = np.zeros(session.class_masks[0].shape, bool)
    mask[0, :3] = True
    session.paint(0, mask, 0)  # the eraser: class 0
    assert session.manual_masks[0][0, :3].all() and not session.class_masks[0][0, :3].any()
    session.mark_painted(1, [0, 1], 0, 7)  # napari's box takes labels that are no class
    assert session.manual_masks[1].ravel()[:2].all()


@pytest.mark.parametrize(
    "name, error, match",
    [
        ("   ", ValueError, "not blank"),
        ("", ValueError, "not blank"),
        (" a ", ValueError, "a class named 'a' exists already"),  # "a" with blanks round it
        (5, TypeError, "must be text, got 5"),  # export_masks failed on it
        (b"c", TypeError, "must be text"),
    ],
)
def test_class_names_are_stripped_text_and_not_blank(session, name, error, match):
    before = _snapshot(session)
    with pytest.raises(error, match=match):
        session.add_class(name)
    assert _unchanged(session, before)


def test_renaming_to_none_or_a_blank_is_refused(session):
    before = _snapshot(session)
    with pytest.raises(TypeError, match="must be text, got None"):
        session.rename_class(1, None)  # was named "None"
    with pytest.raises(ValueError, match="exists already"):
        session.rename_class(1, " b ")
    assert _unchanged(session, before)
    session.rename_class(1, "  sky ")
    assert session.classes[1].name == "sky"


def test_a_class_added_without_a_name_gets_a_free_one(session):
    session.rename_class(2, "class 3")  # the default name of the next class
    cid = session.add_class()  # was "a class named 'class 3' exists already"
    assert cid == 3 and session.classes[cid].name == "class 3 (2)"
    assert session.classes[session.add_class(" c ")].name == "c"


def test_segment_at_rounds_like_split_and_checks_the_image(session, squares_image):
    red = session.segment_at(0, 8, 10)  # the red square starts at row 8
    assert session.segment_at(0, 7, 10) != red
    assert session.segment_at(0, 7.6, 10.2) == red  # nearest pixel: (8, 10); truncated: (7, 10)
    assert session.segment_at(0, 500, 10) == 0  # a click beside the image
    for args, error, match in [
        ((-1, 10, 10), IndexError, "no image -1"),  # read the last image
        ((5, 10, 10), IndexError, r"the session has 2 \(0 to 1\)"),
        ((1.5, 10, 10), ValueError, "image index must be a whole number"),
        ((0, np.nan, 3), ValueError, "row must be finite"),
        ((0, 3, "4"), TypeError, "column must be a number"),
    ]:
        with pytest.raises(error, match=match):
            session.segment_at(*args)
    fresh = Session.from_sources([squares_image])
    with pytest.raises(RuntimeError, match="partition the images first"):
        fresh.segment_at(0, 3, 3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.select_box((np.nan, 0), (1, 1)), "corner0 must not be NaN"),
        (lambda s: s.select_box((0, 0, 0), (1, 1, 1)), r"shape \(x, y\), got shape \(3,\)"),
        (lambda s: s.select_box(0, 1), r"shape \(x, y\), got shape \(\)"),
        (lambda s: s.select_lasso([(0, 0), (np.nan, 1), (1, 0)]), "NaN or infinite"),
        (lambda s: s.select_lasso([0, 0, 5, 0, 0, 5]), r"\(m, 2\).*got shape \(6,\)"),
    ],
)
def test_scatter_selections_refuse_nan_and_wrong_shapes(session, call, match):
    session.embedding = np.random.default_rng(0).random((len(session.segments), 2), np.float32)
    with pytest.raises(ValueError, match=match):
        call(session)
    everything = session.select_box((-np.inf, -np.inf), (np.inf, np.inf))  # on purpose: all
    assert everything.size == len(session.segments)
