"""napari reader and writer for ``*.featann`` session files (npe2 commands).

The reader returns, per image, an Image layer, a "<name> classes" Labels
layer whose data is the session's class mask, and a "<name> segments"
Labels layer, read-only; each layer carries the loaded Session in
``metadata["featann_session"]`` so the Feature Space Annotation dock picks it
up. The writer finds that Session again in the layers' metadata. Imports no Qt
(napari's layers only when a file is read; Qt's dialogs only to ask for the
folder of images a session file misses).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "META_READ_PAINT",
    "get_reader",
    "image_placement",
    "read_session",
    "session_layer_data",
    "write_session",
]

_SUFFIX = ".featann"
_TRANSPARENT = "transparent"
_META_ENTRY = "__meta__.npy"  # the JSON document of io.session_snapshot, stored as an npy
META_READ_PAINT = "featann_read_paint"  # napari's paint events in a classes layer until adopted


def get_reader(path):
    """Return :func:`read_session` for one ``.featann`` session file, else None (npe2 reader).

    A file named ``.featann`` that is not a session (not a zip archive, or one
    without the session's metadata entry) is left to other readers; the check
    reads the archive's directory only, never its arrays.
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(_SUFFIX) or not _looks_like_session(path):
        return None
    return read_session


def _looks_like_session(path) -> bool:
    """Whether ``path`` is a zip archive holding a session's ``__meta__`` entry, or a
    damaged zip archive (a session cut short: reading it then says what is wrong with
    it, naming the file, instead of napari's "no reader" message)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _META_ENTRY in zf.namelist()
    except zipfile.BadZipFile:
        try:
            with open(path, "rb") as fh:
                return fh.read(4) == b"PK\x03\x04"
        except OSError:
            return False
    except OSError:
        return False


def image_placement(meta: dict) -> dict:
    """The 2-D ``scale`` and ``translate`` of an image's layers, from its record's meta.

    A tile lies at its corner in its scene, and a tile or a plane read from a
    user's layer over that layer (``scene_scale``, ``scene_translate``); an
    image with neither gets an empty dict (napari's origin, unit scale).

    Parameters
    ----------
    meta : dict
        ``ImageRecord.meta``.

    Returns
    -------
    dict
        Empty, or ``{"scale": (sy, sx), "translate": (ty, tx)}``.
    """
    if "tile" not in meta and "scene_scale" not in meta:
        return {}
    scale = np.asarray(meta.get("scene_scale", (1.0, 1.0)), float)
    shift = np.asarray(meta.get("scene_translate", (0.0, 0.0)), float)
    corner = np.asarray(meta.get("tile", (0, 0))[:2], float)
    return {"scale": tuple(scale.tolist()), "translate": tuple((shift + scale * corner).tolist())}


def session_layer_data(session) -> list[tuple]:
    """napari layer data tuples for a session (only the first image visible).

    Parameters
    ----------
    session : Session

    Returns
    -------
    list of (data, dict, str)
    """
    out = []
    colors = {None: _TRANSPARENT, 0: _TRANSPARENT}
    colors.update({cid: c.color for cid, c in session.classes.items()})
    for i, rec in enumerate(session.images):

        def meta(role: str, i=i) -> dict:
            return {"featann_session": session, "featann_index": i, "featann_role": role}

        visible = i == 0
        rgb = rec.data.ndim == 3 and rec.data.shape[-1] in (3, 4)
        place = image_placement(rec.meta)  # as the dock places the layers it makes
        image = {"name": rec.name, "rgb": rgb, "visible": visible, "metadata": meta("image")}
        if not rgb and rec.meta.get("range") is not None:  # a stack's planes look alike
            image["contrast_limits"] = list(rec.meta["range"])
        out.append((rec.data, {**image, **place}, "image"))
        out.append((session.class_masks[i], {"name": f"{rec.name} classes", "opacity": 0.5,
                                             "colormap": dict(colors), "visible": visible,
                                             "metadata": meta("classes"), **place}, "labels"))  # fmt: skip
        if i < len(session.label_images):
            out.append((session.label_images[i], {"name": f"{rec.name} segments", "opacity": 0.8,
                                                  "visible": visible, "metadata": meta("segments"),
                                                  **place}, "labels"))  # fmt: skip
    return out


def read_session(path) -> list:
    """Read a session file into napari layers (the npe2 reader function).

    The layers of :func:`session_layer_data` are made here rather than left to
    napari as data tuples, since a tuple cannot say that the segments layer is
    read-only (``editable`` is no argument of a Labels layer): painting in it
    would change the session's partition. napari adds the layers a reader
    returns since 0.5.6. A classes layer records what is painted in it
    (``metadata[META_READ_PAINT]``) until the dock adopts it and takes those
    pixels as painted by hand. When image files of the session are missing
    (moved without it) and napari runs this reader on its Qt thread, the user
    is asked for the folder that holds them, as the dock's Open session does.

    Raises
    ------
    SessionFileError
        The file is not a readable session; the message names the file.
    """
    from .io import ImagesNotFoundError, SessionFileError, load_session

    if isinstance(path, (list, tuple)):
        path = path[0]
    path = Path(path)
    try:
        session = load_session(path)
    except ImagesNotFoundError as exc:
        session = _locate_images(path, exc)
    except SessionFileError as exc:
        if str(path) in str(exc):
            raise
        raise SessionFileError(f"{path}: {exc}") from None
    from napari.layers import Layer

    layers = []
    for data, attributes, kind in session_layer_data(session):
        layer = Layer.create(data, attributes, kind)
        role = attributes["metadata"]["featann_role"]
        if role == "segments":
            layer.editable = False  # the dock keeps it so when it adopts the layer
        elif role == "classes":
            _record_paint(layer)
        layers.append(layer)
    return layers


def _ask_image_folder(path, exc) -> str | None:
    """The folder that holds the images ``exc`` misses, asked in a dialog when a Qt
    application runs this thread (napari's); None otherwise, or when the user declines."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        from qtpy.QtWidgets import QApplication
    except Exception:  # no Qt binding: napari without a window
        return None
    if QApplication.instance() is None:
        return None
    from ._widgets.files import image_folder_dialog

    return image_folder_dialog(None, path, exc)


def _locate_images(path: Path, exc):
    """The session read again with the folders the user gives, until it opens or the
    user declines (then ``exc``, the last refusal, is raised)."""
    from .io import ImagesNotFoundError, load_session

    dirs: list[str] = []
    while True:
        folder = _ask_image_folder(path, exc)
        if not folder:
            raise exc
        dirs = list(dict.fromkeys([*dirs, str(folder)]))
        try:
            return load_session(path, image_dir=dirs)
        except ImagesNotFoundError as again:
            exc = again


def _record_paint(layer) -> None:
    """Keep napari's paint events of ``layer`` in its metadata, until someone pops the list."""
    layer.metadata[META_READ_PAINT] = []

    def record(event) -> None:
        atoms = layer.metadata.get(META_READ_PAINT)
        if atoms is not None:
            atoms.extend(event.value)

    layer.events.paint.connect(record)


def write_session(path: str | os.PathLike, layer_data: list[tuple]) -> list[str]:
    """Save the session that the given layers belong to (npe2 multi-layer writer).

    Raises
    ------
    ValueError
        None of the layers belongs to a featann session, or they belong to
        more than one (nothing is written then).
    """
    from .io import save_session

    sessions = {}  # by identity: one Session object is one session
    for _data, attributes, _kind in layer_data:
        session = (attributes.get("metadata") or {}).get("featann_session")
        if session is not None:
            sessions.setdefault(id(session), session)
    if len(sessions) > 1:
        raise ValueError(
            f"these layers belong to {len(sessions)} different featann sessions; "
            "select the layers of one session to save it"
        )
    if not sessions:
        raise ValueError(
            "none of these layers belongs to a featann session; "
            "select the layers made by the Feature Space Annotation widget"
        )
    (session,) = sessions.values()
    return [str(save_session(session, Path(path)))]
