"""``featann gui``: napari with the Feature Space Annotation dock and images loaded."""

from __future__ import annotations

__all__ = ["launch"]


def launch(
    images=None, edge_weights=None, weights=None, block: bool = True, viewer=None, bands=None,
    tile=None,
):  # fmt: skip
    """Open napari with the dock docked and the images loaded (sample photos by default).

    Parameters
    ----------
    images : list of str, optional
        Image files or one folder; None or empty opens the sample photos.
    edge_weights : str, optional
        HED weights file: the partition uses the learned HED gradient.
    weights : str, optional
        Local backbone weights (default: ``../shared/weights/...`` when present,
        else timm's hub).
    block : bool
        Run the Qt event loop (``napari.run()``) until the window closes.
    viewer : napari.Viewer, optional
        Use this viewer instead of opening one (tests).
    bands : sequence of int, optional
        Channels of multi-band images to use (one, or red, green, blue).
    tile : int, optional
        Cut images larger than this into tiles of this side (the dock's *Tiles*);
        under ``MIN_TILE`` (64) it is refused with a ValueError.

    Returns
    -------
    (napari.Viewer, FeatureSpaceWidget)
    """
    import napari

    from ..core.images import check_tile
    from .dock import FeatureSpaceWidget

    check_tile(tile)  # before any window opens (the Tiles box would raise it to the smallest)

    viewer = viewer or napari.Viewer(title="napari-featann")
    widget = FeatureSpaceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Feature Space Annotation", area="right")
    if edge_weights:
        widget.partition_panel.gradient.value = "hed"
        widget.partition_panel.edge_weights.value = str(edge_weights)
    if weights:
        widget.features_panel.weights.value = str(weights)
    if tile:
        widget.tile_spin.setValue(int(tile))
    if images:
        sources = images[0] if len(images) == 1 else list(images)
        widget.load_images(sources, bands=bands)
    else:
        from ..sample_data import everyday_photos

        arrays = [(data, meta["name"]) for data, meta, _ in everyday_photos()]
        widget.load_images([a for a, _ in arrays], names=[n for _, n in arrays])
    if block:
        napari.run()
    return viewer, widget
