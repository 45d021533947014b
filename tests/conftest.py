"""Shared fixtures: paths to the read-only data beside the checkout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DAVIS = SHARED / "data" / "davis-dev"
WEIGHTS = SHARED / "weights"
BACKBONE_WEIGHTS = WEIGHTS / "efficientnet_lite0_in1k_timm.pth"
HED_WEIGHTS = WEIGHTS / "hed_bsds500.pth"


def need(path: Path) -> Path:
    """Skip the calling test when a file of ../shared is absent."""
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def squares_image() -> np.ndarray:
    """A 48x64 RGB image: a red and a blue square on grey."""
    img = np.full((48, 64, 3), 128, np.uint8)
    img[8:24, 8:24] = (220, 30, 30)
    img[24:44, 36:60] = (30, 30, 220)
    return img


@pytest.fixture(scope="session")
def davis_files() -> list[Path]:
    """Three DAVIS frames (different sequences)."""
    need(DAVIS)
    names = ["blackswan_00000", "car-roundabout_00000", "cows_00000"]
    files = [DAVIS / "images" / f"{n}.jpg" for n in names]
    return [need(f) for f in files]


@pytest.fixture(scope="session")
def backbone_weights() -> Path:
    """The local EfficientNet-Lite0 weights file."""
    return need(BACKBONE_WEIGHTS)


@pytest.fixture
def cnn_params(backbone_weights):
    """The real backbone's feature parameters, on the CPU and without context (quicker)."""
    from napari_featann.params import FeatureParams

    return FeatureParams(weights=str(backbone_weights), device="cpu", context=False)


@pytest.fixture
def poison_backbone():
    """Put one NaN weight in a session's backbone, as a corrupt weights file would: NaN features."""

    def poison(session) -> None:
        import torch

        with torch.no_grad():
            weight = next(session.extractor().model.parameters())
            weight[(0,) * weight.ndim] = float("nan")

    return poison
