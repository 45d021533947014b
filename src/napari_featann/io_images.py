"""Finding a session's image files again when it is opened.

A session file refers to the images that came from files by their absolute
path. When one is no longer there it is looked for at the same place relative
to the session file (a project folder moved whole), then in the folders the
user names (``image_dir`` of :func:`napari_featann.io.load_session`), by its
path's last parts, longest first: ``<folder>/<sub-folder>/<name>``, then
``<folder>/<name>``. An image found anywhere but where it was must be the image
the session was saved with: the same shape, and, in files that store it (those
written since it was added), the same hash of its pixels (:func:`image_digest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .core.geotiff import read_geotags
from .core.images import ImageRecord, pick_plane, read_planes

__all__ = ["candidates", "image_digest", "missing_message", "pixels_digest", "read_images"]

NOT_FOUND = "not found"


def pixels_digest(data) -> str:
    """A hash of an image's pixels: its dtype, shape and values (``blake2b:<hex>``)."""
    data = np.ascontiguousarray(data)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{data.dtype.str}{data.shape}".encode())
    h.update(memoryview(data.reshape(-1).view(np.uint8)))
    return "blake2b:" + h.hexdigest()


def image_digest(rec: ImageRecord) -> str:
    """:func:`pixels_digest` of ``rec.data``, computed once per record (the saves that
    follow reuse it while the record holds the same array)."""
    cached = rec.__dict__.get("_digest")
    if cached is not None and cached[0] is rec.data:
        return cached[1]
    digest = pixels_digest(rec.data)
    rec._digest = (rec.data, digest)
    return digest


def candidates(source: str, session_path, saved_in: str | None = None,
               image_dirs: Iterable = ()) -> list[tuple[str, bool]]:  # fmt: skip
    """The places an image a session refers to may be now, in the order tried.

    Parameters
    ----------
    source : str
        The path the session stored: absolute in current files; in older ones,
        relative to the working directory of the process that wrote them.
    session_path : path-like
        The session file being read.
    saved_in : str, optional
        The folder the session was written to.
    image_dirs : iterable of path-like
        Folders the user says hold the images.

    Returns
    -------
    list of (str, bool)
        Each place, and whether it is a guess (anywhere but ``source``): the
        same place relative to the session file, then in each of
        ``image_dirs`` the path's last parts, longest first.
    """
    here = Path(session_path).resolve().parent
    tries = [Path(source)]
    if not os.path.isabs(source):
        tries.append(here / source)
    if saved_in:
        with contextlib.suppress(ValueError):  # another drive (Windows)
            tries.append(here / os.path.relpath(source, saved_in))
    parts = [p for p in re.split(r"[\\/]+", source) if p and not p.endswith(":")]
    for folder in image_dirs:
        tries += [Path(folder).joinpath(*parts[-k:]) for k in range(len(parts), 0, -1)]
    out = list(dict.fromkeys(str(p) for p in tries))
    return [(p, k > 0) for k, p in enumerate(out)]


def _read(where: str, im: dict, extra: dict, stacks: dict) -> np.ndarray:
    """The pixels of saved image ``im`` in file ``where`` (ValueError when unreadable)."""
    bands = extra.get("bands")
    key = (where, None if bands is None else tuple(bands))
    if key not in stacks:  # each file is read once per choice of bands
        stacks[key] = read_planes(where, bands)
    data = pick_plane(stacks[key], extra.get("plane"))
    if "tile" in extra:  # a tile of a larger image: its window
        r, c, h, w = (int(v) for v in extra["tile"])
        data = np.ascontiguousarray(data[r : r + h, c : c + w])
    return data


def _with_geotags(meta: dict, where: str, stacks: dict) -> dict:
    """``meta`` with the GeoTIFF tags of file ``where`` when it has none (sessions saved
    before they were kept); each file is asked once."""
    if "geotiff" not in meta:
        key = ("geotiff", where)
        if key not in stacks:
            stacks[key] = read_geotags(where)
        if stacks[key]:
            meta["geotiff"] = stacks[key]
    return meta


def _find(im: dict, tries: list, stacks: dict) -> tuple[ImageRecord | None, str]:
    """The record of saved image ``im`` from the first place that holds it, or why none does."""
    extra = im.get("meta") or {}
    reasons = []
    for where, guessed in tries:
        if not os.path.exists(where):
            continue
        try:
            data = _read(where, im, extra, stacks)
        except ValueError as exc:
            reasons.append(f"{where}: {exc}")
            continue
        if list(data.shape) != list(im["shape"]):
            reasons.append(f"{where} is another image or changed on disk: "
                           f"shape {data.shape}, saved {tuple(im['shape'])}")  # fmt: skip
            continue
        rec = ImageRecord(im["name"], data, where, _with_geotags(dict(extra), where, stacks))
        if guessed and im.get("digest") and image_digest(rec) != im["digest"]:
            reasons.append(f"{where} is another image: its pixels differ from those saved")
            continue
        return rec, ""
    return None, "; ".join(reasons) or NOT_FOUND


def read_images(npz, meta: dict, session_path, image_dirs=()) -> tuple[list, dict[str, str]]:
    """The session's images: embedded ones from ``npz``, the others from their files.

    Returns
    -------
    records : list of ImageRecord
        The images found (their path: where they were found).
    missing : dict
        Each stored path not found, or found only as another image, and why.
    """
    records, missing = [], {}
    stacks: dict[tuple, list | dict] = {}  # planes by (file, bands); tags by ("geotiff", file)
    for i, im in enumerate(meta["images"]):
        if im["embedded"]:
            data = np.asarray(npz[f"image_{i}"])
            records.append(ImageRecord(im["name"], data, im["path"], dict(im.get("meta") or {})))
            continue
        tries = candidates(im["path"], session_path, meta.get("saved_in"), image_dirs)
        rec, why = _find(im, tries, stacks)
        if rec is None:
            missing.setdefault(im["path"], why)
        else:
            records.append(rec)
    return records, missing


def missing_message(missing: dict[str, str], total: int, image_dirs=(), shown: int = 5) -> str:
    """Why a session cannot be opened: which image files are missing, and what to do."""
    where = "where they were and at the same place relative to the session file"
    if image_dirs:
        where += ", and by name in " + ", ".join(str(d) for d in image_dirs)
    items = [
        f"{Path(src).name}" + ("" if why == NOT_FOUND else f" ({why})")
        for src, why in list(missing.items())[:shown]
    ]
    verb = "is" if len(missing) == 1 else "are"
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    return (
        f"{len(missing)} of the session's {total} image files {verb} missing (looked {where}): "
        f"{', '.join(items)}{more}. Give the folder that holds them: "
        "load_session(path, image_dir=FOLDER) in Python; the dock's Open session… asks for it"
    )
