"""The learned metric in a session file: a projection head, or a fine-tuned backbone.

Both are stored as plain arrays of the npz, never pickled:

* a projection head (metric learning in *head* mode) as ``head__<name>``, the
  arrays of :meth:`~napari_featann.ml.metric.ProjectionHead.state_dict_numpy`;
* a fine-tuned backbone (*full* mode) as ``backbone__<name>``, one array per
  tensor of its ``state_dict()`` (floating tensors as float32, the others, such
  as batch-norm counters, as they are), and in the JSON document an entry
  ``fine_tuned_backbone``: the timm architecture (``backbone``) and the number
  of tensors (``tensors``). EfficientNet-Lite0 adds 294 tensors: 12.7 MB to the
  file (13.7 MB before compression), and opening such a file takes 0.45 s more (3 s
  in a fresh process, which imports torch and timm for it).

On load the backbone is built as the feature extractor builds one
(:func:`~napari_featann.ml.extractor.load_backbone`, no weights file read:
the saved tensors replace every weight) and the session's metric state is
``("full", model)`` again, so segments made after opening get the fine-tuned
backbone's features as before saving. Tensors that do not fit the architecture
(a missing, an extra or a reshaped one) or that disagree with the entry are
refused (:class:`~napari_featann.io.SessionFileError`, naming the file), and
so is a projection head whose input width is not that of the session's
features (it could embed none of them).

A reader from before backbones were saved (the same format version) ignores
the ``backbone__`` arrays: it opens the file with the refined features and no
backbone, as such files were, and says so when an edit drops them.
"""

from __future__ import annotations

import numbers

import numpy as np

from .io_checks import _error  # a SessionFileError naming the file, as every refusal

__all__ = ["BACKBONE", "BACKBONE_META", "HEAD", "load_metric", "metric_arrays"]

HEAD = "head__"
BACKBONE = "backbone__"
#: The JSON document's entry that describes a saved fine-tuned backbone.
BACKBONE_META = "fine_tuned_backbone"


def metric_arrays(session) -> tuple[dict[str, np.ndarray], dict | None]:
    """The arrays of the session's learned metric, and the entry that describes a backbone.

    Parameters
    ----------
    session : Session

    Returns
    -------
    arrays : dict of str to ndarray
        ``head__*`` for a projection head, ``backbone__*`` for a fine-tuned
        backbone (copies: the snapshot may be written in another thread);
        empty without a learned metric.
    entry : dict or None
        For a fine-tuned backbone, ``{"backbone": name, "tensors": n}``, to be
        stored under :data:`BACKBONE_META`; else None.
    """
    state = getattr(session, "metric_state", None)
    if state is None:
        return {}, None
    if state[0] == "head":
        return {HEAD + k: v for k, v in state[1].state_dict_numpy().items()}, None
    if state[0] != "full" or state[1] is None:  # no model (a stand-in): nothing to save
        return {}, None
    arrays = {}
    for key, tensor in state[1].state_dict().items():
        t = tensor.detach().cpu()
        t = t.float() if t.is_floating_point() else t
        arrays[BACKBONE + key] = np.array(t.numpy(), order="C")  # a copy, C order
    entry = {"backbone": _architecture(state[1], session.feature_params.backbone),
             "tensors": len(arrays)}  # fmt: skip
    return arrays, entry


def _architecture(model, fallback: str) -> str:
    """The timm name of ``model``'s architecture (``fallback``, the session's backbone, when
    timm does not say): a tagged or hub name is built from it without the hub."""
    import timm

    name = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    return name if isinstance(name, str) and timm.is_model(name) else fallback


def load_metric(s, npz, meta: dict, path) -> None:
    """Set the metric state of the session ``s``, read from ``path``, from its arrays.

    Raises
    ------
    SessionFileError
        A projection head or a backbone that cannot be rebuilt from them, both
        in one file, backbone tensors that disagree with their entry, or a
        projection head whose input width is not that of the session's features.
    """
    heads = [k for k in npz.files if k.startswith(HEAD)]
    backbone = [k for k in npz.files if k.startswith(BACKBONE)]
    if backbone or meta.get(BACKBONE_META) is not None:
        if heads:
            raise _error(path, "is corrupted: it holds both a projection head and a "
                               "fine-tuned backbone")  # fmt: skip
        s.metric_state = ("full", _load_backbone(s, npz, backbone, meta.get(BACKBONE_META), path))
    elif heads:
        from .io import SessionFileError
        from .ml.metric import ProjectionHead

        try:
            head = ProjectionHead.from_numpy({k[len(HEAD) :]: npz[k] for k in heads})
        except (ValueError, RuntimeError) as exc:
            raise SessionFileError(
                f"{path}: the saved projection head is unreadable: {exc}"
            ) from None
        width = None if s.features is None else s.features.shape[1]
        if width is not None and head.in_dim != width:  # else it is silently never used
            raise _error(path, f"is inconsistent: its projection head takes features of width "
                               f"{head.in_dim} (embedding them in {head.out_dim} dimensions), "
                               f"but its features have the width {width} "
                               f"({len(s.features)} segments)")  # fmt: skip
        s.metric_state = ("head", head)


def _load_backbone(s, npz, keys: list[str], entry, path):
    """The fine-tuned backbone of ``keys`` (``backbone__*``), as ``entry`` describes it."""
    import torch

    from .ml.errors import WeightsError, resolve_device
    from .ml.extractor import load_backbone

    if not isinstance(entry, dict):
        what = "no description" if entry is None else f"the description {entry!r}"
        raise _error(path, f"is corrupted: it holds {len(keys)} tensors of a fine-tuned "
                           f"backbone with {what} (a record of its backbone and tensors)")  # fmt: skip
    name, count = entry.get("backbone"), entry.get("tensors")
    if not isinstance(name, str) or not name.strip():
        raise _error(path, f"is corrupted: its fine-tuned backbone is named {name!r}")
    if not isinstance(count, numbers.Integral) or isinstance(count, bool) or count != len(keys):
        raise _error(path, f"is corrupted: it holds {len(keys)} tensors of its fine-tuned "
                           f"backbone {name}, not the {count!r} it was saved with")  # fmt: skip
    state = {}
    for key in keys:
        a = npz[key]
        if a.dtype.kind not in "biuf":
            raise _error(path, f"is corrupted: tensor {key[len(BACKBONE) :]} of its "
                               f"fine-tuned backbone holds {a.dtype}, not numbers")  # fmt: skip
        state[key[len(BACKBONE) :]] = torch.from_numpy(np.array(a, order="C"))
    try:  # on the features' device, where one is usable; the weights are the saved ones
        device = resolve_device(s.feature_params.device)
    except ValueError:
        device = "cpu"
    try:
        model = load_backbone(name, state, device)[0]
    except (WeightsError, ValueError, RuntimeError) as exc:
        raise _error(path, f"is corrupted: its fine-tuned backbone {name} cannot be "
                           f"rebuilt: {exc}") from None  # fmt: skip
    return model
