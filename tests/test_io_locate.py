"""Opening a session whose images were moved without it (``image_dir``), and saving
into a folder that does not exist yet."""

import shutil

import imageio.v3 as iio
import numpy as np
import pytest

from napari_featann import io
from napari_featann.io import load_session, save_session
from napari_featann.session import Session


def _photo(seed: int) -> np.ndarray:
    img = np.full((48, 64, 3), 120, np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        r, c = rng.integers(0, 32, 2)
        img[r : r + 16, c : c + 24] = rng.integers(0, 255, 3)
    return img


@pytest.fixture
def labelled(tmp_path):
    """A labelled session over three files (one in a sub-folder), saved in ``work/``,
    its images then moved on their own to ``moved/``."""
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    files = [images / "a.png", images / "b.png", images / "sub" / "a.png"]  # two a.png
    for k, f in enumerate(files):
        iio.imwrite(f, _photo(k))
    s = Session.from_sources([str(f) for f in files])
    s.partition_params.regions = 4
    s.partition()
    red = s.add_class("red")
    s.assign(s.segments.ids[:3], red)
    (tmp_path / "work").mkdir()
    out = save_session(s, tmp_path / "work" / "m.featann")
    moved = tmp_path / "moved"
    shutil.move(images, moved)
    return s, out, moved


def test_moved_images_are_found_in_the_folder_given(labelled):
    s, out, moved = labelled
    with pytest.raises(io.ImagesNotFoundError):
        load_session(out)
    loaded = load_session(out, image_dir=moved)
    assert [r.path for r in loaded.images] == [
        str(moved / "a.png"), str(moved / "b.png"), str(moved / "sub" / "a.png")
    ]  # fmt: skip
    for k in range(3):  # the sub-folder's a.png is not the top one
        np.testing.assert_array_equal(loaded.images[k].data, s.images[k].data)
        np.testing.assert_array_equal(loaded.label_images[k], s.label_images[k])
        np.testing.assert_array_equal(loaded.class_masks[k], s.class_masks[k])
    np.testing.assert_array_equal(loaded.segment_class, s.segment_class)
    np.testing.assert_array_equal(loaded.segments.ids, s.segments.ids)
    assert {c.name for c in loaded.classes.values()} == {"red"}
    # saved again, it refers to the new places: opened without image_dir
    again = load_session(save_session(loaded, out))
    assert [r.path for r in again.images] == [r.path for r in loaded.images]


def test_the_images_folder_itself_or_a_sub_folder_may_be_given(labelled):
    s, out, moved = labelled
    (moved / "sub").rename(moved.parent / "sub")  # now two folders: moved/ and sub/
    loaded = load_session(out, image_dir=[moved, moved.parent / "sub"])
    assert loaded.images[2].path == str(moved.parent / "sub" / "a.png")
    np.testing.assert_array_equal(loaded.images[2].data, s.images[2].data)


def test_another_image_of_the_same_name_is_refused(labelled):
    s, out, moved = labelled
    other = _photo(7)  # same shape, other pixels
    assert other.shape == s.images[1].data.shape
    iio.imwrite(moved / "b.png", other)
    with pytest.raises(io.ImagesNotFoundError, match=r"b\.png.*another image") as caught:
        load_session(out, image_dir=moved)
    assert list(caught.value.missing) == [s.images[1].path]
    iio.imwrite(moved / "b.png", other[:40])  # another shape
    with pytest.raises(io.ImagesNotFoundError, match=r"b\.png.*shape \(40, 64, 3\)"):
        load_session(out, image_dir=moved)


def test_the_message_lists_the_missing_files_and_says_how_to_give_their_folder(labelled):
    _, out, moved = labelled
    with pytest.raises(io.ImagesNotFoundError) as caught:
        load_session(out)
    text = str(caught.value)
    assert str(out) in text
    assert "3 of the session's 3 image files are missing" in text
    assert "a.png, b.png, a.png" in text
    assert "image_dir=" in text and "Open session" in text
    (moved / "b.png").unlink()
    with pytest.raises(
        io.ImagesNotFoundError, match=r"1 of the session's 3 image files is missing .*: b\.png\. "
    ) as caught:
        load_session(out, image_dir=moved)
    assert str(moved) in str(caught.value)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_session(out, image_dir=moved / "absent")


def test_only_the_first_missing_names_are_listed(tmp_path):
    files = [tmp_path / "in" / f"im{k}.png" for k in range(8)]
    files[0].parent.mkdir()
    for k, f in enumerate(files):
        iio.imwrite(f, _photo(k))
    out = save_session(Session.from_sources([str(f) for f in files]), tmp_path / "s.featann")
    shutil.rmtree(tmp_path / "in")
    with pytest.raises(io.ImagesNotFoundError, match=r"im0\.png, .*im4\.png and 3 more\."):
        load_session(out)


def test_saving_into_a_folder_that_does_not_exist_creates_it(labelled, tmp_path):
    s, _, moved = labelled
    out = save_session(s, tmp_path / "new" / "deeper" / "m")
    assert out == tmp_path / "new" / "deeper" / "m.featann" and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.featann"]  # no temporary left
    assert len(load_session(out, image_dir=moved).segments) == len(s.segments)
