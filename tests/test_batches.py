import numpy as np
import pytest

from napari_featann.batches import add_images
from napari_featann.session import Session


def test_add_images_partitions_and_keeps_ids_unique(squares_image):
    s = Session.from_sources([squares_image], names=["first"])
    s.partition_params.regions = 3
    s.partition()
    c = s.add_class("red")
    s.assign([s.segment_at(0, 16, 16)], c)
    n_before = len(s.segments)
    added = add_images(s, [squares_image[::-1].copy(), squares_image[:30, :40].copy()],
                       names=["first", "small"])  # fmt: skip
    assert s.n_images == 3 and added == len(s.segments) - n_before
    assert [r.name for r in s.images] == ["first", "first-2", "small"]
    all_ids = np.concatenate([np.unique(lab) for lab in s.label_images])
    assert np.unique(all_ids).size == all_ids.size == len(s.segments)
    assert s.segment_class.shape == (len(s.segments),)
    assert s.class_masks[2].shape == (30, 40)
    assert s.class_masks[0].max() == c  # earlier labels untouched
    assert set(s.segments.image.tolist()) == {0, 1, 2}
    assert s.next_id == all_ids.max() + 1


def test_add_images_rejects_unreadable_without_change(tmp_path, squares_image):
    from napari_featann.core.images import ImageLoadError

    s = Session.from_sources([squares_image])
    s.partition_params.regions = 3
    s.partition()
    (tmp_path / "bad.png").write_text("no")
    with pytest.raises(ImageLoadError):
        add_images(s, [tmp_path / "bad.png"])
    assert s.n_images == 1
