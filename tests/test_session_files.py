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
