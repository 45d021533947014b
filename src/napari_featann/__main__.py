"""``python -m napari_featann`` runs the ``featann`` command line."""

import sys

from .cli import main

sys.exit(main())
