"""A robot's session cache with another context descriptor, the crops and partition kept.

Usage::

    python docs/try_context.py SOURCE.featann OUT.featann LEVELS SCALE WEIGHT

``SOURCE`` is the session cache of ``featann bench robot --session-cache`` (unlabelled).
The context part of every segment's features is computed again with ``--context-levels
LEVELS --context-scale SCALE --context-weight WEIGHT`` and written with those settings to
``OUT``; the crop part and the partition stay. A robot run given the same three options and
``--session-cache OUT`` then reuses it, and its split segments get the same descriptor.
This is how session 15 compared context variants without a cold run each
(docs/benchmarks.md, section 5, "How the design was chosen"); the JSON's
``feature_neighbour_agreement`` gives the 10-nearest-neighbour agreement of the features.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from napari_featann.io import load_session, save_session


def main(argv: list[str]) -> None:
    """Write OUT from SOURCE with the context settings of ``argv`` (see the module docstring)."""
    if len(argv) != 5:
        raise SystemExit(__doc__)
    source, out, levels, scale, weight = argv
    s = load_session(source)
    if not s.feature_params.context or s.features is None:
        raise SystemExit(f"{source} holds no context features")
    crop_dim = s.extractor().crop_dim  # of the settings the cache was made with
    s.feature_params = replace(
        s.feature_params, context_levels=int(levels), context_scale=float(scale),
        context_weight=weight,
    ).validate()  # fmt: skip
    fx = s.extractor()
    images = [s.float_image(i) for i in range(s.n_images)]
    context = fx.context_features(images, s.label_images, s.segments)
    crops = np.asarray(s.features[:, :crop_dim], np.float32)
    s.features = np.concatenate([crops, context], 1)
    s.embedding = None
    save_session(s, out)
    print(f"{out}: {len(s.segments)} segments, {s.features.shape[1]} features each")


if __name__ == "__main__":
    main(sys.argv[1:])
