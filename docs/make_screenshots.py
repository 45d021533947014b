"""Screenshots for docs/user-guide.md, taken headless.

Run from the repository root (needs the backbone weights in ../shared/weights)::

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py

It opens napari with the dock, loads the sample photos (half size), runs the
pipeline with the local weights, labels two classes with one box each and
writes ``docs/images/*.png`` (palette PNGs, each well under 300 KB).
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


def main() -> int:
    if not WEIGHTS.is_file():
        print(f"missing {WEIGHTS}", file=sys.stderr)
        return 1
    import warnings

    warnings.filterwarnings("ignore", message=".*PyQt5 backend is deprecated.*")
    import napari
    from qtpy.QtWidgets import QApplication
    from skimage.transform import rescale

    from napari_featann._widgets.dock import FeatureSpaceWidget
    from napari_featann.sample_data import everyday_photos

    OUT.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-featann", show=True)
    viewer.window._qt_window.resize(1560, 960)
    dock = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Feature Space Annotation", area="right")
    dock.features_panel.weights.value = str(WEIGHTS)

    # the sample photos at half size keep the run short on a CPU
    photos = [(d, m["name"]) for d, m, _ in everyday_photos()]
    small = []
    for data, _name in photos:
        img = rescale(data, 0.5, channel_axis=-1 if data.ndim == 3 else None, anti_aliasing=True)
        small.append((img * 255 + 0.5).astype(np.uint8))
    dock.load_images(small, names=[n for _, n in photos])
    dock.partition_panel.regions.value = 60
    dock.features_panel.device.value = "cpu"
    job = dock.start(sync=False)
    app = QApplication.instance()
    while job.running:
        app.processEvents()
    if job.status != "done":
        print(f"pipeline {job.status}: {dock.last_error}", file=sys.stderr)
        return 1
    s = dock.session
    print(dock.status_label.text())

    # two classes, one box each: around where the coins' and the tissue's segments lie
    first = dock.add_class("cluster 1", "#f58231")
    second = dock.add_class("cluster 2", "#4363d8")
    names = [r.name for r in s.images]
    for cid, name in ((first, "coins"), (second, "immunohistochemistry")):
        rows = s.segments.in_image(names.index(name))
        dock.set_current_class(cid)
        c0, c1 = box_around(s.embedding[rows], 25, 75)
        ids = dock.select_box(c0, c1)
        print(f"box around {name}: {ids.size} segments labelled")
    dock.scatter._draw_box(c0, c1)  # the outline a mouse drag leaves, for the picture
    dock.scatter._outline_timer.stop()
    dock.tabs.setCurrentIndex(0)
    dock.current_image = names.index("immunohistochemistry")
    app.processEvents()
    viewer.reset_view()

    _close_notifications(viewer)
    save_png(dock.scatter.render(), "scatter-selection.png", width=700)
    save_png(np.asarray(viewer.screenshot(canvas_only=True, flash=False)), "labels-layer.png",
             width=900)  # fmt: skip
    dock.scatter._clear_outline()
    dock.scatter.highlight([])
    row = int(s.segments.in_image(names.index("immunohistochemistry"))[0])
    dock.focus_segment(int(s.segments.ids[row]))
    viewer.reset_view()  # the whole image, with the focused segment outlined
    _close_notifications(viewer)
    app.processEvents()
    save_png(np.asarray(viewer.screenshot(canvas_only=False, flash=False)), "overview.png",
             width=1200, colors=128)  # fmt: skip
    save_png(_grab(dock), "dock.png")
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
    sys.exit(main())
