"""Screenshots for docs/user-guide.md, taken headless.

Run from the repository root (needs the backbone weights in ../shared/weights)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [MODE ...]

With no mode it opens napari with the dock, adds the sample photos (half size) as Image
layers, presses Start (the pipeline, with the local weights), labels two classes with one box each
(``scatter-selection.png`` zoomed in on the second box),
splits the largest segment of the shown image with a positive and a negative
click (Correct tab) and writes ``docs/images/*.png`` (palette PNGs, each well
under 300 KB). Modes write only their own pictures, and several run one after the other:

- ``stack``: ``stack.png`` and ``stack-3d.png``, the synthetic 3-D nuclei stack of
  ``../shared/data`` as a 3-D layer, annotated plane by plane, then its classes as one
  3-D layer in napari's 3-D view;
- ``remote``: ``remote.png``, a SpaceNet aerial scene as four tiles;
- ``features``: ``features-tab.png``, the dock's tabs with the Features tab shown;
- ``suggestions``: ``suggestions.png``, the scatter of the sample photos after a few
  labels and the Learn tab's *Suggest uncertain* (magenta rings).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
WEIGHTS = ROOT.parent / "shared" / "weights" / "efficientnet_lite0_in1k_timm.pth"


def save_png(rgba: np.ndarray, name: str, width: int | None = None, colors: int = 256) -> Path:
    """Save an (h, w, 3|4) uint8 screenshot as an optimised palette PNG."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    if width and img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img = img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path = OUT / name
    img.save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {img.width}x{img.height}, {path.stat().st_size // 1024} KB")
    return path


def box_around(points: np.ndarray, lo_q: float = 15, hi_q: float = 85):
    """A box around the bulk of some scatter points."""
    lo = np.percentile(points, lo_q, axis=0)
    hi = np.percentile(points, hi_q, axis=0)
    return tuple(lo), tuple(hi)


def box_near_middle(embedding: np.ndarray, rows: np.ndarray, n: int, among=None):
    """A box (5th to 95th percentiles) around the ``n`` points of ``among`` (default
    ``rows``) nearest the median of the points ``rows``."""
    among = rows if among is None else among
    middle = np.median(embedding[rows], axis=0)
    near = among[np.argsort(np.linalg.norm(embedding[among] - middle, axis=1))[:n]]
    return box_around(embedding[near], 5, 95)


def viewer_with_dock():
    """A shown napari window with the dock docked, set up for the local weights on the CPU."""
    import napari

    from napari_featann._widgets.dock import FeatureSpaceWidget

    viewer = napari.Viewer(title="napari-featann", show=True)
    viewer.window._qt_window.resize(1560, 960)
    dock = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Feature Space Annotation", area="right")
    dock.features_panel.weights.value = str(WEIGHTS)
    dock.features_panel.device.value = "cpu"
    return viewer, dock


def run_pipeline(dock) -> bool:
    """Press Start and wait for the job, the event loop running; False (and why) on failure."""
    from qtpy.QtWidgets import QApplication

    job = dock.start(sync=False)
    app = QApplication.instance()
    while job.running:
        app.processEvents()
    if job.status != "done":
        print(f"pipeline {job.status}: {dock.last_error}", file=sys.stderr)
    return job.status == "done"


def photos_started():
    """The sample photos (half size) as napari Image layers, Start pressed (60 segments each).

    Returns
    -------
    viewer, dock
        None when the pipeline fails.
    """
    from skimage.transform import rescale

    from napari_featann.sample_data import everyday_photos

    OUT.mkdir(parents=True, exist_ok=True)
    viewer, dock = viewer_with_dock()

    # the sample photos at half size keep the run short on a CPU
    photos = [(d, m["name"]) for d, m, _ in everyday_photos()]
    small = []
    for data, _name in photos:
        img = rescale(data, 0.5, channel_axis=-1 if data.ndim == 3 else None, anti_aliasing=True)
        small.append((img * 255 + 0.5).astype(np.uint8))
    for img, (_, name) in zip(small, photos):  # as File > Open Sample puts them in the viewer
        viewer.add_image(img, name=name, rgb=img.ndim == 3)
    dock.partition_panel.regions.value = 60  # Start with nothing picked: all listed layers
    if not run_pipeline(dock):
        return None
    print(dock.status_label.text())
    return viewer, dock


def labelled_photos():
    """:func:`photos_started`, then two classes labelled with a box each; the dock shows the
    tissue image, its class layer filled in.

    Returns
    -------
    viewer, dock, app
    first : int
        The first class's id.
    names : list of str
        The images' names, in the session's order.
    box : (corner, corner)
        The scatter coordinates of the last box.

    None when the pipeline fails.
    """
    from qtpy.QtWidgets import QApplication

    started = photos_started()
    if started is None:
        return None
    viewer, dock = started
    app = QApplication.instance()
    s = dock.session

    # two classes, one box each: around where most of the coins' and of the tissue's
    # segments lie (the 40 of an image's points nearest their median; a box around all of
    # an image's points would also take in the clusters of the other images between them)
    first = dock.add_class("cluster 1", "#f58231")
    second = dock.add_class("cluster 2", "#4363d8")
    names = [r.name for r in s.images]
    for cid, name in ((first, "coins"), (second, "immunohistochemistry")):
        dock.set_current_class(cid)
        c0, c1 = box_near_middle(s.embedding, s.segments.in_image(names.index(name)), 40)
        ids = dock.select_box(c0, c1)
        print(f"box around {name}: {ids.size} segments labelled")
    dock.tabs.setCurrentIndex(0)
    dock.current_image = names.index("immunohistochemistry")
    app.processEvents()
    viewer.reset_view()
    return viewer, dock, app, first, names, (c0, c1)


def _setup() -> bool:
    """Check for the weights and quieten napari's PyQt5 notice; False when they are missing."""
    if not WEIGHTS.is_file():
        print(f"missing {WEIGHTS}", file=sys.stderr)
        return False
    import warnings

    warnings.filterwarnings("ignore", message=".*PyQt5 backend is deprecated.*")
    return True


def main() -> int:
    if not _setup():
        return 1
    labelled = labelled_photos()
    if labelled is None:
        return 1
    viewer, dock, app, first, names, (c0, c1) = labelled
    s = dock.session
    # zoomed in (as with the mouse wheel) on the last box, its corner near the view's lower
    # left: the tissue's points lie close together, and in the whole scatter their rings
    # merge into one blot
    side = float(np.max(np.subtract(c1, c0)))
    x0, y0 = np.subtract(c0, 0.3 * side)
    dock.scatter.set_camera_rect(x0, y0, x0 + 3 * side, y0 + 3 * side)
    dock.scatter._draw_box(c0, c1)  # the outline a mouse drag leaves, for the picture
    dock.scatter._outline_timer.stop()
    app.processEvents()

    _close_notifications(viewer)
    save_png(dock.scatter.render(), "scatter-selection.png", width=700)
    save_png(np.asarray(viewer.screenshot(canvas_only=True, flash=False)), "labels-layer.png",
             width=900)  # fmt: skip
    dock.scatter._clear_outline()
    dock.scatter.highlight([])
    row = int(s.segments.in_image(names.index("immunohistochemistry"))[0])
    dock.focus_segment(int(s.segments.ids[row]))
    dock.scatter.fit()  # (the Fit button) the whole scatter, the focused point ringed
    viewer.reset_view()  # the whole image, with the focused segment outlined
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=False, flash=False)), "overview.png",
             width=1200, colors=128)  # fmt: skip
    save_png(_grab(dock), "dock.png")
    status = _split_screenshots(dock, viewer, app, class_id=first)
    viewer.close()
    return status


