"""The simulated annotator on features centred per image.

Usage: ``python docs/try_centre.py bench robot ARGS...`` with the arguments of
``featann bench robot``. Each segment's feature vector is scaled to unit length and the
area-weighted mean of its image's unit vectors is subtracted, so that a segment is
described by how it differs from the rest of its image. New segments (splits) get the
same transform with their image's mean from the start (``CENTRE=0``: no centring, for a
baseline through the same script).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from napari_featann.bench import robot as R
from napari_featann.cli import main
from napari_featann.session import Session

ON = os.environ.get("CENTRE", "1") == "1"
MEANS: dict[int, np.ndarray] = {}


def _unit(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def centre(features: np.ndarray, images: np.ndarray) -> np.ndarray:
    out = _unit(np.asarray(features, np.float32))
    return (out - np.stack([MEANS[int(i)] for i in images])).astype(np.float32)


def setup_session(*args, **kwargs):
    session, *rest = SETUP(*args, **kwargs)
    if ON:
        f, img = _unit(session.features.astype(np.float32)), session.segments.image
        a = session.segments.area.astype(np.float64)
        for i in range(session.n_images):
            m = img == i
            MEANS[i] = ((f[m] * a[m, None]).sum(0) / a[m].sum()).astype(np.float32)
        session.features = centre(session.features, img)
    return (session, *rest)


def compute_features(self, rows=None, progress=None, table=None, label_images=None):
    out = COMPUTE(self, rows, progress, table, label_images)
    if not ON or not MEANS:
        return out
    if table is None:
        table = self.segments if rows is None else self.segments.take(rows)
    return centre(out, table.image)


SETUP, COMPUTE = R.setup_session, Session.compute_features
R.setup_session, Session.compute_features = setup_session, compute_features

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
