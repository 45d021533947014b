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


def test_added_images_keep_the_sessions_bands_and_stacks_get_names_of_their_own(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    ms = (rng.random((40, 50, 6)) * 4000).astype(np.uint16)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        tifffile.imwrite(tmp_path / d / "ms.tif", ms, photometric="minisblack",
                         planarconfig="contig")  # fmt: skip
        tifffile.imwrite(tmp_path / d / "cells.tif", ms[..., :5].transpose(2, 0, 1) + 0,
                         photometric="minisblack", metadata={"axes": "ZYX"})  # fmt: skip
    s = Session.from_sources(tmp_path / "a" / "ms.tif", bands=[5, 3, 0])
    s.partition_params.regions = 10
    s.partition()
    add_images(s, tmp_path / "b" / "ms.tif")
    assert s.n_images == 2 and s.images[1].meta["bands"] == [5, 3, 0]
    np.testing.assert_array_equal(s.images[1].data, ms[..., [5, 3, 0]])
    z = Session.from_sources(tmp_path / "a" / "cells.tif")
    z.partition_params.regions = 10
    z.partition()
    add_images(z, tmp_path / "b" / "cells.tif")
    assert [r.meta["stack"] for r in z.images] == ["cells"] * 5 + ["cells-2"] * 5
    assert [r.name for r in z.images][5:7] == ["cells-2_000", "cells-2_001"]


def test_added_images_whose_features_are_not_finite_are_refused_by_name(
    squares_image, cnn_params, poison_backbone
):
    s = _three_regions_with_features(squares_image, cnn_params)
    before = (len(s.segments), s.features.copy())
    poison_backbone(s)  # the new segments' features come out NaN
    with pytest.raises(ValueError, match=r"adding images refused: \d+ segments? ha") as err:
        add_images(s, [squares_image[::-1].copy()], names=["new"])
    assert "(image 'new')" in str(err.value) and "the images were not added" in str(err.value)
    assert s.n_images == 1 and len(s.segments) == before[0]
    np.testing.assert_array_equal(s.features, before[1])


def _three_regions_with_features(image, cnn_params) -> Session:
    """A session of ``image`` (named "first") in 3 regions, with real CNN features."""
    s = Session.from_sources([image], names=["first"])
    s.partition_params.regions = 3
    s.partition()
    s.feature_params = cnn_params
    s.extract_features()
    return s


def _projected_random_features(image) -> Session:
    """A session of ``image`` in 40 regions, projected from random 8-d features."""
    s = Session.from_sources([image])
    s.partition_params.regions = 40
    s.partition()
    s.features = np.random.default_rng(0).normal(size=(len(s.segments), 8)).astype(np.float32)
    s.project()
    return s


def test_placing_features_that_are_not_finite_is_refused(squares_image):
    s = _projected_random_features(squares_image)
    new = s.features[:3].copy()
    new[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"features to place must be finite: rows \[1\]"):
        s.place(new)
    s.metric_state = ("full", None)  # placed by the nearest neighbour in feature space
    with pytest.raises(ValueError, match=r"features to place must be finite: rows \[1\]"):
        s.place(new)


def test_placing_next_to_base_features_that_are_not_finite_is_refused(squares_image):
    s = _projected_random_features(squares_image)
    new = s.features[:3] + 0.01
    s.metric_state = ("full", None)  # after a full fine-tune: nearest base features
    near = s.place(new)
    assert np.abs(near - s.embedding[:3]).max() < 0.5  # each next to its own twin
    s.features[5, 2] = np.nan  # a base row that would be "nearest" to everything
    with pytest.raises(ValueError, match="placing new segments by nearest neighbours refused") as e:
        s.place(new)
    assert f"{int(s.segments.ids[5])} (image" in str(e.value)
    s.metric_state, s._projector = None, None  # as after a reload: the same fallback
    with pytest.raises(ValueError, match="not finite"):
        s.place(new)


def test_a_backbone_that_does_not_load_is_refused_before_the_new_images_are_cut(
    squares_image, cnn_params, tmp_path
):
    from dataclasses import replace

    from napari_featann.core.progress import Progress
    from napari_featann.ml.errors import WeightsError

    s = _three_regions_with_features(squares_image, cnn_params)
    n, feats = len(s.segments), s.features.copy()
    s.feature_params = replace(cnn_params, weights=str(tmp_path / "moved.pth"))  # file gone
    stages = []
    progress = Progress(lambda total, desc: stages.append(desc))
    with pytest.raises(WeightsError, match=r"moved\.pth"):
        add_images(s, [squares_image[::-1].copy()], names=["new"], progress=progress)
    assert stages == ["checking the backbone"]  # no gradient, no partition of the new image
    assert s.n_images == 1 and len(s.segments) == n
    np.testing.assert_array_equal(s.features, feats)
