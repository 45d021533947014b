"""Session files from the dock: save, load, autosave, export masks.

A mixin of :class:`~napari_featann._widgets.dock.FeatureSpaceWidget`; it only
uses the dock's public state (``session``, ``set_session``) and its message
helpers. Errors never lose anything: a failed load keeps the current session.
"""

from __future__ import annotations

import os
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

__all__ = ["SessionFilesMixin", "default_autosave_path"]

AUTOSAVE_NAME = "featann-autosave.featann"


def default_autosave_path(session) -> Path:
    """Next to the images when they come from one writable folder, else ``~/.featann/``."""
    folders = {str(Path(r.path).parent) for r in session.images if r.path}
    if len(folders) == 1 and all(r.path for r in session.images):
        folder = Path(folders.pop())
        if os.access(folder, os.W_OK):
            return folder / AUTOSAVE_NAME
    env = os.environ.get("FEATANN_HOME")
    home = Path(env) if env else Path.home() / ".featann"
    return home / "autosave.featann"


class SessionFilesMixin:
    """Save / load / autosave / export for the dock (needs ``session``, ``set_session``)."""

    AUTOSAVE_MINUTES = 5

    def _init_files(self) -> None:
        self.session_path: Path | None = None
        self.autosave_target: Path | None = None  # None: default_autosave_path
        self._autosave_pending = False
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

    def _autosave_tick(self) -> None:
        if self._autosave_pending and not self.busy:
            self.autosave()

    def autosave(self) -> Path | None:
        """Save to :meth:`autosave_path` now (no dialog); returns the file or None on error."""
        from ..io import save_session

        path = self.autosave_path()
        if path is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            out = save_session(self.session, path)
        except (OSError, ValueError) as exc:
            self._warn(f"autosave to {path} failed: {exc}")
            return None
        self._autosave_pending = False
        self._status(f"autosaved to {out}")
        return out

    # ------------------------------------------------------------ save / load
    def save_session(self, path: str | os.PathLike | None = None) -> Path | None:
        """Save the session (a file dialog when ``path`` is None); returns the file."""
        from ..io import save_session

        if self.session is None:
            self._error("Save session", "nothing to save: load images first")
            return None
        if path is None:
            start = str(self.session_path or Path.cwd() / "session.featann")
            path, _ = QFileDialog.getSaveFileName(self, "Save session", start,
                                                  "featann sessions (*.featann)")  # fmt: skip
            if not path:
                return None
        try:
            out = save_session(self.session, path)
        except (OSError, ValueError) as exc:
            self._error("Save session", f"could not save to {path}: {exc}", box=True)
            return None
        self.session_path = out
        self.dirty = False
        self._autosave_pending = False
        self._status(f"saved {out}")
        return out

    def load_session(self, path: str | os.PathLike | None = None):
        """Open a session file (a file dialog when ``path`` is None).

        On a bad file an error box explains why and the current session stays.
        Unsaved changes of the current session are autosaved first.
        """
        from ..io import SessionFileError, load_session

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open session", str(Path.cwd()),
                                                  "featann sessions (*.featann)")  # fmt: skip
            if not path:
                return None
        try:
            session = load_session(path)
        except SessionFileError as exc:
            self._error("Open session", str(exc), box=True)
            return None
        self._keep_unsaved()
        self.set_session(session)
        self.session_path = Path(path)
        self.dirty = False
        self._status(f"opened {path}: {self._summary()}")
        return session

    def _keep_unsaved(self) -> None:
        """Autosave the current session if it has unsaved changes (before replacing it)."""
        if self.session is not None and self.dirty:
            out = self.autosave()
            if out is not None:
                self._info(f"unsaved changes of the previous session were autosaved to {out}")

    def export_masks(self, folder: str | os.PathLike | None = None, fmt: str = "png"):
        """Write one class mask per image plus a legend (a folder dialog when None)."""
        from ..io import export_masks

        if self.session is None:
            self._error("Export masks", "nothing to export: load images first")
            return None
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