def split_clicks(label_image: np.ndarray, segment_id: int):
    """Two interior pixels of a segment, far apart along its long axis.

    Parameters
    ----------
    label_image : ndarray of int, shape (h, w)
    segment_id : int

    Returns
    -------
    (row, col), (row, col)
        Pixels at least 4 px (or half the segment's greatest depth) inside it,
        at the two ends of the principal axis of those pixels.
    """
    from scipy import ndimage as ndi

    inside = np.pad(label_image == segment_id, 1)
    depth = ndi.distance_transform_edt(inside)[1:-1, 1:-1]
    rows, cols = np.nonzero(depth >= min(4.0, 0.5 * depth.max()))
    pts = np.column_stack([rows, cols]).astype(float)
    centred = pts - pts.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    along = centred @ axis
    first, last = pts[np.argmin(along)], pts[np.argmax(along)]
    return (float(first[0]), float(first[1])), (float(last[0]), float(last[1]))


def _zoom_to(viewer, layer, bbox, margin: float = 0.3) -> None:
    """Centre the napari camera on a ``(row0, col0, row1, col1)`` box and zoom to fit it."""
    from napari_featann._widgets.link import camera, center_on

    center_on(viewer, layer, bbox)
    r0, c0, r1, c1 = (float(v) for v in bbox)
    extent = np.array([r1 - r0, c1 - c0]) * np.abs(np.asarray(layer.scale)[-2:])
    extent *= 1.0 + 2.0 * margin
    canvas = viewer.canvas
    size = canvas.viewbox_size(viewer.layers) if hasattr(canvas, "viewbox_size") else canvas.size
    camera(viewer).zoom = float(np.min(np.asarray(size, float)[-2:] / extent))


