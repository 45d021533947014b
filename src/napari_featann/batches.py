"""Growing a session by batches of images, and local views of a selection.

Start with a subset of the images; "add N images" partitions the new ones,
extracts their features and *places* them in the existing scatter with
UMAP's ``transform`` (no refit until the user asks for one with
:meth:`Session.project`).
"""

from __future__ import annotations

import numpy as np

from .core.images import load_collection
from .core.progress import Progress, ensure_progress
from .core.regions import offset_labels, table_from_label_images
from .finite import require_finite_features
from .learning import refined_of_new
from .session import Session

__all__ = ["add_images", "local_view"]


def add_images(
    session: Session, sources, names=None, progress: Progress | None = None, bands=None,
    tile: int | None = None,
) -> int:  # fmt: skip
    """Add images to a session: partition, features and placement of their segments.

    Parameters
    ----------
    session : Session
        Already partitioned (and projected, for placement in the scatter).
    sources : folder, files or arrays
        As for :func:`napari_featann.core.images.load_collection`.
    names : list of str, optional
        Names for array sources.
    progress : Progress, optional
    bands : sequence of int, optional
        Channels of multi-band images (one, or red, green, blue); by default
        the session's own choice, if it made one.
    tile : int, optional
        Cut larger images into tiles of this side; by default the session's
        own tile size, if it cut any image into tiles.

    Returns
    -------
    int
        Number of new segments.

    Raises
    ------
    ValueError
        When features of new segments hold a NaN or an infinity (naming them);
        nothing is added then. A backbone that does not load (its weights, its
        context levels: :meth:`Session.check_extractor`) is refused before the
        new images are partitioned.

    Notes
    -----
    Nothing changes in ``session`` until everything is computed, so a
    cancelled call leaves it as it was. The undo history is cleared: earlier
    edits referred to the smaller collection.
    """
    progress = ensure_progress(progress)
    if bands is None:
        bands = next((r.meta["bands"] for r in session.images if "bands" in r.meta), None)
    if tile is None:  # the session's tile size, when it cut scenes into tiles
        sizes = [max(r.meta["tile"][2:]) for r in session.images if "tile" in r.meta]
        tile = max(sizes) if sizes else None
    taken = {r.name for r in session.images}
    taken |= {r.meta.get(k) for r in session.images for k in ("stack", "scene")}
    # new images, stacks and scenes get names of their own (found by their name)
    records, failures = load_collection(sources, names=names, bands=bands,
                                        taken=taken - {None}, tile=tile)  # fmt: skip
    # a scratch session over the new images, with the same parameters and extractor
    scratch = Session(records, session.partition_params, session.feature_params,
                      session.projection_params)  # fmt: skip
    scratch._extractor, scratch._extractor_key = (
        session._extractor,
        getattr(session, "_extractor_key", None),
    )
    if session.features is not None:  # a backbone that fails to load fails before the cut
        scratch.check_extractor(progress)
    scratch.partition(progress)
    first = session.n_images
    # scratch ids are unique among the new images: shifting them all keeps them unique
    labels = [offset_labels(lab, session.next_id - 1) for lab in scratch.label_images]
    next_id = max([session.next_id - 1] + [int(lab.max()) for lab in labels]) + 1
    table = table_from_label_images(labels)
    table.image = table.image + first
    feats = emb = refined = None
    if session.features is not None:
        scratch.label_images = labels
        scratch.segments = table_from_label_images(labels)
        feats = scratch.compute_features(progress=progress)
        names = [r.name for r in session.images] + [r.name for r in records]
        require_finite_features(session, feats, "adding images", segments=table,
                                image_names=names, advice="the images were not added")  # fmt: skip
        # after a full fine-tuning, the fine-tuned backbone's features of the new segments
        refined = refined_of_new(session, scratch.segments, progress=progress,
                                 what="adding images", source=scratch,
                                 advice="the images were not added")  # fmt: skip
        if session.embedding is not None:
            new_refined = None if refined is None else refined[0][len(session.segments) :]
            emb = session.place(feats, new_refined)  # after a full fine-tuning, by those
    # commit
    session.images.extend(records)
    session.gradients.extend(scratch.gradients)
    session._gradient_keys.extend(scratch._gradient_keys)
    for i, h in scratch._hierarchies.items():
        session._hierarchies[first + i] = h
    session.class_masks.extend(scratch.class_masks)
    session.manual_masks.extend(scratch.manual_masks)
    session.label_images.extend(labels)
    session.segments = session.segments.concat(table)
    session.segment_class = np.concatenate([session.segment_class, np.zeros(len(table), np.int32)])
    if feats is not None:
        session.features = np.concatenate([session.features, feats])
    if emb is not None:
        session.embedding = np.concatenate([session.embedding, emb])
    if refined is not None:
        session.refined_features = refined[0]
    session.next_id = next_id
    session.load_failures.update(failures)
    session._pixel_index.clear()
    session.history.clear()
    return len(table)


def local_view(session: Session, segment_ids, seed: int = 0,
               progress: Progress | None = None) -> np.ndarray:  # fmt: skip
    """A projection of a few segments on their own (UMAP, min(5, n-1) neighbours, min_dist 0.1).

    Returns
    -------
    ndarray, shape (n, 2)
        Positions of ``segment_ids``, in that order.
    """
    from .learning import refined_features
    from .ml.projection import local_projection

    rows = session.segments.rows_of(segment_ids)
    if rows.size < 2:
        raise ValueError("select at least 2 segments for a local view")
    return local_projection(refined_features(session)[rows], seed=seed, progress=progress)
