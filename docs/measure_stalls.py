"""Main-thread stalls of the dock's user actions on a realistic collection.

Run (from the repository root; docs/benchmarks.md section 6 has the results)::

    xvfb-run -a python -m pytest -q -p no:cacheprovider docs/measure_stalls.py -x -s

A QTimer on the main thread ticks every 20 ms; the largest gap between two
ticks while an action runs (plus 600 ms afterwards, for deferred timers such
as the thumbnail refresh) is its worst stall. The session (DAVIS frames,
~100 segments each) is built once with the dock's Start and saved with the
dock's Save; later runs reuse it (delete ``/tmp/featann-stalls`` to rebuild).
``STALLS_ONLY=name1,name2`` measures only some actions (after the open).
Results go to ``/tmp/featann-stalls/stalls-<tag>.json`` (``STALLS_TAG``, default ``run``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "weights" / "efficientnet_lite0_in1k_timm.pth"
DAVIS = ROOT.parent / "shared" / "data" / "davis-dev" / "images"
WORK = Path("/tmp/featann-stalls")
N_IMAGES = int(os.environ.get("STALLS_IMAGES", "20"))
REGIONS = 100
JOB_MS = 900_000
SETTLE_MS = 600


class Heartbeat:
    """Largest gap between ticks of a 20 ms main-thread timer since :meth:`reset`."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.worst = 0.0


