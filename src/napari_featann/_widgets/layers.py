"""The napari layers of a session: one image, one classes and one segments layer per image.

The classes layer's ``data`` *is* ``session.class_masks[i]`` (the same array),
so an assignment in the session shows after a ``refresh()``, and painting in
napari writes straight into the session. Layers are created when an image is
first shown; only the current image's layers are visible.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from types import SimpleNamespace

import numpy as np

from .._plugin_io import META_READ_PAINT, image_placement

__all__ = ["META_INDEX", "META_ROLE", "META_SESSION", "ROLES", "LayerSet", "class_colormap"]

META_SESSION = "featann_session"
META_INDEX = "featann_index"
META_ROLE = "featann_role"
ROLES = ("image", "classes", "segments")

_TRANSPARENT = (0.0, 0.0, 0.0, 0.0)
_BOUNDARY = (1.0, 1.0, 1.0, 1.0)
_FOCUS = (1.0, 0.85, 0.0, 1.0)


def layer_axes(layer) -> str | None:
    """Axes of an Image layer the dock can annotate: ``"YX"``/``"YXS"`` for one image,
    ``"YXC"`` for one multi-band image (a short last axis, which napari shows as
    planes), ``"ZYX"``/``"ZYXS"`` for a stack of planes (a volume or a time
    series); None otherwise."""
    from napari.layers import Image

    from ..core.images import MAX_BANDS

    if not isinstance(layer, Image):
        return None
    colour = "S" if getattr(layer, "rgb", False) else ""  # napari's ndim leaves RGB out
    shape = tuple(layer.level_shapes[0])
    if not colour and len(shape) == 3 and shape[-1] <= MAX_BANDS and shape[-1] < min(shape[:2]):
        return "YXC"  # as core.images reads such an array: channels, not narrow planes
    return {2: "YX" + colour, 3: "ZYX" + colour}.get(layer.ndim)


def class_colormap(classes: dict):
    """A napari DirectLabelColormap: each class's colour, 0 and unknown ids transparent."""
    from napari.utils.colormaps import DirectLabelColormap

    colors = {None: _TRANSPARENT, 0: _TRANSPARENT}
    colors.update({int(cid): info.color for cid, info in classes.items()})
    return DirectLabelColormap(color_dict=colors)


def _boundary_colormap(focus_id: int | None = None):
    from napari.utils.colormaps import DirectLabelColormap

    colors = {None: _BOUNDARY, 0: _TRANSPARENT}
    if focus_id:
        colors[int(focus_id)] = _FOCUS
    return DirectLabelColormap(color_dict=colors)


def _set_segments(layer, labels: np.ndarray) -> None:
    """New data for a segments layer, which stays read-only in napari."""
    layer.data = labels
    layer.editable = False


def place_like(layer, image) -> None:
    """Give ``layer`` the 2-D scale and translation of ``image``.

    A user's Image layer may carry them (a pixel size in microns, a tile's
    offset in its scene); the dock's layers over it must line up with it.
    """
    layer.scale = tuple(image.scale[-2:])
    layer.translate = tuple(image.translate[-2:])


