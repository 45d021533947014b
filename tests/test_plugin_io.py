"""The npe2 reader's layer data: what napari adds when a ``.featann`` file is opened."""

from __future__ import annotations

import numpy as np

from napari_featann._plugin_io import get_reader
from napari_featann.io import save_session
from napari_featann.session import Session


def test_the_reader_puts_each_tile_at_its_place_in_the_scene(tmp_path):
    rng = np.random.default_rng(0)
    scene = (rng.random((200, 200)) * 4000).astype(np.uint16)
    s = Session.from_sources([scene], names=["scene"], tile=128)
    path = save_session(s, tmp_path / "tiles")
    layers = get_reader(str(path))(str(path))
    places = {}
    for _data, attrs, kind in layers:
        places.setdefault(kind, []).append(tuple(attrs.get("translate", (0, 0))))
        if kind == "image":  # the tiles of one scene share its contrast
            assert list(attrs["contrast_limits"]) == s.images[0].meta["range"]
    corners = [(0, 0), (0, 128), (128, 0), (128, 128)]
    assert places["image"] == corners and places["labels"] == corners
