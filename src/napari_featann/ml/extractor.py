"""Per-segment CNN features: masked crop + margin -> resize -> timm backbone.

Following the reference procedure, each segment is cut out with its bounding
box enlarged by a margin, ImageNet-normalised, pixels outside the segment are
set to 0, the crop is resized bilinearly to ``size x size`` and passed through
a timm backbone with global average pooling; the pooled vector is
L2-normalised. With ``context=True`` (the default) the vector is followed by
the segment's *context* descriptor: the backbone's ``context_levels`` deepest
feature maps of the whole image, seen at ``context_scale`` times its size,
averaged inside the segment (:mod:`.context`), each block L2-normalised and
weighted down for small segments by the ``context_weight`` rule.

Features are cached in memory by the content of the crop (pixels + mask), so
a segment that did not change is never extracted twice, even when its id
changes after a re-cut or a split elsewhere in the image.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.progress import Progress, ensure_progress
from ..params import CONTEXT_WEIGHTS, MAX_CONTEXT_SCALE
from .errors import WeightsError, check_state_dict, read_state_dict, weights_identity
from .errors import resolve_device as _resolve_device

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FeatureExtractor",
    "WeightsError",
    "check_backbone_name",
    "crop_batch",
    "load_backbone",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Classifier weights present in a full checkpoint but absent from a
# ``num_classes=0`` model; only dropped when the model really lacks them.
_CLASSIFIER_PREFIXES = ("classifier.", "head.fc.", "fc.", "last_linear.",
                        "head.weight", "head.bias")  # fmt: skip


def _has_pretrained_source(cfg) -> bool:
    cfg = cfg if isinstance(cfg, dict) else getattr(cfg, "__dict__", {}) or {}
    return any(cfg.get(k) for k in ("hf_hub_id", "url", "file", "state_dict"))


def check_backbone_name(name: str) -> None:
    """Refuse a name that is no timm model (timm itself says only "Unknown model (name)").

    Names of models on the Hugging Face hub (``hf-hub:...``) are left to timm.

    Raises
    ------
    ValueError
        Naming the model and how to list timm's model names.
    """
    import timm

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"no backbone name given ({name!r}); give a timm model name such as "
                         "efficientnet_lite0")  # fmt: skip
    if ":" in name or timm.is_model(name):
        return
    raise ValueError(
        f"backbone {name!r} is not a timm model name; list them with "
        'python -c "import timm; print(timm.list_models())" (a pattern narrows the list: '
        "timm.list_models('efficientnet*'))"
    )


def load_backbone(
    name: str = "efficientnet_lite0",
    weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> tuple[nn.Module, tuple[float, float, float], tuple[float, float, float]]:
    """Build a timm backbone that returns globally pooled features.

    Parameters
    ----------
    name : str
        A timm model name, e.g. ``"efficientnet_lite0"`` or ``"hrnet_w18_small"``.
    weights : str, PathLike, ``"random"``, mapping or None
        - a path: a local state dict, loaded strictly (classifier keys that a
          ``num_classes=0`` model lacks are dropped);
        - a mapping of names to tensors: a whole state dict (a session file's
          fine-tuned backbone), loaded strictly, no key dropped;
        - None: timm's pretrained weights from the model hub (needs internet
          or a filled hub cache);
        - ``"random"``: random initialisation, for plumbing tests only
          (emits a warning).
    device : str or torch.device, optional
        Defaults to ``"cuda"`` when available, else ``"cpu"``.

    Returns
    -------
    model : torch.nn.Module
        In eval mode on ``device``; ``model(x)`` maps (N, 3, S, S) to (N, D).
    mean, std : tuple of 3 floats
        The normalisation the weights expect (from timm's data config).

    Raises
    ------
    WeightsError
        If the local file is missing or unreadable, it or the state dict given
        does not fit the model (naming the offending keys), or the hub cannot be reached.
    ValueError
        ``name`` is not a timm model (:func:`check_backbone_name`), or
        ``device`` is not usable here.
    """
    import timm
    import timm.data

    check_backbone_name(name)
    dev = _resolve_device(device)
    if isinstance(weights, str) and weights == "random":
        warnings.warn(
            f"{name}: using RANDOM weights; features are meaningless (plumbing tests only)",
            UserWarning,
            stacklevel=2,
        )
        model = timm.create_model(name, pretrained=False, num_classes=0)
    elif weights is None:
        try:
            model = timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as exc:
            raise WeightsError(
                f"could not get pretrained weights for {name!r} from the model hub ({exc}); "
                "check the internet connection, or pass a local weights file with weights=PATH"
            ) from exc
        if not _has_pretrained_source(getattr(model, "pretrained_cfg", {})):
            raise WeightsError(
                f"timm has no pretrained weights for {name!r}; pass a local weights file "
                "with weights=PATH"
            )
    else:
        given = isinstance(weights, Mapping)
        path = "the state dict given" if given else Path(weights).expanduser()
        state = dict(weights) if given else read_state_dict(path)
        model = timm.create_model(name, pretrained=False, num_classes=0)
        own = model.state_dict()
        state = {
            k: v
            for k, v in state.items()
            if given or k in own or not any(k.startswith(p) for p in _CLASSIFIER_PREFIXES)
        }
        check_state_dict(own, state, path)
        model.load_state_dict(state, strict=True)
    cfg = timm.data.resolve_data_config({}, model=model)
    mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD))
    # channels-last memory doubles CPU throughput of timm CNNs here (measured)
    return model.eval().to(dev, memory_format=torch.channels_last), mean, std


def _enlarged_box(bbox, margin: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    r0, c0, r1, c1 = (int(v) for v in bbox)
    h, w = shape
    return max(r0 - margin, 0), max(c0 - margin, 0), min(r1 + margin, h), min(c1 + margin, w)


def _cut(image: np.ndarray, label_image: np.ndarray, seg_id: int, box) -> tuple:
    r0, c0, r1, c1 = box
    pix = image[r0:r1, c0:c1]
    mask = label_image[r0:r1, c0:c1] == seg_id
    if not mask.any():
        raise ValueError(f"segment {seg_id} has no pixel inside its bounding box {box}")
    return pix, mask


def _crop_tensor(pix, mask, size: int, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    norm = (pix - mean) / std
    norm *= mask[..., None]
    t = torch.from_numpy(np.ascontiguousarray(norm.transpose(2, 0, 1), dtype=np.float32))
    return F.interpolate(
        t[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False
    )[0]


def crop_batch(
    image: np.ndarray,
    label_image: np.ndarray,
    ids: Sequence[int] | np.ndarray,
    bboxes: np.ndarray,
    margin: int = 10,
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """Masked, normalised, resized crops of segments of one image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        Float RGB image in [0, 1].
    label_image : ndarray of int, shape (H, W)
        Segment ids; 0 is background.
    ids : sequence of int, length n
        Segment ids to crop.
    bboxes : ndarray of int, shape (n, 4)
        ``(r0, c0, r1, c1)`` per segment, end-exclusive.
    margin : int
        Pixels added on every side of the box, clipped to the image.
    size : int
        Side of the output crops.
    mean, std : sequence of 3 floats
        Per-channel normalisation.

    Returns
    -------
    torch.Tensor of float32, shape (n, 3, size, size)
        Normalised crops; pixels outside the segment are 0 before resizing.

    Raises
    ------
    ValueError
        If shapes disagree or a segment has no pixel in its box.
    """
    if not np.issubdtype(np.asarray(image).dtype, np.floating):
        raise ValueError("expected a float image in [0, 1]; use core.images.to_float_rgb")
    img = np.asarray(image, dtype=np.float32)
    lab = np.asarray(label_image)
    ids = np.asarray(ids).reshape(-1)
    boxes = np.asarray(bboxes).reshape(-1, 4)
    if img.ndim != 3 or img.shape[2] != 3 or lab.shape != img.shape[:2]:
        raise ValueError(f"image {img.shape} and label image {lab.shape} do not match")
    if len(ids) != len(boxes):
        raise ValueError(f"{len(ids)} ids but {len(boxes)} bounding boxes")
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    out = torch.empty((len(ids), 3, size, size), dtype=torch.float32)
    for k, (seg_id, box) in enumerate(zip(ids, boxes)):
        pix, mask = _cut(img, lab, seg_id, _enlarged_box(box, margin, img.shape[:2]))
        out[k] = _crop_tensor(pix, mask, size, m, s)
    return out


class FeatureExtractor:
    """L2-normalised CNN features of image segments, with a content cache.

    Parameters
    ----------
    backbone : str
        timm model name.
    weights : str, PathLike, ``"random"`` or None
        See :func:`load_backbone`.
    device : str or torch.device, optional
        Defaults to ``"cuda"`` when available, else ``"cpu"``.
    batch_size : int
        Crops per forward pass.
    margin : int
        Pixels added around each segment's bounding box.
    size : int
        Side of the square network input.
    context : bool
        Append the context descriptor (one whole-image pass per image).
    context_levels : int
        How many of the backbone's deepest feature levels the context pools
        (at most as many as the backbone has: checked when the model loads).
    context_scale : float
        Resize factor of the whole-image pass (after the cap of 1024 pixels
        on the long side).
    context_weight : {"level", "finest"}
        How small segments' context blocks are weighted down
        (:func:`.context.pool_in_segments`).

    Notes
    -----
    The model is loaded on first use. Crops of the next batch are prepared
    in a background thread while the current batch runs through the network.
    The cache key is a BLAKE2b hash of the backbone, weights, margin, size and
    the crop's pixels and mask, so it survives id changes (the whole-image
    maps' key adds the context settings). A cancelled :meth:`extract` keeps
    the features it already computed in the cache.

    Examples
    --------
    >>> fx = FeatureExtractor(weights="weights/efficientnet_lite0.pth")  # doctest: +SKIP
    >>> feats = fx.extract(images, label_images, segments)  # doctest: +SKIP
    >>> feats.shape == (len(segments.ids), fx.dim)  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 32,
        margin: int = 10,
        size: int = 224,
        context: bool = True,
        context_levels: int = 4,
        context_scale: float = 1.5,
        context_weight: str = "level",
    ) -> None:
        if batch_size < 1 or size < 1 or margin < 0:
            raise ValueError("batch_size and size must be >= 1, margin >= 0")
        if int(context_levels) < 1 or not 0 < float(context_scale) <= MAX_CONTEXT_SCALE:
            raise ValueError(f"context_levels must be >= 1 (got {context_levels!r}), "
                             f"context_scale in (0, {MAX_CONTEXT_SCALE}] (got {context_scale!r})")  # fmt: skip
        if context_weight not in CONTEXT_WEIGHTS:
            raise ValueError(f"context_weight must be one of {', '.join(CONTEXT_WEIGHTS)}, "
                             f"got {context_weight!r}")  # fmt: skip
        self.backbone = backbone
        self.weights = weights
        self.device = _resolve_device(device)
        self.batch_size = int(batch_size)
        self.margin = int(margin)
        self.size = int(size)
        self.context = bool(context)
        self.context_levels = int(context_levels)
        self.context_scale = float(context_scale)
        self.context_weight = str(context_weight)
        self.context_maps = None  # ContextMaps, made with the model
        self.cache: dict[bytes, np.ndarray] = {}
        self.cache_hits = 0
        self.cache_misses = 0
        self._model: nn.Module | None = None
        self._mean = np.asarray(IMAGENET_MEAN, np.float32)
        self._std = np.asarray(IMAGENET_STD, np.float32)
        self._dim: int | None = None
        self._lock = threading.Lock()
        self._salt = f"{backbone}|{weights_identity(weights)}|{self.margin}|{self.size}".encode()
        self._context_salt = self._salt + f"|{self.context_levels}|{self.context_scale!r}".encode()

    # -- model -----------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The backbone, loaded on first access."""
        with self._lock:
            if self._model is None:
                model, mean, std = load_backbone(self.backbone, self.weights, self.device)
                from .context import fixed_input_size

                fixed = fixed_input_size(model)
                if fixed is not None and fixed != (self.size, self.size):
                    raise ValueError(
                        f"{self.backbone} only takes {fixed[0]}x{fixed[1]} inputs; "
                        f"the crops are {self.size}x{self.size}"
                    )
                self._mean = np.asarray(mean, np.float32)
                self._std = np.asarray(std, np.float32)
                dim = getattr(model, "num_features", None)
                if not isinstance(dim, int) or dim <= 0:
                    with torch.inference_mode():
                        x = torch.zeros(1, 3, self.size, self.size, device=self.device)
                        dim = int(model(x).reshape(1, -1).shape[1])
                if self.context:
                    from .context import context_channels

                    dim += context_channels(model, self.context_levels)  # refuses too many
                    self.context_maps = self._new_context_maps()
                self._dim = int(dim)
                self._model = model
        return self._model

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel normalisation mean of the backbone (loads the model if needed)."""
        _ = self.model
        return tuple(float(v) for v in self._mean)

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel normalisation std of the backbone (loads the model if needed)."""
        _ = self.model
        return tuple(float(v) for v in self._std)

    @property
    def dim(self) -> int:
        """Length of a feature vector (loads the model if needed)."""
        _ = self.model
        return int(self._dim)

    @property
    def crop_dim(self) -> int:
        """Length of the crop part of a feature vector (the backbone's pooled output)."""
        model = self.model
        if not self.context:
            return int(self._dim)
        from .context import context_channels

        return int(self._dim) - context_channels(model, self.context_levels)

    def _new_context_maps(self, **kwargs):
        """An empty cache of whole-image maps with this extractor's context settings."""
        from .context import ContextMaps

        return ContextMaps(levels=self.context_levels, scale=self.context_scale, **kwargs)

    def context_features(self, images, label_images, segments, model=None,
                         progress: Progress | None = None) -> np.ndarray:  # fmt: skip
        """The context part of the features of ``segments`` (see :mod:`.context`).

        Parameters
        ----------
        images, label_images, segments
            As in :meth:`extract`.
        model : torch.nn.Module, optional
            Another backbone of the same architecture (a fine-tuned copy); its
            maps are not cached, and are made and weighted with the same settings.
        progress : Progress, optional
            One step per image; cancellable between images.

        Returns
        -------
        ndarray of float32, shape (n, dim - crop_dim)
        """
        from .context import context_channels, pool_in_segments

        own = model is None
        model = self.model if own else model
        maps_of = self.context_maps if own else self._new_context_maps(max_bytes=0)
        img_idx = np.asarray(segments.image).reshape(-1)
        out = np.zeros((img_idx.size, context_channels(model, self.context_levels)), np.float32)
        todo = np.unique(img_idx).tolist()
        progress = ensure_progress(progress)
        progress.init(len(todo), "context")
        for i in todo:
            rows = np.flatnonzero(img_idx == i)
            maps = maps_of.maps(model, np.asarray(images[i], np.float32), self._mean,
                                self._std, self.device, self._context_salt)  # fmt: skip
            out[rows] = pool_in_segments(maps, label_images[i], np.asarray(segments.ids)[rows],
                                         np.asarray(segments.bbox)[rows],
                                         weight=self.context_weight)  # fmt: skip
            progress.update(1)
        return out

    def clear_cache(self) -> None:
        """Forget every cached feature and reset the counters."""
        self.cache.clear()
        if self.context_maps is not None:
            self.context_maps.clear()
        self.cache_hits = self.cache_misses = 0

    def forward_batch(self, batch: torch.Tensor) -> np.ndarray:
        """Bare forward pass plus L2 normalisation, without cropping or caching.

        Parameters
        ----------
        batch : torch.Tensor, shape (n, 3, size, size)
            Normalised crops, e.g. from :func:`crop_batch`.

        Returns
        -------
        ndarray of float32, shape (n, crop_dim)
            Rows of unit length (the crop part of the features).
        """
        model = self.model
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True)
            x = x.contiguous(memory_format=torch.channels_last)
            out = model(x).reshape(len(batch), -1)
            out = F.normalize(out.float(), p=2, dim=1, eps=1e-12)
        return out.cpu().numpy().astype(np.float32, copy=False)

    # -- extraction ------------------------------------------------------
    def _key(self, pix: np.ndarray, mask: np.ndarray) -> bytes:
        h = hashlib.blake2b(self._salt, digest_size=20)
        h.update(np.asarray(mask.shape, np.int64).tobytes())
        h.update(np.ascontiguousarray(pix, dtype=np.float32).data)
        h.update(np.packbits(mask).data)
        return h.digest()

    def extract(
        self,
        images: Sequence[np.ndarray],
        label_images: Sequence[np.ndarray],
        segments,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Feature vector of every segment.

        Parameters
        ----------
        images : sequence of ndarray, each (H, W, 3)
            Float RGB images in [0, 1]. Entries that no segment refers to
            may be None.
        label_images : sequence of ndarray of int32, each (H, W)
            One label image per image (None where the image is None).
        segments : object
            With array attributes ``ids`` (n,), ``image`` (n,) image index
            and ``bbox`` (n, 4) ``(r0, c0, r1, c1)`` end-exclusive, e.g. a
            ``SegmentTable``.
        progress : Progress, optional
            ``init(n, "features")`` then ``update(k)`` per batch; cancelling
            raises :class:`~napari_featann.core.progress.Cancelled`.

        Returns
        -------
        ndarray of float32, shape (n, dim)
            One row per segment, in the order of ``segments``: the crop part
            L2-normalised, then (with ``context``) the context blocks, each of
            length at most 1 (:func:`.context.pool_in_segments`).

        Raises
        ------
        ValueError
            If the inputs disagree in length or shape, or a segment has no
            pixel in its bounding box.
        WeightsError
            If the backbone's weights cannot be loaded.
        Cancelled
            If ``progress`` is cancelled.
        """
        ids = np.asarray(segments.ids).reshape(-1)
        img_idx = np.asarray(segments.image).reshape(-1)
        boxes = np.asarray(segments.bbox).reshape(-1, 4)
        n = len(ids)
        if not (len(img_idx) == len(boxes) == n):
            raise ValueError("segments.ids, .image and .bbox must have the same length")
        if len(images) != len(label_images):
            raise ValueError(f"{len(images)} images but {len(label_images)} label images")
        if n and (img_idx.min() < 0 or img_idx.max() >= len(images)):
            raise ValueError("segments.image holds an index outside the image list")
        imgs: dict[int, np.ndarray] = {}
        for i in np.unique(img_idx).tolist():
            im, lab = images[i], label_images[i]
            if im is None or lab is None:
                raise ValueError(f"image {i} is None but segments refer to it")
            if not np.issubdtype(np.asarray(im).dtype, np.floating):
                raise ValueError("expected float images in [0, 1]; use core.images.to_float_rgb")
            imgs[i] = np.asarray(im, dtype=np.float32)
            if imgs[i].ndim != 3 or imgs[i].shape[2] != 3 or np.shape(lab) != imgs[i].shape[:2]:
                raise ValueError(
                    f"image {i} {imgs[i].shape} and its label image {np.shape(lab)} do not match"
                )
        progress = ensure_progress(progress)
        progress.init(n, "features")
        _ = self.model  # load before cropping: the crops need its normalisation
        if n == 0:
            return np.zeros((0, self.dim), np.float32)

        # Cut and hash every crop; group identical crops so each is computed once.
        cuts: dict[bytes, tuple] = {}
        keys = []
        for seg_id, i, box in zip(ids, img_idx, boxes):
            im, lab = imgs[int(i)], label_images[int(i)]
            pix, mask = _cut(im, lab, seg_id, _enlarged_box(box, self.margin, im.shape[:2]))
            key = self._key(pix, mask)
            keys.append(key)
            if key not in self.cache and key not in cuts:
                cuts[key] = (pix, mask)
        todo = list(cuts)
        # Segments served from the cache or sharing a crop computed in this call.
        self.cache_hits += n - len(todo)
        cached = sum(1 for k in keys if k not in cuts)
        if cached:
            progress.update(cached)

        def prepare(batch_keys: list[bytes]) -> torch.Tensor:
            return torch.stack(
                [_crop_tensor(*cuts[k], self.size, self._mean, self._std) for k in batch_keys]
            )

        batches = [todo[s : s + self.batch_size] for s in range(0, len(todo), self.batch_size)]
        if batches:
            counts: dict[bytes, int] = {}
            for k in keys:
                if k in cuts:
                    counts[k] = counts.get(k, 0) + 1
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featann-crops")
            try:
                nxt: Future = pool.submit(prepare, batches[0])
                for b, batch_keys in enumerate(batches):
                    tensor = nxt.result()
                    if b + 1 < len(batches):
                        nxt = pool.submit(prepare, batches[b + 1])
                    feats = self.forward_batch(tensor)
                    for k, f in zip(batch_keys, feats):
                        self.cache[k] = f
                    self.cache_misses += len(batch_keys)
                    progress.update(sum(counts[k] for k in batch_keys))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        crops = np.stack([self.cache[k] for k in keys]).astype(np.float32, copy=False)
        if not self.context:
            return crops
        ctx = self.context_features(imgs, label_images, segments, progress=progress)
        return np.hstack([crops, ctx])
