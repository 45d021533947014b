"""Progress reporting and cooperative cancellation for long jobs.

Core functions take an optional :class:`Progress` and check it at
checkpoints. The napari widgets map it onto napari's progress bar and a
Cancel button; the CLI maps it onto stderr. Nothing here imports Qt.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

__all__ = ["CancelAfter", "Cancelled", "Progress", "StderrProgress", "ensure_progress"]


class Cancelled(Exception):
    """Raised at a checkpoint once cancellation has been requested."""


class Progress:
    """Progress callbacks plus a cancel flag, shared by a job and its caller.

    Parameters
    ----------
    pbar_init : callable, optional
        ``pbar_init(total, desc)`` starts a new stage of ``total`` steps.
    pbar_update : callable, optional
        ``pbar_update(n)`` advances the current stage by ``n`` steps.

    Examples
    --------
    >>> p = Progress()
    >>> p.init(3, "demo"); p.update(); p.check()
    >>> p.cancel()
    >>> p.cancelled
    True
    """

    def __init__(
        self,
        pbar_init: Callable[[int, str], None] | None = None,
        pbar_update: Callable[[int], None] | None = None,
    ) -> None:
        self._init = pbar_init
        self._update = pbar_update
        self._event = threading.Event()

    # -- reporting -------------------------------------------------------
    def init(self, total: int, desc: str = "") -> None:
        """Start a stage of ``total`` steps described by ``desc``."""
        self.check()
        if self._init is not None:
            self._init(int(total), desc)

    def update(self, n: int = 1) -> None:
        """Advance the current stage by ``n`` steps, then check for cancellation."""
        if self._update is not None:
            self._update(int(n))
        self.check()

    # -- cancellation ----------------------------------------------------
    def cancel(self) -> None:
        """Request cancellation; the job stops at its next checkpoint."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation has been requested."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


class CancelAfter(Progress):
    """A test double that cancels itself after ``n`` checkpoints.

    Makes cancellation tests deterministic: the job is interrupted at a
    known point, whatever the machine's speed.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.remaining = int(n)
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        self.remaining -= 1
        if self.remaining < 0:
            self.cancel()
        super().check()


class StderrProgress(Progress):
    """Progress printed on stderr, for the command line (at most ~10 lines a stage)."""

    def __init__(self, stream=None) -> None:
        super().__init__(self._on_init, self._on_update)
        self.stream = stream if stream is not None else sys.stderr
        self.total = 0
        self.done = 0
        self.desc = ""
        self._last = 0.0
        self._t0 = time.perf_counter()

    def _on_init(self, total: int, desc: str) -> None:
        self.total, self.done, self.desc = total, 0, desc
        self._t0 = time.perf_counter()
        self._last = 0.0
        print(f"[featann] {desc}: 0/{total}", file=self.stream, flush=True)

    def _on_update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.done >= self.total or now - self._last > 2.0:
            self._last = now
            el = now - self._t0
            print(
                f"[featann] {self.desc}: {self.done}/{self.total} ({el:.1f} s)",
                file=self.stream,
                flush=True,
            )


def ensure_progress(progress: Progress | None) -> Progress:
    """Return ``progress``, or a silent :class:`Progress` when it is None."""
    return progress if progress is not None else Progress()
