"""The simulated annotator with one more action: accept the foreground's k-NN proposals.

Usage: ``python docs/try_propose.py bench robot ARGS...`` with the arguments of
``featann bench robot`` (docs/benchmarks.md section 5, "tried in session 13"). It prints
the benchmark's JSON as its last line on stdout and ``propose {...}`` (how many
proposal groups were accepted, and how many segments) on stderr.

With ``--foreground-only`` the background is implicit (unlabelled segments count as
background), so the dock's *Propose labels*, whose vote counts labelled segments only,
sees almost no background and proposes the foreground for most segments (measured: a
group of 3 700 to 5 500 segments, never a gain). Here the vote is taken among the
``PROP_K`` (10) nearest segments of all (cosine, on the features the scatter is built
on, refined by metric learning once trained), each voting for the class it shows,
background when unlabelled. An unlabelled segment is proposed for the foreground when
at least a share ``t`` of them show it, for ``t`` in 0.5, 0.6, 0.7, 0.8, 0.9 and 1; the
robot accepts the group of the ``t`` whose exact change of the summed per-image IoU is
the highest, if positive (as it judges re-labelling selections), at ``PROP_COST`` (3) s,
a selection's price, when that gains most per second of all its actions.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from napari_featann.bench import robot as R
from napari_featann.cli import main
from napari_featann.learning import refined_features

K = int(os.environ.get("PROP_K", "10"))
COST = float(os.environ.get("PROP_COST", "3"))
SHARES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STATS = {"accepts": 0, "segments": 0}


def plan_propose(robot):
    """``(rows, gain)`` of the best foreground group to accept, or None."""
    shows_fg = robot.shown_labels() == 1
    unl = np.flatnonzero(robot.s.segment_class == 0)
    if unl.size == 0 or not shows_fg.any():
        return None
    f = np.asarray(refined_features(robot.s), np.float32)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    sim = f[unl] @ f.T
    sim[np.arange(unl.size), unl] = -np.inf  # not its own neighbour
    share = shows_fg[np.argpartition(-sim, K, axis=1)[:, :K]].mean(1)
    base = R._iou_sum(*robot._iou_terms(shows_fg))
    best = None
    for t in SHARES:
        rows = unl[share >= t - 1e-9]
        if rows.size:
            after = shows_fg.copy()
            after[rows] = True
            gain = R._iou_sum(*robot._iou_terms(after)) - base
            if gain > 0 and (best is None or gain > best[1]):
                best = (rows, gain)
    return best


def options(self) -> list[tuple]:
    """The robot's options, and the proposal group last."""
    out = ROBOT_OPTIONS(self)
    prop = plan_propose(self)
    if prop is not None:  # gains of all actions are in summed per-image IoU
        out.append((prop[1] / COST, COST, "propose", prop))
    return out


def act(self, what: str, plan) -> None:
    """Accept a proposal group, or take one of the robot's own actions."""
    if what != "propose":
        ROBOT_ACT(self, what, plan)
        return
    ids = self.s.segments.ids[plan[0]]
    changed = self.s.assign(ids, 2, "robot: accept proposals")
    STATS["accepts"] += 1
    STATS["segments"] += len(ids)
    self._spend(COST, changed)


ROBOT_OPTIONS, ROBOT_ACT = R._Robot.options, R._Robot.act

if __name__ == "__main__":
    R._Robot.options, R._Robot.act = options, act
    rc = main(sys.argv[1:])
    print("propose", STATS, file=sys.stderr)
    sys.exit(rc)
