"""Session files from the dock: save, load, autosave, export masks.

A mixin of :class:`~napari_featann._widgets.dock.FeatureSpaceWidget`; it only
uses the dock's public state (``session``, ``set_session``) and its message
helpers. Errors never lose anything: a failed load keeps the current session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QMessageBox

__all__ = [
    "SessionFilesMixin",
    "default_autosave_path",
    "image_folder_dialog",
    "old_autosave_path",
    "session_key",
]

AUTOSAVE_NAME = "featann-autosave-{key}.featann"  # next to the images
HOME_AUTOSAVE_NAME = "autosave-{hint}{key}.featann"  # in ~/.featann or $FEATANN_HOME
OLD_AUTOSAVE_NAME = "featann-autosave.featann"  # before one file per set of images
OLD_HOME_AUTOSAVE_NAME = "autosave.featann"


def _plain(value):
    """Ints, or lists of ints, as Python values (a tuple and a reloaded list read alike)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        return [int(v) for v in value]
    return int(value)


def _image_key(rec) -> str:
    """What identifies one image of a session, as text (source, plane, tile, bands)."""
    where = [_plain(rec.meta.get(k)) for k in ("plane", "tile", "bands")]
    if rec.path:
        return repr([os.path.abspath(rec.path), *where])
    import hashlib

    import numpy as np

    data = np.asarray(rec.data)
    flat = data.reshape(-1)
    sample = np.ascontiguousarray(flat[:: max(1, flat.size // 4096)])  # cheap, content-bound
    return repr(
        [rec.name, list(data.shape), str(data.dtype), hashlib.sha1(sample).hexdigest(), *where]
    )


def session_key(session) -> str:
    """A short hash that names a session's set of images (order does not matter).

    Built from each image's absolute source path (or, for an image given as an
    array, its name, shape and a sample of its pixels), its plane, its tile
    window and its bands, so it is the same whenever the same images are read
    with the same *Tiles* and *Bands* settings, and differs for another subset.

    Parameters
    ----------
    session : Session

    Returns
    -------
    str
        Ten hexadecimal digits.
    """
    import hashlib

    text = "\n".join(sorted(_image_key(r) for r in session.images))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _featann_home() -> Path:
    env = os.environ.get("FEATANN_HOME")
    return Path(env) if env else Path.home() / ".featann"


def _own_folder(session) -> Path | None:
    """The one writable folder all the session's images come from, else None."""
    folders = {str(Path(r.path).parent) for r in session.images if r.path}
    if len(folders) == 1 and all(r.path for r in session.images):
        folder = Path(next(iter(folders)))
        if os.access(folder, os.W_OK):
            return folder
    return None


def old_autosave_path(session) -> Path:
    """Where versions before one autosave per set of images autosaved these images.

    ``featann-autosave.featann`` next to the images when they all come from one
    writable folder, else ``autosave.featann`` in ``$FEATANN_HOME`` (default
    ``~/.featann/``). That file may hold the work on these images or on others
    (it was shared by every session autosaving there).

    Parameters
    ----------
    session : Session

    Returns
    -------
    Path
    """
    folder = _own_folder(session)
    if folder is not None:
        return folder / OLD_AUTOSAVE_NAME
    return _featann_home() / OLD_HOME_AUTOSAVE_NAME


def default_autosave_path(session) -> Path:
    """Where a session autosaves unless told otherwise: one file per set of images.

    Next to the images as ``featann-autosave-<key>.featann`` when they all come
    from one writable folder, else ``autosave-<folder or image>-<key>.featann``
    in ``$FEATANN_HOME`` (default ``~/.featann/``), ``<key>`` being
    :func:`session_key`: two sessions over other images (another subset of one
    folder, another napari window) never share the file, and the same images
    read again find theirs.

    Parameters
    ----------
    session : Session

    Returns
    -------
    Path
    """
    key = session_key(session)
    folder = _own_folder(session)
    if folder is not None:
        return folder / AUTOSAVE_NAME.format(key=key)
    folders = {str(Path(r.path).parent) for r in session.images if r.path}
    if folders:
        hint = Path(sorted(folders)[0]).name
    else:
        hint = session.images[0].name if session.images else ""
    hint = re.sub(r"[^A-Za-z0-9_.-]+", "_", hint).strip("._")[:40]
    return _featann_home() / HOME_AUTOSAVE_NAME.format(hint=f"{hint}-" if hint else "", key=key)


def image_folder_dialog(parent, path, exc) -> str | None:
    """Ask for the folder that holds the images a session file misses.

    Parameters
    ----------
    parent : QWidget or None
    path : path-like
        The session file.
    exc : ImagesNotFoundError
        Why it could not be opened (``exc.missing``: the files, and why).

    Returns
    -------
    str or None
        The folder chosen; None when the user declined or cancelled.
    """
    items = [Path(src).name + ("" if why == "not found" else f" ({why})")
             for src, why in list(exc.missing.items())[:5]]  # fmt: skip
    more = f" and {len(exc.missing) - 5} more" if len(exc.missing) > 5 else ""
    looked = "where they were and next to the session file"
    if exc.image_dirs:
        looked += " nor in " + ", ".join(exc.image_dirs)
    files = "1 image file" if len(exc.missing) == 1 else f"{len(exc.missing)} image files"
    text = (f"{files} of {Path(path).name} were not found {looked}: "
            f"{', '.join(items)}{more}.\n\nChoose the folder that holds them?")  # fmt: skip
    buttons = QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel
    answer = QMessageBox.question(parent, "Open session: images not found", text, buttons,
                                  QMessageBox.StandardButton.Open)  # fmt: skip
    if answer != QMessageBox.StandardButton.Open:
        return None
    folder = QFileDialog.getExistingDirectory(
        parent, f"Folder that holds the images of {Path(path).name}", str(Path(path).parent)
    )
    return folder or None


class SessionFilesMixin:
    """Save / load / autosave / export for the dock (needs ``session``, ``set_session``)."""

    AUTOSAVE_MINUTES = 5

    def _init_files(self) -> None:
        self.session_path: Path | None = None
        self.autosave_target: Path | None = None  # None: default_autosave_path
        self._autosave_pending = False
        self._writer = None  # the Job writing a session file in the background
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self._autosave_tick)
        self.set_autosave_minutes(self.AUTOSAVE_MINUTES)

    # ------------------------------------------------------------ autosave
    def set_autosave_minutes(self, minutes: float) -> None:
        """Autosave every ``minutes`` when there are changes (0 turns it off)."""
        self._autosave_timer.stop()
        if minutes and minutes > 0:
            self._autosave_timer.start(int(minutes * 60_000))

    def autosave_path(self) -> Path | None:
        """Where the next autosave goes (None without a session)."""
        if self.session is None:
            return None
        return self.autosave_target or default_autosave_path(self.session)

    def save_before_closing(self) -> Path | None:
        """Autosave changes not yet saved, now, when autosave is on (the viewer closes).

        Returns the file written, or None when there was nothing to save or
        autosave is off.
        """
        if self.session is None or not self._autosave_pending:
            return None
        if not self._autosave_timer.isActive():  # autosave off: the user's choice
            return None
        return self.autosave(wait=True)

    def _autosave_tick(self) -> None:
        if self._autosave_pending and not self.busy and not self.writing:
            self.autosave(wait=False)

    @property
    def writing(self) -> bool:
        """Whether a session file is being written in the background."""
        return self._writer is not None and self._writer.running

    def wait_for_write(self, timeout: float | None = None) -> None:
        """Block until the background write (if any) has finished and reported."""
        from qtpy.QtWidgets import QApplication

        job = self._writer
        if job is None or job.thread is None:
            return
        job.thread.join(timeout)
        while job.running:  # its outcome is delivered through the Qt event loop
            QApplication.processEvents()

    def _write(self, path: Path, what: str, wait: bool, on_saved) -> Path | None:
        """Snapshot the session now and write it (in a thread unless ``wait``)."""
        from ..io import session_snapshot, write_snapshot
        from .workers import run_job

        self.wait_for_write()
        try:
            snapshot = session_snapshot(self.session)  # copies: labelling may go on
        except (OSError, ValueError) as exc:
            self._error(what, f"could not save to {path}: {exc}", box=what != "Autosave")
            return None
        was_dirty, was_pending = self.dirty, self._autosave_pending
        self.dirty = self._autosave_pending = False
        result: list[Path] = []

        def done(out: Path) -> None:
            result.append(out)
            on_saved(out)
            self.session_written.emit(str(out))

        def unsaved() -> None:
            self.dirty = self.dirty or was_dirty  # nothing is lost: it stays unsaved
            self._autosave_pending = self._autosave_pending or was_pending

        def failed(exc: BaseException) -> None:
            unsaved()
            if not self._closed:
                self._error(what, f"could not save to {path}: {exc}", box=what != "Autosave")

        def finished(status: str) -> None:
            if status == "cancelled":  # the file on disk is as it was before
                unsaved()
                self._status(f"{what.lower()} cancelled: {path} not changed")

        def write(progress) -> Path:
            return write_snapshot(snapshot, path, progress)

        self._writer = run_job(write, progress_desc=what.lower(), on_done=done,
                               on_error=failed, on_finished=finished, parent_widget=self,
                               sync=wait or None)  # fmt: skip
        if not wait:
            self._status(f"{what.lower()}: writing {path}…")
            return path
        return result[0] if result else None

    def autosave(self, wait: bool = True) -> Path | None:
        """Save to :meth:`autosave_path` (no dialog); returns the file or None on error.

        With ``wait=False`` the file is written in a background thread (the
        timer does this): the session is copied at once and labelling goes on.
        """
        path = self.autosave_path()
        if path is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._warn(f"autosave to {path} failed: {exc}")
            return None
        return self._write(path, "Autosave", wait, lambda out: self._status(f"autosaved to {out}"))

    # ------------------------------------------------------------ save / load
    def save_session(self, path: str | os.PathLike | None = None,
                     wait: bool = True) -> Path | None:  # fmt: skip
        """Save the session (a file dialog when ``path`` is None); returns the file.

        With ``wait=False`` (the Save button) the session is copied at once and
        written in a background thread with a progress bar; an error is reported
        when the write fails, and the session then stays marked unsaved.
        """
        if self.session is None:
            self._error("Save session", "nothing to save: load images first")
            return None
        if path is None:
            start = str(self.session_path or Path.cwd() / "session.featann")
            path, _ = QFileDialog.getSaveFileName(self, "Save session", start,
                                                  "featann sessions (*.featann)")  # fmt: skip
            if not path:
                return None
        from ..io import checked_session_path

        try:  # the name save_session writes (x.FEATANN stays); never a folder
            path = checked_session_path(path)
        except (OSError, ValueError) as exc:
            self._error("Save session", f"could not save: {exc}", box=True)
            return None

        def saved(out: Path) -> None:
            self.session_path = out
            self._status(f"saved {out}")

        return self._write(path, "Save session", wait, saved)

    def load_session(self, path: str | os.PathLike | None = None, wait: bool = True,
                     image_dir=None):  # fmt: skip
        """Open a session file (a file dialog when ``path`` is None).

        On a bad file an error explains why and the current session stays.
        Unsaved changes of the current session are autosaved first. With
        ``wait=False`` (the Open button) the file is read as a cancellable job
        and the session is shown when it has been read; returns None then.

        When image files of the session are missing (moved without it), the
        user is asked for the folder that holds them (:meth:`ask_image_folder`)
        and the file is read again, looking there too (``image_dir`` of
        :func:`~napari_featann.io.load_session`, which also gives folders to
        look in from the start); declining keeps the current session.
        """
        from ..io import ImagesNotFoundError, load_session

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open session", str(Path.cwd()),
                                                  "featann sessions (*.featann)")  # fmt: skip
            if not path:
                return None
        if image_dir is None or isinstance(image_dir, (str, os.PathLike)):
            dirs = [] if image_dir is None else [str(image_dir)]
        else:
            dirs = [str(d) for d in image_dir]
        shown: list = []
        missing: list = []

        def read(progress):
            progress.init(1, f"reading {Path(path).name}")
            session = load_session(path, image_dir=dirs or None)
            progress.update(1)
            return session

        def show(session) -> None:
            self._keep_unsaved()
            self.set_session(session)
            self.session_path = Path(path)
            self.dirty = False
            found = f" (images looked for in {', '.join(dirs)}: save it to keep their new place)"
            self._status(f"opened {path}{found if dirs else ''}: {self._summary()}")
            shown.append(session)

        def images_missing(exc: BaseException) -> bool:
            if not isinstance(exc, ImagesNotFoundError):
                return False
            if wait:
                missing.append(exc)
            else:  # asked once the job has finished
                QTimer.singleShot(0, lambda: self._locate_images(path, exc, dirs, wait))
            return True

        self._run("open session", read, show, sync=wait or None, on_failed=images_missing)
        if missing:
            return self._locate_images(path, missing[0], dirs, wait)
        return shown[0] if shown else None

    def ask_image_folder(self, path, exc) -> str | None:
        """The folder the user picks for the images of session file ``path`` that ``exc``
        (an :class:`~napari_featann.io.ImagesNotFoundError`) misses; None: declined."""
        return image_folder_dialog(self, path, exc)

    def _locate_images(self, path, exc, dirs: list[str], wait: bool):
        """Ask where the missing images are and open ``path`` again looking there too."""
        if self._closed:
            return None
        folder = self.ask_image_folder(path, exc)
        if not folder:
            self._error("Open session", f"{Path(path).name} not opened, the session shown is "
                        f"kept: {exc}")  # fmt: skip
            return None
        try:
            return self.load_session(
                path, wait=wait, image_dir=list(dict.fromkeys([*dirs, folder]))
            )
        except RuntimeError as err:  # another job started meanwhile
            self._error("Open session", str(err))
            return None

    def _keep_unsaved(self) -> Path | None:
        """Autosave the current session if it has unsaved changes (before replacing it).

        Returns the file written, or None.
        """
        if self.session is not None and self.dirty:
            out = self.autosave()
            if out is not None:
                self._info(f"unsaved changes of the previous session were autosaved to {out}")
            return out
        return None

    def found_autosave(self) -> Path | None:
        """The autosave of the images shown, when one exists (see :func:`default_autosave_path`)."""
        if self.session is None or not self.session.images:
            return None
        path = default_autosave_path(self.session)
        return path if path.is_file() else None

    def _offer_autosave(self, just_written: Path | None = None) -> None:
        """Tell the user that these images have an autosave, which Open session… restores."""
        path = self.found_autosave()
        if path is not None and path != just_written:
            self._info(f"these images have an autosave, {path}: Open session… restores it")
        if self.session is None or not self.session.images:
            return
        old = old_autosave_path(self.session)
        if old.is_file() and old != just_written:
            self._info(f"an autosave from an earlier version is here, {old}; it may hold the "
                       "work on these images or on others: Open session… restores it")  # fmt: skip

    def export_masks(self, folder: str | os.PathLike | None = None, fmt: str | None = None):
        """Write one class mask per image plus a legend (a folder dialog when None).

        ``fmt`` None: TIFF when an image was read from a GeoTIFF (a TIFF mask keeps its
        georeferencing, a PNG cannot), else PNG (:func:`napari_featann.io.mask_format`,
        the rule of ``export_masks`` too).
        """
        from ..io import export_masks, mask_format

        if self.session is None:
            self._error("Export masks", "nothing to export: load images first")
            return None
        if fmt is None:
            fmt = mask_format(self.session)
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export masks to folder",
                                                      str(Path.cwd()))  # fmt: skip
            if not folder:
                return None
        try:
            files = export_masks(self.session, folder, fmt=fmt)
        except (OSError, ValueError) as exc:
            self._error("Export masks", f"could not export to {folder}: {exc}", box=True)
            return None
        self._status(f"exported {len(files)} masks to {folder}")
        return files
