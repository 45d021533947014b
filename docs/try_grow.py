"""The simulated annotator with one more action: a click that labels a hierarchy region.

Usage: ``python docs/try_grow.py bench robot ARGS...`` with the arguments of
``featann bench robot`` (``--foreground-only``). It prints the benchmark's JSON as its
last line on stdout and ``grow {...}`` on stderr.

The action: an Alt+click on a segment in the image (2.4 s) gives it the current class,
then each further Alt+click on it (0.9 s each, ``L`` of them) grows the labelled area to
the region holding it in the cut of the image's own watershed hierarchy with
``regions / 2**L`` regions. All segments of that region take the class (the foreground,
or the background to undo a wrong foreground). The robot takes the region whose exact
change of the summed per-image IoU per second is the best, as for its other actions.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from napari_featann.bench import robot as R
from napari_featann.cli import main
from napari_featann.core.partition import cut_hierarchy

LEVELS = int(os.environ.get("GROW_LEVELS", "5"))
STEP = float(os.environ.get("GROW_STEP", "0.9"))
STATS = {"grows": 0, "segments": 0, "levels": []}
_COARSE: dict[tuple[int, int], np.ndarray] = {}
_MAPS: dict[int, tuple] = {}


def coarse(robot, img: int, level: int) -> np.ndarray:
    key = (img, level)
    if key not in _COARSE:
        s = robot.s
        n = int(s.partition_params.regions or 100)
        h = s.hierarchy(img)
        _COARSE[key] = cut_hierarchy(h, regions=max(1, n >> level))
    return _COARSE[key]


def region_maps(robot, img: int):
    """rows of image ``img`` and, per level, the coarse region of each row."""
    s = robot.s
    rows = np.flatnonzero(s.segments.image == img)
    ids = s.segments.ids[rows]
    key = (img, hash(ids.tobytes()))
    if _MAPS.get(img, (None,))[0] != key:
        lab = s.label_images[img].ravel().astype(np.int64)
        lut = np.full(int(lab.max()) + 1, -1, np.int64)
        lut[ids] = np.arange(rows.size)
        local = lut[lab]
        regs = []
        for level in range(1, LEVELS + 1):
            c = coarse(robot, img, level).ravel().astype(np.int64)
            k = int(c.max()) + 1
            counts = np.bincount(local * k + c, minlength=rows.size * k).reshape(rows.size, k)
            regs.append(counts.argmax(1))
        _MAPS[img] = (key, rows, regs)
    return _MAPS[img][1], _MAPS[img][2]


def plan_grow(robot):
    """``(rows, class, gain, cost, level)`` of the best region click, or None."""
    shows = robot.shown_labels()
    h = robot.truth.hist
    best = None
    for img in range(robot.n):
        rows, regs = region_maps(robot, img)
        fg = shows[rows] == 1
        tp0 = float((h[rows, 1] * fg).sum())
        fp0 = float((h[rows, 0] * fg).sum())
        tot = float(h[rows, 1].sum())
        if tot <= 0:
            continue
        iou0 = tp0 / max(tot + fp0, 1)
        for level, reg in enumerate(regs, start=1):
            k = int(reg.max()) + 1
            cost = R.COST_FIRST_CLICK + STEP * level
            # to foreground: the region's rows not yet showing it
            dtp = np.bincount(reg, h[rows, 1] * ~fg, k)
            dfp = np.bincount(reg, h[rows, 0] * ~fg, k)
            g_fg = (tp0 + dtp) / np.maximum(tot + fp0 + dfp, 1) - iou0
            # to background: the region's rows showing the foreground
            rtp = np.bincount(reg, h[rows, 1] * fg, k)
            rfp = np.bincount(reg, h[rows, 0] * fg, k)
            g_bg = (tp0 - rtp) / np.maximum(tot + fp0 - rfp, 1) - iou0
            for cls, g in ((1, g_fg), (0, g_bg)):
                r = int(np.argmax(g))
                if g[r] > 0 and (best is None or g[r] / cost > best[2] / best[3]):
                    best = (rows[reg == r], cls, float(g[r]), cost, level)
    return best


def options(self) -> list[tuple]:
    """The robot's options, and the region click last."""
    out = ROBOT_OPTIONS(self)
    if self.opts.corrections:
        g = plan_grow(self)
        if g is not None:
            out.append((g[2] / g[3], g[3], "grow", g))
    return out


def act(self, what: str, plan) -> None:
    """Click a region, or take one of the robot's own actions."""
    if what != "grow":
        ROBOT_ACT(self, what, plan)
        return
    rows, cls, _, cost, level = plan
    ids = self.s.segments.ids[rows]
    changed = self.s.assign(ids, cls + 1, "robot: click a region")
    STATS["grows"] += 1
    STATS["segments"] += len(ids)
    STATS["levels"].append(level)
    self.counts["clicks"] += 1 + level
    self._spend(cost, changed)


ROBOT_OPTIONS, ROBOT_ACT = R._Robot.options, R._Robot.act

if __name__ == "__main__":
    R._Robot.options, R._Robot.act = options, act
    rc = main(sys.argv[1:])
    print("grow", {**STATS, "levels": np.bincount(STATS["levels"]).tolist()}, file=sys.stderr)
    sys.exit(rc)
