"""The dock's input list of the viewer's Image layers, and stacks' plane slider.

A 3-D Image layer (a z-stack or a time series) is offered beside the 2-D ones;
when it is picked each of its planes becomes one image of the session. While
that layer is in the viewer, moving its plane slider shows the same plane in
the dock, and switching images in the dock moves the slider.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QListWidgetItem, QSpinBox

from .layers import META_INDEX, META_SESSION, layer_axes

__all__ = ["InputsMixin", "Loaded", "place_tiles", "reused_layers"]

_ALL_BANDS = "all; e.g. 4,2,1 or 3"


def reused_layers(session, layers) -> dict:
    """Image index -> the user's layer that shows it, for the 2-D layers among ``layers``.

    The records of ``session`` follow ``layers`` in order (a stack layer gave
    one record per plane, a layer that could not be read none), so each
    record is matched to the layer it came from, not to a layer of the same
    name. A stack's planes get layers of their own.
    """
    out, k = {}, 0
    for layer in layers:
        if layer.name in session.load_failures or k >= session.n_images:
            continue
        rec = session.images[k]
        n = 1 if rec.plane is None else int(rec.meta.get("planes", 1))
        if "tile" in rec.meta:  # a scene cut into tiles: they get layers of their own
            scene = rec.meta.get("scene")
            n = 0
            while k + n < session.n_images and session.images[k + n].meta.get("scene") == scene:
                n += 1
            k += n
            continue
        if n == 1 and rec.plane is None and layer_axes(layer) in ("YX", "YXS"):
            out[k] = layer
        k += n
    return out


def place_tiles(session, layers) -> None:
    """Record the 2-D scale and translation of the layers cut into tiles or planes.

    Each tile of a scene, and each plane of a stack, read from one of
    ``layers`` gets ``scene_scale`` and ``scene_translate`` in its meta (saved
    with the session), so that its layers lie over the scene's or the stack's
    layer; nothing is recorded for a layer at the origin with unit scale.
    """
    by_name = {layer.name: layer for layer in layers}
    for rec in session.images:
        source = rec.meta.get("scene") if "tile" in rec.meta else rec.meta.get("stack")
        layer = by_name.get(source)
        if layer is None:
            continue
        scale, translate = list(layer.scale[-2:]), list(layer.translate[-2:])
        if scale != [1, 1] or translate != [0, 0]:
            rec.meta["scene_scale"] = [float(v) for v in scale]
            rec.meta["scene_translate"] = [float(v) for v in translate]


class Loaded(NamedTuple):
    """Images read into a new session that is not shown yet (see ``read_images``).

    Attributes
    ----------
    session : Session
    source_layers : dict of int to napari Image layer
        The user's layers that show images of the session.
    layers : list of napari Image layers
        The layers the images were read from (empty for files and arrays).
    tile : int or None
        The tile side used.
    """

    session: object
    source_layers: dict
    layers: list
    tile: int | None


def _shown_plane(layer, dims) -> int:
    """Index of the plane of a 3-D ``layer`` that the viewer's sliders show."""
    return round(float(layer.world_to_data(dims.point)[0]))


