"""Feature extraction speed against the backbone's bare forward pass."""

from __future__ import annotations

import time

import numpy as np

from ..core.partition import PartitionParams
from ..core.progress import Progress
from .common import check_weights, context_settings, partitioned_session

__all__ = ["extraction_benchmark", "labelling_benchmark", "partitioned_session"]


def extraction_benchmark(images, params: PartitionParams, feature_params, limit: int | None = 3,
                         progress: Progress | None = None) -> dict:  # fmt: skip
    """Time :meth:`FeatureExtractor.extract` against a bare forward pass on the same crops.

    The bare pass gets its crops prepared beforehand (untimed) and runs the
    model on batches of the same size; the ratio is extraction time over
    bare time (1.0 = no overhead from cropping, hashing and caching).
    """
    import torch

    from ..ml.extractor import crop_batch

    check_weights(params, feature_params)
    s = partitioned_session(images, params, feature_params, limit, progress)
    fx = s.extractor()
    table = s.segments
    n = len(table)
    fx.forward_batch(torch.zeros((2, 3, fx.size, fx.size)))  # warm-up, model loaded
    t0 = time.perf_counter()
    feats = s.compute_features(progress=progress)
    t_extract = time.perf_counter() - t0
    crops = torch.cat([
        crop_batch(s.float_image(i), s.label_images[i], table.ids[rows], table.bbox[rows],
                   fx.margin, fx.size, fx.mean, fx.std)
        for i in range(s.n_images) if (rows := table.in_image(i)).size
    ])  # fmt: skip
    t0 = time.perf_counter()
    for k in range(0, n, fx.batch_size):
        fx.forward_batch(crops[k : k + fx.batch_size])
    t_bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = s.compute_features()
    t_cached = time.perf_counter() - t0
    assert np.allclose(again, feats)
    return {
        "n_images": s.n_images,
        "n_segments": n,
        "backbone": fx.backbone,
        **context_settings(s.feature_params),
        "batch_size": fx.batch_size,
        "device": str(fx.device),
        "threads": torch.get_num_threads(),
        "extract_seconds": round(t_extract, 2),
        "bare_forward_seconds": round(t_bare, 2),
        "extract_crops_per_second": round(n / t_extract, 1),
        "bare_crops_per_second": round(n / t_bare, 1),
        "ratio_extract_over_bare": round(t_extract / t_bare, 3),
        "cached_rerun_seconds": round(t_cached, 2),
    }


