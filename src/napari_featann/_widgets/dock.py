"""The "Feature Space Annotation" dock widget.

:class:`FeatureSpaceWidget` owns one :class:`~napari_featann.session.Session`
and shows it: napari layers per image (see :mod:`.layers`), the parameter
panels, and the feature-space scatter where a box or lasso labels many
segments at once. Long steps run as cancellable jobs (:mod:`.workers`); the
key bindings and the closing are in :mod:`.closing`.

The public methods (``load_images``, ``start``, ``select_box``, ``assign``,
``focus_segment``, ``undo`` ...) drive everything without a mouse, for tests
and scripts.
"""

from __future__ import annotations

import weakref

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ._compat import avoid_llvm_clash
from .closing import ClosingMixin
from .correct import CorrectMixin
from .files import SessionFilesMixin
from .inputs import InputsMixin
from .layers import META_ROLE, META_SESSION, LayerSet, paint_atoms_to_flat
from .learn import LearnMixin
from .link import ScatterLinkMixin, Thumbnails, click_callback
from .panels import ClassManager, FeaturesPanel, PartitionPanel, ProjectionPanel
from .pipeline import JobsMixin
from .volume import StackVolumes, stack_names

__all__ = ["FeatureSpaceWidget"]


class FeatureSpaceWidget(ClosingMixin, LearnMixin, CorrectMixin, ScatterLinkMixin, JobsMixin,
                         SessionFilesMixin, InputsMixin, QWidget):  # fmt: skip
    """Dock widget: images -> segments -> features -> scatter -> labels.

    Parameters
    ----------
    napari_viewer : napari.Viewer

    Signals
    -------
    job_finished(str, str)
        A job ended: its name (``"pipeline"``, ``"preview"``, ``"re-cut"``,
        ``"re-project"``) and status (``"done"``, ``"cancelled"``, ``"error"``).
    session_changed()
        Another session object is shown (load, new images, pipeline result).
    """

    job_finished = Signal(str, str)
    session_changed = Signal()
    session_written = Signal(str)  # a session file was written (save or autosave)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        avoid_llvm_clash()  # before anything imports torch (see _compat)
        self.viewer = napari_viewer
        self._session = None
        self._loaded_from, self._loaded_tile = [], None  # what the session was read with
        self._selected_ids = np.zeros(0, np.int64)
        self._hide_labelled = False
        self._shown_embedding = None
        self.dirty = False
        self.last_error = ""
        self.layers = LayerSet(napari_viewer, self._on_paint)
        self.layers.key_binder = self._bind_layer_keys
        # layer-list thumbnails follow a labelling 0.3 s later, off the labelling frame
        self._thumbnail_timer = QTimer(self, singleShot=True, interval=300)
        self._thumbnail_timer.timeout.connect(self.layers.refresh_thumbnails)
        # stacks' classes as 3-D layers, on request (Ctrl+Z there undoes in the session)
        self.volumes = StackVolumes(napari_viewer, key_binder=self._bind_layer_keys)
        self._volume_timer = QTimer(self, singleShot=True, interval=300)
        self._volume_timer.timeout.connect(self._update_volumes)
        self._init_jobs()
        self._init_files()
        self._build_ui()
        self._bound_keys: dict[str, object] = {}
        self._bind_viewer_keys()
        self._click_cb = click_callback(self._on_canvas_click)
        napari_viewer.mouse_drag_callbacks.append(self._click_cb)
        self._init_inputs()
        self._closed = False
        self._watched_window = None  # the top-level window whose closing saves the work
        self._key_layers: dict[int, weakref.ref] = {}  # layers whose Ctrl+Z this dock took
        self.refresh_layer_list()
        self._adopt_opened_sessions()
        self._update_enabled()

    # ================================================================ UI
    def _build_ui(self) -> None:
        from .scatter import ScatterView

        # -- input
        box = QGroupBox("Images")
        self.layer_list = QListWidget()
        self.layer_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.layer_list.setMaximumHeight(90)
        self.layer_list.setToolTip("Image layers to annotate (several with Ctrl/Shift)")
        self.open_button = QPushButton("Open folder…")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Partition, describe and project all images (one job)")
        self.cancel_button = QPushButton("Cancel")
        self.open_button.clicked.connect(lambda: self._guard(self._ask_folder))
        self.start_button.clicked.connect(lambda: self._guard(self.start))
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        for b in (self.open_button, self.start_button, self.cancel_button):
            row.addWidget(b)
        lay = QVBoxLayout(box)
        lay.addWidget(self.layer_list)
        lay.addLayout(self._bands_row())
        lay.addLayout(row)

        # -- navigation and history
        self.image_spin = QSpinBox()
        self.image_spin.setMinimum(1)
        self.image_spin.setMaximum(1)
        self.image_spin.valueChanged.connect(lambda v: self._set_current_image(v - 1))
        self.image_name = QLabel("")
        self.boundaries_check = QCheckBox("Show segment boundaries")
        self.boundaries_check.setChecked(True)
        self.boundaries_check.toggled.connect(self.layers.set_boundaries_visible)
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.undo_button.setToolTip("Undo the last labelling action (Ctrl+Z)")
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        nav = QHBoxLayout()
        nav.addWidget(QLabel("Image"))
        nav.addWidget(self.image_spin)
        nav.addWidget(self.image_name, 1)
        nav2 = QHBoxLayout()
        nav2.addWidget(self.boundaries_check, 1)
        nav2.addWidget(self.undo_button)
        nav2.addWidget(self.redo_button)

        # -- panels
        self.class_manager = ClassManager()
        self.class_manager.current_changed.connect(self._on_current_class)
        self.class_manager.classes_changed.connect(self._on_classes_changed)
        self.partition_panel = PartitionPanel()
        self.partition_panel.preview_button.changed.connect(
            lambda: self._guard(self.preview_partition)
        )
        self.partition_panel.apply_button.changed.connect(
            lambda: self._guard(self.apply_partition))  # fmt: skip
        self.partition_panel.apply_one_button.changed.connect(
            lambda: self._guard(lambda: self.apply_partition(images=[self.current_image]))
        )
        self.features_panel = FeaturesPanel()
        self.projection_panel = ProjectionPanel()
        self.projection_panel.reproject_button.changed.connect(
            lambda: self._guard(self.reproject))  # fmt: skip
        files = QWidget()
        fl = QVBoxLayout(files)
        self.save_button = QPushButton("Save session…")
        self.load_button = QPushButton("Open session…")
        self.export_button = QPushButton("Export masks…")
        self.volume_button = QPushButton("Show stack in 3-D")
        self.volume_button.setToolTip("The current stack's classes as one 3-D Labels layer "
                                      "(read-only; it follows the labelling)")  # fmt: skip
        self.volume_button.clicked.connect(lambda: self._guard(self.show_stack_volume))
        self.save_button.clicked.connect(lambda: self.save_session(wait=False))
        self.load_button.clicked.connect(lambda: self.load_session(wait=False))
        self.export_button.clicked.connect(lambda: self.export_masks())
        self.autosave_spin = QSpinBox()
        self.autosave_spin.setRange(0, 120)
        self.autosave_spin.setValue(self.AUTOSAVE_MINUTES)
        self.autosave_spin.setPrefix("Autosave every ")
        self.autosave_spin.setSuffix(" min")
        self.autosave_spin.setSpecialValueText("Autosave off")
        self.autosave_spin.valueChanged.connect(self.set_autosave_minutes)
        for w in (self.save_button, self.load_button, self.export_button, self.volume_button,
                  self.autosave_spin):  # fmt: skip
            fl.addWidget(w)
        fl.addStretch(1)
        self.tabs = QTabWidget()
        for page, title in (
            (self.class_manager, "Classes"),
            (self.partition_panel.native, "Partition"),
            (self.features_panel.native, "Features"),
            (self.projection_panel.native, "Projection"),
            (self._build_learn_tab(), "Learn"),
            (self._build_correct_tab(), "Correct"),
            (files, "Session"),
        ):
            scroll = QScrollArea()  # a small minimum height: the scatter gets the room
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.tabs.addTab(scroll, title)
        self.tabs.currentChanged.connect(self._fit_tab)
        self._fit_tab(0)

        # -- scatter
        self.scatter = ScatterView()
        self.scatter.selection_made.connect(self._on_selection)
        self.scatter.point_clicked.connect(self._on_point_clicked)
        self.scatter.hide_labelled_toggled.connect(self.set_hide_labelled)
        self.thumbnails = Thumbnails(lambda: self._session)
        self.scatter.set_thumbnail_provider(self.thumbnails)
        for k in range(1, 10):
            sc = QShortcut(str(k), self.scatter)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda k=k: self.class_manager.select_by_key(k))

        self.status_label = QLabel("Pick image layers (or open a folder), then Start.")
        self.status_label.setWordWrap(True)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(box)
        tl.addLayout(nav)
        tl.addLayout(nav2)
        tl.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(top)
        layout.addWidget(self.scatter, 1)
        layout.addWidget(self.status_label)
        self.setMinimumWidth(360)

    def _fit_tab(self, index: int) -> None:
        """Size the tab widget to the page shown, not to the tallest page."""
        page = self.tabs.widget(index)
        if page is not None:
            height = page.widget().sizeHint().height() + self.tabs.tabBar().sizeHint().height()
            self.tabs.setFixedHeight(height + 8)

    def _update_enabled(self) -> None:
        busy = self.busy
        has = self._session is not None
        projected = has and self._session.embedding is not None
        for w in (self.open_button, self.start_button, self.load_button, self.layer_list,
                  self.bands_edit, self.tile_spin):  # fmt: skip
            w.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        for w in (self.partition_panel.preview_button, self.partition_panel.apply_button):
            w.enabled = has and not busy
        self.partition_panel.apply_one_button.enabled = projected and not busy
        self.projection_panel.reproject_button.enabled = has and not busy and (
            self._session.features is not None)  # fmt: skip
        self.undo_button.setEnabled(has and not busy and self._session.history.can_undo)
        self.redo_button.setEnabled(has and not busy and self._session.history.can_redo)
        self.scatter.setEnabled(projected and not busy)
        self.class_manager.set_busy(busy)  # no class deletion while a job runs
        self.layers.set_paintable(not busy and has and bool(self._session.classes))
        for w in (self.save_button, self.export_button):
            w.setEnabled(has and not busy)
        self.volume_button.setEnabled(has and not busy and bool(stack_names(self._session)))
        self._update_learn_enabled()  # no-op until the Learn tab is built
        self._update_correct_enabled()

    # ================================================================ messages
    def _status(self, text: str) -> None:
        self.status_label.setText(text)

    def _info(self, text: str) -> None:
        from napari.utils.notifications import show_info

        self._status(text)
        show_info(text)

    def _warn(self, text: str) -> None:
        from napari.utils.notifications import show_warning

        self._status(text)
        show_warning(text)

    def _warn_skipped(self, failures: dict) -> None:
        """Warn about the files that could not be read (path -> why), if any."""
        if failures:
            self._warn("skipped: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))

    def _error(self, title: str, text: str, box: bool = False) -> None:
        """Report an error: status line, napari notification and (``box``) a message box."""
        from napari.utils.notifications import show_error

        self.last_error = text
        self._status(f"{title}: {text}")
        show_error(f"{title}: {text}")
        if box:
            mb = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok,
                             self)  # fmt: skip
            mb.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            mb.open()  # not exec(): never blocks the event loop

    def _guard(self, fn) -> None:
        """Run a button's action; expected errors become messages, state unchanged."""
        from ..core.images import ImageLoadError
        from ..ml.errors import WeightsError

        try:
            fn()
        except (ValueError, RuntimeError, LookupError, ImageLoadError, WeightsError) as exc:
            self._error("Error", str(exc))

    def _summary(self) -> str:
        s = self._session.summary()
        return (f"{s['images']} images, {s['segments']} segments, {s['labelled']} labelled, "
                f"{s['classes']} classes")  # fmt: skip

    # ================================================================ session
    @property
    def session(self):
        """The session shown (None before images are loaded)."""
        return self._session

    def set_session(self, session, source_layers: dict | None = None, adopt=()) -> None:
        """Show ``session``: layers, classes, parameters, scatter.

        Parameters
        ----------
        session : Session
        source_layers : dict of int to napari Image layer, optional
            The user's layers holding the images (reused, not duplicated).
        adopt : iterable of layers
            Layers already made for this session (by the reader).
        """
        if self.busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        from .. import learning
        from ..core.pixels import warm_up
        from ..ml import projection

        warm_up()  # compile the pixel writer in the background: the first box is quick
        learning.warm_up()  # and import metric learning's libraries: the first Learn too
        if session.embedding is None:
            projection.warm_up()  # and UMAP's code, while the user looks or Start runs
        self._session = session
        self._loaded_from = []
        self._loaded_tile = self.chosen_tile()  # a session opened: the Tiles shown are its own
        self.select_listed()  # an old pick would replace this session at the next Start
        self._selected_ids = np.zeros(0, np.int64)
        self.clear_clicks()  # split and merge clicks name segments of the session shown before
        self.layers.set_session(session, source_layers, adopt)
        self.volumes.clear()
        self._show_bands(session)
        self.class_manager.set_session(session)
        self.partition_panel.set_params(session.partition_params)
        self.features_panel.set_params(session.feature_params)
        self.projection_panel.set_params(session.projection_params)
        self.image_spin.blockSignals(True)
        self.image_spin.setMaximum(max(session.n_images, 1))
        self.image_spin.setValue(1)
        self.image_spin.blockSignals(False)
        self._shown_embedding = None
        self.scatter.set_points(np.zeros((0, 2)), np.zeros((0, 4)))  # not the old session's
        self._set_current_image(0)
        self._sync_scatter()
        self.thumbnails._rgb.clear()
        self.session_changed.emit()
        self._update_enabled()
        self._warn_skipped(session.load_failures)

    def load_images(self, sources, names=None, bands=None, tile=None):
        """Load images into a new session (not yet partitioned) and show them.

        Parameters
        ----------
        sources : folder, file list, array list, or list of napari Image layers
        names : list of str, optional
            Names for array sources.
        bands : sequence of int, optional
            Channels of multi-band images to use (one, or red, green, blue); by
            default those typed in the *Bands* field, else all (RGB or grey).
        tile : int, optional
            Cut larger images into tiles of this side; by default the *Tiles*
            box's value (none when it is off).

        Returns
        -------
        Session
        """
        loaded = self.read_images(sources, names=names, bands=bands, tile=tile)
        self.show_loaded(loaded)
        self._status(f"loaded {loaded.session.n_images} images: press Start")
        return loaded.session

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images")
        if folder:
            self.load_images(folder)

    def _adopt_opened_sessions(self) -> None:
        """Show a session opened by the reader (layers tagged with a Session).

        While a job runs the session waits: it is shown when the job has ended.
        """
        if self._closed:
            return
        found: dict[int, tuple] = {}
        for layer in self.viewer.layers:
            s = layer.metadata.get(META_SESSION)
            if s is not None and s is not self._session and META_ROLE in layer.metadata:
                found.setdefault(id(s), (s, []))[1].append(layer)
        if found and self.busy:
            self._adopt_after_job = True
            self._status(f"a session was opened while {self._job_name} runs: "
                         "it is shown when that ends (or cancel it)")  # fmt: skip
            return
        for s, layers in found.values():
            self._keep_unsaved()
            self.set_session(s, adopt=layers)
            self._status(f"opened session: {self._summary()}")

    # ================================================================ images
    @property
    def current_image(self) -> int:
        """Index of the image shown."""
        return self.layers.current

    @current_image.setter
    def current_image(self, index: int) -> None:
        self._set_current_image(int(index))

    def _set_current_image(self, index: int) -> None:
        s = self._session
        if s is None or not s.n_images:
            return
        if not 0 <= index < s.n_images:
            raise IndexError(f"image {index} out of range (0..{s.n_images - 1})")
        self.layers.show(index)
        self.layers.set_selected_class(self.current_class)
        self.image_spin.blockSignals(True)
        self.image_spin.setValue(index + 1)
        self.image_spin.blockSignals(False)
        rec = s.images[index]
        self.image_name.setText(f"of {s.n_images}: {rec.name}")
        self.image_name.setToolTip(f"{rec.name}: {rec.shape2d[1]} x {rec.shape2d[0]} pixels")
        self._sync_plane_slider()

    def layers_for(self, index: int) -> tuple:
        """The (image, classes, segments) layers of image ``index`` (created if needed)."""
        return self.layers.layers_for(index)

    # ================================================================ classes
    @property
    def current_class(self) -> int:
        """The class that box and lasso selections assign (0: none yet)."""
        return self.class_manager.current_class

    def set_current_class(self, class_id: int) -> None:
        """Choose the class assigned by the next selection."""
        self.class_manager.set_current(class_id)

    def add_class(self, name: str | None = None, color: str | None = None) -> int:
        """Add a class, make it current and return its id."""
        return self.class_manager.add_class(name, color)

    def _on_current_class(self, class_id: int) -> None:
        self.layers.set_selected_class(class_id)
        if self._session is not None and class_id in self._session.classes:
            self._status(f"current class: {self._session.classes[class_id].name}")

    def _on_classes_changed(self) -> None:
        self.layers.update_colormaps()
        self.layers.refresh_classes()
        self._sync_scatter()
        self._touch()

    def assign(self, segment_ids, class_id: int | None = None) -> dict:
        """Give a class (default: the current one; 0 unlabels) to segments; undoable.

        Returns the number of changed pixels per image (see ``Session.assign``).
        """
        s = self._session
        cid = self.current_class if class_id is None else class_id
        changed = s.assign(segment_ids, cid)
        name = s.classes[cid].name if cid else "unlabelled"
        n = len(np.unique(segment_ids))
        if not changed:  # all had that class already: no undo step, nothing to save
            self._status(f"{n} segments are {name} already: nothing changed")
            return changed
        self.layers.refresh_classes(changed, thumbnail=False)
        self._thumbnail_timer.start()
        self._sync_scatter()
        self._touch()
        self._status(f"{n} segments -> {name}; {self._summary()}")
        return changed

    # ================================================================ painting and history
    def _on_paint(self, image_index: int, event) -> None:
        s = self._session
        if s is None:
            return
        flat, old, new = paint_atoms_to_flat(event.value, s.class_masks[image_index].shape)
        if flat.size:  # the new values from the event: the data may not be written yet
            s.mark_painted(image_index, flat, old, new)
            self._touch()

    def undo(self) -> str | None:
        """Undo the last labelling or editing action; returns its description."""
        return self._history("undo")

    def redo(self) -> str | None:
        """Redo the last undone action; returns its description."""
        return self._history("redo")

    def _history(self, which: str) -> str | None:
        s, busy = self._session, self.busy
        if busy:  # Ctrl+Z pressed while a job runs: say why nothing happens
            self._status(f"nothing to {which} while a job runs (wait, or cancel it)")
        if s is None or busy:
            return None
        before = [id(a) for a in s.label_images] + [id(s.segments)]
        classes = [(k, c.name, c.color) for k, c in s.classes.items()]
        desc = s.undo() if which == "undo" else s.redo()
        if desc is None:
            self._status(f"nothing to {which}")
            return None
        if [id(a) for a in s.label_images] + [id(s.segments)] != before:
            self.clear_clicks()  # the split target may be gone
            self.layers.update_structure()
        for (_i, role), layer in self.layers._layers.items():
            if role == "classes":
                layer.refresh()
        if [(k, c.name, c.color) for k, c in s.classes.items()] != classes:  # any class edit
            self.class_manager.follow_session()
        closed = self._sync_scatter(keep_view=True)
        self._touch()
        self._after_history(which, desc, closed)  # the status; proposal groups follow (Learn tab)
        return desc

    def _touch(self) -> None:
        if self.volumes.shown:
            self._volume_timer.start()  # the 3-D view follows, off the labelling frame
        self.dirty = True
        self._autosave_pending = True
        self._update_enabled()
