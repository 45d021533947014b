"""Saving and loading sessions, exporting class masks.

A session file (``.featann``) is a plain npz archive (``allow_pickle=False``)
holding the arrays and one JSON document (``__meta__``) with parameters,
classes and image sources. Nothing is ever pickled, so opening a file
cannot run code. The format is versioned. The learned metric (a projection
head, or a fully fine-tuned backbone) is stored by :mod:`.io_metric`.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .core.geotiff import mask_extratags
from .core.images import _unique
from .core.partition import PartitionParams
from .core.regions import SegmentTable
from .io_checks import check_meta, check_params, check_session
from .io_images import image_digest, missing_message, read_images
from .io_metric import BACKBONE_META, load_metric, metric_arrays
from .params import PALETTE, hex_color

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ImagesNotFoundError",
    "SessionFileError",
    "absolute_file",
    "checked_session_path",
    "export_masks",
    "load_session",
    "mask_format",
    "save_session",
    "session_path",
    "session_snapshot",
    "source_files",
    "write_snapshot",
]

FORMAT = "napari-featann-session"
#: Version of the session file format. 1: files up to session 14 (no context settings;
#: read with io_checks.OLD_FEATURES). 2: files that hold the context settings
#: (context_levels, context_scale, context_weight); an older napari-featann refuses them
#: as "newer than this napari-featann understands" instead of as invalid parameters.
#: A fine-tuned backbone (io_metric) needs no new version: a reader without it skips its arrays.
FORMAT_VERSION = 2
SUFFIX = ".featann"


class SessionFileError(ValueError):
    """A session file is missing, corrupted, foreign or from a newer version."""


class ImagesNotFoundError(SessionFileError):
    """Image files a session refers to were not found (or only other images of their name).

    Attributes
    ----------
    missing : dict
        Each stored path not found, and why (``"not found"``, or what was found).
    image_dirs : list of str
        The folders they were looked for in (``image_dir`` of :func:`load_session`).
    """

    def __init__(self, message: str, missing: dict[str, str], image_dirs=()) -> None:
        super().__init__(message)
        self.missing = dict(missing)
        self.image_dirs = [str(d) for d in image_dirs]


# what reading a damaged archive, or metadata of the wrong structure, raises
_CORRUPTED = (KeyError, IndexError, AttributeError, ValueError, TypeError,
              zipfile.BadZipFile, zlib.error, EOFError, OSError)  # fmt: skip


def save_session(session, path: str | os.PathLike, embed_images: bool = False) -> Path:
    """Write ``session`` to ``path`` (``.featann`` is appended when missing).

    Parameters
    ----------
    session : Session
    path : str or path-like
    embed_images : bool
        Also store the pixels of images that came from files (images that came
        from arrays are always stored).

    Returns
    -------
    Path
        The file written. It is written to a temporary name first and then
        renamed, so an interrupted save never leaves a broken file.

    Raises
    ------
    ValueError
        ``path`` is empty or ends with a path separator (a folder, not a file).
    IsADirectoryError
        ``path``, or ``path`` with ``.featann`` appended, is an existing folder.
        Nothing is written in either case.
    """
    return write_snapshot(session_snapshot(session, embed_images, copy=False), path)


def session_snapshot(session, embed_images: bool = False, copy: bool = True) -> dict:
    """Everything :func:`save_session` writes, as a dict of arrays (fast; no compression).

    With ``copy`` the arrays that labelling changes in place (class masks, hand
    masks, label images, segment classes) are copied, so that a background
    thread can write the snapshot with :func:`write_snapshot` while the user
    goes on labelling.
    """
    from dataclasses import asdict

    own = np.array if copy else np.asarray
    arrays: dict[str, np.ndarray] = {}
    images_meta = []
    for i, rec in enumerate(session.images):
        embed = embed_images or rec.path is None
        if embed:
            arrays[f"image_{i}"] = np.asarray(rec.data)
        source = None if rec.path is None else os.path.abspath(rec.path)
        entry = {"name": rec.name, "path": source, "embedded": embed,
                 "shape": list(rec.data.shape), "meta": rec.meta}  # fmt: skip
        if not embed:  # checks an image found elsewhere when the session is opened
            entry["digest"] = image_digest(rec)
        images_meta.append(entry)
        arrays[f"class_mask_{i}"] = own(session.class_masks[i])
        arrays[f"manual_mask_{i}"] = own(session.manual_masks[i])
        if session.gradients[i] is not None:
            arrays[f"gradient_{i}"] = session.gradients[i].astype(np.float16)
    for i, lab in enumerate(session.label_images):
        arrays[f"labels_{i}"] = own(lab)
    arrays.update(session.segments.to_arrays())
    arrays["segment_class"] = own(session.segment_class)
    if session.features is not None:
        arrays["features"] = session.features
    if session.embedding is not None:
        arrays["embedding"] = session.embedding
    refined = getattr(session, "refined_features", None)
    if refined is not None and len(refined) == len(session.segments):
        arrays["refined_features"] = refined
    metric, backbone = metric_arrays(session)  # a projection head, or a fine-tuned backbone
    arrays.update(metric)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "images": images_meta,
        "params": {
            "partition": _absolute(session.partition_params.to_dict(), "edge_weights"),
            "features": _absolute(asdict(session.feature_params), "weights"),
            "projection": asdict(session.projection_params),
        },
        "gradient_keys": [_key_json(k) for k in session._gradient_keys],
        "classes": [asdict(c) for c in session.classes.values()],
        "next_id": int(session.next_id),
        "n_label_images": len(session.label_images),
    }
    if backbone is not None:
        meta[BACKBONE_META] = backbone
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def _key_json(key: tuple | None) -> list | None:
    """A gradient key as JSON, its weights file made absolute as the partition's is.

    Else a key saved with a relative path never matches the parameters read back,
    and the saved gradients (HED: seconds per image) are computed again.
    """
    if not key:
        return None
    return [key[0], absolute_file(key[1]), list(key[2])]


def absolute_file(value):
    """``value`` made an absolute path when it names an existing file; else as it is."""
    return os.path.abspath(value) if isinstance(value, str) and os.path.isfile(value) else value


def _absolute(params: dict, key: str) -> dict:
    """``params`` with its ``key`` made absolute when it names an existing file."""
    return {**params, key: absolute_file(params.get(key))} if key in params else params


def source_files(session) -> set[Path]:
    """The resolved paths of the files the session's images were read from."""
    return {Path(rec.path).resolve() for rec in session.images if rec.path is not None}


