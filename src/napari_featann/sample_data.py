"""Sample data: everyday photos bundled with scikit-image (they load offline).

Imports no Qt and no napari; napari calls :func:`everyday_photos` from
File ▸ Open Sample ▸ napari-featann.
"""

from __future__ import annotations

__all__ = ["PHOTOS", "everyday_photos"]

#: scikit-image images shipped inside the package (no download needed).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "coins", "camera")


def everyday_photos() -> list[tuple]:
    """Seven photos of different sizes (RGB and grey) from ``skimage.data``.

    Returns
    -------
    list of (ndarray, dict, str)
        napari layer data tuples ``(data, {"name": ...}, "image")``.

    Examples
    --------
    >>> layers = everyday_photos()
    >>> [meta["name"] for _, meta, _ in layers][:3]
    ['astronaut', 'coffee', 'chelsea']
    """
    from skimage import data

    return [(getattr(data, name)(), {"name": name}, "image") for name in PHOTOS]