class InputsMixin:
    """Input list and plane slider of :class:`~.dock.FeatureSpaceWidget`."""

    def _init_inputs(self) -> None:
        self.viewer.dims.events.current_step.connect(self._on_dims_step)
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        for layer in self.viewer.layers:
            layer.events.name.connect(self._on_layer_renamed)

    def _teardown_inputs(self) -> None:
        self.viewer.dims.events.current_step.disconnect(self._on_dims_step)
        self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self._on_layer_renamed)

    def _on_layer_inserted(self, event) -> None:
        event.value.events.name.connect(self._on_layer_renamed)
        self.refresh_layer_list()
        if META_SESSION in event.value.metadata:  # a session opened by the reader
            QTimer.singleShot(0, self._adopt_opened_sessions)

    def _on_layer_removed(self, event) -> None:
        event.value.events.name.disconnect(self._on_layer_renamed)
        self.layers.forget(event.value)
        self.refresh_layer_list()

    def _on_layer_renamed(self, event=None) -> None:
        self.refresh_layer_list()  # the list shows (and picks by) the new name

    def _bands_row(self) -> QHBoxLayout:
        """The *Bands* field: which channels of multi-band images to annotate."""
        self.bands_edit = QLineEdit()
        self.bands_edit.setPlaceholderText(_ALL_BANDS)
        self.bands_edit.setToolTip(
            "For multi-band images (satellite, multichannel TIFF): the channel shown as red, "
            "green and blue, or one channel as grey, counted from 0. Used once, by the next "
            "Open folder, Start or Add images; then the field shows the session's choice "
            "in grey.")  # fmt: skip
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(0, 65536)
        self.tile_spin.setSingleStep(256)
        self.tile_spin.setSpecialValueText("off")
        self.tile_spin.setSuffix(" px")
        self.tile_spin.valueChanged.connect(self._snap_tile)
        self.tile_spin.setMaximumWidth(110)  # leave the Bands field its width
        self.tile_spin.setToolTip(
            "Cut images larger than this into tiles of this side, each an image of the "
            "session (large remote-sensing scenes); Export masks also writes each scene "
            "whole. Used by Open folder, Start and Add images.")  # fmt: skip
        row = QHBoxLayout()
        row.addWidget(QLabel("Bands"))
        row.addWidget(self.bands_edit, 1)
        row.addWidget(QLabel("Tiles"))
        row.addWidget(self.tile_spin)
        return row

    def _snap_tile(self, value: int) -> None:
        """Sides below the smallest tile (but not 0, off) become the smallest tile."""
        from ..core.images import MIN_TILE

        if 0 < value < MIN_TILE:
            self.tile_spin.setValue(MIN_TILE)

    def chosen_tile(self) -> int | None:
        """The tile side of the *Tiles* box, or None when tiling is off."""
        return self.tile_spin.value() or None

    def chosen_bands(self) -> list[int] | None:
        """The channels typed in the *Bands* field (None when empty).

        Raises
        ------
        ValueError
            The text is not one or three channel indices.
        """
        from ..core.images import parse_bands

        return parse_bands(self.bands_edit.text())

    def _show_bands(self, session) -> None:
        """Empty the *Bands* field (a choice is used once); show the session's in grey."""
        bands = next((r.meta["bands"] for r in session.images if "bands" in r.meta), None)
        self.bands_edit.clear()
        self.bands_edit.setPlaceholderText(
            _ALL_BANDS if bands is None else f"this session: {','.join(map(str, bands))}"
        )

    def picked_layers(self) -> list:
        """The Image layers selected in the input list."""
        by_name = {layer.name: layer for layer in self.viewer.layers}
        return [by_name[it.text()] for it in self.layer_list.selectedItems()
                if it.text() in by_name]  # fmt: skip

    def listed_layers(self) -> list:
        """All the Image layers offered in the input list."""
        by_name = {layer.name: layer for layer in self.viewer.layers}
        items = (self.layer_list.item(k).text() for k in range(self.layer_list.count()))
        return [by_name[name] for name in items if name in by_name]

    def read_images(self, sources, names=None, bands=None, tile=None) -> Loaded:
        """Read images into a new session with the panels' parameters; nothing is shown.

        Parameters are those of ``load_images``, which shows the result with
        :meth:`show_loaded`; Start runs on it first and shows it when the
        pipeline has succeeded.

        Returns
        -------
        Loaded
        """
        from napari.layers import Image

        from ..session import Session

        if isinstance(sources, (str, bytes)) or hasattr(sources, "__fspath__"):
            sources = str(sources)
        axes = None
        if bands is None:
            bands = self.chosen_bands()
        if tile is None:
            tile = self.chosen_tile()
        if isinstance(sources, (list, tuple)) and sources and isinstance(sources[0], Image):
            layers = list(sources)
            sources = [np.asarray(la.data[0] if la.multiscale else la.data) for la in layers]
            names = [layer.name for layer in layers]
            axes = [layer_axes(layer) for layer in layers]  # a 3-D layer gives its planes
        else:
            layers = []
        session = Session.from_sources(sources, names=names, axes=axes, bands=bands, tile=tile)
        source_layers = reused_layers(session, layers)  # the user's 2-D layers, shown as they are
        place_tiles(session, layers)  # tiles of a scaled or moved scene layer: where it is
        session.partition_params = self.partition_panel.params()
        session.feature_params = self.features_panel.params(session.feature_params)
        session.projection_params = self.projection_panel.params(session.projection_params)
        return Loaded(session, source_layers, layers, tile)

    def show_loaded(self, loaded: Loaded, session=None) -> None:
        """Show images read by :meth:`read_images` as the session (unsaved changes autosaved).

        Parameters
        ----------
        loaded : Loaded
        session : Session, optional
            What the pipeline made of ``loaded.session`` (default: that session).
        """
        kept = self._keep_unsaved()
        here = self.viewer.layers  # a layer removed meanwhile is not reused
        self.set_session(session or loaded.session,
                         {i: la for i, la in loaded.source_layers.items() if la in here})  # fmt: skip
        self._loaded_from = loaded.layers  # Start again with these layers picked: the same session
        self._loaded_tile = loaded.tile  # unless the tile size changed since
        self.select_listed(loaded.layers)
        self.session_path = None
        self.dirty = False
        self._offer_autosave(kept)

    def select_listed(self, layers=()) -> None:
        """Select exactly ``layers`` in the input list (none: clear the selection).

        A session opened from a folder or a file is not the pick of the list,
        so loading one clears it: Start then runs on that session.

        Parameters
        ----------
        layers : iterable of napari Image layers
        """
        names = {layer.name for layer in layers}
        for k in range(self.layer_list.count()):
            item = self.layer_list.item(k)
            item.setSelected(item.text() in names)

    def refresh_layer_list(self) -> None:
        """List the viewer's 2-D and 3-D (stack) Image layers (not the ones this widget made)."""
        # the selection is kept by layer, not by name: a renamed layer stays picked
        selected = {it.data(Qt.ItemDataRole.UserRole) for it in self.layer_list.selectedItems()}
        self.layer_list.clear()
        for layer in self.viewer.layers:
            ours = layer.metadata.get(META_SESSION) is not None and layer.metadata.get(
                META_INDEX) is not None and id(layer) in self.layers._owned  # fmt: skip
            axes = layer_axes(layer)
            if axes is not None and not ours:
                item = QListWidgetItem(layer.name)
                item.setData(Qt.ItemDataRole.UserRole, id(layer))
                if axes.startswith("Z"):
                    n = int(layer.level_shapes[0][0])
                    planes = "1 plane" if n == 1 else f"{n} planes"
                    item.setToolTip(f"a stack of {planes}: each is one image")
                elif axes == "YXC":
                    n = int(layer.level_shapes[0][-1])
                    item.setToolTip(f"a multi-band image ({n} channels): choose them in Bands")
                self.layer_list.addItem(item)
                item.setSelected(id(layer) in selected)

    # ------------------------------------------------------------ 3-D view
    def show_stack_volume(self, stack: str | None = None):
        """Show a stack's classes as one 3-D Labels layer that follows the labelling.

        Parameters
        ----------
        stack : str, optional
            The stack's name; default: the current image's stack, else the first.

        Returns
        -------
        napari.layers.Labels

        Raises
        ------
        ValueError
            No session, or it holds no stack (or not ``stack``).
        """
        from .volume import stack_names

        s = self.session
        names = stack_names(s) if s is not None else []
        if not names:
            raise ValueError("no stack to show: the session's images are single planes")
        if stack is None:
            here = s.images[self.current_image].meta.get("stack")
            stack = here if here in names else names[0]
        layer = self.volumes.show(s, stack)
        self._status(f"{layer.name}: {layer.data.shape[0]} planes, read-only; label in the "
                     "planes or the scatter")  # fmt: skip
        return layer

    def _update_volumes(self) -> None:
        if self.session is not None:
            self.volumes.update(self.session)

    # ------------------------------------------------------------ plane slider
    def _stack_layer(self):
        """(record, 3-D layer) of the current image when its stack's layer is in the viewer."""
        s = self.session
        if s is None or not 0 <= self.current_image < s.n_images:
            return None  # (while a new session is being shown the spin box may be ahead)
        rec = s.images[self.current_image]
        if rec.plane is None:
            return None
        stack, n = rec.meta.get("stack"), int(rec.meta.get("planes", -1))
        own = [la for la in self.viewer.layers if la.name == stack
               and layer_axes(la) in ("ZYX", "ZYXS")] + [self.volumes.layer(stack)]  # fmt: skip
        # the stack's own layer, else its 3-D classes layer
        layer = next((la for la in own if la is not None and int(la.level_shapes[0][0]) == n),
                     None)  # fmt: skip
        return None if layer is None else (rec, layer)

    def _on_dims_step(self, event=None) -> None:
        """The viewer's slider moved: show the same plane of the current stack."""
        if getattr(self, "_moving_slider", False):
            return
        here = self._stack_layer()
        if here is None:
            return
        rec, layer = here
        plane = _shown_plane(layer, self.viewer.dims)
        if plane == rec.plane:
            return
        for i, other in enumerate(self.session.images):
            if other.plane == plane and other.meta.get("stack") == rec.meta.get("stack"):
                self.current_image = i
                return

    def _sync_plane_slider(self) -> None:
        """The dock shows another image: move the viewer's slider to its plane."""
        here = self._stack_layer()
        if here is None:
            return
        rec, layer = here
        dims = self.viewer.dims
        if _shown_plane(layer, dims) == rec.plane:
            return
        world = layer.data_to_world([rec.plane, 0, 0])
        axis = dims.ndim - 3  # the stack's first axis among the viewer's (world) axes
        self._moving_slider = True
        try:
            dims.set_point(axis, float(world[0]))
            # napari snaps the point to the grid of all layers, which may miss the plane:
            # take the step, or a neighbour, that shows it (else the nearest plane)
            step = int(dims.current_step[axis])
            best = None
            for other in (step, step - 1, step + 1):
                if 0 <= other < int(dims.nsteps[axis]):
                    dims.set_current_step(axis, other)
                    miss = abs(_shown_plane(layer, dims) - rec.plane)
                    best = min(best or (miss, other), (miss, other))
                    if miss == 0:
                        break
            if best is not None and best[0] > 0:
                dims.set_current_step(axis, best[1])
        finally:
            self._moving_slider = False
