"""HED edge detector (Xie & Tu 2015) loaded from a local state dict.

The network is VGG16's five convolution blocks with a 1x1 side output after
each block, upsampled to the input size and fused by a 1x1 convolution.
The layout and key names follow ``shared/weights/README.md``
(``blocks.{b}.{i}``, ``side.{b}``, ``fuse``), so the state dict loads
strictly. Weights are never initialised at random: a missing or mismatching
file raises :class:`~napari_featann.ml.errors.WeightsError`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import WeightsError, check_state_dict, read_state_dict
from .errors import resolve_device as _resolve_device

__all__ = ["HED", "HED_MEAN_BGR", "WeightsError", "hed_edges", "load_hed"]

#: Per-channel mean (B, G, R) subtracted from the 0-255 input.
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)

_VGG_BLOCKS = (
    (3, 64, 64),
    (64, 128, 128),
    (128, 256, 256, 256),
    (256, 512, 512, 512),
    (512, 512, 512, 512),
)


class HED(nn.Module):
    """Holistically-nested edge detection network (VGG16 backbone).

    The forward pass takes a BGR tensor in 0-255 minus :data:`HED_MEAN_BGR`,
    shape (N, 3, H, W), and returns the fused edge probability, shape
    (N, 1, H, W), in [0, 1].
    """

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                nn.Conv2d(ch[i], ch[i + 1], kernel_size=3, padding=1) for i in range(len(ch) - 1)
            )
            for ch in _VGG_BLOCKS
        )
        self.side = nn.ModuleList(nn.Conv2d(ch[-1], 1, kernel_size=1) for ch in _VGG_BLOCKS)
        self.fuse = nn.Conv2d(len(_VGG_BLOCKS), 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        sides = []
        for b, (block, side) in enumerate(zip(self.blocks, self.side)):
            if b > 0:
                x = F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)
            for conv in block:
                x = F.relu(conv(x))
            sides.append(F.interpolate(side(x), size=size, mode="bilinear", align_corners=False))
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


@functools.lru_cache(maxsize=4)
def _load_hed_cached(path: str, stamp: tuple[int, int], device: str) -> HED:
    # ``stamp`` (mtime, size) only makes a replaced file miss the cache.
    state = read_state_dict(path)
    model = HED()
    check_state_dict(model.state_dict(), state, path)
    model.load_state_dict(state, strict=True)
    # channels-last memory runs the convolutions ~1.3x faster on CPU (measured)
    return model.eval().to(device, memory_format=torch.channels_last)


def load_hed(path: str | os.PathLike, device: str | torch.device | None = None) -> HED:
    """Build HED and load its weights strictly from ``path``.

    Parameters
    ----------
    path : str or PathLike
        State dict file, e.g. ``shared/weights/hed_bsds500.pth``.
    device : str or torch.device, optional
        Defaults to ``"cuda"`` when available, else ``"cpu"``.

    Returns
    -------
    HED
        The model in eval mode on ``device``. Cached per (path, device): do
        not modify it in place.

    Raises
    ------
    WeightsError
        If the file is missing or unreadable, or its keys or shapes do not
        match the architecture (the message names the first offending keys).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise WeightsError(f"HED weights file not found: {path}")
    st = path.stat()
    return _load_hed_cached(str(path), (st.st_mtime_ns, st.st_size), str(_resolve_device(device)))


#: Images with more pixels than this run in overlapping tiles (memory: the first block's
#: activations alone take 256 bytes per pixel: a whole pass peaks at about 0.75 GB per million
#: pixels, docs/benchmarks.md section 2).
TILE_ABOVE_PIXELS = 2048 * 1024
#: Side of a tile's core and of the margin around it that the network also sees (both
#: multiples of 16, VGG's total stride, so a tile's pooling grid is the whole image's).
TILE_CORE, TILE_MARGIN = 1024, 128


def _windows(n: int, core: int, margin: int):
    """(start, stop) of each core along an axis of length ``n``, with its padded window."""
    for start in range(0, n, core):
        stop = min(start + core, n)
        yield (start, stop), (max(0, start - margin), min(n, stop + margin))


def hed_edges(
    image: np.ndarray,
    model_or_path: HED | nn.Module | str | os.PathLike,
    device: str | torch.device | None = None,
    tile_above: int | None = TILE_ABOVE_PIXELS,
) -> np.ndarray:
    """Edge probability map of an RGB image.

    Images larger than ``tile_above`` pixels run in tiles of 1024 x 1024 pixels,
    each seen with a 128-pixel margin of its neighbours that is then dropped,
    so memory stays bounded (about 2 GB) whatever the image's size; the
    edges differ from a whole-image pass only slightly, near the tiles' seams
    (docs/benchmarks.md, section 2).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W)
        Float RGB (or grey) image in [0, 1].
    model_or_path : HED or str or PathLike
        A model from :func:`load_hed`, or the path of its weights file.
    device : str or torch.device, optional
        Used when a path is given; a model runs on its own device.
    tile_above : int or None, optional
        Pixel count above which the image runs in tiles; None never tiles.

    Returns
    -------
    ndarray of float32, shape (H, W)
        Edge probability in [0, 1].

    Raises
    ------
    ValueError
        If ``image`` is not a float array of shape (H, W) or (H, W, 3), or is empty.
    WeightsError
        If a weights path is given and cannot be loaded.

    Examples
    --------
    >>> img = np.zeros((64, 64, 3), np.float32); img[16:48, 16:48] = 1
    >>> hed_edges(img, "../shared/weights/hed_bsds500.pth").shape  # doctest: +SKIP
    (64, 64)
    """
    if not np.issubdtype(np.asarray(image).dtype, np.floating):
        raise ValueError(
            "expected a float image in [0, 1]; convert it with core.images.to_float_rgb"
        )
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) or (H, W) image, got shape {image.shape}")
    if isinstance(model_or_path, nn.Module):
        model = model_or_path
        dev = next(model.parameters()).device
    else:
        dev = _resolve_device(device)
        model = load_hed(model_or_path, dev)
    bgr = img[..., ::-1] * 255.0 - np.asarray(HED_MEAN_BGR, dtype=np.float32)
    h, w = bgr.shape[:2]
    if tile_above is None or h * w <= tile_above:
        return _run(model, bgr, dev)
    out = np.empty((h, w), np.float32)
    for (r0, r1), (pr0, pr1) in _windows(h, TILE_CORE, TILE_MARGIN):
        for (c0, c1), (pc0, pc1) in _windows(w, TILE_CORE, TILE_MARGIN):
            edges = _run(model, bgr[pr0:pr1, pc0:pc1], dev)
            out[r0:r1, c0:c1] = edges[r0 - pr0 : r1 - pr0, c0 - pc0 : c1 - pc0]
    return out


def _run(model: nn.Module, bgr: np.ndarray, dev: torch.device) -> np.ndarray:
    """One forward pass on a mean-subtracted BGR array (H, W, 3)."""
    x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None].to(dev)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = model(x)[0, 0]
    return np.clip(out.float().cpu().numpy(), 0.0, 1.0).astype(np.float32, copy=False)
