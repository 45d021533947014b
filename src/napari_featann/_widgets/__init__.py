"""Qt widgets of napari-featann: the only package that imports qtpy, napari, magicgui or vispy."""
