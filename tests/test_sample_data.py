"""The sample photos load offline, as napari layer data tuples."""

from __future__ import annotations

import numpy as np

from napari_featann.sample_data import everyday_photos


def test_everyday_photos_offline():
    layers = everyday_photos()
    assert len(layers) >= 3
    names = [meta["name"] for _, meta, _ in layers]
    assert len(set(names)) == len(names)
    shapes = set()
    for data, _meta, kind in layers:
        assert kind == "image"
        assert isinstance(data, np.ndarray) and data.dtype == np.uint8
        assert data.ndim == 2 or (data.ndim == 3 and data.shape[-1] == 3)
        shapes.add(data.shape[:2])
    assert len(shapes) >= 3  # images of different sizes
