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