def _grid_session(n_images: int, per_image: int, shape: tuple[int, int]):
    """A session of ``n_images`` blank images, each cut into a grid of segments."""
    from ..core.regions import offset_labels, table_from_label_images
    from ..session import Session

    rng = np.random.default_rng(0)
    h, w = shape
    side = int(np.ceil(np.sqrt(per_image)))
    rows = np.minimum(np.arange(h) * side // h, side - 1)
    cols = np.minimum(np.arange(w) * side // w, side - 1)
    grid = (rows[:, None] * side + cols[None, :] + 1).astype(np.int32)
    grid = np.minimum(grid, per_image)
    s = Session.from_sources([np.zeros((h, w), np.uint8)] * n_images)
    s.label_images = [offset_labels(grid, i * per_image) for i in range(n_images)]
    s.segments = table_from_label_images(s.label_images)
    s.segment_class = np.zeros(len(s.segments), np.int32)
    s.next_id = int(s.segments.ids.max()) + 1
    s.embedding = rng.random((len(s.segments), 2)).astype(np.float32)
    return s


def labelling_benchmark(n_images: int = 100, per_image: int = 100,
                        shape: tuple[int, int] = (480, 854), repeats: int = 7,
                        viewer: bool = False, fraction: float = 1.0) -> dict:  # fmt: skip
    """Time one box that labels every segment of ``n_images`` synthetic images.

    Each image is cut into a grid of ``per_image`` rectangular segments; the
    box covers all ``n_images * per_image`` points of a random embedding (or,
    with ``fraction`` < 1, that part of it: about that fraction of the segments,
    spread over all images).

    Parameters
    ----------
    n_images, per_image : int
    shape : (int, int)
        Image size.
    repeats : int
        Boxes timed (alternating between two classes); medians are reported.
    viewer : bool
        False: time :meth:`Session.assign`, which writes the pixels of every
        touched class mask (the arrays napari's Labels layers show), and its
        undo. True: open napari with the dock (needs a display) and time the
        dock's whole path: the session write, the redraw of the visible Labels
        layer and the scatter's recolouring, with Qt's events processed.

    Returns
    -------
    dict
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"--fraction must be in (0, 1], got {fraction}")
    s = _grid_session(n_images, per_image, shape)
    c1, c2 = s.add_class("a"), s.add_class("b")
    corner = (fraction if fraction < 1 else 2, 2)  # the box's upper corner (points in [0, 1)^2)
    if viewer:
        import napari
        from qtpy.QtWidgets import QApplication

        from .._widgets.dock import FeatureSpaceWidget

        v = napari.Viewer(show=True)
        dock = FeatureSpaceWidget(v)
        dock.set_autosave_minutes(0)  # a timing of synthetic data: no autosave left behind
        v.window.add_dock_widget(dock)
        dock.set_session(s)
        QApplication.processEvents()
        do, undo, redo = dock.assign, dock.undo, dock.redo
    else:
        do, undo, redo = s.assign, s.undo, s.redo
    # the first call compiles the pixel kernel (numba caches it on disk): time it apart
    t0 = time.perf_counter()
    do(s.segments.ids[:1], c1)
    first_ms = 1000 * (time.perf_counter() - t0)
    undo()

    def settle() -> None:  # untimed: let deferred work (thumbnails) finish between boxes
        if viewer:
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:
                QApplication.processEvents()
                time.sleep(0.01)

    times, undo_times = [], []
    for k in range(repeats):
        ids = s.select_box((-1, -1), corner)
        settle()
        t0 = time.perf_counter()
        do(ids, c1 if k % 2 == 0 else c2)
        if viewer:
            QApplication.processEvents()
        times.append(time.perf_counter() - t0)
        settle()
        t0 = time.perf_counter()
        undo()
        if viewer:
            QApplication.processEvents()
        undo_times.append(time.perf_counter() - t0)
        redo()
    parts = _dock_parts(dock, s, corner, (c1, c2), repeats, settle) if viewer else None
    if viewer:
        v.close()
    return {
        "n_images": n_images,
        "segments": len(s.segments),
        "selected": len(s.select_box((-1, -1), corner)),
        "pixels": int(n_images * shape[0] * shape[1]),
        "path": "dock.assign + visible layer + scatter" if viewer else "Session.assign",
        "assign_ms_median": round(1000 * float(np.median(times)), 1),
        "assign_ms_max": round(1000 * float(np.max(times)), 1),
        "undo_ms_median": round(1000 * float(np.median(undo_times)), 1),
        "first_call_ms": round(first_ms, 1),
        "target_ms": 100,
        **({"parts_ms_median": parts} if parts else {}),
    }


def _dock_parts(dock, s, corner, classes, repeats: int, settle) -> dict:
    """Median milliseconds of each step of ``dock.assign`` (same order), and of the repaint."""
    from qtpy.QtWidgets import QApplication

    parts: dict[str, list[float]] = {
        k: [] for k in ("write", "layer", "scatter", "status", "repaint")
    }
    for k in range(repeats):
        ids = s.select_box((-1, -1), corner)
        settle()
        t = [time.perf_counter()]
        changed = s.assign(ids, classes[k % 2])
        t.append(time.perf_counter())
        dock.layers.refresh_classes(changed, thumbnail=False)
        t.append(time.perf_counter())
        dock._sync_scatter()
        t.append(time.perf_counter())
        dock._touch()
        dock._status(f"{len(ids)} segments labelled")
        t.append(time.perf_counter())
        QApplication.processEvents()
        t.append(time.perf_counter())
        for name, dt in zip(parts, np.diff(t)):
            parts[name].append(1000 * dt)
        settle()
        s.undo()
    return {k: round(float(np.median(v)), 1) for k, v in parts.items()}
