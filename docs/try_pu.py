"""The simulated annotator with reliable negatives for metric learning.

Usage: ``python docs/try_pu.py bench robot ARGS...`` with the arguments of
``featann bench robot --foreground-only``. With only the foreground labelled (the
background implicit), metric learning has one class. Here the unlabelled segments least
like the labelled foreground (a share ``PU_FRAC``, default 0.5, of the unlabelled ones,
ranked by their largest cosine similarity to a labelled foreground segment) are taken as
background while the projection head trains, as in positive-unlabelled learning, and
metric learning may run as soon as the foreground has 2 labelled segments.
``PU_UMAP=1`` also gives these pseudo labels to the semi-supervised UMAP.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import napari_featann.learning as L
from napari_featann.bench import robot as R
from napari_featann.cli import main
from napari_featann.session import Session

FRAC = float(os.environ.get("PU_FRAC", "0.5"))
UMAP = os.environ.get("PU_UMAP", "0") == "1"
BG, FG = 1, 2  # the robot's class ids with binary masks
LEARNING = [False]  # inside train_metric: ml_labels gives the pseudo labels


def pseudo_labels(session) -> np.ndarray:
    """ml_labels, with the unlabelled segments least like the foreground as background."""
    lab = ML_LABELS(session)
    fg, un = np.flatnonzero(lab == FG), np.flatnonzero(lab < 0)
    if len(fg) < 2 or len(un) == 0 or FRAC <= 0:
        return lab
    f = session.features.astype(np.float32)
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    sim = np.full(len(un), -np.inf, np.float32)
    for a in range(0, len(fg), 2048):
        sim = np.maximum(sim, (f[un] @ f[fg[a : a + 2048]].T).max(1))
    out = lab.copy()
    out[un[np.argsort(sim)[: int(FRAC * len(un))]]] = BG
    return out


def ml_labels(self):
    return pseudo_labels(self) if LEARNING[0] else ML_LABELS(self)


def train_metric(session, *args, **kwargs):
    LEARNING[0] = True
    try:
        return TRAIN(session, *args, **kwargs)
    finally:
        LEARNING[0] = False


def project(self, *args, **kwargs):
    was = LEARNING[0]
    LEARNING[0] = was and UMAP  # the re-projection inside train_metric
    try:
        return PROJECT(self, *args, **kwargs)
    finally:
        LEARNING[0] = was


def can_learn(self) -> bool:
    return np.count_nonzero(self.s.segment_class == FG) >= 2 or CAN_LEARN(self)


ML_LABELS, TRAIN, PROJECT, CAN_LEARN = (Session.ml_labels, L.train_metric, Session.project,
                                        R._Robot.can_learn)  # fmt: skip
Session.ml_labels, L.train_metric, Session.project = ml_labels, train_metric, project
R._Robot.can_learn = can_learn

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
