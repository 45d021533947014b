"""The npe2 reader's layer data: what napari adds when a ``.featann`` file is opened."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from napari_featann._plugin_io import get_reader, session_layer_data, write_session
from napari_featann.io import SessionFileError, load_session, save_session
from napari_featann.session import Session


def _napari_layers(path) -> list:
    """The layers napari makes of what the reader returns (layers, or data tuples)."""
    from napari.layers import Layer

    out = get_reader(str(path))(str(path))
    return [item if isinstance(item, Layer) else Layer.create(*item) for item in out]


def test_the_reader_puts_each_tile_at_its_place_in_the_scene(tmp_path):
    rng = np.random.default_rng(0)
    scene = (rng.random((200, 200)) * 4000).astype(np.uint16)
    s = Session.from_sources([scene], names=["scene"], tile=128)
    path = save_session(s, tmp_path / "tiles")
    places = {}
    for layer in _napari_layers(path):
        kind = type(layer).__name__.lower()
        places.setdefault(kind, []).append(tuple(layer.translate))
        if kind == "image":  # the tiles of one scene share its contrast
            assert list(layer.contrast_limits) == s.images[0].meta["range"]
    corners = [(0, 0), (0, 128), (128, 0), (128, 128)]
    assert places["image"] == corners and places["labels"] == corners


def _tiny_session(tmp_path, name="s"):
    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=[name])
    return save_session(s, tmp_path / name)


def test_the_reader_leaves_files_that_are_not_sessions_to_other_readers(tmp_path):
    text = tmp_path / "notes.featann"
    text.write_text("not a session")
    other_zip = tmp_path / "other.featann"  # a zip, but no session metadata in it
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("data.npy", b"whatever")
    path = _tiny_session(tmp_path)
    folder = tmp_path / "folder.featann"
    folder.mkdir()
    for bad in (text, other_zip, folder):
        assert get_reader(str(bad)) is None, bad
    assert get_reader(str(path)) is not None and get_reader([str(path)]) is not None


@pytest.mark.parametrize("keep", [200, 0.5])
def test_a_session_file_cut_short_is_claimed_and_its_error_names_it(tmp_path, keep):
    path = _tiny_session(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.featann"  # a session file cut short (a full disk, a copy stopped)
    cut.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    reader = get_reader(str(cut))
    assert reader is not None
    with pytest.raises(SessionFileError, match=r"cut\.featann"):
        reader(str(cut))


def test_a_claimed_file_that_fails_to_read_names_the_file(tmp_path):
    bad = tmp_path / "broken.featann"  # has the metadata entry, but it is not JSON
    np.savez(bad, __meta__=np.frombuffer(b"garbage", np.uint8))
    bad = bad.with_name("broken.featann.npz").rename(bad)
    reader = get_reader(str(bad))
    assert reader is not None
    with pytest.raises(SessionFileError, match=r"broken\.featann"):
        reader(str(bad))


def test_the_writer_refuses_layers_of_two_sessions_and_writes_nothing(tmp_path):
    first = session_layer_data(load_session(_tiny_session(tmp_path, "first")))
    second = session_layer_data(load_session(_tiny_session(tmp_path, "second")))
    layers = first + second
    out = tmp_path / "both.featann"
    with pytest.raises(ValueError, match="2 different featann sessions"):
        write_session(str(out), layers)
    assert not out.exists()
    # the layers of one session are saved
    assert write_session(str(out), second) == [str(out)]
    assert load_session(out).images[0].name == "second"


def test_the_reader_s_segments_layer_cannot_be_painted(tmp_path):
    s = Session.from_sources([np.zeros((16, 16), np.uint8)], names=["a"])
    s.partition_params.regions = 4
    s.partition()
    path = save_session(s, tmp_path / "seg")
    layers = {la.metadata["featann_role"]: la for la in _napari_layers(path)}
    segments, classes = layers["segments"], layers["classes"]
    assert not segments.editable
    segments.mode = "paint"  # napari keeps a read-only layer out of its painting modes
    assert segments.mode == "pan_zoom"
    assert classes.editable  # painting classes is labelling, allowed
