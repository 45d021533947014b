"""The worker wrapper: results, errors and cancellation, synchronous and threaded."""

from __future__ import annotations

import time

import pytest

from napari_featann._widgets import workers
from napari_featann.core.progress import Cancelled

pytestmark = pytest.mark.gui


def _collect():
    seen = {"done": [], "error": [], "finished": []}
    kw = dict(
        on_done=seen["done"].append,
        on_error=seen["error"].append,
        on_finished=seen["finished"].append,
    )
    return seen, kw


def test_sync_job_outcomes():
    seen, kw = _collect()
    workers.run_job(lambda p: 42, progress_desc="t", sync=True, **kw)
    assert seen == {"done": [42], "error": [], "finished": ["done"]}

    seen, kw = _collect()
    job = workers.run_job(lambda p: (_ for _ in ()).throw(ValueError("bad")), progress_desc="t",
                          sync=True, **kw)  # fmt: skip
    assert job.status == "error" and str(seen["error"][0]) == "bad"
    assert seen["finished"] == ["error"] and not seen["done"]

    seen, kw = _collect()

    def cancelled(p):
        raise Cancelled()

    workers.run_job(cancelled, progress_desc="t", sync=True, **kw)
    assert seen == {"done": [], "error": [], "finished": ["cancelled"]}


def test_sync_flag_from_environment(monkeypatch):
    monkeypatch.setenv("FEATANN_SYNC_WORKERS", "1")
    assert workers.sync_workers()
    job = workers.run_job(lambda p: 1, progress_desc="t", on_done=lambda r: None)
    assert job.status == "done"


def test_threaded_job_reports_progress_and_cancels(qtbot):
    seen, kw = _collect()

    def slow(progress):
        progress.init(1000, "counting")
        for _ in range(1000):
            time.sleep(0.01)
            progress.update(1)
        return "finished"

    job = workers.run_job(slow, progress_desc="slow", **kw)
    assert job.running and job.pbar is not None
    qtbot.waitUntil(lambda: job.pbar is not None and job.pbar.n > 0, timeout=5000)
    assert "counting" in job.pbar.desc
    job.cancel()
    qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=5000)
    assert seen == {"done": [], "error": [], "finished": ["cancelled"]}
    assert job.status == "cancelled" and job.pbar is None


def test_threaded_job_result_on_main_thread(qtbot):
    import threading

    main = threading.get_ident()
    where = []
    job = workers.run_job(lambda p: threading.get_ident(), progress_desc="t",
                          on_done=lambda r: where.extend([r, threading.get_ident()]))  # fmt: skip
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    assert where[0] != main and where[1] == main


def test_a_job_whose_widget_is_destroyed_is_cancelled_and_reports_nothing(qtbot):
    """Closing the viewer deletes the dock while a job runs: no crash, no late callbacks."""
    import threading

    from qtpy.QtWidgets import QWidget

    seen, kw = _collect()
    gate, reached = threading.Event(), threading.Event()

    def blocked(progress):
        progress.init(2, "waiting")
        reached.set()
        gate.wait(30)
        progress.update(1)  # signals of a job whose widget is gone
        progress.check()
        return "late"

    widget = QWidget()
    job = workers.run_job(blocked, progress_desc="t", parent_widget=widget, **kw)
    qtbot.waitUntil(reached.is_set, timeout=5000)
    with qtbot.waitSignal(widget.destroyed, timeout=5000):
        widget.deleteLater()
    del widget
    assert job.progress.cancelled  # the job was told to stop
    gate.set()
    job.thread.join(10)
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    qtbot.wait(50)
    assert job.status == "cancelled" and job.pbar is None
    assert seen == {"done": [], "error": [], "finished": []}


def test_a_finished_job_lets_go_of_its_widget(qtbot):
    from qtpy.QtWidgets import QWidget

    seen, kw = _collect()
    widget = QWidget()
    job = workers.run_job(lambda p: 7, progress_desc="t", parent_widget=widget, **kw)
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    with qtbot.waitSignal(widget.destroyed, timeout=5000):
        widget.deleteLater()
    assert seen == {"done": [7], "error": [], "finished": ["done"]}
    assert job.status == "done" and not job.orphaned


def test_closing_the_viewer_while_a_dock_job_runs(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """The dock is deleted with the viewer; its running job stops and commits nothing."""
    import threading

    from napari_featann._widgets.dock import FeatureSpaceWidget

    monkeypatch.setenv("FEATANN_HOME", str(tmp_path))
    viewer = make_napari_viewer()
    dock = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.set_autosave_minutes(0)
    gate, reached, committed = threading.Event(), threading.Event(), []

    def blocked(progress):
        progress.init(1, "waiting")
        reached.set()
        gate.wait(30)
        progress.update(1)
        return "late"

    job = dock._run("pipeline", blocked, committed.append, sync=False)
    qtbot.waitUntil(reached.is_set, timeout=5000)
    viewer.close()
    qtbot.wait(100)
    gate.set()
    job.thread.join(10)
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    qtbot.wait(50)
    assert job.status == "cancelled" and committed == []


def test_a_flood_of_progress_steps_while_the_gui_thread_is_busy(make_napari_viewer, qtbot):
    """Thousands of queued steps (the GUI thread stalled) neither recurse nor lose the outcome.

    With a viewer, napari's progress bar widget calls ``processEvents`` on each
    update, which used to handle the next queued step inside the current one:
    one Python stack level per queued step, then RecursionError and no outcome.
    """
    import sys
    import threading

    make_napari_viewer()  # its activity dialog draws the bars (and calls processEvents)
    seen, kw = _collect()
    emitted = threading.Event()
    steps = 3 * sys.getrecursionlimit()

    def flood(progress):
        progress.init(steps, "flooding")
        for _ in range(steps):
            progress.update(1)
        emitted.set()
        return "flooded"

    with qtbot.captureExceptions() as exceptions:
        job = workers.run_job(flood, progress_desc="flood", **kw)
        bar = job.pbar
        assert emitted.wait(30)  # the GUI thread is blocked while every step is queued
        qtbot.waitUntil(lambda: bool(seen["finished"]), timeout=30_000)
    assert not exceptions, [str(e[1]) for e in exceptions]
    assert seen == {"done": ["flooded"], "error": [], "finished": ["done"]}
    assert job.status == "done" and job.pbar is None
    assert bar.total == steps and bar.n == steps  # the last count was drawn before closing
