"""How many segments two session files share (the same pixels), image by image.

Usage: ``python docs/compare_partitions.py A.featann B.featann`` (for example the robot's
session caches built by two versions of the code); docs/benchmarks.md section 5.
"""

from __future__ import annotations

import sys

import numpy as np

from napari_featann.io import load_session


def shared_segments(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Segments of label image ``b`` that are exactly one segment of ``a``, and ``b``'s count."""
    pairs, overlap = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1, return_counts=True)
    size_a = dict(zip(*np.unique(a, return_counts=True), strict=True))
    size_b = dict(zip(*np.unique(b, return_counts=True), strict=True))
    same = sum(1 for (i, j), n in zip(pairs.T, overlap, strict=True)
               if size_a[i] == n and size_b[j] == n)  # fmt: skip
    return same, len(size_b)


def main(path_a: str, path_b: str) -> None:
    a, b = load_session(path_a), load_session(path_b)
    counts = [shared_segments(x, y) for x, y in zip(a.label_images, b.label_images, strict=True)]
    same, total = (sum(c) for c in zip(*counts, strict=True))
    print(f"{same} of {total} segments the same ({100 * (total - same) / total:.1f} % differ); "
          f"{sum(s == t for s, t in counts)} of {len(counts)} images wholly the same")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
