"""Learned components: HED edges, CNN segment features, UMAP projection.

The submodules import torch, timm and umap, so import them explicitly
(``from napari_featann.ml.extractor import FeatureExtractor``); importing this
package alone stays cheap. ``napari_featann.ml.errors`` imports none of them.
"""
