"""napari-featann: feature space annotation for napari.

The package's top level is headless: importing it loads no Qt, no torch and
no napari. The main entry points are :class:`napari_featann.session.Session`
and the ``featann`` command line.
"""

__version__ = "0.1.0"

__all__ = ["Session", "__version__"]


def __getattr__(name):
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(name)
