"""A stack's classes as one 3-D Labels layer, kept up to date with the annotation.

A z-stack or time series is annotated as its planes, each one image of the
session with 2-D layers of its own. :class:`StackVolumes` adds, on request,
one read-only 3-D Labels layer per stack that stacks the planes' class masks
(aligned with the user's 3-D Image layer of the stack when it is in the
viewer), so the labels can be seen in napari's 3-D view or across planes.
The dock refreshes it shortly after every change of the labels.
"""

from __future__ import annotations

import numpy as np

from .layers import class_colormap

__all__ = ["VOLUME_SUFFIX", "StackVolumes", "stack_names", "stack_planes"]

VOLUME_SUFFIX = " classes (3-D)"


def stack_names(session) -> list[str]:
    """Names of the stacks whose planes are images of ``session``, in order."""
    names = (rec.meta.get("stack") for rec in session.images if rec.plane is not None)
    return list(dict.fromkeys(n for n in names if n))


def stack_planes(session, stack: str) -> list[int]:
    """Image indices of the planes of ``stack``, in plane order."""
    found = [(rec.plane, i) for i, rec in enumerate(session.images)
             if rec.plane is not None and rec.meta.get("stack") == stack]  # fmt: skip
    return [i for _plane, i in sorted(found)]


def _colours(session) -> dict[int, str]:
    return {int(cid): info.color for cid, info in session.classes.items()}


class StackVolumes:
    """The 3-D class layers of a session's stacks.

    Parameters
    ----------
    viewer : napari.Viewer
    key_binder : callable, optional
        Called with each new layer (the dock binds Ctrl+Z to its undo there).
    """

    def __init__(self, viewer, key_binder=None) -> None:
        self.viewer = viewer
        self.key_binder = key_binder
        self._layers: dict[str, object] = {}  # stack name -> 3-D Labels layer
        self._colours: dict[int, str] = {}  # the class colours last drawn

    @property
    def shown(self) -> bool:
        """Whether a volume was shown (and may need updates)."""
        return bool(self._layers)

    def layer(self, stack: str | None):
        """The 3-D classes layer of ``stack`` while it is in the viewer, else None."""
        layer = self._layers.get(stack)
        return layer if layer is not None and layer in self.viewer.layers else None

    def _volume(self, session, stack: str) -> np.ndarray:
        planes = stack_planes(session, stack)
        if not planes:
            raise ValueError(f"{stack!r} is not a stack of this session")
        return np.stack([session.class_masks[i] for i in planes])

    def show(self, session, stack: str):
        """Add (or refresh and show) the 3-D classes layer of ``stack``.

        Parameters
        ----------
        session : Session
        stack : str
            A name from :func:`stack_names`.

        Returns
        -------
        napari.layers.Labels
            Read-only; it follows the labels until the session changes.

        Raises
        ------
        ValueError
            ``stack`` has no planes in ``session``.
        """
        volume = self._volume(session, stack)
        layer = self.layer(stack)
        if layer is None:
            selection = self.viewer.layers.selection
            active = selection.active
            layer = self.viewer.add_labels(volume, name=stack + VOLUME_SUFFIX, opacity=0.5)
            source = next((la for la in self.viewer.layers if la.name == stack and la.ndim == 3
                           and la.level_shapes[0][0] == len(volume)), None)  # fmt: skip
            if source is not None:  # the user's stack: the same place
                layer.scale, layer.translate = source.scale, source.translate
            if self.key_binder is not None:
                self.key_binder(layer)
            if active is not None and active in self.viewer.layers:
                selection.active = active  # keep painting where the user was
            self._layers[stack] = layer
        else:
            layer.data = volume
            layer.visible = True
        layer.editable = False  # labels change through the planes' layers and the scatter
        layer.colormap = class_colormap(session.classes)
        self._colours = _colours(session)
        return layer

    def update(self, session) -> None:
        """Copy the planes' class masks (and class colours) that changed into the volumes."""
        recolour = _colours(session) != self._colours
        self._colours = _colours(session)
        for stack in list(self._layers):
            layer = self.layer(stack)
            planes = stack_planes(session, stack)
            if layer is None or not planes:
                self._layers.pop(stack)
                continue
            data = layer.data
            if data.shape != (len(planes), *session.class_masks[planes[0]].shape):
                self.show(session, stack)  # the stack changed shape: a new volume
                continue
            changed = False
            for k, i in enumerate(planes):
                if not np.array_equal(data[k], session.class_masks[i]):
                    data[k] = session.class_masks[i]
                    changed = True
            if recolour:
                layer.colormap = class_colormap(session.classes)
            elif changed:
                layer.refresh()

    def clear(self) -> None:
        """Remove the volumes (another session is shown)."""
        for stack in list(self._layers):
            layer = self.layer(stack)
            if layer is not None:
                self.viewer.layers.remove(layer)
        self._layers.clear()
