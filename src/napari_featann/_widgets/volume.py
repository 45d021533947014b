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


class StackVolumes:
    """The 3-D class layers of a session's stacks.

    Parameters
    ----------
    viewer : napari.Viewer
    """

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self._layers: dict[str, object] = {}  # stack name -> 3-D Labels layer

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
            layer = self.viewer.add_labels(volume, name=stack + VOLUME_SUFFIX, opacity=0.5)
            layer.editable = False  # labels change through the planes' layers and the scatter
            source = next((la for la in self.viewer.layers if la.name == stack), None)
            if source is not None and source.ndim == 3:  # the user's stack: same place
                layer.scale, layer.translate = source.scale, source.translate
            self._layers[stack] = layer
        else:
            layer.data = volume
            layer.visible = True
        layer.colormap = class_colormap(session.classes)
        return layer

    def update(self, session) -> None:
        """Copy the planes' class masks (and class colours) into the shown volumes."""
        for stack in list(self._layers):
            layer = self.layer(stack)
            if layer is None:
                self._layers.pop(stack)
                continue
            planes = stack_planes(session, stack)
            if len(planes) != layer.data.shape[0]:
                continue  # not this session's stack any more
            for k, i in enumerate(planes):
                np.copyto(layer.data[k], session.class_masks[i], casting="unsafe")
            layer.colormap = class_colormap(session.classes)
            layer.refresh()

    def clear(self) -> None:
        """Remove the volumes (another session is shown)."""
        for stack in list(self._layers):
            layer = self.layer(stack)
            if layer is not None:
                self.viewer.layers.remove(layer)
        self._layers.clear()
