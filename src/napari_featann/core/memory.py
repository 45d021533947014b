"""Memory of a partition: refuse an image too large for the machine before any work.

The watershed hierarchy of an image (:mod:`.partition`) is built on all its
pixels at once: its peak memory grows with the image, about
:data:`PARTITION_BYTES_PER_PIXEL` bytes per pixel whatever the gradient
(measured: 2.1 GB for 3000 x 3000 pixels, 8.2 GB for 6000 x 6000). An image
whose partition needs more than the memory available would have the process
killed by the system, the work not yet saved lost with it; it is refused
instead, with the advice to cut it into tiles.

Nothing here needs Qt or napari.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["PARTITION_BYTES_PER_PIXEL", "available_memory", "check_partition_memory"]

#: Peak bytes per pixel of one image's partition (gradient, hierarchy and cut).
PARTITION_BYTES_PER_PIXEL = 230


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now; None where unknown.

    Linux's ``MemAvailable`` (free memory plus caches it can drop), else the
    free physical pages that ``os.sysconf`` reports.
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_partition_memory(images: Iterable[tuple[str, tuple[int, int]]],
                           available: int | None = None) -> None:  # fmt: skip
    """Refuse to partition an image whose partition needs more memory than is available.

    Parameters
    ----------
    images : iterable of (str, (int, int))
        Name and (height, width) of each image to partition (they are
        partitioned one at a time: the largest decides).
    available : int, optional
        Bytes available (default: :func:`available_memory`; no check when
        that is unknown).

    Raises
    ------
    ValueError
        The largest image needs more; the message names it, the memory it
        needs and the memory available, and says to cut it into tiles.
    """
    images = list(images)
    if not images:
        return
    name, (h, w) = max(images, key=lambda item: int(item[1][0]) * int(item[1][1]))
    need = int(h) * int(w) * PARTITION_BYTES_PER_PIXEL
    if available is None:
        available = available_memory()
    if available is None or need <= available:
        return
    side = 2048 if min(h, w) > 2048 else 1024
    raise ValueError(
        f"{name} ({h}x{w}, {h * w / 1e6:.0f} million pixels) needs about {need / 1e9:.1f} GB "
        f"to partition, more than the {available / 1e9:.1f} GB of memory available; cut it "
        f"into tiles: the dock's Tiles field, --tile {side} in featann, "
        f"Session.from_sources(path, tile={side}) in Python"
    )
