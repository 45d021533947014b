"""The dock's key bindings and its closing.

A mixin of :class:`~napari_featann._widgets.dock.FeatureSpaceWidget`: it binds
Ctrl+Z, Ctrl+Shift+Z and the class keys 1 to 9 in the viewer and on the
classes layers (one undo history for everything), and on closing gives them
back, saves unsaved work, cancels jobs and removes the dock's callbacks. The
closing of napari's main window, which skips the dock's ``closeEvent``, saves
too.
"""

from __future__ import annotations

import weakref

from qtpy.QtCore import QEvent

__all__ = ["ClosingMixin"]


class ClosingMixin:
    """Key bindings and teardown of the dock (needs its viewer, layers, jobs and files)."""

    def _bind_viewer_keys(self) -> None:
        binds = {"Control-Z": lambda _v: self.undo(), "Control-Shift-Z": lambda _v: self.redo()}
        for k in range(1, 10):
            binds[str(k)] = lambda _v, k=k: self.class_manager.select_by_key(k)
        for key, fn in binds.items():
            self._bound_keys[key] = self.viewer.bind_key(key, fn, overwrite=True)

    def _bind_layer_keys(self, layer) -> None:
        """Ctrl+Z on a classes layer undoes in the session (one history for everything)."""
        layer.bind_key("Control-Z", lambda _l: self.undo(), overwrite=True)
        layer.bind_key("Control-Shift-Z", lambda _l: self.redo(), overwrite=True)
        self._key_layers[id(layer)] = weakref.ref(layer)  # released on close

    def _unbind_layer_keys(self) -> None:
        """Give the classes layers napari's own Ctrl+Z back (the dock is closing)."""
        for ref in self._key_layers.values():
            layer = ref()
            if layer is not None:
                for key in ("Control-Z", "Control-Shift-Z"):
                    layer.bind_key(key, None, overwrite=True)
        self._key_layers.clear()

    def teardown(self):
        """Cancel jobs, unbind keys and callbacks (idempotent; called on close).

        Returns the file that unsaved work was autosaved to, else None.
        """
        if self._closed:
            return None
        self._closed = True
        saved = self.save_before_closing()
        self.cancel()
        if self._writer is not None and self._writer.thread is not None:
            self._writer.thread.join(60)  # let a background save finish its file
        self.set_split_mode(False)
        self._autosave_timer.stop()
        self._volume_timer.stop()
        self._unbind_layer_keys()
        for key, previous in self._bound_keys.items():
            self.viewer.bind_key(key, previous if previous is not None else None, overwrite=True)
        self._bound_keys.clear()
        if self._click_cb in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._click_cb)
        self._teardown_inputs()
        self.layers.clear(remove=False)
        if self._watched_window is not None:
            self._watched_window.removeEventFilter(self)
            self._watched_window = None
        return saved

    def closeEvent(self, event) -> None:
        self.teardown()
        super().closeEvent(event)

    def event(self, event) -> bool:
        """napari's close button on the dock takes the widget out (no ``closeEvent``): tear down.

        ``remove_dock_widget`` sets the widget's parent to None. Left alive, the
        dock would keep its keys, callbacks and timers, and a dock opened again
        from the Plugins menu would take the same layers: every paint stroke
        would be recorded twice.
        """
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif getattr(self, "_docked", False) and not self._closed:
                self._docked = False
                saved = self.teardown()
                if saved is not None:
                    from napari.utils.notifications import show_info

                    show_info(f"Feature Space Annotation closed: the unsaved work was "
                              f"autosaved to {saved} (Open session… restores it)")  # fmt: skip
        return super().event(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        top = self.window()  # napari's main window once docked (closing it skips closeEvent)
        if top is not self and top is not self._watched_window:
            if self._watched_window is not None:
                self._watched_window.removeEventFilter(self)
            top.installEventFilter(self)
            self._watched_window = top

    def eventFilter(self, obj, event) -> bool:
        if obj is self._watched_window and event.type() == QEvent.Type.Close:
            self.save_before_closing()  # the viewer closes: unsaved labels are autosaved
            obj.removeEventFilter(self)
            self._watched_window = None  # hold no reference to a closing window
        return super().eventFilter(obj, event)
