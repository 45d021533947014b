"""The dock's input list of the viewer's Image layers, and stacks' plane slider.

A 3-D Image layer (a z-stack or a time series) is offered beside the 2-D ones;
when it is picked each of its planes becomes one image of the session. While
the viewer has a slider for the stack's first axis, moving it shows the same
plane in the dock, and switching images in the dock moves it.
"""

from __future__ import annotations

from qtpy.QtWidgets import QListWidgetItem

from .layers import META_INDEX, META_SESSION, layer_axes

__all__ = ["InputsMixin"]


class InputsMixin:
    """Input list and plane slider of :class:`~.dock.FeatureSpaceWidget`."""

    def _init_inputs(self) -> None:
        self.viewer.dims.events.current_step.connect(self._on_dims_step)

    def _teardown_inputs(self) -> None:
        self.viewer.dims.events.current_step.disconnect(self._on_dims_step)

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

    def refresh_layer_list(self) -> None:
        """List the viewer's 2-D and 3-D (stack) Image layers (not the ones this widget made)."""
        selected = {it.text() for it in self.layer_list.selectedItems()}
        self.layer_list.clear()
        for layer in self.viewer.layers:
            ours = layer.metadata.get(META_SESSION) is not None and layer.metadata.get(
                META_INDEX) is not None and id(layer) in self.layers._owned  # fmt: skip
            axes = layer_axes(layer)
            if axes is not None and not ours:
                item = QListWidgetItem(layer.name)
                if axes.startswith("Z"):
                    n = layer.level_shapes[0][0]
                    item.setToolTip(f"a stack of {n} planes: each is one image")
                self.layer_list.addItem(item)
                item.setSelected(layer.name in selected)

    # ------------------------------------------------------------ plane slider
    def _plane_axis(self):
        """(stack name, plane) of the current image when the viewer has a plane slider."""
        s = self.session
        if s is None or not s.n_images or self.viewer.dims.ndim < 3:
            return None
        rec = s.images[self.current_image]
        if rec.plane is None:
            return None
        return rec.meta.get("stack"), rec.plane

    def _on_dims_step(self, event=None) -> None:
        """The viewer's slider moved: show the same plane of the current stack."""
        here = self._plane_axis()
        if here is None:
            return
        step = int(self.viewer.dims.current_step[0])
        if step == here[1]:
            return
        for i, rec in enumerate(self.session.images):
            if rec.plane == step and rec.meta.get("stack") == here[0]:
                self.current_image = i
                return

    def _sync_plane_slider(self) -> None:
        """The dock shows another image: move the viewer's slider to its plane."""
        here = self._plane_axis()
        if here is None:
            return
        dims = self.viewer.dims
        if int(dims.current_step[0]) != here[1] and here[1] < int(dims.nsteps[0]):
            dims.set_current_step(0, here[1])  # steps, not world units: any z spacing