def _files():
    files = sorted(DAVIS.glob("*.jpg"))
    step = max(len(files) // (N_IMAGES + 3), 1)
    picked = files[::step][: N_IMAGES + 3]
    out = WORK / "imgs"
    out.mkdir(parents=True, exist_ok=True)
    copies = []
    for f in picked:
        c = out / f.name
        if not c.exists():
            shutil.copy(f, c)
        copies.append(c)
    return copies[:N_IMAGES], copies[N_IMAGES:]


@pytest.fixture
def dock(make_napari_viewer, tmp_path, monkeypatch):
    from napari_featann._widgets.dock import FeatureSpaceWidget

    if not WEIGHTS.is_file():
        pytest.skip("no weights")
    monkeypatch.setenv("FEATANN_HOME", str(tmp_path / "home"))
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    widget = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Feature Space Annotation")
    widget.set_autosave_minutes(0)
    widget.partition_panel.regions.value = REGIONS
    widget.features_panel.weights.value = str(WEIGHTS)
    widget.features_panel.device.value = "cpu"
    yield widget
    widget.teardown()


def _is_job(method) -> bool:
    import inspect

    return "sync" in inspect.signature(method).parameters


def test_stalls(dock, qtbot, tmp_path):
    hb = Heartbeat()
    rows: list[dict] = []
    only = {s for s in os.environ.get("STALLS_ONLY", "").split(",") if s}
    tag = os.environ.get("STALLS_TAG", "run")

    def measure(name, action, job=False, writer=False):
        if only and name not in only and name != "open session":
            return None
        qtbot.wait(100)
        hb.reset()
        t0 = time.perf_counter()
        progress = cancel = False
        if job:
            with qtbot.waitSignal(dock.job_finished, timeout=JOB_MS) as blocker:
                result = action()
                j = dock.job
                progress = j is not None and j.pbar is not None
                cancel = dock.busy and dock.cancel_button.isEnabled()
            assert blocker.args[1] == "done", (name, blocker.args, dock.last_error)
        else:
            result = action()
            if writer:
                w = dock._writer
                progress = w is not None and w.pbar is not None
                cancel = dock.cancel_button.isEnabled()
                qtbot.waitUntil(lambda: not dock.writing, timeout=JOB_MS)
        wall = time.perf_counter() - t0
        qtbot.wait(SETTLE_MS)
        stall = hb.worst
        row = dict(action=name, wall_s=round(wall, 3), stall_ms=round(stall * 1000),
                   progress=progress, cancel=cancel)  # fmt: skip
        rows.append(row)
        print(
            f"  {name:32s} wall {wall:7.3f} s  stall {stall * 1000:6.0f} ms  "
            f"progress {'y' if progress else 'n'}  cancel {'y' if cancel else 'n'}",
            flush=True,
        )
        return result

    files, extra = _files()
    saved = WORK / f"davis{N_IMAGES}.featann"
    if not saved.exists() or "start" in only:
        measure("open folder (load_images)", lambda: dock.load_images([str(f) for f in files]))
        measure("start (pipeline + adoption)", dock.start, job=True)
        measure("save session", lambda: dock.save_session(saved, wait=False), writer=True)
        assert saved.exists()
    measure("open session", lambda: dock.load_session(saved, wait=False), job=True)
    s = dock.session
    print(f"  session: {s.n_images} images, {len(s.segments)} segments", flush=True)
    emb = s.embedding
    lo, hi = emb.min(0) - 0.1, emb.max(0) + 0.1
    a = dock.add_class("a")
    b = dock.add_class("b", "#00ff00")
    dock.set_current_class(a)
    # most of the scatter: 90 % of the x range
    x90 = lo[0] + 0.9 * (hi[0] - lo[0])
    measure("box over most of the scatter", lambda: dock.select_box((lo[0], lo[1]), (x90, hi[1])))
    print(f"    selected {dock.selected_ids.size}", flush=True)
    measure("undo big labelling", dock.undo)
    measure("redo big labelling", dock.redo)
    dock.set_current_class(b)
    xr = lo[0] + 0.75 * (hi[0] - lo[0])
    poly = [
        (xr, lo[1]),
        (hi[0], lo[1]),
        (hi[0], hi[1]),
        (xr, hi[1]),
        (xr + 0.05, 0.5 * (lo[1] + hi[1])),
    ]
    measure("lasso", lambda: dock.select_lasso(poly))
    print(f"    selected {dock.selected_ids.size}", flush=True)
    measure("change current class", lambda: dock.set_current_class(a))
    measure("hide labelled on", lambda: dock.set_hide_labelled(True))
    measure("hide labelled off", lambda: dock.set_hide_labelled(False))
    measure("switch image (new)", lambda: setattr(dock, "current_image", 5))
    measure("switch image (seen)", lambda: setattr(dock, "current_image", 0))
    # Alt+click a segment of the current image
    image = dock.layers_for(0)[0]
    measure("alt+click label", lambda: dock._on_canvas_click(
        tuple(image.data_to_world((240, 427))), label=True))  # fmt: skip
    # split: the largest segment of image 0, two of its pixels far apart
    lab = s.label_images[0]
    big = np.bincount(lab.ravel())
    big[0] = 0
    target = int(big.argmax())
    rr, cc = np.nonzero(lab == target)
    p0, p1 = (rr[0], cc[0]), (rr[-1], cc[-1])
    dock.tabs.setCurrentIndex(5)
    dock.set_split_mode(True)
    dock.add_click(*p0, positive=True)
    measure("split preview (2nd click)", lambda: dock.add_click(*p1, positive=False))
    measure("split", dock.confirm_split, job=_is_job(dock.confirm_split))
    dock.set_split_mode(False)
    # merge: two neighbours across a horizontal boundary in image 0
    lab = dock.session.label_images[0]
    r, c = np.nonzero(lab[:, 1:] != lab[:, :-1])
    k = len(r) // 2
    pair = [int(lab[r[k], c[k]]), int(lab[r[k], c[k] + 1])]
    measure("merge", lambda: dock.merge_selected(pair), job=_is_job(dock.merge_selected))
    dock.set_current_class(a)
    measure("remove specks", dock.remove_specks)
    measure("fill holes", dock.fill_holes)
    measure("export masks", lambda: dock.export_masks(tmp_path / "masks"))
    dock.partition_panel.regions.value = 120
    measure("re-cut (apply to all)", dock.apply_partition, job=True)
    measure("train metric (head)", lambda: dock.train_metric("head"), job=True)
    measure("propose labels", dock.propose)
    s = dock.session
    emb = s.embedding
    lo, hi = emb.min(0), emb.max(0)
    dock.set_current_class(b)
    dock.select_box((lo[0], lo[1]), (lo[0] + 0.3 * (hi[0] - lo[0]), hi[1]))
    print(f"    local view of {dock.selected_ids.size}", flush=True)
    # (a job since the local-view fix; a plain call before it)
    measure("local view", dock.open_local_view, job=_is_job(dock.open_local_view))
    measure("add images (3)", lambda: dock.add_images([str(f) for f in extra]), job=True)
    measure("save session (again)", lambda: dock.save_session(tmp_path / "x.featann", wait=False),
            writer=True)  # fmt: skip
    for i in range(dock.session.n_images):  # every image shown once: 3 layers each
        dock.current_image = i
    measure("open session (all images shown)", lambda: dock.load_session(saved, wait=False),
            job=True)  # fmt: skip
    out = WORK / f"stalls-{tag}.json"
    out.write_text(json.dumps(rows, indent=1))
