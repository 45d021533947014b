"""Reading damaged or edited session files: what the user is told, and what is kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_featann.io import SessionFileError, load_session, save_session
from napari_featann.session import Session


def _saved(tmp_path) -> tuple[dict, dict]:
    """The arrays and the metadata of a small saved session."""
    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=["a"])
    with np.load(save_session(s, tmp_path / "ok")) as npz:
        arrays = dict(npz)
    return arrays, json.loads(bytes(arrays["__meta__"]).decode())


def _meta(meta: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


def _write(path, arrays: dict):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


DAMAGES = {
    "no-metadata": lambda a, m: {k: v for k, v in a.items() if k != "__meta__"},
    "bad-json": lambda a, m: {**a, "__meta__": np.frombuffer(b"{bad", np.uint8)},
    "foreign-json": lambda a, m: {**a, "__meta__": _meta([1, 2])},
    "newer": lambda a, m: {**a, "__meta__": _meta({**m, "version": 99})},
    "missing-array": lambda a, m: {k: v for k, v in a.items() if k != "class_mask_0"},
    "mask-shape": lambda a, m: {**a, "class_mask_0": np.zeros((3, 3), np.uint8)},
    "image-entry-not-a-dict": lambda a, m: {**a, "__meta__": _meta({**m, "images": ["x"]})},
    "gradient-without-key": lambda a, m: {
        **a, "gradient_0": np.zeros((16, 16), np.float16), "__meta__": _meta({**m, "gradient_keys": []})
    },
    "backbone-of-one-tensor": lambda a, m: {
        **a, "backbone__conv_stem.weight": np.zeros((3, 3), np.float32),
        "__meta__": _meta({**m, "fine_tuned_backbone": {"backbone": "efficientnet_lite0", "tensors": 1}})
    },
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_refusal_names_the_session_file(tmp_path, damage):
    arrays, meta = _saved(tmp_path)
    path = _write(tmp_path / f"{damage}.featann", DAMAGES[damage](arrays, meta))
    with pytest.raises(SessionFileError) as caught:
        load_session(path)
    assert str(caught.value).count(str(path)) == 1, caught.value


def test_napari_s_reader_names_the_file_once(tmp_path):
    from napari_featann._plugin_io import read_session

    arrays, meta = _saved(tmp_path)
    path = _write(tmp_path / "newer.featann", {**arrays, "__meta__": _meta({**meta, "version": 9})})
    with pytest.raises(SessionFileError, match="version 9 is newer") as caught:
        read_session(str(path))
    assert str(caught.value).count(str(path)) == 1, caught.value


def test_a_class_with_a_bad_colour_keeps_its_labels_and_gets_its_palette_colour(
    squares_image, tmp_path
):
    from napari_featann._plugin_io import read_session
    from napari_featann.params import PALETTE

    s = Session.from_sources([squares_image], names=["sq"])
    s.partition_params.regions = 3
    s.partition()
    red, blue, green = s.add_class("red"), s.add_class("blue"), s.add_class("green")
    s.assign([s.segment_at(0, 16, 16)], red)
    s.assign([s.segment_at(0, 30, 40)], blue)
    s.classes[red].color = "not-a-colour"  # as another tool or a hand edit may leave it
    path = save_session(s, tmp_path / "colours")
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta["classes"][1]["color"] = [1, 2]  # edited in the file: not a colour either
    meta["classes"][2]["color"] = "LIME"  # a colour, written otherwise
    _write(path, {**arrays, "__meta__": _meta(meta)})
    with pytest.warns(UserWarning) as caught:
        loaded = load_session(path)
    texts = sorted(str(w.message) for w in caught)
    assert len(texts) == 2
    assert str(path) in texts[0] and "'blue'" in texts[0] and "[1, 2]" in texts[0]
    assert str(path) in texts[1] and "'red'" in texts[1] and "'not-a-colour'" in texts[1]
    assert {c: i.color for c, i in loaded.classes.items()} == {
        red: PALETTE[red - 1],
        blue: PALETTE[blue - 1],
        green: "#00ff00",
    }
    assert [i.name for i in loaded.classes.values()] == ["red", "blue", "green"]
    np.testing.assert_array_equal(loaded.class_masks[0], s.class_masks[0])
    assert (loaded.class_masks[0] == red).any() and (loaded.class_masks[0] == blue).any()
    with pytest.warns(UserWarning):  # and napari draws the classes layer in those colours
        layers = {layer.name: layer for layer in read_session(str(path))}
    np.testing.assert_allclose(
        layers["sq classes"].get_color(red)[:3],
        [int(PALETTE[red - 1][k : k + 2], 16) / 255 for k in (1, 3, 5)],
    )


def _with_classes(squares_image, tmp_path, edit):
    """A labelled session saved, its class entries then edited by ``edit(classes)``."""
    s = Session.from_sources([squares_image], names=["sq"])
    s.partition_params.regions = 3
    s.partition()
    red, blue = s.add_class("red"), s.add_class("blue")
    s.assign([s.segment_at(0, 16, 16)], red)
    s.assign([s.segment_at(0, 30, 40)], blue)
    path = save_session(s, tmp_path / "classes")
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    edit(meta["classes"])
    _write(path, {**arrays, "__meta__": _meta(meta)})
    return s, path


def test_a_class_without_a_name_keeps_its_labels_and_is_named_by_its_id(squares_image, tmp_path):
    def edit(classes):
        classes[0]["name"] = None  # as another tool or a hand edit may leave it
        classes[1]["name"] = 7

    s, path = _with_classes(squares_image, tmp_path, edit)
    with pytest.warns(UserWarning) as caught:
        loaded = load_session(path)
    texts = sorted(str(w.message) for w in caught)
    assert len(texts) == 2 and all(str(path) in t for t in texts)
    assert "class 1 " in texts[0] and "None" in texts[0]
    assert "class 2 " in texts[1] and "7" in texts[1]
    assert [(i.id, i.name) for i in loaded.classes.values()] == [(1, "class 1"), (2, "class 2")]
    np.testing.assert_array_equal(loaded.class_masks[0], s.class_masks[0])
    assert (loaded.class_masks[0] == 2).any()
    loaded.rename_class(2, "blue")  # and they behave as any class
    assert loaded.add_class() == 3


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c[1].update(id=1), "two classes have the id 1"),
        (lambda c: c[1].update(name="red"), "classes 1 and 2 are both named 'red'"),
        (lambda c: c[1].update(id="2"), "a class has the id '2'"),
        (lambda c: c[1].update(id=None), "a class has the id None"),
        (lambda c: c[1].update(id=300), "a class has the id 300"),
    ],
)
def test_classes_sharing_an_id_or_a_name_or_with_a_bad_id_are_refused(
    squares_image, tmp_path, edit, message
):
    _, path = _with_classes(squares_image, tmp_path, edit)
    with pytest.raises(SessionFileError, match=message) as caught:
        load_session(path)
    assert str(caught.value).count(str(path)) == 1, caught.value
    assert "corrupted" in str(caught.value)


# ---------------------------------------------------------------- files whose parts disagree


def _labelled(squares_image, tmp_path, metric: bool = True):
    """A saved session of two images with segments, classes, labels, painted pixels, a split
    and a re-cut; with ``metric``, stand-in features, embedding and refined features.
    Returns (session, path, arrays, meta)."""
    from napari_featann import editing
    from napari_featann.core.partition import PartitionParams

    s = Session.from_sources([squares_image, squares_image[::-1].copy()], names=["a", "b"])
    s.partition_params.regions = 3
    s.partition()
    red, blue = s.add_class("red"), s.add_class("blue")
    s.assign([s.segment_at(0, 16, 16)], red)
    s.assign([s.segment_at(1, 30, 16)], blue)
    s.paint(0, np.pad(np.ones((4, 4), bool), ((40, 4), (2, 58))), blue)
    editing.split(s, s.segment_at(0, 2, 2), [(2, 2)], [(46, 2)])
    editing.recut(s, PartitionParams(regions=4), images=[1])
    if metric:  # what extraction, projection and training would leave (no CNN needed)
        rng = np.random.default_rng(0)
        n = len(s.segments)
        s.features = rng.normal(size=(n, 8)).astype(np.float32)
        s.embedding = rng.normal(size=(n, 2)).astype(np.float32)
        s.refined_features = rng.normal(size=(n, 4)).astype(np.float32)
    path = save_session(s, tmp_path / "labelled")
    with np.load(path) as npz:
        arrays = dict(npz)
    return s, path, arrays, json.loads(bytes(arrays["__meta__"]).decode())


def _refused(path, *parts):
    """The SessionFileError of loading ``path``: it names the file once, and ``parts``."""
    with pytest.raises(SessionFileError) as caught:
        load_session(path)
    text = str(caught.value)
    assert text.count(str(path)) == 1, text
    for part in parts:
        assert part in text, text
    return text


def test_a_session_after_labels_paint_split_and_recut_loads_as_it_was(squares_image, tmp_path):
    s, path, _, _ = _labelled(squares_image, tmp_path)
    loaded = load_session(path)
    assert loaded.next_id == s.next_id > int(s.segments.ids.max())
    np.testing.assert_array_equal(loaded.segments.ids, s.segments.ids)
    np.testing.assert_array_equal(loaded.segment_class, s.segment_class)
    np.testing.assert_array_equal(loaded.refined_features, s.refined_features)
    for a, b in zip(loaded.class_masks, s.class_masks):
        np.testing.assert_array_equal(a, b)


def _classes(meta, edit):
    edit(meta["classes"])
    return meta


ORPHANS = {
    # the class list emptied by hand: its labels stayed, and the next class added took them
    "classes-removed": (lambda a, m: {**a, "__meta__": _meta(_classes(m, lambda c: c.clear()))},
                        ["class 1: 1 segments", "class 2: 1 segments", "its classes are none"]),
    "class-1-renumbered-7": (
        lambda a, m: {**a, "__meta__": _meta(_classes(m, lambda c: c[0].update(id=7)))},
        ["class 1: 1 segments", "pixels of image 'a'", "its classes are [2, 7]"]),
    "segment-class-9": (
        lambda a, m: {**a, "segment_class": np.where(a["segment_class"] == 2, 9,
                                                     a["segment_class"]).astype(np.int32)},
        ["class 9: 1 segments", "its classes are [1, 2]"]),
    "class-mask-9": (lambda a, m: {**a, "class_mask_1": np.full_like(a["class_mask_1"], 9)},
                     ["class 9: 3072 pixels of image 'b'"]),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(ORPHANS))
def test_labels_of_classes_the_file_does_not_define_are_refused(squares_image, tmp_path, damage):
    _, path, arrays, meta = _labelled(squares_image, tmp_path)
    edit, parts = ORPHANS[damage]
    _write(path, edit(arrays, meta))
    _refused(path, "is inconsistent", "classes it does not define", *parts)


@pytest.mark.parametrize(
    "next_id, message",
    [
        (3.7, "its next_id is 3.7, not a whole number"),
        ("301", "its next_id is '301', not a whole number"),
        (True, "its next_id is True, not a whole number"),
        (None, "its next_id is None, not a whole number"),
        ("top", "is not above the largest segment id"),  # a re-cut then made duplicate ids
        (5, "its next_id 5 is not above the largest segment id"),  # a split then failed
    ],
)
def test_a_next_id_that_is_no_whole_number_above_every_id_is_refused(
    squares_image, tmp_path, next_id, message
):
    s, path, arrays, meta = _labelled(squares_image, tmp_path)
    meta["next_id"] = int(s.segments.ids.max()) if next_id == "top" else next_id
    _write(path, {**arrays, "__meta__": _meta(meta)})
    _refused(path, message)


def test_a_label_image_id_above_next_id_is_refused(squares_image, tmp_path):
    s, path, arrays, _ = _labelled(squares_image, tmp_path, metric=False)
    top = s.next_id  # a segment of the table and its label image renumbered to next_id
    old = int(s.segments.ids[0])
    ids = np.where(arrays["seg_ids"] == old, top, arrays["seg_ids"])
    labels = np.where(arrays["labels_0"] == old, top, arrays["labels_0"]).astype(np.int32)
    _write(path, {**arrays, "seg_ids": ids, "labels_0": labels})
    _refused(path, f"its next_id {top} is not above the largest segment id {top}")


def _drop_last(a, key):
    return {**a, key: a[key][:-1]}


ROWS = {
    "embedding-short": (lambda a, m: _drop_last(a, "embedding"),
                        ["embedding has the shape (7, 2) for 8 segments"]),
    "embedding-3-columns": (lambda a, m: {**a, "embedding": np.zeros((8, 3), np.float32)},
                            ["embedding has the shape (8, 3)", "(8, 2) expected"]),
    "refined-short": (lambda a, m: _drop_last(a, "refined_features"),
                      ["refined_features has the shape (7, 4) for 8 segments"]),
    "bbox-short": (lambda a, m: _drop_last(a, "seg_bbox"), ["seg_bbox has 7 rows"]),
    "area-short": (lambda a, m: _drop_last(a, "seg_area"), ["seg_area has 7 rows"]),
    "no-label-images": (lambda a, m: {**a, "__meta__": _meta({**m, "n_label_images": 0})},
                        ["it has 8 segments but no label images"]),
    "label-images-string": (lambda a, m: {**a, "__meta__": _meta({**m, "n_label_images": "2"})},
                            ["its n_label_images is '2', not a whole number"]),
    "segment-in-image-5": (lambda a, m: {**a, "seg_image": np.full_like(a["seg_image"], 5)},
                           ["is in image 5, of 2 images"]),
    "duplicate-id": (lambda a, m: {**a, "seg_ids": np.r_[a["seg_ids"][:1], a["seg_ids"][:-1]]},
                     ["are in its table more than once"]),
    "id-not-in-table": (
        lambda a, m: {**a, "labels_0": np.where(a["labels_0"] == 1, 99, a["labels_0"])},
        ["the label image of 'a' does not match the segment table",
         "segments [1] of its table are not in it", "it holds segment ids [99]"]),
    "table-id-missing": (  # two segments merged in the label image, not in the table
        lambda a, m: {**a, "labels_1": np.where(a["labels_1"] == a["labels_1"].max(),
                                                a["labels_1"].min(), a["labels_1"])},
        ["the label image of 'b' does not match", "of its table are not in it"]),
    "negative-label": (lambda a, m: {**a, "labels_0": np.where(a["labels_0"] == 1, -1,
                                                              a["labels_0"]).astype(np.int32)},
                       ["the label image of 'a' holds the negative segment id -1"]),
    # the table's area and box are what crops, features and the benchmarks' scores read
    "area-changed": (lambda a, m: {**a, "seg_area": a["seg_area"] + (a["seg_ids"] == 3) * 2},
                     ["the segment table does not match the label image of 'a': segments [3] "
                      "have another area in the table than in the image (3: 470 pixels in the "
                      "table, 468 in the image)"]),
    "bbox-changed": (lambda a, m: {**a, "seg_bbox": a["seg_bbox"] - (a["seg_ids"] == 11)[:, None]
                                                  * np.array([0, 0, 0, 2], np.int32)},
                     ["the segment table does not match the label image of 'b': segments [11] "
                      "have another bounding box (row0, col0, row1, col1) in the table than in "
                      "the image (11: (4, 36, 24, 58) in the table, (4, 36, 24, 60) in the "
                      "image)"]),
    "bbox-ends-inclusive": (lambda a, m: {**a, "seg_bbox": a["seg_bbox"] - np.array([0, 0, 1, 1],
                                                                                    np.int32)},
                            ["the label image of 'a': segments [1, 2, 3, 7] have another bounding "
                             "box", "1: (8, 8, 23, 23) in the table, (8, 8, 24, 24) in the image; "
                             "2: (17, 0, 47, 63) in the table"]),
    "head-of-another-width": (lambda a, m: {**a, **_head(16)},  # its features are (8, 8)
                              ["is inconsistent: its projection head takes features of width 16",
                               "its features have the width 8 (8 segments)"]),
}  # fmt: skip


def _head(in_dim: int) -> dict:
    """The arrays of a projection head of input width ``in_dim``, as a session file holds them."""
    from napari_featann.ml.metric import ProjectionHead

    return {f"head__{k}": v for k, v in ProjectionHead(in_dim, 4, 8).state_dict_numpy().items()}


def test_a_head_of_the_features_width_is_loaded(squares_image, tmp_path):
    _, path, arrays, _ = _labelled(squares_image, tmp_path)
    _write(path, {**arrays, **_head(8)})
    head = load_session(path).metric_state[1]
    assert (head.in_dim, head.out_dim) == (8, 4)


@pytest.mark.parametrize("damage", list(ROWS))
def test_arrays_that_disagree_with_the_segment_table_are_refused(squares_image, tmp_path, damage):
    s, path, arrays, meta = _labelled(squares_image, tmp_path)
    assert len(s.segments) == 8  # the numbers of the messages
    edit, parts = ROWS[damage]
    _write(path, edit(arrays, meta))
    _refused(path, *parts)


# ---------------------------------------------------------------- a fine-tuned backbone


@pytest.fixture(scope="module")
def backbone_file(backbone_weights, tmp_path_factory):
    """A saved session whose metric state is a backbone, as a full fine-tuning leaves one (the
    local EfficientNet-Lite0 weights: a file alike). Returns (model, path, arrays, meta)."""
    from napari_featann.ml.extractor import load_backbone

    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=["a"])
    s.metric_state = ("full", load_backbone("efficientnet_lite0", backbone_weights, "cpu")[0])
    path = save_session(s, tmp_path_factory.mktemp("backbone") / "backbone")
    with np.load(path) as npz:
        arrays = dict(npz)
    return s.metric_state[1], path, arrays, json.loads(bytes(arrays["__meta__"]).decode())


def test_a_backbone_is_saved_as_arrays_and_rebuilt_without_a_weights_file(backbone_file):
    import torch

    model, path, arrays, meta = backbone_file
    state = model.state_dict()
    assert meta["fine_tuned_backbone"] == {"backbone": "efficientnet_lite0", "tensors": len(state)}
    saved = {k[len("backbone__") :]: v for k, v in arrays.items() if k.startswith("backbone__")}
    assert list(saved) == list(state)
    assert {v.dtype.name for v in saved.values()} == {"float32", "int64"}  # BN counters: int64
    loaded = load_session(path)  # its weights setting is the hub's: nothing is fetched
    assert loaded.feature_params.weights is None and loaded.metric_state[0] == "full"
    back = loaded.metric_state[1].state_dict()
    assert all(torch.equal(back[k], state[k]) for k in state)
    assert not loaded.metric_state[1].training


def _tensors(m, add: int = 0, **entry):
    meta = json.loads(json.dumps(m))
    meta["fine_tuned_backbone"]["tensors"] += add
    meta["fine_tuned_backbone"].update(entry)
    return _meta(meta)


STEM = "backbone__conv_stem.weight"
BACKBONES = {
    "tensor-reshaped": (lambda a, m: {**a, STEM: a[STEM][:1]},
                        ["its fine-tuned backbone efficientnet_lite0 cannot be rebuilt",
                         "shape mismatches: conv_stem.weight (1, 3, 3, 3) != expected (32, 3, 3, 3)"]),
    "tensor-missing": (lambda a, m: {**{k: v for k, v in a.items() if k != STEM},
                                     "__meta__": _tensors(m, -1)},
                       ["cannot be rebuilt", "missing keys: conv_stem.weight"]),
    "tensor-extra": (lambda a, m: {**a, "backbone__extra.weight": a[STEM], "__meta__": _tensors(m, 1)},
                     ["cannot be rebuilt", "unexpected keys: extra.weight"]),
    "tensor-count": (lambda a, m: {**a, "__meta__": _tensors(m, 1)},
                     ["it holds {n} tensors of its fine-tuned backbone efficientnet_lite0, "
                      "not the {n1} it was saved with"]),
    "description-only": (lambda a, m: {k: v for k, v in a.items() if not k.startswith("backbone__")},
                     ["it holds 0 tensors of its fine-tuned backbone", "not the {n} it"]),
    "no-description": (lambda a, m: {**a, "__meta__": _meta({k: v for k, v in m.items()
                                                              if k != "fine_tuned_backbone"})},
                       ["it holds {n} tensors of a fine-tuned backbone with no description"]),
    "text-tensor": (lambda a, m: {**a, STEM: np.array(["x"])},
                    ["tensor conv_stem.weight of its fine-tuned backbone holds <U1, not numbers"]),
    "unknown-backbone": (lambda a, m: {**a, "__meta__": _tensors(m, backbone="no_such_net")},
                         ["backbone 'no_such_net' is not a timm model name"]),
    "and-a-head": (lambda a, m: {**a, "head__mlp.0.weight": np.zeros((4, 8), np.float32)},
                   ["it holds both a projection head and a fine-tuned backbone"]),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(BACKBONES))
def test_a_backbone_that_does_not_fit_is_refused(backbone_file, tmp_path, damage):
    _, _, arrays, meta = backbone_file
    n = meta["fine_tuned_backbone"]["tensors"]
    edit, parts = BACKBONES[damage]
    path = _write(tmp_path / f"{damage}.featann", edit(arrays, meta))
    _refused(path, "is corrupted", *(p.format(n=n, n1=n + 1) for p in parts))


PARAMS = {
    ("partition", "criterion", "bogus"): "invalid partition parameters: unknown criterion 'bogus'",
    ("partition", "regions", "x"): "invalid partition parameters: regions must be a number",
    ("partition", "frontier", 2): "invalid partition parameters: frontier must be in [0, 1)",
    ("projection", "n_neighbors", -5): "invalid projection parameters: n_neighbors must be a "
                                       "whole number >= 2, got -5",
    ("projection", "min_dist", "a"): "min_dist must be a number in [0, 1], got 'a'",
    ("projection", "target_weight", 1.5): "target_weight must be a number in [0, 1], got 1.5",
    ("projection", "pca_dim", 0): "pca_dim must be a whole number >= 1, got 0",
    ("projection", "seed", -1): "seed must be a whole number >= 0, got -1",
    ("features", "batch_size", 0): "invalid features parameters: batch_size must be a whole "
                                   "number >= 1, got 0",
    ("features", "margin", 2.5): "margin must be a whole number >= 0, got 2.5",
    ("features", "context", "yes"): "context must be true or false, got 'yes'",
    ("features", "context_levels", 0): "context_levels must be a whole number >= 1, got 0",
    ("features", "context_levels", 2.5): "context_levels must be a whole number >= 1, got 2.5",
    ("features", "context_scale", 0): "context_scale must be a number in (0, 4], got 0",
    ("features", "context_scale", 4.5): "context_scale must be a number in (0, 4], got 4.5",
    ("features", "context_scale", "1.5"): "context_scale must be a number in (0, 4], got '1.5'",
    ("features", "context_weight", "cells"): "context_weight must be one of level, finest, "
                                             "got 'cells'",
    ("features", "context_weight", 2): "context_weight must be one of level, finest, got 2",
    ("features", "backbone", ""): "backbone must be a timm model name, got ''",
    ("features", "weights", 3): "weights must be text or None, got 3",
}  # fmt: skip


@pytest.mark.parametrize("where", list(PARAMS), ids=lambda w: f"{w[0]}-{w[1]}-{w[2]}")
def test_invalid_parameters_are_refused_on_load(tmp_path, where):
    arrays, meta = _saved(tmp_path)
    group, key, value = where
    meta["params"][group][key] = value
    path = _write(tmp_path / "params.featann", {**arrays, "__meta__": _meta(meta)})
    _refused(path, PARAMS[where])


def test_parameter_validation_accepts_the_defaults_and_pca_none():
    from napari_featann.params import FeatureParams, ProjectionParams

    assert FeatureParams().validate() == FeatureParams()
    d = FeatureParams()
    assert (d.context_levels, d.context_scale, d.context_weight) == (4, 1.5, "level")
    assert ProjectionParams(pca_dim=None).validate().pca_dim is None


def test_context_settings_are_validated():
    from napari_featann.params import FeatureParams

    assert FeatureParams(context_levels=1, context_scale=4).validate().context_scale == 4
    for scale in (float("nan"), float("inf"), -0.5, True):
        with pytest.raises(ValueError, match=r"context_scale must be a number in \(0, 4\]"):
            FeatureParams(context_scale=scale).validate()
    for levels in (0, -2, True, 3.0):
        with pytest.raises(ValueError, match="context_levels must be a whole number >= 1"):
            FeatureParams(context_levels=levels).validate()
    assert FeatureParams(context_weight="finest").validate().context_weight == "finest"
    for weight in ("Level", "", None, ("level",)):
        with pytest.raises(ValueError, match="context_weight must be one of level, finest, got"):
            FeatureParams(context_weight=weight).validate()


def test_a_session_saved_before_the_context_settings_keeps_two_levels_at_scale_one(tmp_path):
    """Its features came from the two deepest maps of a pass at the image's own size, all
    blocks weighted by the finest map's cells: new segments must get theirs made so too, not
    by the new defaults (four levels at 1.5, each weighted by its own map)."""
    arrays, meta = _saved(tmp_path)
    features = meta["params"]["features"]
    saved = [features[k] for k in ("context", "context_levels", "context_scale", "context_weight")]
    assert saved == [True, 4, 1.5, "level"]
    assert meta["version"] == 2  # an older napari-featann (version 1) says "please upgrade"
    del features["context_levels"], features["context_scale"], features["context_weight"]
    meta["version"] = 1  # as the versions before the context settings wrote it
    old = load_session(_write(tmp_path / "old.featann", {**arrays, "__meta__": _meta(meta)}))
    fp = old.feature_params  # as an older version wrote it
    assert (fp.context, fp.context_levels, fp.context_scale, fp.context_weight) == (
        True, 2, 1.0, "finest")  # fmt: skip
    fx = old.extractor()  # what the features of new segments are made with
    assert (fx.context, fx.context_levels, fx.context_scale, fx.context_weight) == (
        True, 2, 1.0, "finest")  # fmt: skip
    # saved again, the file holds them; other settings round-trip and reach the extractor
    assert load_session(save_session(old, tmp_path / "again")).feature_params == fp
    fp.context_levels = 4
    assert (old.extractor().context_levels, old.extractor().context_scale) == (4, 1.0)
    fp.context_scale = 0.75
    assert (old.extractor().context_levels, old.extractor().context_scale) == (4, 0.75)
    fp.context_weight = "level"
    assert old.extractor().context_weight == "level"
    assert load_session(save_session(old, tmp_path / "new")).feature_params == fp
    # a file from before context features: crop-only, whatever the levels
    del features["context"]
    older = load_session(_write(tmp_path / "older.featann", {**arrays, "__meta__": _meta(meta)}))
    assert older.feature_params.context is False


# ---------------------------------------------------------------- where a session is saved


def test_save_refuses_a_folder_for_a_file(tmp_path):
    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=["a"])
    (tmp_path / "adir").mkdir()
    (tmp_path / "x.featann").mkdir()
    (tmp_path / "y.featann").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    cases = [
        (tmp_path / "adir", IsADirectoryError, f"{tmp_path / 'adir'} is a folder"),
        (f"{tmp_path}/newdir/", ValueError, "newdir/ ends with a path separator"),
        (f"{tmp_path}/adir/", ValueError, "adir/ ends with a path separator"),
        (tmp_path / "x.featann", IsADirectoryError, "x.featann is a folder"),
        (tmp_path / "y", IsADirectoryError, f"{tmp_path / 'y.featann'} is a folder"),
        ("", ValueError, "no file name given"),
        ("  ", ValueError, "no file name given"),
    ]
    for path, kind, message in cases:
        with pytest.raises(kind) as caught:
            save_session(s, path)
        assert message in str(caught.value), (path, caught.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert load_session(save_session(s, tmp_path / "adir" / "s")).n_images == 1


def test_a_backbone_named_by_a_hub_tag_is_saved_by_its_architecture(backbone_weights, tmp_path):
    """A session whose backbone is a tagged timm name (``arch.tag``: the pretrained weights'
    tag) records the bare architecture, the model the tensors belong to, and reopens
    offline with the same tensors."""
    import torch

    from napari_featann.ml.extractor import load_backbone

    tagged = "efficientnet_lite0.ra_in1k"
    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=["a"])
    s.feature_params.backbone = tagged
    s.metric_state = ("full", load_backbone(tagged, backbone_weights, "cpu")[0])
    path = save_session(s, tmp_path / "tagged")
    with np.load(path) as npz:
        meta = json.loads(bytes(npz["__meta__"]).decode())
    assert meta["fine_tuned_backbone"]["backbone"] == "efficientnet_lite0"
    loaded = load_session(path)
    assert loaded.feature_params.backbone == tagged and loaded.metric_state[0] == "full"
    state, back = s.metric_state[1].state_dict(), loaded.metric_state[1].state_dict()
    assert list(back) == list(state) and all(torch.equal(back[k], state[k]) for k in state)
