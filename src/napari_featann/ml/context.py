"""Context features: the backbone's feature maps of the whole image, pooled per segment.

A masked crop describes what a segment looks like; it cannot say where the
segment sits (on the horse or in the field behind it). One forward pass of the
same backbone over the whole image gives feature maps whose receptive fields
cover the surroundings of every pixel. Averaging the ``context_levels`` deepest
maps of that pass inside each segment gives a context descriptor that is cheap
(one pass per image, not per segment) and separates object parts from
background far better than the crop alone. The pass sees the image at
``context_scale`` times its size (after the cap of :class:`ContextMaps`'s
``max_side``); a model with a fixed input size (a ViT) sees it at that size.

With the two deepest maps (strides 16 and 32 for EfficientNet) of a pass at
the image's own size, measured on the DAVIS dev set (67 frames, 100 HED
segments per frame, EfficientNet-Lite0): the fraction of a foreground segment's
10 nearest neighbours (cosine) that are foreground is 0.643 with the crop alone
and 0.860 with crop + context (``docs/benchmarks.md``).

The pooled blocks are L2-normalised one by one so that each weighs the same as
the crop feature, whatever its channel count, and then scaled down for
segments that the maps resolve poorly, whose cells mostly describe their
surroundings (which small objects and their background share). Two rules
(``FeatureParams.context_weight``), with ``stride`` the pixels of the image per
cell of a map (the image height over the map's height):

- ``"level"`` (the default): each block by its own map,
  ``min(1, area / (2 * stride_l**2))``. With the defaults a nucleus of 447
  pixels gets the full weight from the strides 4, 8 and 16, and 0.49 from the
  stride-32 level (cells of 21.3 pixels).
- ``"finest"``: one weight for all blocks, ``min(1, area / (4 * stride**2))``
  with the stride of the finest map pooled; the rule of session files written
  before these settings existed (two levels at scale 1, so a 16-pixel stride),
  which keep it (:mod:`napari_featann.io_checks`).

The defaults pool four levels (strides 4, 8, 16 and 32; 24 + 40 + 112 + 320 =
496 channels) of a pass at 1.5 times the image size (so the stride-8 level has
cells of 5.33 pixels of the image) with the per-level weight. Measured with the
10 nearest neighbours, foreground / background agreement, crop + context:

- DAVIS dev set (67 frames, 100 HED segments each): two levels at scale 1 with
  the finest-map weight (the old default) 84.8 % / 95.9 %; three levels at 1.5
  with the finest-map weight 87.6 % / 98.3 %; four levels at 1.5 with the
  per-level weight 87.8 % / 97.9 %.
- DSB2018 nuclei ``img2d.tif`` (300 classic-gradient segments, median 447 px):
  old default 93.7 % / 89.5 % (all segments 91.5 %); three levels at 1.5 with
  the finest-map weight 84.2 % / 87.3 % (a nucleus covers four cells of the
  5.33-pixel map, so every level counts in full); four levels at 1.5 with
  the per-level weight 92.4 % / 92.9 % (all 92.7 %); crop alone 93.5 % / 93.7 %.
- The simulated annotator on the nuclei (IoU after the first box, 3 s): old
  default 85.21, three levels with the finest-map weight 71.79, four levels
  with the per-level weight 84.51; after 60 s 87.48 / 87.10 / 87.50.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from ..params import CONTEXT_WEIGHT_CELLS

__all__ = ["ContextMaps", "context_channels", "fixed_input_size", "pool_in_segments"]

#: Map cells a segment must cover for a block's full weight, per rule (module docstring);
#: the rules' names are those FeatureParams.context_weight takes.
_WEIGHT_CELLS = CONTEXT_WEIGHT_CELLS

#: Pooling grid: one sample every ``GRID`` pixels (maps are upsampled to it), coarser on
#: images whose long side exceeds ``GRID * MAX_SAMPLES`` so that memory stays bounded.
GRID = 4
MAX_SAMPLES = 256


def _model_name(model) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def context_indices(model, levels: int) -> list[int]:
    """Indices (for ``forward_intermediates``) of the model's ``levels`` deepest feature levels.

    Raises
    ------
    ValueError
        The model exposes no feature maps, or fewer than ``levels`` (naming the
        backbone and how many it has).
    """
    info = getattr(model, "feature_info", None)
    n = len(info) if info is not None else 0
    if n < 1 or not hasattr(model, "forward_intermediates"):
        raise ValueError(
            f"{type(model).__name__} does not expose its feature maps "
            "(timm's forward_intermediates); turn context features off for this backbone"
        )
    levels = int(levels)
    if not 1 <= levels <= n:
        raise ValueError(
            f"context_levels is {levels} but the backbone {_model_name(model)} has {n} "
            f"feature levels; give 1 to {n}"
        )
    return list(range(n - levels, n))


def fixed_input_size(model) -> tuple[int, int] | None:
    """The (height, width) a model only accepts (a ViT or Swin), or None when any size goes."""
    pe = getattr(model, "patch_embed", None)
    if pe is not None and getattr(pe, "strict_img_size", False) and getattr(pe, "img_size", None):
        return tuple(int(v) for v in pe.img_size)
    cfg = getattr(model, "pretrained_cfg", None) or {}
    if cfg.get("fixed_input_size") and cfg.get("input_size"):
        return tuple(int(v) for v in cfg["input_size"][-2:])
    return None


def context_channels(model, levels: int) -> int:
    """Length of the context part of a feature vector for ``model`` and ``levels`` levels."""
    info = model.feature_info
    return int(sum(info[i]["num_chs"] for i in context_indices(model, levels)))


class ContextMaps:
    """Feature maps of whole images, computed once per image content (LRU cache).

    Parameters
    ----------
    max_side : int
        Images whose long side is larger are resized down for the pass (the
        maps are then upsampled to the pooling grid of the full image).
    max_bytes : int
        Bytes of maps kept (float16; 4 levels at scale 1.5: about 5 MB for an
        854x480 image, so the default 512 MiB holds about 100 such images).
        The least recently used images are forgotten first; the latest image
        is always kept, however large.
    levels : int
        How many of the backbone's deepest feature levels are kept.
    scale : float
        Resize factor of the pass, applied after the ``max_side`` cap: the
        image is resized by ``scale * min(1, max_side / long side)``. A model
        with a fixed input size (a ViT) gets every image resized to it.
    """

    def __init__(self, max_side: int = 1024, max_bytes: int = 512 * 2**20, levels: int = 4,
                 scale: float = 1.5) -> None:  # fmt: skip
        self.max_side = int(max_side)
        self.max_bytes = int(max_bytes)
        self.levels = int(levels)
        self.scale = float(scale)
        self._cache: OrderedDict[bytes, list[np.ndarray]] = OrderedDict()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the maps now kept."""
        return self._bytes

    def __len__(self) -> int:
        """Images whose maps are kept."""
        return len(self._cache)

    def clear(self) -> None:
        """Forget every cached map (after the backbone changed)."""
        self._cache.clear()
        self._bytes = 0

    def maps(self, model, image: np.ndarray, mean, std, device, salt: bytes = b"") -> list:
        """The ``levels`` deepest feature maps of ``image`` (float RGB in [0, 1]), as (C, h, w),
        finest first. ``salt`` tells apart the maps of different models and settings."""
        image = np.ascontiguousarray(image, np.float32)
        key = hashlib.blake2b(salt, digest_size=20)
        key.update(np.asarray(image.shape, np.int64).tobytes())
        key.update(image.data)
        k = key.digest()
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        x = torch.from_numpy(image).permute(2, 0, 1)[None]
        h, w = image.shape[:2]
        scale = self.scale * min(1.0, self.max_side / max(h, w))
        size = fixed_input_size(model)  # a ViT sees the whole image at its one input size
        if size is None and scale != 1.0:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
        if size is not None and size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        x = ((x - m) / s).to(device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            outs = model.forward_intermediates(
                x, indices=context_indices(model, self.levels), intermediates_only=True
            )
        maps = [o[0].float().cpu().numpy().astype(np.float16) for o in outs]
        self._cache[k] = maps
        self._bytes += sum(m.nbytes for m in maps)
        while self._bytes > self.max_bytes and len(self._cache) > 1:  # least recent first
            self._bytes -= sum(m.nbytes for m in self._cache.popitem(last=False)[1])
        return maps


def pool_in_segments(maps, label_image: np.ndarray, ids: np.ndarray, boxes: np.ndarray,
                     weight: str = "level"):  # fmt: skip
    """Mean of each map inside each segment, block-wise L2-normalised, weighted by size.

    Parameters
    ----------
    maps : list of ndarray, each (C, h, w)
        Feature maps of the image (any resolution).
    label_image : ndarray of int, (H, W)
    ids : ndarray of int, (n,)
        Segments to describe.
    boxes : ndarray, (n, 4)
        Their bounding boxes ``(r0, c0, r1, c1)``, used for segments too small
        to hold a sample of the pooling grid (they take the map at one of
        their pixels). The grid samples every ``GRID`` (4) pixels, or every
        ``ceil(long side / MAX_SAMPLES)`` pixels on large images.
    weight : {"level", "finest"}
        The size weighting (module docstring).

    Returns
    -------
    ndarray of float32, (n, sum of C)
        With ``"level"`` block ``l`` has length ``min(1, area / (2 *
        stride_l**2))``, ``stride_l`` being ``H`` over the height of map
        ``l``; with ``"finest"`` each block has length ``min(1, area / (4 *
        stride**2))``, ``stride`` that of the first map.

    Raises
    ------
    ValueError
        An unknown ``weight``.
    """
    if weight not in _WEIGHT_CELLS:
        raise ValueError(f"context weight must be one of {', '.join(_WEIGHT_CELLS)}, "
                         f"got {weight!r}")  # fmt: skip
    lab = np.asarray(label_image)
    H, W = lab.shape
    step = max(GRID, -(-max(H, W) // MAX_SAMPLES))
    h, w = -(-H // step), -(-W // step)
    samples = lab[step // 2 :: step, step // 2 :: step]
    sh, sw = samples.shape
    ids = np.asarray(ids, np.int64)
    n = ids.size
    lut = np.full(int(max(lab.max(), ids.max(initial=0))) + 1, -1, np.int64)
    lut[ids] = np.arange(n)
    row = torch.from_numpy(lut[samples].reshape(-1))
    keep = row >= 0
    row = row[keep]
    counts = torch.bincount(row, minlength=n).float()
    missing = np.flatnonzero(counts.numpy() == 0)
    pts = []  # one pixel of each segment the grid missed, in grid coordinates
    for j in missing:
        r0, c0, r1, c1 = (int(v) for v in boxes[j])
        rr, cc = np.nonzero(lab[r0:r1, c0:c1] == ids[j])
        r, c = (rr[0] + r0, cc[0] + c0) if rr.size else ((r0 + r1) // 2, (c0 + c1) // 2)
        pts.append((min(r // step, h - 1), min(c // step, w - 1)))
    blocks = []
    for fmap in maps:
        t = torch.from_numpy(np.asarray(fmap, np.float32))[None]
        up = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0]
        flat = up[:, :sh, :sw].reshape(up.shape[0], -1).T[keep]
        acc = torch.zeros((n, up.shape[0])).index_add_(0, row, flat)
        acc /= counts.clamp(min=1)[:, None]
        for j, (r, c) in zip(missing, pts):
            acc[j] = up[:, r, c]
        blocks.append(F.normalize(acc, dim=1, eps=1e-12))
    area = np.bincount(lab.ravel(), minlength=int(lut.size))[ids].astype(np.float64)
    cells = _WEIGHT_CELLS[weight]
    out = []
    for k, block in enumerate(blocks):
        # per level its own map; "finest": the first (finest) map's stride for every block
        stride = H / max(np.shape(maps[0 if weight == "finest" else k])[-2], 1)
        w = np.minimum(1.0, area / (cells * stride**2)).astype(np.float32)
        out.append(block.numpy().astype(np.float32) * w[:, None])
    return np.concatenate(out, 1) if out else np.zeros((n, 0), np.float32)
