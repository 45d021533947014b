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