def paint_atoms_to_flat(atoms, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat pixel indices, previous and new values from a napari ``Labels.events.paint`` value.

    Handles both napari's mask atoms (``slice_key, mask, old_values, new_value``)
    and the older ``(indices, old_values, new_value)`` tuples. The new values
    come from the atoms, not from the layer's data: napari emits the event
    before it writes the data when the edit is not grouped (the polygon tool).

    Parameters
    ----------
    atoms : sequence of napari history atoms
    shape : (int, int)
        The 2-D shape of the painted array.

    Returns
    -------
    flat, old, new : ndarray
        One entry per painted pixel.
    """
    flats, olds, news = [], [], []
    for atom in atoms:
        if hasattr(atom, "slice_key"):
            key = tuple(atom.slice_key)[-2:]
            rr, cc = np.mgrid[key]
            if atom.mask is not None:
                mask = np.asarray(atom.mask, bool).reshape(rr.shape)
                rr, cc = rr[mask], cc[mask]
                old = np.asarray(atom.old_values).ravel()
            else:
                old = np.asarray(atom.old_values).reshape(rr.shape).ravel()
            flats.append(np.ravel_multi_index((rr.ravel(), cc.ravel()), shape))
            olds.append(np.broadcast_to(old, rr.size))
            news.append(np.broadcast_to(np.asarray(atom.new_value).ravel(), rr.size))
        else:
            indices, old, new = atom
            indices = tuple(np.asarray(ix).ravel() for ix in indices)[-2:]
            flat = np.ravel_multi_index(indices, shape)
            flats.append(flat)
            olds.append(np.broadcast_to(np.asarray(old).ravel(), flat.shape))
            news.append(np.broadcast_to(np.asarray(new).ravel(), flat.shape))
    if not flats:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.uint8)
    return np.concatenate(flats).astype(np.int64), np.concatenate(olds), np.concatenate(news)


def paint_since_read(atoms, data: np.ndarray) -> list:
    """What napari's paint ``atoms`` changed in ``data`` since it was read, as one history atom.

    A pixel's first recorded old value is its class in the file; only the
    pixels whose class now differs from it count (a stroke undone in napari,
    or painted over with the old class, leaves nothing).

    Parameters
    ----------
    atoms : sequence of napari history atoms
        Every ``Labels.events.paint`` value since ``data`` was read, in order.
    data : ndarray
        The class mask they were painted into, as it is now.

    Returns
    -------
    list
        ``[(indices, old, new)]`` for :func:`paint_atoms_to_flat`, or empty.
    """
    flat, old, _new = paint_atoms_to_flat(atoms, data.shape)
    flat, first = np.unique(flat, return_index=True)
    was, now = old[first], data.ravel()[flat]
    keep = now != was
    if not keep.any():
        return []
    return [(np.unravel_index(flat[keep], data.shape), was[keep], now[keep])]


class LayerSet:
    """Creates, shows and refreshes the layers of one session in a viewer.

    Parameters
    ----------
    viewer : napari.Viewer
    on_paint : callable
        ``on_paint(image_index, event)`` for paint events of a classes layer.
    """

    def __init__(self, viewer, on_paint: Callable[[int, object], None]) -> None:
        self.viewer = viewer
        self.session = None
        self.current = 0
        self.show_boundaries = True
        self._on_paint = on_paint
        self._layers: dict[tuple[int, str], object] = {}
        self._owned: set[int] = set()  # id() of layers we created
        self._paint_cbs: dict[int, Callable] = {}
        self._label_cbs: dict[int, Callable] = {}  # napari's label box kept on a class
        self._selected_class = 0
        self._focus: tuple[int, int] | None = None
        self._preview: int | None = None
        self.source_layers: dict[int, object] = {}  # image index -> the user's Image layer
        self.key_binder: Callable[[object], None] | None = None
        self._stale_thumbnails: set[tuple[int, str]] = set()
        self.paintable = True  # False while a job runs: the masks must not change under it

    # ------------------------------------------------------------ session
    def set_session(self, session, source_layers: dict | None = None, adopt: Iterable = ()) -> None:
        """Show ``session``: forget (and remove) the previous session's own layers."""
        self.clear(remove=True)
        self.session = session
        self.source_layers = dict(source_layers or {})
        for i, layer in self.source_layers.items():
            self._register(i, "image", layer, owned=False)
        for layer in adopt:
            md = layer.metadata
            i, role, atoms = int(md[META_INDEX]), md[META_ROLE], md.pop(META_READ_PAINT, None)
            self._register(i, role, layer, owned=True)
            painted = paint_since_read(atoms, layer.data) if role == "classes" and atoms else []
            if painted:  # painted before the dock took the layer: hand paint all the same
                self._on_paint(i, SimpleNamespace(value=painted))
        self.current = 0

    def retag(self, session) -> None:
        """Point every layer at ``session`` (after a job replaced the session object)."""
        self.session = session
        for layer in self._layers.values():
            layer.metadata[META_SESSION] = session

    def clear(self, remove: bool) -> None:
        """Disconnect every layer; remove the ones created here when ``remove``.

        The removals are one batch of the layer list: napari's canvas then
        cleans up once (a full ``gc.collect``, a third of a second with torch
        loaded) rather than once per layer.
        """
        batch = getattr(self.viewer.layers, "batched_update", contextlib.nullcontext)
        with batch():
            for (i, role), layer in list(self._layers.items()):
                self._unregister(i, role)
                if remove and id(layer) in self._owned and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
                else:
                    for key in (META_SESSION, META_INDEX, META_ROLE):
                        layer.metadata.pop(key, None)
        self._layers.clear()
        self._owned.clear()
        self._focus = self._preview = None

    def forget(self, layer) -> None:
        """The user removed ``layer`` from the viewer: stop tracking it."""
        for (i, role), lay in list(self._layers.items()):
            if lay is layer:
                self._unregister(i, role)
                self._layers.pop((i, role), None)
                self._owned.discard(id(layer))
                if role == "image":
                    self.source_layers.pop(i, None)
                elif role == "segments" and self._preview == i:
                    self._preview = None  # the preview went with its layer

    def _register(self, i: int, role: str, layer, owned: bool) -> None:
        self._layers[(i, role)] = layer
        if owned:
            self._owned.add(id(layer))
        layer.metadata[META_SESSION] = self.session
        layer.metadata[META_INDEX] = int(i)
        layer.metadata[META_ROLE] = role
        if role == "classes":
            if layer.data is not self.session.class_masks[i]:
                layer.data = self.session.class_masks[i]
            layer.colormap = class_colormap(self.session.classes)
            layer.editable = self.paintable
            cb = lambda event, i=i: self._on_paint(i, event)  # noqa: E731
            layer.events.paint.connect(cb)
            self._paint_cbs[id(layer)] = cb
            keep = lambda event=None, layer=layer: self._keep_a_class(layer)  # noqa: E731
            layer.events.selected_label.connect(keep)
            self._label_cbs[id(layer)] = keep
            if self.key_binder is not None:
                self.key_binder(layer)
        elif role == "segments":
            layer.contour = 1
            layer.colormap = _boundary_colormap()
            layer.editable = False  # segments change through the session only

    def set_paintable(self, paintable: bool) -> None:
        """Let the classes layers be painted, or not.

        Not while a job runs (the masks must not change under it), nor while the
        session has no class: napari's brush would paint its label 1 unseen, and a
        class added later would take those pixels.
        """
        self.paintable = bool(paintable)
        for (_i, role), layer in self._layers.items():
            if role == "classes":
                layer.editable = self.paintable

    def _unregister(self, i: int, role: str) -> None:
        layer = self._layers.get((i, role))
        if layer is None:
            return
        cb = self._paint_cbs.pop(id(layer), None)
        if cb is not None:
            layer.events.paint.disconnect(cb)
        keep = self._label_cbs.pop(id(layer), None)
        if keep is not None:
            layer.events.selected_label.disconnect(keep)

    # ------------------------------------------------------------ layers
    def get(self, i: int, role: str):
        """The layer of image ``i`` for ``role``, or None when not created yet."""
        layer = self._layers.get((int(i), role))
        return layer if layer is not None and layer in self.viewer.layers else None

    def layers_for(self, i: int) -> tuple:
        """(image, classes, segments) layers of image ``i``, created when missing.

        The segments layer is None before the images are partitioned.
        """
        s = self.session
        i = int(i)
        rec = s.images[i]
        image = self.get(i, "image")
        if image is None:
            rgb = rec.data.ndim == 3 and rec.data.shape[-1] in (3, 4)
            limits = None if rgb else rec.meta.get("range")  # a stack's planes look alike
            image = self.viewer.add_image(rec.data, name=rec.name, rgb=rgb, visible=False,
                                          contrast_limits=limits)  # fmt: skip
            place = image_placement(rec.meta)
            if place:  # a tile at its place in the scene, a plane on its stack (and in the world)
                image.scale, image.translate = place["scale"], place["translate"]
            self._register(i, "image", image, owned=True)
            self._put_below(image, self.get(i, "classes"), self.get(i, "segments"))
        classes = self.get(i, "classes")
        if classes is None:
            classes = self.viewer.add_labels(s.class_masks[i], name=f"{rec.name} classes",
                                             opacity=0.5, visible=False)  # fmt: skip
            place_like(classes, image)
            self._register(i, "classes", classes, owned=True)
            self._put_below(classes, self.get(i, "segments"))
        segments = self.get(i, "segments")
        if segments is None and i < len(s.label_images):
            segments = self.viewer.add_labels(s.label_images[i], name=f"{rec.name} segments",
                                              opacity=0.8, visible=False)  # fmt: skip
            place_like(segments, image)
            self._register(i, "segments", segments, owned=True)
        elif (
            segments is not None
            and i < len(s.label_images)
            and self._preview != i
            and segments.data is not s.label_images[i]
        ):
            _set_segments(segments, s.label_images[i])
        return image, classes, segments

    def _put_below(self, layer, *upper) -> None:
        """Move a layer made again (napari adds it on top) under its image's ``upper`` layers.

        The user may delete an image's image or classes layer; made again, it
        must not cover the labels and boundaries that stayed.
        """
        ll = self.viewer.layers
        above = [ll.index(la) for la in upper if la is not None]
        if above and ll.index(layer) > min(above):
            ll.move(ll.index(layer), min(above))

    def show(self, i: int) -> None:
        """Make image ``i`` the only one shown (its layers are created if needed)."""
        if self.session is None or not self.session.n_images:
            return
        previous = self.get(self.current, "image")
        old_shape = previous.data.shape[:2] if previous is not None else None
        if self._preview is not None and self._preview != i:
            self.clear_preview()
        self.current = int(i)
        image, classes, segments = self.layers_for(i)
        for (j, _role), layer in self._layers.items():
            if j != i and layer in self.viewer.layers:
                layer.visible = False
        image.visible = True
        classes.visible = True
        classes.refresh()
        if segments is not None:
            segments.visible = self.show_boundaries or (self._focus is not None
                                                        and self._focus[0] == i)  # fmt: skip
        selection = self.viewer.layers.selection
        if selection.active not in (image, classes):
            selection.active = classes  # the layer to paint in by hand
        if old_shape != image.data.shape[:2]:
            self.viewer.reset_view()

    def set_boundaries_visible(self, visible: bool) -> None:
        """The "Show segment boundaries" checkbox."""
        self.show_boundaries = bool(visible)
        focused = None if self._focus is None else self.get(self._focus[0], "segments")
        if focused is not None:  # the focused segment alone while the boundaries are off
            focused.show_selected_label = not self.show_boundaries
            focused.contour = 1 if self.show_boundaries else 2
        seg = self.get(self.current, "segments")
        if seg is not None:
            seg.visible = self.show_boundaries or (focused is not None and focused is seg)

    def refresh_classes(self, images: Iterable[int] | None = None, thumbnail: bool = True) -> None:
        """Redraw the classes layers of ``images`` (default: all) that are visible.

        With ``thumbnail=False`` the layer-list thumbnails wait for
        :meth:`refresh_thumbnails` (napari repaints the layer list for them).
        """
        keys = self._layers if images is None else [(int(i), "classes") for i in images]
        for key in keys:
            layer = self._layers.get(key)
            if layer is not None and key[1] == "classes" and layer.visible:
                layer.refresh(thumbnail=thumbnail)
                if not thumbnail:
                    self._stale_thumbnails.add(key)

    def refresh_thumbnails(self) -> None:
        """Update the thumbnails that :meth:`refresh_classes` left stale."""
        stale, self._stale_thumbnails = self._stale_thumbnails, set()
        for key in stale:
            layer = self._layers.get(key)
            if layer is not None and layer.visible:
                layer.refresh(data_displayed=False, highlight=False, extent=False)

    def update_colormaps(self) -> None:
        """Classes changed: recolour every classes layer.

        A label box left on a class that is gone (an undone addition, a redone
        deletion) goes back to a class quietly: nobody chose that label now.
        """
        for (_i, role), layer in self._layers.items():
            if role == "classes":
                self._keep_a_class(layer, warn=False)
                layer.colormap = class_colormap(self.session.classes)

    def update_structure(self) -> None:
        """Segments changed (partition, re-cut, undo): show the new label images."""
        self._preview = None
        self.clear_focus()
        for i in range(self.session.n_images):
            seg = self.get(i, "segments")
            if seg is not None and i < len(self.session.label_images):
                if seg.data is not self.session.label_images[i]:
                    _set_segments(seg, self.session.label_images[i])
            elif seg is None and i == self.current and i < len(self.session.label_images):
                self.layers_for(i)
        self.show(self.current)

    def set_selected_class(self, class_id: int) -> None:
        """Brush label of every classes layer = the current class."""
        self._selected_class = int(class_id)
        for (_i, role), layer in self._layers.items():
            if role == "classes" and class_id > 0:
                layer.selected_label = int(class_id)

    def _keep_a_class(self, layer, warn: bool = True) -> None:
        """napari's label box of a classes layer holds a class or 0 (the eraser's value).

        Another label (napari's *new label* key, a typed value) would paint
        pixels no class colours, which the next class added on that id takes:
        the box goes back to the current class, with a warning unless ``warn``
        is false (the class went away, the user chose no label).
        """
        label, classes = int(layer.selected_label), getattr(self.session, "classes", {})
        if label == 0 or label in classes or not classes:
            return
        from napari.utils.notifications import show_warning

        back = self._selected_class if self._selected_class in classes else min(classes)
        layer.selected_label = back
        if warn:
            show_warning(f"label {label} is no class (add one in the Classes tab): "
                         f"painting with {classes[back].name}")  # fmt: skip

    # ------------------------------------------------------------ focus and preview
    def highlight_segment(self, i: int, segment_id: int) -> None:
        """Outline one segment of image ``i`` in yellow (the others stay white)."""
        self.clear_focus()
        seg = self.layers_for(i)[2]
        if seg is None:
            return
        self._focus = (int(i), int(segment_id))
        seg.colormap = _boundary_colormap(segment_id)
        seg.selected_label = int(segment_id)
        seg.show_selected_label = not self.show_boundaries
        seg.contour = 1 if self.show_boundaries else 2
        seg.visible = True

    def clear_focus(self) -> None:
        """Remove the segment highlight."""
        if self._focus is None:
            return
        seg = self.get(self._focus[0], "segments")
        self._focus = None
        if seg is not None:
            seg.colormap = _boundary_colormap()
            seg.show_selected_label = False
            seg.contour = 1
            seg.visible = self.show_boundaries and seg.metadata.get(META_INDEX) == self.current

    @property
    def focused(self) -> tuple[int, int] | None:
        """(image index, segment id) of the highlighted segment, or None."""
        return self._focus

    def show_preview(self, i: int, local_labels: np.ndarray) -> None:
        """Show a candidate cut of image ``i`` in its segments layer (session unchanged)."""
        self.clear_focus()
        seg = self.get(i, "segments")
        if seg is None:
            name = f"{self.session.images[i].name} segments"
            seg = self.viewer.add_labels(local_labels, name=name, opacity=0.8)
            image = self.get(i, "image")
            if image is not None:
                place_like(seg, image)
            self._register(i, "segments", seg, owned=True)
        else:
            _set_segments(seg, local_labels)
        self._preview = int(i)
        seg.visible = True

    def clear_preview(self) -> None:
        """Back to the session's segments after a preview."""
        i, self._preview = self._preview, None
        if i is None:
            return
        seg = self.get(i, "segments")
        if seg is None:
            return
        if i < len(self.session.label_images):
            _set_segments(seg, self.session.label_images[i])
        else:
            self.viewer.layers.remove(seg)
            self._unregister(i, "segments")
            self._layers.pop((i, "segments"), None)

    @property
    def previewing(self) -> int | None:
        """Index of the image showing a preview cut, or None."""
        return self._preview
