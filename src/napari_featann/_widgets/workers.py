"""Run one long job off the GUI thread, with napari progress and a Cancel.

A job is a plain function ``fn(progress) -> result`` that reports through a
:class:`~napari_featann.core.progress.Progress` and changes no visible state;
:func:`run_job` runs it in a worker thread, shows a napari progress bar
(updated on the main thread), and calls back on the main thread:

- ``on_done(result)`` when it finished; results are committed there;
- ``on_error(exc)`` when it raised;
- nothing else when it was cancelled: the previous state is left as it was.

``on_finished(status)`` always comes last, with ``"done"``, ``"cancelled"``
or ``"error"``.

A job given a ``parent_widget`` is cancelled when that widget is destroyed
(closing the viewer deletes its dock widgets), and then calls none of these:
its late progress and outcome are dropped. The Qt object that carries the
worker's signals belongs to the application, not to the widget, and is
deleted on the main thread only after the worker's last signal.

Set ``SYNC = True`` (or the environment variable ``FEATANN_SYNC_WORKERS=1``)
to run jobs synchronously in the calling thread, for simple tests.

Each job gets its own Python thread rather than a thread of Qt's pool (which
napari's ``create_worker`` uses). Jobs import torch and higra lazily, and
pybind11 remembers the thread state of the thread where it was first
initialised; a pooled Qt thread drops that state after each job and reuses
the thread, so the next pybind11 call that takes the GIL on it deadlocks
(pybind/pybind11#2888; seen here as a hang in higra's watershed). A Python
thread keeps one thread state for its whole life and is never reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Signal

from ..core.progress import Cancelled, Progress

__all__ = ["SYNC", "Job", "run_job", "sync_workers"]

log = logging.getLogger(__name__)

#: Run jobs synchronously (tests). The environment variable also turns it on.
SYNC = False


def sync_workers() -> bool:
    """Whether jobs run synchronously (``SYNC`` or ``FEATANN_SYNC_WORKERS=1``)."""
    return SYNC or os.environ.get("FEATANN_SYNC_WORKERS", "") not in ("", "0")


class _Bridge(QObject):
    """Carries progress and the outcome from the worker thread to the main thread.

    It lives in the main thread, owned by the application (never by a widget
    that may be deleted while the worker runs); signals emitted from the
    worker are queued. It is deleted (``deleteLater``) once the outcome has
    been delivered, the worker's last signal.
    """

    stage = Signal(int, str)
    step = Signal(int)
    outcome = Signal(object)


class Job:
    """A running (or finished) job; keep it to cancel it.

    Attributes
    ----------
    name : str
        The description shown on the progress bar.
    progress : Progress
        The job's cancel token and progress callbacks.
    status : str
        ``"running"``, then ``"done"``, ``"cancelled"`` or ``"error"``.
    result : object
        What ``on_done`` returned when the job was done (None before).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = "running"
        self.error: BaseException | None = None
        self.result = None
        self.thread: threading.Thread | None = None
        self.pbar = None
        self.orphaned = False  # its widget was destroyed: its outcome is dropped
        self._bridge: _Bridge | None = None
        # progress not drawn yet (main thread): see _draw
        self._stage: tuple[int, str] | None = None
        self._steps = 0
        self._drawing = False
        self._drawn_at = 0.0
        self._redraw_queued = False
        self._after_draw: list[Callable[[], None]] = []
        self.progress = Progress(self._report_stage, self._report_step)

    # called in the worker thread: only emit signals
    def _report_stage(self, total: int, desc: str) -> None:
        if self._bridge is not None:
            self._bridge.stage.emit(int(total), str(desc))

    def _report_step(self, n: int) -> None:
        if self._bridge is not None:
            self._bridge.step.emit(int(n))

    # main thread
    #: Draw progress at most this often (seconds); the last step of a stage is always drawn.
    DRAW_INTERVAL = 0.05

    def _on_stage(self, total: int, desc: str) -> None:
        self._stage = (max(int(total), 0), f"{self.name}: {desc}" if desc else self.name)
        self._steps = 0  # the previous stage's undrawn steps: the bar is reset anyway
        self._draw(force=True)

    def _on_step(self, n: int) -> None:
        self._steps += int(n)
        self._draw()

    def _draw(self, force: bool = False) -> None:
        """Show the pending stage and steps on the bar: re-entrancy-safe and coalescing.

        napari's progress bar widget calls ``processEvents`` on each change,
        which delivers the worker's next queued signals inside this call.
        Those only record their values (``_drawing``) and are drawn later in
        one update, so a backlog of steps (the GUI thread was busy) no longer
        nests one call per step (RecursionError, and a lost outcome).
        """
        if self._drawing or self.pbar is None or (self._stage is None and not self._steps):
            return
        if not force and self._stage is None:
            total = self.pbar.total or 0
            stage_done = total > 0 and self.pbar.n + self._steps >= total
            if not stage_done and time.monotonic() - self._drawn_at < self.DRAW_INTERVAL:
                self._queue_redraw()
                return
        self._drawing = True
        try:
            if self._stage is not None:
                (total, desc), self._stage = self._stage, None
                self.pbar.reset(total=total)
                self.pbar.set_description(desc)
            if self._steps and self.pbar is not None:
                n, self._steps = self._steps, 0
                self.pbar.update(n)
            self._drawn_at = time.monotonic()
        finally:
            self._drawing = False
            if self._stage is not None or self._steps:  # came in while drawing
                self._queue_redraw()
            later, self._after_draw = self._after_draw, []
            for fn in later:  # an outcome delivered while drawing: even if drawing failed
                fn()

    def _queue_redraw(self) -> None:
        if not self._redraw_queued:
            from qtpy.QtCore import QTimer

            self._redraw_queued = True
            QTimer.singleShot(int(self.DRAW_INTERVAL * 1000), self._redraw)

    def _redraw(self) -> None:
        self._redraw_queued = False
        self._draw(force=True)

    def _when_not_drawing(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` now, or after the progress update that is under way."""
        if self._drawing:
            self._after_draw.append(fn)
        else:
            fn()

    @property
    def running(self) -> bool:
        """Whether the job has not finished yet."""
        return self.status == "running"

    def cancel(self) -> None:
        """Ask the job to stop at its next checkpoint (thread-safe)."""
        self.progress.cancel()

    def _orphan(self, *_) -> None:
        """The widget that ran the job was destroyed: stop, and drop what comes later."""
        if self.running:
            self.orphaned = True
            self.cancel()


def _call(fn: Callable[[Progress], Any], progress: Progress) -> tuple[str, Any]:
    """Run ``fn`` and turn its outcome into ``(status, value)``: never raises."""
    try:
        return "done", fn(progress)
    except Cancelled:
        return "cancelled", None
    except Exception as exc:  # reported to the user by on_error
        log.debug("job failed", exc_info=True)
        return "error", exc


def run_job(
    fn: Callable[[Progress], Any],
    *,
    progress_desc: str,
    on_done: Callable[[Any], None],
    on_error: Callable[[BaseException], None] | None = None,
    on_finished: Callable[[str], None] | None = None,
    parent_widget: QObject | None = None,
    sync: bool | None = None,
) -> Job:
    """Run ``fn(progress)`` in a worker thread with a napari progress bar.

    Parameters
    ----------
    fn : callable
        ``fn(progress) -> result``. It must not touch Qt objects or napari
        layers; it computes, and ``on_done`` commits.
    progress_desc : str
        Name of the job, shown on the progress bar.
    on_done : callable
        ``on_done(result)``, on the main thread, after success.
    on_error : callable, optional
        ``on_error(exception)``, on the main thread, when ``fn`` raised.
    on_finished : callable, optional
        ``on_finished(status)`` on the main thread, always last; status is
        ``"done"``, ``"cancelled"`` or ``"error"``.
    parent_widget : QObject, optional
        The widget the job works for: when it is destroyed the job is
        cancelled and none of the callbacks is called.
    sync : bool, optional
        Run in the calling thread; default :func:`sync_workers`.

    Returns
    -------
    Job
        Call ``job.cancel()`` to stop it; a cancelled job calls neither
        ``on_done`` nor ``on_error``.
    """
    job = Job(progress_desc)

    def finish(outcome: tuple[str, Any]) -> None:
        status, value = outcome
        job.status = status
        if job.pbar is not None:
            if not job.orphaned:
                job._draw(force=True)  # the last steps, before the bar goes
            job.pbar.close()
            job.pbar = None
        if job._bridge is not None:  # the worker emits nothing more
            job._bridge.deleteLater()
        if job.orphaned:  # the widget is gone: nobody to commit to or to tell
            return
        if parent_widget is not None:
            with contextlib.suppress(TypeError, RuntimeError):  # already disconnected
                parent_widget.destroyed.disconnect(job._orphan)
        try:
            if status == "done":
                try:
                    job.result = on_done(value)
                except Exception as exc:  # a failing commit is an error, not a crash
                    log.exception("committing the result of %s failed", progress_desc)
                    job.status = status = "error"
                    value = exc
            if status == "error":
                job.error = value
                if on_error is not None:
                    on_error(value)
        finally:
            if on_finished is not None:
                on_finished(status)

    if sync_workers() if sync is None else sync:
        finish(_call(fn, job.progress))
        return job

    from napari.utils import progress as napari_progress
    from qtpy.QtCore import QCoreApplication

    # owned by the application: deleting the widget must not delete it under the worker
    bridge = job._bridge = _Bridge(QCoreApplication.instance())
    if parent_widget is not None:
        parent_widget.destroyed.connect(job._orphan)
    bridge.stage.connect(job._on_stage)
    bridge.step.connect(job._on_step)
    # not inside a progress update (its processEvents may deliver the outcome)
    bridge.outcome.connect(lambda outcome: job._when_not_drawing(lambda: finish(outcome)))
    job.pbar = napari_progress(total=0, desc=progress_desc)

    def target() -> None:
        bridge.outcome.emit(_call(fn, job.progress))

    job.thread = threading.Thread(target=target, name=f"featann: {progress_desc}", daemon=True)
    job.thread.start()
    return job
