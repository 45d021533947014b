"""An image too large to partition in the memory available is refused before any work."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann.core import memory
from napari_featann.core.memory import (
    PARTITION_BYTES_PER_PIXEL,
    available_memory,
    check_partition_memory,
)
from napari_featann.session import Session


def test_the_largest_image_decides_and_the_message_says_to_tile():
    gb = 10**9
    images = [("small", (100, 100)), ("scene", (10_000, 10_000)), ("mid", (2000, 2000))]
    check_partition_memory(images, available=30 * gb)  # 23 GB needed: fits
    with pytest.raises(ValueError) as refused:
        check_partition_memory(images, available=16 * gb)
    text = str(refused.value)
    assert text.startswith("scene (10000x10000, 100 million pixels) needs about 23.0 GB")
    assert "16.0 GB of memory available" in text and "--tile 2048" in text
    assert "tile=2048" in text and "Tiles" in text
    check_partition_memory([], available=1)  # nothing to partition: nothing to refuse
    avail = available_memory()  # this machine's: a number of bytes
    assert avail is None or avail > 0


def test_a_scene_too_large_for_the_memory_is_refused_by_partition_and_nothing_changes(
    monkeypatch,
):
    """A 10 000 x 10 000 scene partitioned whole needed ~23 GB: the process was killed by
    the system (napari with the unsaved work) instead of a message to cut it into tiles."""
    scene = np.zeros((3000, 3000), np.uint16)  # 2.07 GB to partition whole
    scene[1000:2000, 1000:2000] = 4000
    need = 3000 * 3000 * PARTITION_BYTES_PER_PIXEL
    monkeypatch.setattr(memory, "available_memory", lambda: need // 2)  # a smaller machine
    s = Session.from_sources([scene], names=["scene"])
    s.partition_params.regions = 5
    with pytest.raises(ValueError, match=r"scene \(3000x3000, 9 million pixels\).*tiles"):
        s.partition()
    assert s.gradients == [None] and s.label_images == [] and len(s.segments) == 0
    tiled = Session.from_sources([scene], names=["scene"], tile=1024)  # tiles fit
    tiled.partition_params.regions = 5
    tiled.partition()
    assert tiled.n_images == 9 and len(tiled.segments) > 9
