"""Errors and state-dict checks shared by the ML modules.

This module imports no heavy library at import time, so callers (the core
gradient dispatch, the CLI, the widgets) can catch :class:`WeightsError`
without pulling in torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = [
    "WeightsError",
    "check_state_dict",
    "check_weights_file",
    "read_state_dict",
    "resolve_device",
    "weights_identity",
]

_SHOW = 5  # how many offending keys a message names


class WeightsError(RuntimeError):
    """Model weights are missing, unreadable or do not fit the architecture.

    Raised instead of ever falling back to randomly initialised weights.
    """


def read_state_dict(path: str | os.PathLike) -> dict:
    """Read a torch state dict from ``path`` without unpickling arbitrary objects.

    Parameters
    ----------
    path : str or PathLike
        A ``.pth``/``.pt`` file written by ``torch.save(model.state_dict())``.
        A checkpoint that wraps the weights as ``{"state_dict": ...}`` or
        ``{"model": ...}`` is unwrapped.

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    WeightsError
        If the file is missing, cannot be read with ``weights_only=True``, or
        does not hold a mapping of names to tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        if not _checkpoint_format(path):  # a text file: torch says "pop from empty list"
            raise WeightsError(
                f"{path} is not a PyTorch checkpoint (a file written by torch.save, such as "
                "a model's .pth state dict)"
            ) from exc
        raise WeightsError(f"cannot read weights file {path}: {exc}") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not all(torch.is_tensor(v) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def check_weights_file(path: str | os.PathLike, what: str = "weights file") -> Path:
    """A quick check of a weights file before any work: it exists, is a file, and starts
    as ``torch.save`` files do (its tensors are read and checked when the model loads).

    Parameters
    ----------
    path : str or PathLike
    what : str
        How messages name it (``"--weights"``, ``"HED weights file"``...).

    Returns
    -------
    Path
        ``path`` with ``~`` expanded.

    Raises
    ------
    WeightsError
        Naming ``what`` and the path.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(f"{what} {path}: no such file")
    if not p.is_file():
        raise WeightsError(f"{what} {path}: not a file")
    if not _checkpoint_format(p):
        raise WeightsError(f"{what} {path}: not a PyTorch checkpoint (a file written by "
                           "torch.save, such as a model's .pth state dict)")  # fmt: skip
    return p


def _checkpoint_format(path: Path) -> bool:
    """Whether ``path`` starts as ``torch.save`` files do: a zip archive (the format since
    PyTorch 1.6), a pickle (the legacy format) or a tar archive (older still)."""
    try:
        with open(path, "rb") as f:
            head = f.read(262)
    except OSError:
        return True  # unreadable: torch's own reason says more
    return head.startswith((b"PK\x03\x04", b"\x80")) or head[257:262] == b"ustar"


def _names(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def check_state_dict(expected: Mapping, found: Mapping, path: str | os.PathLike) -> None:
    """Raise unless ``found`` has exactly the keys and shapes of ``expected``.

    Parameters
    ----------
    expected : mapping of str to tensor
        The model's own ``state_dict()``.
    found : mapping of str to tensor
        The state dict read from ``path``.
    path : str or PathLike
        Only used in the error message.

    Raises
    ------
    WeightsError
        Naming the first missing, unexpected and shape-mismatched keys.
    """
    missing = set(expected) - set(found)
    unexpected = set(found) - set(expected)
    shapes = {
        k: (tuple(found[k].shape), tuple(expected[k].shape))
        for k in set(expected) & set(found)
        if tuple(found[k].shape) != tuple(expected[k].shape)
    }
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys: {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {_names(unexpected)}")
    if shapes:
        shown = sorted(shapes)[:_SHOW]
        desc = ", ".join(f"{k} {shapes[k][0]} != expected {shapes[k][1]}" for k in shown)
        more = f" (+{len(shapes) - _SHOW} more)" if len(shapes) > _SHOW else ""
        parts.append(f"shape mismatches: {desc}{more}")
    raise WeightsError(f"weights in {path} do not fit the model; " + "; ".join(parts))


def resolve_device(device=None):
    """The torch device to run on: ``None`` or ``"auto"`` is CUDA when available, else the CPU.

    Raises
    ------
    ValueError
        A CUDA device is asked for (a session saved on a GPU machine, say) and
        none is available here: said in words, not as torch's driver error; or
        ``device`` is not a device name at all.
    """
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError):  # torch: "Expected one of cpu, cuda, ipu, xpu, ..."
        raise ValueError(f"device {str(device)!r} is not a torch device; give auto (CUDA when "
                         "available, else the CPU), cpu, cuda or cuda:N") from None  # fmt: skip
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r}: this machine has no usable CUDA GPU; "
                         "choose the device auto or cpu")  # fmt: skip
    return dev


def weights_identity(weights) -> str:
    """What tells a weights setting apart in cache keys: ``"hub"``, ``"random"``, or the
    file's resolved path with its size and modification time (so a rewritten file differs)."""
    if weights is None:
        return "hub"
    if isinstance(weights, str) and weights == "random":
        return "random"
    path = Path(weights).expanduser().resolve()
    try:
        st = path.stat()
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return str(path)
