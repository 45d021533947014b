"""Parameter panels of the dock (magicgui) and the class manager (Qt).

Each panel only edits parameters: ``params()`` reads them as the session's
dataclasses, ``set_params()`` shows them, and the dock connects the buttons.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.gradient import PAPER_SCALES
from ..core.partition import CRITERIA, PartitionParams
from ..params import MAX_CONTEXT_SCALE
from ..session import FeatureParams, ProjectionParams

__all__ = [
    "ClassManager",
    "FeaturesPanel",
    "PartitionPanel",
    "ProjectionPanel",
    "default_backbone_weights",
    "default_edge_weights",
]

_SHARED_WEIGHTS = Path("..") / "shared" / "weights"


def _default_file(name: str) -> str:
    p = Path.cwd() / _SHARED_WEIGHTS / name
    return str(p.resolve()) if p.is_file() else ""


def default_backbone_weights() -> str:
    """``../shared/weights/efficientnet_lite0_in1k_timm.pth`` (from the CWD) if present, else ""."""
    return _default_file("efficientnet_lite0_in1k_timm.pth")


def default_edge_weights() -> str:
    """``../shared/weights/hed_bsds500.pth`` (from the CWD) if present, else ""."""
    return _default_file("hed_bsds500.pth")


def _path_text(edit: FileEdit) -> str | None:
    """The typed path of a FileEdit, or None when empty (FileEdit would say ".")."""
    text = str(edit.line_edit.value).strip()
    return text or None


class PartitionPanel(Container):
    """Gradient, hierarchy criterion, cut and contour filter, with Preview / Apply buttons."""

    def __init__(self) -> None:
        self.gradient = ComboBox(label="Gradient", choices=("classic", "hed"), value="classic",
                                 tooltip="Lab colour gradient, or learned HED edges")  # fmt: skip
        self.edge_weights = FileEdit(label="HED weights", mode="r", filter="*.pth *.pt",
                                     value=default_edge_weights())  # fmt: skip
        self.multiscale = CheckBox(text="Multi-scale edges (0.5, 1, 1.5, 2)", value=False)
        self.criterion = ComboBox(label="Criterion", choices=CRITERIA, value="volume")
        self.cut = ComboBox(label="Cut by", choices=("regions", "threshold"), value="regions")
        self.regions = SpinBox(label="Regions / image", min=1, max=100_000, value=100)
        self.threshold = FloatSpinBox(label="Threshold", min=0.0, max=1e9, step=50.0, value=1000.0)
        self.frontier = FloatSpinBox(label="Contour filter", min=0.0, max=0.95, step=0.05,
                                     value=0.0, tooltip="remove contours weaker than this")  # fmt: skip
        self.preview_button = PushButton(text="Preview current image")
        self.apply_one_button = PushButton(text="Apply to this image",
                                           tooltip="re-cut the current image only")  # fmt: skip
        self.apply_button = PushButton(text="Apply to all")
        buttons = Container(widgets=[self.preview_button, self.apply_one_button,
                                     self.apply_button], layout="horizontal",
                            labels=False)  # fmt: skip
        buttons.margins = (0, 0, 0, 0)
        super().__init__(widgets=[self.gradient, self.edge_weights, self.multiscale,
                                  self.criterion, self.cut, self.regions, self.threshold,
                                  self.frontier, buttons])  # fmt: skip
        self.cut.changed.connect(self._sync)
        self.gradient.changed.connect(self._sync)
        self._sync()

    def _sync(self, *_) -> None:
        by_regions = self.cut.value == "regions"
        self.regions.visible = by_regions
        self.threshold.visible = not by_regions
        self.edge_weights.enabled = self.gradient.value == "hed"

    def params(self) -> PartitionParams:
        """The parameters shown, validated (raises ValueError with a clear message)."""
        by_regions = self.cut.value == "regions"
        return PartitionParams(
            gradient=self.gradient.value,
            edge_weights=_path_text(self.edge_weights) if self.gradient.value == "hed" else None,
            scales=PAPER_SCALES if self.multiscale.value else (1.0,),
            criterion=self.criterion.value,
            threshold=None if by_regions else float(self.threshold.value),
            regions=int(self.regions.value) if by_regions else None,
            frontier=float(self.frontier.value),
        ).validate()

    def set_params(self, p: PartitionParams) -> None:
        """Show ``p``."""
        self.gradient.value = p.gradient
        if p.edge_weights:
            self.edge_weights.value = p.edge_weights
        self.multiscale.value = len(tuple(p.scales)) > 1
        self.criterion.value = p.criterion
        self.cut.value = "threshold" if p.threshold is not None else "regions"
        if p.threshold is not None:
            self.threshold.value = float(p.threshold)
        if p.regions is not None:
            self.regions.value = int(p.regions)
        self.frontier.value = float(p.frontier)
        self._sync()


class FeaturesPanel(Container):
    """timm backbone name, local weights file (empty: timm's hub), device, and the context:
    on or off, its levels, the scale of its whole-image pass and its size weighting (these
    three enabled with it)."""

    def __init__(self) -> None:
        self.backbone = LineEdit(label="timm model", value="efficientnet_lite0")
        self.weights = FileEdit(label="Weights", mode="r", filter="*.pth *.pt *.safetensors",
                                value=default_backbone_weights(),
                                tooltip="local weights; empty means timm's hub (needs internet)")  # fmt: skip
        self.device = ComboBox(label="Device", choices=("auto", "cpu", "cuda"), value="auto")
        self.context = CheckBox(text="Context (whole-image maps)", value=True,
                                tooltip="add the whole image's feature maps pooled in each "
                                "segment (one extra pass per image; separates objects "
                                "from background much better)")  # fmt: skip
        d = FeatureParams()
        self.context_levels = SpinBox(label="Context levels", min=1, max=64,
                                      value=d.context_levels,
                                      tooltip="the backbone's deepest feature levels pooled "
                                      "(EfficientNet has 5; 4: strides 4, 8, 16, 32)")  # fmt: skip
        self.context_scale = FloatSpinBox(label="Context scale", min=0.1,
                                          max=MAX_CONTEXT_SCALE, step=0.25,
                                          value=d.context_scale,
                                          tooltip="resize factor of the whole-image pass "
                                          "(after the cap of 1024 px on the long side)")  # fmt: skip
        self.context_weight = ComboBox(label="Context weight", value=d.context_weight,
                                       choices=[("per level", "level"),
                                                ("finest map", "finest")],
                                       tooltip="how small segments' context is weighted "
                                       "down: per level (each level by its own map, full "
                                       "from 2 cells) or finest map (all levels by the "
                                       "finest map, full from 4 cells: sessions of earlier "
                                       "versions)")  # fmt: skip
        # (shown, exact): a scale the box rounds or clamps (2 decimals) is kept while unchanged
        self._scale_shown = (float(self.context_scale.value), float(d.context_scale))
        super().__init__(widgets=[self.backbone, self.weights, self.device, self.context,
                                  self.context_levels, self.context_scale,
                                  self.context_weight])  # fmt: skip
        self.context.changed.connect(self._sync)
        self._sync()

    def _sync(self, *_) -> None:
        on = bool(self.context.value)
        for w in (self.context_levels, self.context_scale, self.context_weight):
            w.enabled = on

    def params(self, base: FeatureParams | None = None) -> FeatureParams:
        """The parameters shown; fields not shown come from ``base``."""
        base = base or FeatureParams()
        name = str(self.backbone.value).strip()
        if not name:
            raise ValueError("give a timm model name")
        device = None if self.device.value == "auto" else self.device.value
        return dataclasses.replace(base, backbone=name, weights=_path_text(self.weights),
                                   device=device, context=bool(self.context.value),
                                   context_levels=int(self.context_levels.value),
                                   context_scale=self._scale(),
                                   context_weight=str(self.context_weight.value))  # fmt: skip

    def _scale(self) -> float:
        shown, exact = self._scale_shown
        value = float(self.context_scale.value)
        return exact if value == shown else value

    def set_params(self, p: FeatureParams) -> None:
        """Show ``p``."""
        self.backbone.value = p.backbone
        self.weights.line_edit.value = p.weights or ""
        self.device.value = p.device if p.device in ("cpu", "cuda") else "auto"
        self.context.value = bool(p.context)
        self.context_levels.value = int(p.context_levels)
        self.context_scale.value = float(p.context_scale)
        self._scale_shown = (float(self.context_scale.value), float(p.context_scale))
        self.context_weight.value = p.context_weight
        self._sync()


class ProjectionPanel(Container):
    """UMAP parameters and the Re-project button."""

    def __init__(self) -> None:
        d = ProjectionParams()
        self.n_neighbors = SpinBox(label="Neighbours", min=2, max=500, value=d.n_neighbors)
        self.min_dist = FloatSpinBox(label="Min distance", min=0.0, max=1.0, step=0.01,
                                     value=d.min_dist)  # fmt: skip
        self.target_weight = FloatSpinBox(label="Label weight", min=0.0, max=1.0, step=0.05,
                                          value=0.5, tooltip="0: structure only, 1: labels")  # fmt: skip
        self.seed = SpinBox(label="Seed", min=0, max=2**31 - 1, value=0)
        self.reproject_button = PushButton(text="Re-project")
        super().__init__(widgets=[self.n_neighbors, self.min_dist, self.target_weight, self.seed,
                                  self.reproject_button])  # fmt: skip

    def params(self, base: ProjectionParams | None = None) -> ProjectionParams:
        """The parameters shown; fields not shown come from ``base``."""
        return dataclasses.replace(
            base or ProjectionParams(), n_neighbors=int(self.n_neighbors.value),
            min_dist=float(self.min_dist.value), target_weight=float(self.target_weight.value),
            seed=int(self.seed.value),
        )  # fmt: skip

    def set_params(self, p: ProjectionParams) -> None:
        """Show ``p``."""
        self.n_neighbors.value = int(p.n_neighbors)
        self.min_dist.value = float(p.min_dist)
        self.target_weight.value = float(p.target_weight)
        self.seed.value = int(p.seed)


def _swatch(color: str, size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(color))
    return QIcon(pm)


class ClassManager(QWidget):
    """The classes of a session: add, rename, recolour, delete, choose the current one.

    Signals
    -------
    current_changed(int)
        The current class id (0 when there is none).
    classes_changed()
        A class was added, renamed, recoloured or deleted.
    """

    current_changed = Signal(int)
    classes_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = None
        self._current = 0
        self._busy = False  # a job runs: no deletion (it would change the segments' classes)
        self.list = QListWidget(self)
        self.list.setMaximumHeight(110)
        self.list.currentItemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self._ask_rename())
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.rename_button = QPushButton("Rename…")
        self.color_button = QPushButton("Colour…")
        self.delete_button = QPushButton("Delete")
        for b, slot, tip in (
            (self.add_button, self._ask_add, "Add a class"),
            (self.rename_button, self._ask_rename, "Rename the current class"),
            (self.color_button, self._ask_color, "Change the current class's colour"),
            (self.delete_button, self._delete_current, "Delete the current class (undoable)"),
        ):
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setToolTip("Keys 1-9 choose the current class")

    # ------------------------------------------------------------ state
    def set_session(self, session) -> None:
        """Show the classes of ``session`` (None: no session)."""
        self._session = session
        ids = list(session.classes) if session is not None else []
        self._current = self._current if self._current in ids else (ids[0] if ids else 0)
        self.refresh()
        self.current_changed.emit(self._current)

    def follow_session(self) -> None:
        """Show the session's classes again after undo or redo added or removed one."""
        ids = self.class_ids()
        current = self._current if self._current in ids else (ids[-1] if ids else 0)
        changed, self._current = current != self._current, current
        self.refresh()
        self.classes_changed.emit()
        if changed:
            self.current_changed.emit(current)

    @property
    def current_class(self) -> int:
        """The current class id, 0 when there is none."""
        return self._current

    def class_ids(self) -> list[int]:
        """Class ids in list order (the order of the number keys)."""
        return list(self._session.classes) if self._session is not None else []

    def refresh(self) -> None:
        """Rebuild the list from the session."""
        self.list.blockSignals(True)
        self.list.clear()
        for k, cid in enumerate(self.class_ids()):
            info = self._session.classes[cid]
            key = f"{k + 1}: " if k < 9 else ""
            item = QListWidgetItem(_swatch(info.color), f"{key}{info.name}")
            item.setData(Qt.ItemDataRole.UserRole, cid)
            self.list.addItem(item)
            if cid == self._current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        has = bool(self.class_ids())
        for b in (self.rename_button, self.color_button):
            b.setEnabled(has)
        self.delete_button.setEnabled(has and not self._busy)

    def set_busy(self, busy: bool) -> None:
        """Disable deleting classes while a job runs (and enable it again after).

        Parameters
        ----------
        busy : bool
        """
        self._busy = bool(busy)
        self.delete_button.setEnabled(bool(self.class_ids()) and not self._busy)

    def set_current(self, class_id: int) -> None:
        """Make ``class_id`` the current class (KeyError if unknown)."""
        class_id = int(class_id)
        if class_id != 0 and class_id not in self.class_ids():
            raise KeyError(f"no class with id {class_id}")
        if class_id != self._current:
            self._current = class_id
            self.refresh()
            self.current_changed.emit(class_id)

    def select_by_key(self, k: int) -> None:
        """Number key ``k`` (1-9): the k-th class of the list becomes current."""
        ids = self.class_ids()
        if 1 <= k <= len(ids):
            self.set_current(ids[k - 1])

    def _on_item_changed(self, item, _previous) -> None:
        if item is not None:
            self.set_current(int(item.data(Qt.ItemDataRole.UserRole)))

    # ------------------------------------------------------------ edits (no dialogs)
    def add_class(self, name: str | None = None, color: str | None = None) -> int:
        """Add a class to the session, make it current and return its id."""
        if self._session is None:
            raise RuntimeError("load images first")
        cid = self._session.add_class(name, color)
        self._current = cid
        self.refresh()
        self.classes_changed.emit()
        self.current_changed.emit(cid)
        return cid

    def rename_class(self, class_id: int, name: str) -> None:
        """Rename a class."""
        self._session.rename_class(class_id, name)  # (a name taken or empty: ValueError)
        self.refresh()
        self.classes_changed.emit()

    def recolor_class(self, class_id: int, color: str) -> None:
        """Give a class a new colour (a name, ``#rgb``, ``#rrggbb``, (r, g, b)...)."""
        self._session.recolor_class(class_id, color)
        self.refresh()
        self.classes_changed.emit()

    def delete_class(self, class_id: int) -> None:
        """Delete a class; its segments and pixels become unlabelled (undoable)."""
        if self._busy:
            raise RuntimeError("wait for the running job to finish (or cancel it)")
        self._session.remove_class(class_id)
        ids = self.class_ids()
        if self._current == class_id:
            self._current = ids[0] if ids else 0
            self.current_changed.emit(self._current)
        self.refresh()
        self.classes_changed.emit()

    # ------------------------------------------------------------ dialogs
    def _ask_add(self) -> None:
        if self._session is None:
            return
        name, ok = QInputDialog.getText(self, "Add class", "Name:")
        if ok:
            self._guard(lambda: self.add_class(name.strip() or None))

    def _ask_rename(self) -> None:
        cid = self._current
        if self._session is None or cid not in self._session.classes:
            return
        old = self._session.classes[cid].name
        name, ok = QInputDialog.getText(self, "Rename class", "Name:", text=old)
        if ok:
            self._guard(lambda: self.rename_class(cid, name))

    def _ask_color(self) -> None:
        cid = self._current
        if self._session is None or cid not in self._session.classes:
            return
        color = QColorDialog.getColor(QColor(self._session.classes[cid].color), self,
                                      "Class colour")  # fmt: skip
        if color.isValid():
            self.recolor_class(cid, color.name())

    def _delete_current(self) -> None:
        if not self._busy and self._session is not None and self._current in self._session.classes:
            self.delete_class(self._current)

    def _guard(self, fn) -> None:
        try:
            fn()
        except ValueError as exc:
            from napari.utils.notifications import show_warning

            show_warning(str(exc))