def session_path(path: str | os.PathLike) -> Path:
    """``path`` with ``.featann`` appended when missing (x.FEATANN is one too): the name
    :func:`save_session` writes."""
    path = Path(path)
    return path if path.suffix.lower() == SUFFIX else path.with_name(path.name + SUFFIX)


def checked_session_path(path: str | os.PathLike) -> Path:
    """The file :func:`write_snapshot` writes for ``path``, which must name a file:
    :func:`session_path` of it, after refusing a folder (IsADirectoryError), an empty
    name or one ending with a path separator (ValueError).

    A folder was taken for a file name: ``adir`` wrote ``adir.featann`` beside the
    folder, ``newdir/`` wrote ``newdir.featann`` in its parent, a folder named
    ``x.featann`` failed on the rename with a bare IsADirectoryError, and ``""``
    with "PosixPath('.') has an empty name".
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise ValueError("no file name given to save the session to")
    if text.endswith(tuple(s for s in (os.sep, os.altsep) if s)):
        raise ValueError(f"{text} ends with a path separator: give a file name for the "
                         "session, not a folder")  # fmt: skip
    if os.path.isdir(text):
        raise IsADirectoryError(f"{text} is a folder: give a file name for the session "
                                "(such as <folder>/session.featann)")  # fmt: skip
    target = session_path(text)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder: the session cannot be written "
                                "there; give another file name")  # fmt: skip
    return target


def write_snapshot(arrays: dict, path: str | os.PathLike, progress=None) -> Path:
    """Write a :func:`session_snapshot` to ``path`` (compressed; safe in a worker thread).

    ``.featann`` is appended when missing; the file is written under a
    temporary name and renamed, so an interrupted or cancelled write never
    leaves a broken file (and a cancelled one leaves the old file as it was).
    A missing folder is created. The folder it is written to is recorded, so that images found at the same
    place relative to the file are found again after the project folder moved.

    Parameters
    ----------
    arrays : dict
        From :func:`session_snapshot`.
    path : str or path-like
    progress : Progress, optional
        A stage of 100 steps, the percent of the bytes written (many small
        arrays move it little, a large one much); its cancel stops the write between
        two arrays (:class:`~napari_featann.core.progress.Cancelled`).

    Raises
    ------
    ValueError, IsADirectoryError
        ``path`` names no file (as :func:`save_session`); nothing is written.
    """
    from .core.progress import ensure_progress

    progress = ensure_progress(progress)
    path = checked_session_path(path)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta["saved_in"] = os.path.abspath(path.parent)
    encoded = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays = {**arrays, "__meta__": encoded}
    sizes = [max(1, np.asarray(a).nbytes) for a in arrays.values()]
    total, done, shown = sum(sizes), 0, 0  # the bar in percent of the bytes written
    progress.init(100, f"writing {path.name}")
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for (key, value), size in zip(arrays.items(), sizes, strict=True):
                progress.check()
                with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
                done += size
                if done * 100 // total > shown:
                    progress.update(done * 100 // total - shown)
                    shown = done * 100 // total
        os.replace(tmp, path)  # fails, for one, where path is a folder: no temporary left
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return path


def _read_meta(npz, path) -> dict:
    """The session's JSON document; every refusal names the file ``path``."""
    if "__meta__" not in npz.files:
        raise SessionFileError(f"{path} is not a napari-featann session (no metadata)")
    try:
        meta = json.loads(bytes(npz["__meta__"]).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionFileError(f"{path}: corrupted session metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SessionFileError(f"{path} is not a napari-featann session file")
    if int(meta.get("version", 0)) > FORMAT_VERSION:
        raise SessionFileError(
            f"{path}: session format version {meta['version']} is newer than this "
            f"napari-featann understands ({FORMAT_VERSION}); please upgrade"
        )
    return meta


def load_session(path: str | os.PathLike, *, image_dir=None):
    """Read a session written by :func:`save_session`.

    Parameters
    ----------
    path : str or path-like
    image_dir : str or path-like, or a list of them, optional
        Folders that hold the session's images, when they were moved without
        the session file. An image not found where it was, nor at the same
        place relative to the session file, is looked for in each, by its
        path's last parts, longest first (``<folder>/<sub-folder>/<name>``,
        then ``<folder>/<name>``).

    An image found anywhere but where it was must be the image saved: the
    same shape and, in files that store it (those saved since the hash was
    added), the same hash of its pixels; another image of that name is refused.

    Raises
    ------
    ImagesNotFoundError
        Image files it refers to were not found, or only other images of their
        names: the message lists (the first of) them and how to give their
        folder; nothing is loaded. A :class:`SessionFileError`.
    SessionFileError
        The file is missing, corrupted, not a session, from a newer version,
        or an image it refers to can no longer be read; or its contents do not
        agree (:mod:`~napari_featann.io_checks`: labels of classes it does not
        define, a ``next_id`` not above every segment id, arrays of the wrong
        length or shape, segments missing from their label image, a segment
        whose area or box in the table is not that of its pixels, invalid
        parameters, a learned metric that cannot be rebuilt from its arrays or
        a projection head for features of another width:
        :mod:`~napari_featann.io_metric`). The message always names the file
        (``path`` as given).
    FileNotFoundError
        An ``image_dir`` that is not a folder.
    """
    from .session import ClassInfo, FeatureParams, ProjectionParams, Session

    path = Path(path)
    if image_dir is None:
        image_dirs = []
    elif isinstance(image_dir, (str, os.PathLike)):
        image_dirs = [image_dir]
    else:
        image_dirs = list(image_dir)
    for folder in image_dirs:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"image_dir: no such folder: {folder}")
    if not path.is_file():
        raise SessionFileError(f"no such session file: {path}")
    if not zipfile.is_zipfile(path):
        raise SessionFileError(f"{path} is not a napari-featann session (not an npz archive)")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SessionFileError(f"{path} is not a readable session file: {exc}") from None
    classes = (Session, ClassInfo, FeatureParams, ProjectionParams)
    try:
        with npz:
            meta = _read_meta(npz, path)
            return _build(npz, meta, path, *classes, image_dirs=image_dirs)
    except SessionFileError as exc:
        if str(path) in str(exc):
            raise
        raise SessionFileError(f"{path}: {exc}") from None
    except _CORRUPTED as exc:  # a damaged archive, or JSON of the wrong structure
        raise SessionFileError(f"{path} is corrupted: {type(exc).__name__}: {exc}") from None


def _build(npz, meta, path, Session, ClassInfo, FeatureParams, ProjectionParams, image_dirs=()):
    check_meta(meta, path)
    records, missing = read_images(npz, meta, path, image_dirs)
    if missing:
        files = {im["path"] for im in meta["images"] if not im["embedded"]}
        text = missing_message(missing, len(files), image_dirs)
        raise ImagesNotFoundError(f"{path}: {text}", missing, image_dirs)
    partition, features, projection = check_params(
        meta["params"], path, PartitionParams, FeatureParams, ProjectionParams
    )
    s = Session(records, partition=partition, features=features, projection=projection)
    for i in range(len(records)):
        s.class_masks[i] = np.array(npz[f"class_mask_{i}"], dtype=np.uint8)
        s.manual_masks[i] = np.array(npz[f"manual_mask_{i}"], dtype=bool)
        if f"gradient_{i}" in npz.files:
            s.gradients[i] = np.asarray(npz[f"gradient_{i}"], np.float32)
            key = meta["gradient_keys"][i]
            s._gradient_keys[i] = (key[0], key[1], tuple(key[2])) if key else None
    s.label_images = [np.array(npz[f"labels_{i}"], np.int32) for i in range(meta["n_label_images"])]
    s.segments = SegmentTable.from_arrays(npz) if "seg_ids" in npz.files else SegmentTable.empty()
    s.segment_class = np.array(npz["segment_class"], np.int32)
    s.features = np.array(npz["features"], np.float32) if "features" in npz.files else None
    s.embedding = np.array(npz["embedding"], np.float32) if "embedding" in npz.files else None
    if "refined_features" in npz.files:
        s.refined_features = np.array(npz["refined_features"], np.float32)
    s.classes = _load_classes(meta["classes"], path, ClassInfo)
    s.next_id = meta["next_id"]
    check_session(s, path)  # every array agrees with the others (else SessionFileError)
    load_metric(s, npz, meta, path)  # a projection head or a fine-tuned backbone (io_metric)
    return s


def _load_classes(entries: list, path, ClassInfo) -> dict:
    """The classes of a session file, by id, their colours as ``#rrggbb``.

    A colour that :func:`~.params.hex_color` refuses (a file edited by hand or
    written by another tool) would fail later in napari or the scatter: the
    class keeps its labels and gets its palette colour, with a warning that
    names the file, the class and the colour. Likewise a name that is missing,
    not text or blank becomes ``class <id>``, with a warning. An id that is not
    an integer from 1 to 255, and two classes with one id or one name, are
    refused (:class:`SessionFileError`): which labels are whose is not known.
    """
    classes, by_name = {}, {}
    for c in entries:
        cid = c["id"]
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid <= 255:
            raise SessionFileError(
                f"{path} is corrupted: a class has the id {cid!r}, not an integer from 1 to 255"
            )
        if cid in classes:
            raise SessionFileError(f"{path} is corrupted: two classes have the id {cid}")
        name = c.get("name")
        if not isinstance(name, str) or not name.strip():
            warnings.warn(
                f"{path}: class {cid} has no valid name ({name!r}); it is named 'class {cid}'",
                UserWarning,
                stacklevel=4,
            )
            name = f"class {cid}"
        if name in by_name:
            raise SessionFileError(
                f"{path} is corrupted: classes {by_name[name]} and {cid} are both named {name!r}"
            )
        try:
            color = hex_color(c.get("color"))
        except ValueError:
            color = PALETTE[(cid - 1) % len(PALETTE)]
            warnings.warn(
                f"{path}: class {name!r} (id {cid}) has no valid colour "
                f"({c.get('color')!r}); it is shown in {color}",
                UserWarning,
                stacklevel=4,
            )
        classes[cid], by_name[name] = ClassInfo(cid, name, color), cid
    return classes


def _grouped(session, key: str, belongs) -> dict[str, list[int]]:
    """Indices of the images that ``belongs`` accepts, by the value of their ``meta[key]``."""
    groups: dict[str, list[int]] = {}
    for i, rec in enumerate(session.images):
        if belongs(rec) and rec.meta.get(key):
            groups.setdefault(str(rec.meta[key]), []).append(i)
    return groups


def _file_stem(name: str) -> str:
    """``name`` as one file name: path separators (napari allows them in layer names) -> ``_``."""
    for sep in {"/", "\\", os.sep}:
        name = name.replace(sep, "_")
    return name


def _not_a_source(p: Path, sources: set[Path]) -> Path:
    """``p``, unless it is one of the session's image files (a mask must never replace one)."""
    if p.resolve() in sources:
        raise ValueError(f"{p} is one of the session's images: a mask written there would "
                         "replace it; choose another folder")  # fmt: skip
    return p


def _export_stacks(session, folder: Path, taken: set[str], sources: set[Path]) -> list[Path]:
    import tifffile

    groups = _grouped(session, "stack", lambda rec: rec.plane is not None)
    out = []  # taken: never a per-image mask's name
    for stack, members in groups.items():
        shape = session.images[members[0]].shape2d
        n = max(int(session.images[i].meta.get("planes", 0)) for i in members)
        n = max(n, 1 + max(session.images[i].plane for i in members))
        if any(session.images[i].shape2d != shape for i in members):
            continue  # not one stack after all (planes of different sizes)
        volume = np.zeros((n, *shape), np.uint8)  # planes left out of the session stay 0
        for i in members:
            volume[session.images[i].plane] = session.class_masks[i]
        p = _not_a_source(folder / f"{_unique(_file_stem(f'{stack}-stack'), taken)}.tif", sources)
        geo = mask_extratags(session.images[members[0]].meta, writeonce=False)  # every page
        tifffile.imwrite(p, volume, photometric="minisblack", metadata={"axes": "ZYX"},
                         compression="zlib", extratags=geo)  # fmt: skip
        out.append(p)
    return out


def _export_scenes(session, folder: Path, taken: set[str], sources: set[Path]) -> list[Path]:
    """One mask per tiled scene (``<scene>-mosaic.tif``), its tiles' masks in place."""
    import tifffile

    groups = _grouped(session, "scene", lambda rec: "tile" in rec.meta)
    out = []
    for scene, members in groups.items():
        h, w = (int(v) for v in session.images[members[0]].meta["scene_shape"])
        mosaic = np.zeros((h, w), np.uint8)  # tiles left out of the session stay 0
        for i in members:
            r, c, th, tw = (int(v) for v in session.images[i].meta["tile"])
            mosaic[r : r + th, c : c + tw] = session.class_masks[i]
        p = _not_a_source(folder / f"{_unique(_file_stem(f'{scene}-mosaic'), taken)}.tif", sources)
        geo = mask_extratags(session.images[members[0]].meta, whole=True)  # the scene's own
        tifffile.imwrite(p, mosaic, photometric="minisblack", compression="zlib", extratags=geo)
        out.append(p)
    return out


def mask_format(session) -> str:
    """The format :func:`export_masks` (and the dock's Export masks…) writes by default.

    Parameters
    ----------
    session : Session

    Returns
    -------
    {"tif", "png"}
        ``"tif"`` when any image carries georeferencing (``meta["geotiff"]``, read
        from a GeoTIFF): a TIFF mask keeps it, a PNG cannot; ``"png"`` otherwise.
    """
    return "tif" if any(rec.meta.get("geotiff") for rec in session.images) else "png"


def export_masks(session, folder: str | os.PathLike, fmt: str | None = None) -> list[Path]:
    """Write one mask of class ids per image, plus ``legend.json`` and ``legend.csv``.

    Parameters
    ----------
    session : Session
    folder : str or path-like
        Created if needed.
    fmt : {"png", "tif"} or None
        PNG (8-bit) or TIFF; None (the default): TIFF when any image carries
        georeferencing, else PNG, as the dock's Export masks… (:func:`mask_format`).
        A TIFF mask of an image read from a GeoTIFF keeps its georeferencing
        (moved to the tile's corner for a tile), and so do the stack and mosaic
        TIFFs, so that the masks lie over the images in QGIS or GDAL
        (:mod:`napari_featann.core.geotiff`); PNG masks are plain.

    Returns
    -------
    list of Path
        The mask files, in image order (named ``<image name>.png|tif``, a path
        separator in the name written ``_``, and ``-2`` and so on added when two
        names then meet), then,
        for each stack the images came from, one TIFF of all its planes' masks
        (``<stack name>-stack.tif``, shape (planes, H, W); ``-stack-2`` and so on
        when an image has that name), and for each scene cut into tiles, its
        mask (``<scene>-mosaic.tif``, the scene's shape).

    Raises
    ------
    ValueError
        A bad ``fmt``, or a mask would replace one of the session's image files
        (``folder`` holds the images): no image file is ever replaced, and a
        per-image mask's clash is found before anything is written.
    """
    if fmt is None:
        fmt = mask_format(session)
    if fmt not in ("png", "tif"):
        raise ValueError(f"fmt must be 'png' or 'tif', got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    paths = [folder / f"{_unique(_file_stem(rec.name), taken)}.{fmt}" for rec in session.images]
    sources = source_files(session)
    for p in paths:  # all checked before anything is written
        _not_a_source(p, sources)
    out = []
    for p, mask, rec in zip(paths, session.class_masks, session.images):
        if fmt == "png":
            import imageio.v3 as iio

            iio.imwrite(p, mask.astype(np.uint8))
        else:
            import tifffile

            tifffile.imwrite(p, mask.astype(np.uint8), extratags=mask_extratags(rec.meta))
        out.append(p)
    out.extend(_export_stacks(session, folder, taken, sources))
    out.extend(_export_scenes(session, folder, taken, sources))
    legend = [{"id": 0, "name": "unlabelled", "color": "#000000"}] + [
        {"id": c.id, "name": c.name, "color": c.color} for c in session.classes.values()
    ]
    (folder / "legend.json").write_text(json.dumps(legend, indent=2))
    # CSV quoting (a quote doubled), UTF-8: names as typed, for spreadsheets and csv readers
    quoted = ['"' + d["name"].replace('"', '""') + '"' for d in legend]
    lines = ["id,name,color"] + [f"{d['id']},{q},{d['color']}" for d, q in zip(legend, quoted)]
    (folder / "legend.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
