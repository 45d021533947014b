"""The simulated annotator with one more action: a one-click split.

Usage: ``python docs/try_oneclick.py bench robot ARGS...`` with the arguments of
``featann bench robot``. It prints the benchmark's JSON as its last line on stdout and
``oneclick {...}`` on stderr.

The action: one click (2.4 s, a first click on a segment) inside the wrong part of a
labelled segment splits it. The other side's seeds are implied by the neighbours: the
segment's border pixels that touch segments showing the clicked class are positive
seeds, those touching segments showing another class negative ones; the seeded
watershed inside the segment does the rest. The clicked part takes the clicked class.
The robot places the click at the most interior pixel of the largest part of the
class to split off, computes the split's exact gain and takes it when its gain per
second beats its other actions (the two-click split stays one of them: a person who
sees a wrong one-click preview goes on clicking).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from napari_featann.bench import robot as R
from napari_featann.bench.robot_select import _largest_part
from napari_featann.cli import main
from napari_featann.core.correction import split_segment

STATS = {"oneclick": 0, "checked": 0}
MAX_CHECKED = int(os.environ.get("ONECLICK_CHECKED", "64"))
_CACHE: dict[tuple, tuple] = {}


def implied_seeds(robot, row: int, pos: int):
    """Seeds of a one-click split of ``row`` towards class ``pos``, or None.

    Returns ``(positive, negative, window, key)``; ``positive`` holds the click first.
    """
    s, seg = robot.s, robot.s.segments
    sid, img = int(seg.ids[row]), int(seg.image[row])
    lab = s.label_images[img]
    r0, c0, r1, c1 = (int(v) for v in seg.bbox[row])
    R0, C0 = max(r0 - 1, 0), max(c0 - 1, 0)
    R1, C1 = min(r1 + 1, lab.shape[0]), min(c1 + 1, lab.shape[1])
    win = lab[R0:R1, C0:C1]
    inside = win == sid
    shows = robot.shown_labels()
    touch = {}
    for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        a = inside[
            max(dr, 0) : inside.shape[0] + min(dr, 0), max(dc, 0) : inside.shape[1] + min(dc, 0)
        ]
        b = win[max(-dr, 0) : win.shape[0] + min(-dr, 0), max(-dc, 0) : win.shape[1] + min(-dc, 0)]
        rr, cc = np.nonzero(a & (b != sid) & (b != 0))
        # a's pixel (rr, cc) in its shifted frame is pixel (rr + max(dr,0), cc + max(dc,0)) of win
        other = b[rr, cc]
        pr, pc = rr + max(dr, 0), cc + max(dc, 0)
        for o, y, x in zip(other.tolist(), pr.tolist(), pc.tolist()):
            touch.setdefault(o, set()).add((y, x))
    if not touch:
        return None
    nb_ids = np.array(sorted(touch))
    nb_rows = seg.rows_of(nb_ids)
    nb_show = shows[nb_rows]
    pos_px, neg_px = set(), set()
    for o, c in zip(nb_ids.tolist(), nb_show.tolist()):
        if c < 0:
            continue
        (pos_px if c == pos else neg_px).update(touch[o])
    both = pos_px & neg_px
    pos_px, neg_px = pos_px - both, neg_px - both
    if not neg_px:
        return None
    gt = robot.truth.gt[img][R0:R1, C0:C1]
    _, p = _largest_part(inside & (gt == pos))
    if p is None:
        return None
    pos_px.discard(p)
    neg_px.discard(p)
    key = (sid, int(seg.area[row]), pos, tuple(nb_ids.tolist()), tuple(nb_show.tolist()))
    positive = [(p[0] + R0, p[1] + C0)] + [(y + R0, x + C0) for y, x in sorted(pos_px)]
    negative = [(y + R0, x + C0) for y, x in sorted(neg_px)]
    return positive, negative, (R0, C0, R1, C1), key


def one_click_gain(robot, row: int, pos: int):
    """``(gain, positive, negative)`` of the one-click split of ``row``, or None."""
    from napari_featann.editing import _gradient

    seeds = implied_seeds(robot, row, pos)
    if seeds is None:
        return None
    positive, negative, (R0, C0, R1, C1), key = seeds
    if key in _CACHE:
        return _CACHE[key]
    STATS["checked"] += 1
    s, seg = robot.s, robot.s.segments
    sid, img = int(seg.ids[row]), int(seg.image[row])
    lab = s.label_images[img]
    m = split_segment(_gradient(s, img), lab, sid, positive, negative)[R0:R1, C0:C1]
    inside = lab[R0:R1, C0:C1] == sid
    gt = robot.truth.gt[img][R0:R1, C0:C1]
    label = robot.label_of(row)
    before = int(robot.truth.hist[row, label])
    after = int(np.count_nonzero(m & (gt == pos)) + np.count_nonzero(inside & ~m & (gt == label)))
    gain = (after - before) * float(robot._row_weight([row])[0])
    out = (gain, positive, negative) if after > before and m.any() and (inside & ~m).any() else None
    _CACHE[key] = out
    return out


def plan_oneclick(robot):
    """``(row, pos, gain, positive, negative)`` of the best one-click split, or None."""
    plans = [(r, *robot._plan_row(r)) for r in robot.impure_rows()]
    plans.sort(key=lambda p: -p[3])
    best = None
    for r, pos, _neg, gain, _cost in plans[:MAX_CHECKED]:
        if best is not None and gain <= best[2]:
            break
        got = one_click_gain(robot, r, pos)
        if got is not None and (best is None or got[0] > best[2]):
            best = (r, pos, got[0], got[1], got[2])
    return best


def options(self) -> list[tuple]:
    """The robot's options, and the one-click split."""
    out = ROBOT_OPTIONS(self)
    if self.opts.corrections:
        p = plan_oneclick(self)
        if p is not None:
            out.append((p[2] / R.COST_FIRST_CLICK, R.COST_FIRST_CLICK, "oneclick", p))
    return out


def act(self, what: str, plan) -> None:
    """Split with one click, or take one of the robot's own actions."""
    if what != "oneclick":
        ROBOT_ACT(self, what, plan)
        return
    from napari_featann.editing import split

    row, pos, _, positive, negative = plan
    sid, img = int(self.s.segments.ids[row]), int(self.s.segments.image[row])
    split(self.s, sid, positive, negative, positive_class=pos + 1)
    self.truth.refresh(self.s, [img])
    STATS["oneclick"] += 1
    self.counts["clicks"] += 1
    self.counts["corrections"] += 1
    self._spend(R.COST_FIRST_CLICK, [img])


ROBOT_OPTIONS, ROBOT_ACT = R._Robot.options, R._Robot.act
R._Robot.options, R._Robot.act = options, act

if __name__ == "__main__":
    code = main(sys.argv[1:])
    print("oneclick", json.dumps(STATS), file=sys.stderr)
    sys.exit(code)
