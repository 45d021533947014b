"""Helpers shared by the dock's GUI tests (test_dock.py, test_dock_sessions.py,
test_dock_layers.py)."""

from __future__ import annotations

import threading

import numpy as np

JOB_TIMEOUT = 240_000  # ms; the first job may pay torch's import on a loaded machine


def left_half(emb: np.ndarray):
    """A box around the left half of the scatter."""
    lo, hi = emb.min(0) - 0.1, emb.max(0) + 0.1
    mid = np.median(emb[:, 0])
    return (lo[0], lo[1]), (mid, hi[1])


def open_session(dock, session_file):
    """Open a session file in the dock and return the session shown."""
    assert dock.load_session(session_file) is not None, dock.last_error
    return dock.session


def gate_features(monkeypatch):
    """Make Start's feature step wait: returns (reached, release) events."""
    from napari_featann.session import Session

    reached, release = threading.Event(), threading.Event()
    extract = Session.extract_features

    def gated(self, progress=None):
        reached.set()
        release.wait(60)
        return extract(self, progress)

    monkeypatch.setattr(Session, "extract_features", gated)
    return reached, release
