"""Time of saving a session: the dock's writer against NumPy's ``savez_compressed``.

Usage: ``python docs/measure_save.py SESSION.featann`` (for example the session cache of
``featann bench robot --session-cache``); docs/benchmarks.md section 6. Loads the
session, then writes the same snapshot three times with each writer, in turn, to a
temporary folder, and prints the seconds of each write and the file sizes.
``io.write_snapshot`` (since session 12) writes array by array so that a save reports
progress and can be cancelled; ``savez_compressed`` is what it replaced.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_featann.io import load_session, session_snapshot, write_snapshot


def main(path: str, repeats: int = 3) -> None:
    arrays = session_snapshot(load_session(path))
    times: dict[str, list[float]] = {"write_snapshot": [], "savez_compressed": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name in times:
                out = Path(tmp) / f"{name}.featann"
                t = time.perf_counter()
                if name == "write_snapshot":
                    write_snapshot(arrays, out)
                else:
                    with open(out, "wb") as fh:
                        np.savez_compressed(fh, **arrays)
                times[name].append(time.perf_counter() - t)
                sizes[name] = out.stat().st_size
    for name, ts in times.items():
        secs = " / ".join(f"{t:.2f}" for t in ts)
        print(f"{name}: {secs} s, {sizes[name] / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
