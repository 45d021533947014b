"""Metric learning on a session's labelled segments, and labelling suggestions.

Two modes, both reporting progress and cancellable, neither touching the
session until they have finished:

* ``"head"`` (default): a small projection head trained on the cached backbone
  features with a triplet loss; seconds on a CPU.
* ``"full"``: the paper's fine-tuning of the whole backbone on the segment
  crops (SGD, lr 0.1, 3 epochs); minutes on a CPU, meant for a GPU.

After training every segment is re-embedded and the scatter is re-projected
semi-supervised, starting from the previous layout.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from .core.progress import Progress, ensure_progress
from .finite import require_finite_features
from .session import Session

__all__ = [
    "crops_of_rows",
    "fine_tuned_features",
    "refined_features",
    "refined_of_new",
    "refined_without_backbone",
    "suggest_proposals",
    "suggest_uncertain",
    "train_metric",
    "warm_up",
    "warn_refined_dropped",
]


_DIVERGED = ("the fine-tuned backbone gives them (the training diverged?): "
             "train the head instead")  # fmt: skip


def warm_up(background: bool = True) -> None:
    """Import metric learning's libraries now, so that the first training is quick.

    Parameters
    ----------
    background : bool
        Do it in a daemon thread and return at once (torch included, when it
        is not imported yet).
    """

    def work() -> None:
        from .ml.metric import warm_up as warm_metric

        warm_metric()

    if background:
        import threading

        threading.Thread(target=work, name="featann-warm-learning", daemon=True).start()
    else:
        work()


def crops_of_rows(session: Session, rows: np.ndarray, label_images=None, table=None):
    """Network input crops (n, 3, 224, 224) of the given segment rows, in order.

    ``table`` and ``label_images`` describe segments not yet in the session (an
    edit's new ones); by default the session's own.
    """
    import torch

    from .ml.extractor import crop_batch

    fx = session.extractor()
    _ = fx.model  # loads the normalisation constants
    table = session.segments if table is None else table
    labels = session.label_images if label_images is None else label_images
    rows = np.asarray(rows)
    out = torch.empty((rows.size, 3, fx.size, fx.size))
    for img in np.unique(table.image[rows]):
        sel = np.flatnonzero(table.image[rows] == img)
        r = rows[sel]
        out[sel] = crop_batch(session.float_image(int(img)), labels[int(img)], table.ids[r],
                              table.bbox[r], fx.margin, fx.size, fx.mean, fx.std)  # fmt: skip
    return out


@contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _backbone_features(session: Session, model, progress: Progress, table=None,
                       label_images=None) -> np.ndarray:  # fmt: skip
    """Features a fine-tuned backbone gives segments (default all the session's), in order.

    ``table`` and ``label_images`` describe segments not yet in the session, as
    in :meth:`~napari_featann.session.Session.compute_features`.
    """
    import torch
    import torch.nn.functional as F

    table = session.segments if table is None else table
    labels = session.label_images if label_images is None else label_images
    n = len(table)
    bs = session.extractor().batch_size
    progress.init(n, "re-embedding")
    out = [np.zeros((0, session.extractor().crop_dim), np.float32)]
    with torch.inference_mode():
        for k in range(0, n, bs):
            rows = np.arange(k, min(k + bs, n))
            x = crops_of_rows(session, rows, labels, table).to(next(model.parameters()).device)
            out.append(F.normalize(model(x).flatten(1), dim=1).cpu().numpy())
            progress.update(rows.size)
    feats = np.concatenate(out).astype(np.float32)
    fx = session.extractor()
    if not fx.context:
        return feats
    images = {i: session.float_image(i) for i in np.unique(table.image).tolist()}
    ctx = fx.context_features(images, labels, table, model=model, progress=progress)
    return np.hstack([feats, ctx])


def fine_tuned_features(session: Session, table, label_images=None,
                        progress: Progress | None = None, source: Session | None = None):  # fmt: skip
    """The fine-tuned backbone's features of segments, while one is in force for the session.

    They go through the pipeline that :func:`train_metric` re-embeds every
    segment with (masked crop, then the context blocks of the fine-tuned
    backbone's maps when the features have them), so a segment gets the row it
    would have had at training time.

    Parameters
    ----------
    session : Session
        Whose metric state holds the fine-tuned backbone.
    table : SegmentTable
        The segments (an edit's new ones, or ones an undo brings back).
    label_images : list, optional
        The label images they are cut from (default ``source``'s).
    progress : Progress, optional
    source : Session, optional
        Where ``table.image`` indexes the images (default ``session``).

    Returns
    -------
    ndarray of float32, shape (len(table), dim), or None
        None when no backbone is fine-tuned (no metric, or a projection head).
        Not checked for finiteness.
    """
    state = getattr(session, "metric_state", None)
    if state is None or state[0] != "full":
        return None
    source = session if source is None else source
    new = _backbone_features(source, state[1], ensure_progress(progress), table, label_images)
    return new.reshape(len(new), -1)


def refined_without_backbone(session: Session) -> bool:
    """Whether the session's refined features come from a fine-tuned backbone it does not hold.

    Session files keep a full fine-tuning's backbone with its refined features
    (:mod:`~napari_featann.io_metric`), but those written before they did keep the
    refined features only: segments made after opening one cannot get such features.
    """
    now = getattr(session, "refined_features", None)
    return (getattr(session, "metric_state", None) is None and now is not None
            and len(now) == len(session.segments))  # fmt: skip


def warn_refined_dropped(what: str) -> None:
    """Say that the refined features of a fine-tuning whose backbone is gone are dropped."""
    warnings.warn(
        f"{what}: the fine-tuned backbone of the last full metric learning is not in this "
        "session (it was opened from a file saved before napari-featann saved fine-tuned "
        "backbones: the file kept its features only), so the new segments "
        "cannot be embedded by it; its refined features are dropped and suggestions, "
        "proposals and local views use the backbone's features until you train the metric "
        "again",
        UserWarning,
        stacklevel=3,
    )


def refined_of_new(session: Session, table, label_images=None, progress: Progress | None = None,
                   kept=None, what: str = "editing segments", source: Session | None = None,
                   advice: str = "the edit was not made"):  # fmt: skip
    """Refined features after an edit or an addition, when a backbone was fine-tuned.

    Parameters
    ----------
    session : Session
        The session edited, with its metric state and refined features.
    table : SegmentTable
        The new segments.
    label_images : list, optional
        The label images they are cut from (default ``source``'s).
    progress : Progress, optional
    kept : array-like, optional
        Rows (or a boolean mask) of ``session.refined_features`` that stay,
        placed before the new rows.
    what : str
        What a refusal of non-finite features names.
    source : Session, optional
        Where ``table.image`` indexes the images (default ``session``): the
        scratch session of images being added.
    advice : str
        What a refusal says was not done.

    Returns
    -------
    tuple or None
        ``(refined, state)``, the kept rows followed by the fine-tuned
        backbone's features of ``table`` (:func:`fine_tuned_features`) and the
        metric state they go with; None when no backbone is fine-tuned or its
        refined features are not those of the session's segments (the head's
        are re-embedded when used). When the refined features come from a
        fine-tuned backbone the session does not hold (a reopened session), a
        warning says that they are dropped.
    """
    now = getattr(session, "refined_features", None)
    if refined_without_backbone(session):
        warn_refined_dropped(what)
        return None
    if now is None or len(now) != len(session.segments):
        return None
    new = fine_tuned_features(session, table, label_images, progress, source)
    if new is None:
        return None
    source = session if source is None else source
    require_finite_features(source, new, what, segments=table,
                            advice=f"{advice}; {_DIVERGED}")  # fmt: skip
    old = now if kept is None else now[np.asarray(kept)]
    return np.concatenate([old, new]).astype(now.dtype), session.metric_state


def train_metric(session: Session, mode: str = "head", progress: Progress | None = None,
                 seed: int = 0, reproject: bool = True, **kwargs) -> dict:  # fmt: skip
    """Learn a metric from the labelled segments, re-embed all, and re-project.

    Parameters
    ----------
    session : Session
        Needs features and at least 2 classes with 2 labelled segments each.
    mode : {"head", "full"}
    reproject : bool
        Fit the semi-supervised UMAP on the refined features, initialised with
        the current layout.
    **kwargs
        Passed to :func:`napari_featann.ml.metric.train_head` or
        :func:`~napari_featann.ml.metric.finetune_backbone`.

    Returns
    -------
    dict
        ``mode``, ``n_labelled`` and ``train_seconds``.

    Raises
    ------
    ValueError
        When the features, or in ``"full"`` mode the fine-tuned backbone's
        re-embedded features, hold a NaN or an infinity (naming the segments);
        the session is left unchanged.
    """
    import time

    from .ml import metric

    if session.features is None:
        raise RuntimeError("extract features first")
    if mode not in ("head", "full"):
        raise ValueError(f"mode must be 'head' or 'full', got {mode!r}")
    progress = ensure_progress(progress)
    labels = session.ml_labels()
    t0 = time.perf_counter()
    if mode == "head":
        require_finite_features(session, session.features, "metric learning")
        with _torch_threads(1):  # tiny steps: a second thread only spins (measured 5 s vs 35+ s)
            head = metric.train_head(session.features, labels, seed=seed, progress=progress,
                                     **kwargs)  # fmt: skip
            refined = head.embed(session.features)
        state = ("head", head)
    else:
        fx = session.extractor()
        lab_rows = np.flatnonzero(labels >= 0)

        def crops_fn(idx):
            return crops_of_rows(session, lab_rows[np.asarray(idx)])

        model = metric.finetune_backbone(fx.model, crops_fn, labels[lab_rows], seed=seed,
                                         device=fx.device, progress=progress, **kwargs)  # fmt: skip
        refined = _backbone_features(session, model, progress)
        require_finite_features(session, refined, "metric learning (full)",
                                advice=_DIVERGED)  # fmt: skip
        state = ("full", model)
    seconds = time.perf_counter() - t0
    if reproject:
        session.project(progress, features=refined)
    session.refined_features = refined
    session.metric_state = state
    return {
        "mode": mode,
        "n_labelled": int((labels >= 0).sum()),
        "train_seconds": round(seconds, 2),
    }


def refined_features(session: Session) -> np.ndarray:
    """The features the scatter is built on: refined by metric learning when trained.

    After an edit added segments (a split, a merge), a trained projection head
    re-embeds all the features (milliseconds); a fine-tuned backbone's refined
    features are extended by the edit itself (:func:`refined_of_new`).
    """
    if session.features is None:
        raise RuntimeError("extract features first")
    refined = getattr(session, "refined_features", None)
    if refined is not None and len(refined) == len(session.segments):
        return refined
    state = getattr(session, "metric_state", None)
    head = state[1] if state is not None and state[0] == "head" else None
    if head is not None and len(session.features) and session.features.shape[1] == head.in_dim:
        session.refined_features = head.embed(session.features)
        return session.refined_features
    return session.features


def suggest_uncertain(session: Session, k: int = 20) -> np.ndarray:
    """Ids of the ``k`` unlabelled segments whose class is most uncertain (class entropy)."""
    from .ml.suggest import most_uncertain

    feats = refined_features(session)
    require_finite_features(session, feats, "uncertainty suggestions")
    return session.segments.ids[most_uncertain(feats, session.ml_labels(), k=k)]


def suggest_proposals(session: Session, k: int = 10, min_agreement: float = 0.8):
    """k-NN label proposals grouped by class: a list of ``(class_id, segment_ids, confidence)``.

    Nothing is applied: accept a group with ``session.assign(ids, class_id)``.
    """
    from .ml.suggest import knn_proposals

    feats = refined_features(session)
    require_finite_features(session, feats, "label proposals")
    props = knn_proposals(feats, session.ml_labels(), k=k, min_agreement=min_agreement)
    return [(p.class_id, session.segments.ids[p.indices], p.confidence) for p in props]
