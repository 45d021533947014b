"""Resident memory that splits add to a session (the undo history holds their states).

Usage: ``python docs/measure_undo_memory.py SESSION.featann`` (for example the session
cache of ``featann bench robot --session-cache``); docs/benchmarks.md section 6.
Splits the 12 largest segments (the first two warm the model and caches up) with one
positive and one negative click each, and prints the RSS growth of the last ten.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import psutil

from napari_featann.editing import split
from napari_featann.io import load_session


def main(path: str) -> None:
    s = load_session(path)
    cls = s.add_class("measured")
    proc = psutil.Process(os.getpid())
    sids = [int(s.segments.ids[r]) for r in np.argsort(-s.segments.area)[:12]]

    def one(sid: int) -> None:
        img = int(s.segments.image[s.segments.rows_of([sid])[0]])
        yy, xx = np.nonzero(s.label_images[img] == sid)
        split(s, sid, [(yy[0], xx[0])], [(yy[-1], xx[-1])], positive_class=cls)

    for sid in sids[:2]:
        one(sid)
    base, t0 = proc.memory_info().rss, time.perf_counter()
    for sid in sids[2:]:
        one(sid)
    grown = (proc.memory_info().rss - base) / 2**20
    print(f"10 splits: RSS +{grown:.0f} MiB, {time.perf_counter() - t0:.1f} s; "
          f"undo history holds {s.history.nbytes / 2**20:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