def pick_split(session, image_index: int, candidates: int = 10):
    """A segment of one image whose split by :func:`split_clicks` is visible.

    Among the ``candidates`` largest segments, the one whose smaller part is the
    largest (segments touching the image border count half).

    Returns
    -------
    row : int
        Row of the segment in ``session.segments``.
    positive, negative : (row, col)
        The clicks.
    """
    from napari_featann.editing import preview_split

    seg = session.segments
    lab = session.label_images[image_index]
    rows = seg.in_image(image_index)
    rows = rows[np.argsort(seg.area[rows])[::-1][:candidates]]
    best, best_score = None, -1.0
    for row in rows.tolist():
        sid = int(seg.ids[row])
        pos, neg = split_clicks(lab, sid)
        part = int(preview_split(session, sid, [pos], [neg]).sum())
        r0, c0, r1, c1 = seg.bbox[row]
        border = r0 == 0 or c0 == 0 or r1 == lab.shape[0] or c1 == lab.shape[1]
        score = min(part, int(seg.area[row]) - part) * (0.5 if border else 1.0)
        if score > best_score:
            best, best_score = (row, pos, neg), score
    return best


def _split_screenshots(dock, viewer, app, class_id: int) -> int:
    """Split a segment of the shown image by two clicks: preview, then result."""

    s = dock.session
    i = dock.current_image
    row, pos, neg = pick_split(s, i)
    seg = int(s.segments.ids[row])
    dock.layers.clear_focus()
    dock.scatter.clear_focus()
    dock.set_current_class(class_id)  # the split-off part takes this class
    dock.set_split_mode(True)
    if not (dock.add_click(*pos, positive=True) and dock.add_click(*neg, positive=False)):
        print(f"split clicks refused: {dock.last_error}", file=sys.stderr)
        return 1
    preview = dock.split_preview()
    if preview is None:
        print(f"no split preview: {dock.last_error}", file=sys.stderr)
        return 1
    area = int(s.segments.area[row])
    print(f"split segment {seg} ({area} px): clicks {pos} (+), {neg} (-), "
          f"{int(preview.sum())} px previewed")  # fmt: skip
    _zoom_to(viewer, dock.layers.get(i, "image"), s.segments.bbox[row])
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=True, flash=False)), "split-preview.png",
             width=900)  # fmt: skip
    neg_id, pos_id = dock.confirm_split(sync=True).result
    print(f"split done: {neg_id} (old id, {int((s.label_images[i] == neg_id).sum())} px), "
          f"{pos_id} (new, {int((s.label_images[i] == pos_id).sum())} px)")  # fmt: skip
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=True, flash=False)), "split-done.png",
             width=900)  # fmt: skip
    dock.set_split_mode(False)
    return 0


def stack_screenshot() -> int:
    """``stack.png``: a 3-D layer's planes in the dock, one box over all of them."""
    import tifffile
    from qtpy.QtWidgets import QApplication

    from napari_featann._widgets.link import camera

    vol = tifffile.imread(ROOT.parent / "shared" / "data" / "nuclei-dsb2018" / "img3d.tif")
    viewer, dock = viewer_with_dock()
    dock.partition_panel.regions.value = 40
    layer = viewer.add_image(vol, name="nuclei")
    dock.load_images([layer])
    if not run_pipeline(dock):
        return 1
    app = QApplication.instance()
    s = dock.session
    nucleus = dock.add_class("nucleus", "#f58231")
    dock.set_current_class(nucleus)
    bright = np.array([s.images[i].float_rgb()[..., 0][s.label_images[i] == sid].mean()
                       for i, sid in zip(s.segments.image, s.segments.ids)])  # fmt: skip
    c0, c1 = box_around(s.embedding[bright > np.percentile(bright, 60)], 20, 80)
    ids = dock.select_box(c0, c1)
    print(f"one box: {ids.size} segments of {len(set(s.segments.image[s.segments.rows_of(ids)]))} "
          f"planes labelled")  # fmt: skip
    dock.scatter._draw_box(c0, c1)
    dock.scatter._outline_timer.stop()
    viewer.dims.set_current_step(0, 15)  # the slider picks the plane the dock shows
    app.processEvents()
    viewer.reset_view()
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=False, flash=False)), "stack.png",
             width=1200, colors=128)  # fmt: skip
    # the Session tab's "Show stack in 3-D": the classes of all planes as one volume
    volume = dock.show_stack_volume()
    for other in viewer.layers:
        other.visible = other in (layer, volume)
    layer.rendering = "mip"
    layer.visible = False
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    camera(viewer).angles = (-25, 35, 125)
    camera(viewer).zoom *= 0.8
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=False, flash=False)), "stack-3d.png",
             width=1200, colors=128)  # fmt: skip
    viewer.close()
    return 0


