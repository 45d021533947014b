"""Fixtures for the widget tests: small sample images, one precomputed session, a scatter.

The precomputed session (partition + CNN features + UMAP on three small
photos) is built once per test session headless and saved; tests open it
with ``dock.load_session``. It pays the one-off costs (torch import, UMAP's
numba compilation) before the first viewer exists. The ScatterView fixtures
(``clusters``, ``view``, ``loaded``) serve test_scatter.py and test_scatter_overlays.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scatter_helpers import CENTRES, PER_CLUSTER, solid

WEIGHTS = (
    Path(__file__).parents[2] / ".." / "shared" / "weights" / "efficientnet_lite0_in1k_timm.pth"
)
NAMES = ("astronaut", "coffee", "chelsea")
REGIONS = 20


def small_photos() -> list[np.ndarray]:
    """Three sample photos of different sizes, longest side about 128 px."""
    from skimage import data, transform

    out = []
    for name in NAMES:
        img = getattr(data, name)()
        scale = 128 / max(img.shape[:2])
        small = transform.rescale(img, scale, channel_axis=-1, anti_aliasing=True)
        out.append((small * 255 + 0.5).astype(np.uint8))
    return out


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    return small_photos()


@pytest.fixture(scope="session")
def weights() -> str:
    if not WEIGHTS.is_file():
        pytest.skip(f"backbone weights not available: {WEIGHTS.resolve()}")
    return str(WEIGHTS.resolve())


@pytest.fixture(scope="session")
def session_file(tmp_path_factory, photos, weights) -> Path:
    """A saved session of the three photos, partitioned, described and projected."""
    from napari_featann._widgets._compat import avoid_llvm_clash
    from napari_featann.io import save_session
    from napari_featann.session import FeatureParams, Session

    avoid_llvm_clash()  # a viewer from an earlier test may already hold Mesa's LLVM
    s = Session.from_sources(photos, names=list(NAMES))
    s.partition_params.regions = REGIONS
    s.feature_params = FeatureParams(weights=weights, device="cpu")
    s.run()
    return save_session(s, tmp_path_factory.mktemp("featann") / "three.featann")


@pytest.fixture
def dock(make_napari_viewer, weights, tmp_path, monkeypatch):
    """A viewer with the dock docked, set up for the small photos on the CPU."""
    from napari_featann._widgets.dock import FeatureSpaceWidget

    monkeypatch.setenv("FEATANN_HOME", str(tmp_path / "home"))  # autosaves stay in tmp
    viewer = make_napari_viewer()
    widget = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Feature Space Annotation")
    widget.set_autosave_minutes(0)
    widget.partition_panel.regions.value = REGIONS
    widget.features_panel.weights.value = weights
    widget.features_panel.device.value = "cpu"
    yield widget
    widget.teardown()


@pytest.fixture
def clusters():
    """24 points in three clusters of 8 (each within +-1 of its centre), and their labels."""
    rng = np.random.default_rng(0)
    xy = np.concatenate([c + rng.uniform(-1, 1, (PER_CLUSTER, 2)) for c in CENTRES])
    labels = np.repeat(np.arange(3), PER_CLUSTER)
    return xy, labels


@pytest.fixture
def view(qtbot):
    """A shown, empty ScatterView, 400 px wide."""
    from napari_featann._widgets.scatter import ScatterView

    w = ScatterView()
    qtbot.addWidget(w)
    w.resize(400, 420)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.view.size[0] > 300, timeout=3000)
    return w


@pytest.fixture
def loaded(view, clusters):
    """The scatter showing ``clusters``, all points red."""
    xy, _ = clusters
    view.set_points(xy, solid(len(xy)))
    return view
