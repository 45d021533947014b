"""Gradient (edge) maps that drive the watershed hierarchy.

Two sources:

* ``"classic"``: a colour gradient in CIE Lab (Gaussian derivative
  magnitude per channel, maximum over channels). Needs no weights; default.
* ``"hed"``: learned HED edges from a local weights file (torch, imported
  lazily from :mod:`napari_featann.ml.hed`).

Both give float32 maps in [0, 1] and can be averaged over several scales,
as the paper does (0.5, 1, 1.5 and 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from .progress import Progress, ensure_progress

__all__ = ["GRADIENT_METHODS", "PAPER_SCALES", "classic_gradient", "compute_gradient", "resize"]

GRADIENT_METHODS = ("classic", "hed")
PAPER_SCALES = (0.5, 1.0, 1.5, 2.0)

_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert float sRGB in [0, 1], shape (H, W, 3), to CIE Lab (D65)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = lin @ _XYZ_FROM_RGB.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def _normalise(g: np.ndarray) -> np.ndarray:
    hi = float(np.percentile(g, 99.9)) if g.size else 0.0
    if hi <= 0:
        hi = float(g.max()) if g.size else 0.0
    if hi <= 0:
        return np.zeros(g.shape, np.float32)
    return np.clip(g / hi, 0.0, 1.0).astype(np.float32)


def classic_gradient(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Colour gradient of an RGB image, needing no learned weights.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float in [0, 1]
        The image (see :func:`napari_featann.core.images.to_float_rgb`).
    sigma : float
        Scale of the Gaussian derivative, in pixels. 2 gave the best oracle IoU on
        DAVIS among 0.5, 1, 1.5, 2 and 3 (see docs/benchmarks.md).

    Returns
    -------
    ndarray, shape (H, W), float32 in [0, 1]
        Per-pixel maximum over the L, a and b channels of the Gaussian
        gradient magnitude, divided by its 99.9th percentile and clipped.

    Examples
    --------
    >>> img = np.zeros((32, 32, 3), np.float32); img[:, 16:] = 1
    >>> g = classic_gradient(img)
    >>> bool(g[:, 15:17].mean() > g[:, :8].mean())
    True
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    lab = rgb_to_lab(image)
    mag = np.zeros(image.shape[:2], np.float32)
    for c in range(3):
        np.maximum(mag, ndi.gaussian_gradient_magnitude(lab[..., c], sigma), out=mag)
    return _normalise(mag)


def resize(arr: np.ndarray, shape: tuple[int, int], order: int = 1) -> np.ndarray:
    """Resize the first two axes of ``arr`` to exactly ``shape`` (bilinear by default)."""
    zoom = [shape[0] / arr.shape[0], shape[1] / arr.shape[1]] + [1.0] * (arr.ndim - 2)
    out = ndi.zoom(arr, zoom, order=order, mode="nearest", grid_mode=True)
    return out[: shape[0], : shape[1]]


def compute_gradient(
    image: np.ndarray,
    method: str = "classic",
    edge_weights: str | None = None,
    scales: Sequence[float] = (1.0,),
    device: str | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Gradient map of one image, optionally averaged over scales.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float in [0, 1]
    method : {"classic", "hed"}
        ``"hed"`` needs ``edge_weights``.
    edge_weights : str, optional
        Path of the HED state dict (see ``shared/weights/README.md``).
    scales : sequence of float
        The image is resized by each factor, its edges computed and resized
        back, and the maps averaged. ``PAPER_SCALES`` is the paper's choice.
    device : str, optional
        Torch device for HED (default: CUDA when available, else CPU).
    progress : Progress, optional
        Checked between scales for cancellation.

    Returns
    -------
    ndarray, shape (H, W), float32 in [0, 1]
        Rounded to float16 precision (the precision of a saved session).

    Raises
    ------
    ValueError
        Unknown method, or HED without weights.
    napari_featann.ml.errors.WeightsError
        The HED weights file is missing or does not match the architecture.
    """
    if method not in GRADIENT_METHODS:
        raise ValueError(f"unknown gradient {method!r}; choose one of {GRADIENT_METHODS}")
    if method == "hed" and not edge_weights:
        raise ValueError("the HED gradient needs an edge weights file (--edge-weights PATH)")
    scales = tuple(float(s) for s in scales) or (1.0,)
    if any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive, got {scales}")
    progress = ensure_progress(progress)
    image = np.asarray(image, dtype=np.float32)
    shape = image.shape[:2]
    if method == "hed":
        from ..ml.hed import hed_edges, load_hed

        model = load_hed(edge_weights, device)

        def edges(img):
            return hed_edges(img, model, device)
    else:
        edges = classic_gradient
    acc = np.zeros(shape, np.float32)
    for s in scales:
        progress.check()
        if s == 1.0:
            acc += edges(image)
        else:
            small = (max(8, round(shape[0] * s)), max(8, round(shape[1] * s)))
            acc += resize(edges(resize(image, small)), shape)
    out = np.clip(acc / len(scales), 0.0, 1.0)
    # rounded to half precision, as session files store it: a re-cut after reopening a
    # session then gives the same segments as before saving
    return out.astype(np.float16).astype(np.float32)