def remote_screenshot() -> int:
    """``remote.png``: a SpaceNet aerial scene cut into four tiles (*Tiles* 650 px), roads and
    roofs labelled."""
    import tifffile
    from qtpy.QtWidgets import QApplication

    scene = tifffile.imread(ROOT.parent / "shared" / "data" / "spacenet-sample" /
                            "road_mask_input.tif")  # fmt: skip
    viewer, dock = viewer_with_dock()
    dock.partition_panel.regions.value = 150
    viewer.add_image(scene, name="aerial")
    dock.tile_spin.setValue(650)  # four tiles of 650 x 650
    if not run_pipeline(dock):
        return 1
    app = QApplication.instance()
    s = dock.session
    # a person clicks a stretch of road and a roof in the first tile (Image 1, pixel
    # coordinates picked by eye), sees where each lands in the scatter and boxes its cluster
    for name, colour, pixel in (("road", "#4363d8", (77, 100)), ("roof", "#e6194b", (140, 125))):
        cid = dock.add_class(name, colour)
        dock.set_current_class(cid)
        sid = int(s.label_images[0][pixel])
        here = s.embedding[s.segments.rows_of([sid])[0]]
        near = np.argsort(np.linalg.norm(s.embedding - here, axis=1))[:25]
        c0, c1 = box_around(s.embedding[near], 5, 95)
        ids = dock.select_box(c0, c1)
        tiles = len(set(s.segments.image[s.segments.rows_of(ids)]))
        print(f"{name}: one box, {ids.size} segments of {tiles} tiles labelled")
    dock.scatter._draw_box(c0, c1)
    dock.scatter._outline_timer.stop()
    dock.current_image = 2
    app.processEvents()
    viewer.reset_view()
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=False, flash=False)), "remote.png",
             width=1200, colors=96)  # fmt: skip
    viewer.close()
    return 0


def features_screenshot() -> int:
    """``features-tab.png``: the dock's tab widget with the Features tab shown (its context
    settings at their defaults)."""
    from qtpy.QtWidgets import QApplication

    _setup()  # (the tab only shows the weights' path: no need for the file itself)
    viewer, dock = viewer_with_dock()
    app = QApplication.instance()
    dock.tabs.setCurrentIndex([dock.tabs.tabText(i) for i in range(dock.tabs.count())]
                              .index("Features"))  # fmt: skip
    app.processEvents()
    save_png(_grab(dock.tabs), "features-tab.png")
    viewer.close()
    return 0


def suggestions_screenshot() -> int:
    """``suggestions.png``: the scatter after a few labels (a small box for each of two
    classes) and the Learn tab's *Suggest uncertain* (20): magenta rings on the suggested
    points, beside the white rings of the last selection."""
    from qtpy.QtWidgets import QApplication

    if not _setup():
        return 1
    started = photos_started()
    if started is None:
        return 1
    viewer, dock = started
    app = QApplication.instance()
    s = dock.session
    names = [r.name for r in s.images]
    # a few labels: for each of two images, a box around the dozen points nearest the
    # middle of that image's points
    for name, label, colour in (("chelsea", "cat", "#f58231"),
                                ("immunohistochemistry", "tissue", "#4363d8")):  # fmt: skip
        dock.set_current_class(dock.add_class(label, colour))
        rows = s.segments.in_image(names.index(name))
        everywhere = np.arange(len(s.embedding))  # the dozen nearest of all images' points
        ids = dock.select_box(*box_near_middle(s.embedding, rows, 12, among=everywhere))
        print(f"box near the {name} points: {ids.size} segments labelled")
    # the Learn tab's button, as a person would press it (the spin box's 20); the Classes
    # tab stays shown, so the scatter is as tall as in scatter-selection.png
    dock.uncertain_button.click()
    app.processEvents()
    ids = dock.suggested_ids
    if ids.size == 0:
        print(f"no suggestions: {dock.last_error}", file=sys.stderr)
        return 1
    print(f"{dock.status_label.text()} ({ids.size} ringed)")
    save_png(dock.scatter.render(), "suggestions.png", width=700)
    viewer.close()
    return 0


def _close_notifications(viewer) -> None:
    """Close napari's toasts (e.g. the PyQt5 deprecation notice) before a screenshot."""
    from qtpy.QtWidgets import QWidget

    for w in viewer.window._qt_window.findChildren(QWidget):
        if type(w).__name__ == "NapariQtNotification":
            w.close()


def _grab(widget) -> np.ndarray:
    """A QWidget as an (h, w, 4) uint8 array."""
    from qtpy.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    arr = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return arr[:, : image.width()].copy()


if __name__ == "__main__":
    modes = {"stack": stack_screenshot, "remote": remote_screenshot,
             "features": features_screenshot, "suggestions": suggestions_screenshot}  # fmt: skip
    unknown = [m for m in sys.argv[1:] if m not in modes]
    if unknown:
        sys.exit(f"unknown mode {unknown[0]!r}; modes: {', '.join(modes)}")
    sys.exit(max([modes[m]() for m in sys.argv[1:]]) if sys.argv[1:] else main())
