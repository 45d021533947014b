"""Triplet-loss metric learning on the labelled segments.

Two ways to refine the feature space as labelling progresses:

- :func:`train_head`: a small projection head trained on the cached backbone
  features. Seconds on a CPU; the backbone is never re-run.
- :func:`finetune_backbone`: the paper's procedure, the whole backbone trained
  on the segment crops (SGD, lr 0.1 divided by 10 after each epoch, 3 epochs
  of ~1000 samples). Minutes on a CPU, and every segment must be re-embedded
  afterwards.

Both use ``pytorch_metric_learning``'s ``TripletMarginLoss(margin)`` on
triplets from ``TripletMarginMiner(margin, type_of_triplets="all")`` (every
triplet of the batch that violates the margin), on balanced batches of ``m``
samples per class. :func:`knn_accuracy` measures the effect.

Labels follow the ML convention of this package: ``< 0`` (``-1``) means
unlabelled, any non-negative int is a class id.
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_featann.core.progress import Progress, ensure_progress
from napari_featann.finite import require_finite_rows
from napari_featann.ml.suggest import knn_predict

__all__ = ["ProjectionHead", "finetune_backbone", "knn_accuracy", "train_head"]

_MAX_INIT_ROWS = 20000  # rows used for the mean and principal directions at initialisation


# -- shared pieces -------------------------------------------------------------------
_WARM = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Import pytorch-metric-learning and set up torch's optimisers now.

    The first training in a process otherwise pays about 3 s for them (scipy.stats
    through pytorch-metric-learning, torch's compiler hooks through AdamW); the
    dock calls this in a background thread when a session is shown.
    """
    global _warmed
    with _WARM:
        if _warmed:
            return
        from pytorch_metric_learning import losses, miners  # noqa: F401

        torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1e-3)
        _warmed = True


def _check_labels(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Validate labels and return them as int64; need >= 2 classes with >= 2 samples."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (n is not None and len(labels) != n):
        raise ValueError(
            f"labels must have shape ({n if n is not None else 'n'},), got {labels.shape}"
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers (-1 = unlabelled), got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    classes, counts = np.unique(labels[labels >= 0], return_counts=True)
    if np.count_nonzero(counts >= 2) < 2:
        summary = ", ".join(f"class {c}: {k}" for c, k in zip(classes, counts)) or "none"
        raise ValueError(
            "metric learning needs at least 2 classes with at least 2 labelled segments "
            f"each (labelled so far: {summary})"
        )
    return labels


def _balanced_batches(
    labels: np.ndarray, m: int, batch_size: int, n_samples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Yield batches of row indices with ``m`` samples per class.

    Each batch is built from passes over the classes in a random order, ``m``
    samples of each (drawn without replacement when the class has at least
    ``m`` samples, with replacement otherwise), until ``batch_size`` rows are
    drawn; so when ``m * n_classes < batch_size`` a class appears more than
    ``m`` times, as with the reference code's ``MPerClassSampler`` inside a
    DataLoader of batch 40. Unlike ``pytorch_metric_learning``'s sampler this
    uses a local seeded generator, not numpy's global random state, so it is
    deterministic and thread-safe.

    ``labels`` are the class ids of the labelled rows only (all ``>= 0``);
    yields ``ceil(n_samples / batch_size)`` batches, indices into ``labels``.
    """
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    n_batches = max(1, -(-n_samples // batch_size))
    for _ in range(n_batches):
        parts: list[np.ndarray] = []
        size = 0
        while size < batch_size:
            for c in rng.permutation(len(by_class)):
                members = by_class[c]
                take = min(m, batch_size - size)
                parts.append(rng.choice(members, size=take, replace=len(members) < take))
                size += take
                if size >= batch_size:
                    break
        yield np.concatenate(parts)


def _triplet_objects(margin: float):
    from pytorch_metric_learning import losses, miners

    loss = losses.TripletMarginLoss(margin=margin)
    miner = miners.TripletMarginMiner(margin=margin, type_of_triplets="all")
    return loss, miner


def _batch_plan(batch_size: int, m: int, n_labelled: int) -> tuple[int, int]:
    """Batch size and samples per class actually used.

    The batch holds at most the labelled rows (but never fewer than ``2 * m``,
    drawn with replacement) and ``m`` is clipped to half the batch, so that
    every batch holds at least two classes.
    """
    if batch_size < 2 or m < 1:
        raise ValueError(f"need batch_size >= 2 and m >= 1, got {batch_size} and {m}")
    bs = int(max(min(batch_size, n_labelled), min(2 * m, batch_size)))
    return bs, int(min(m, bs // 2))


# -- projection head -----------------------------------------------------------------
class ProjectionHead(nn.Module):
    """Residual MLP mapping backbone features to a smaller, L2-normalised space.

    ``y = normalise(skip(z) + mlp(z))`` with ``z = (normalise(x) - mean) * scale``
    the centred input, ``skip`` a bias-free linear map and ``mlp`` =
    Linear-ReLU-Linear.

    Centring matters: pooled CNN features share a large common component, so
    raw L2-normalised features sit in a narrow cone where all distances are
    small and a triplet margin is hard to reach. :func:`train_head` sets
    ``mean`` and ``scale`` (buffers, saved with the weights) from all the
    features, initialises ``skip`` with their top ``out_dim`` principal
    directions and the last layer of ``mlp`` with zeros. An untrained head is
    thus PCA of the centred features: its cosine neighbours are the
    Euclidean neighbours of the features, up to the variance the ``out_dim``
    directions leave out.

    Parameters
    ----------
    in_dim : int
        Dimension of the backbone features.
    out_dim : int, optional
        Dimension of the embedding.
    hidden : int, optional
        Width of the hidden layer.

    Attributes
    ----------
    history : list of float
        Mean triplet loss per epoch of the last training (not saved).
    """

    def __init__(self, in_dim: int, out_dim: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.skip = nn.Linear(in_dim, out_dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(()))
        self.history: list[float] = []

    @property
    def in_dim(self) -> int:
        """Input (backbone feature) dimension."""
        return self.skip.in_features

    @property
    def out_dim(self) -> int:
        """Embedding dimension."""
        return self.skip.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch ``(b, in_dim)`` into L2-normalised ``(b, out_dim)``."""
        z = (F.normalize(x, dim=1) - self.mean) * self.scale
        return F.normalize(self.skip(z) + self.mlp(z), dim=1)

    @torch.no_grad()
    def embed(self, features: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Embed an array of features.

        Parameters
        ----------
        features : (n, in_dim) array of float
            Backbone features.
        batch : int, optional
            Rows per forward pass.

        Returns
        -------
        embedding : (n, out_dim) array of float32
            L2-normalised rows.
        """
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise ValueError(f"features must have shape (n, {self.in_dim}), got {features.shape}")
        was_training = self.training
        self.eval()
        try:
            dev = self.skip.weight.device
            out = np.empty((len(features), self.out_dim), dtype=np.float32)
            for s in range(0, len(features), batch):
                xb = torch.as_tensor(features[s : s + batch], dtype=torch.float32, device=dev)
                out[s : s + len(xb)] = self(xb).cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def state_dict_numpy(self) -> dict[str, np.ndarray]:
        """Weights as plain numpy arrays (float32), for ``np.savez``; no pickle needed."""
        return {k: v.detach().cpu().numpy().copy() for k, v in self.state_dict().items()}

    @classmethod
    def from_numpy(cls, state: dict[str, np.ndarray]) -> ProjectionHead:
        """Rebuild a head from :meth:`state_dict_numpy` output (dimensions from the shapes).

        Parameters
        ----------
        state : dict of str to ndarray
            As returned by :meth:`state_dict_numpy` (or read back from an npz).

        Returns
        -------
        head : ProjectionHead
            In eval mode.
        """
        try:
            hidden, in_dim = np.shape(state["mlp.0.weight"])
            out_dim = np.shape(state["mlp.2.weight"])[0]
        except KeyError as e:
            raise ValueError(f"not a ProjectionHead state: missing {e}") from None
        head = cls(int(in_dim), int(out_dim), int(hidden))
        head.load_state_dict(
            {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in state.items()}
        )
        return head.eval()


def _principal_directions(x: np.ndarray, k: int, gen: torch.Generator) -> np.ndarray:
    """Top ``k`` principal directions of the (centred) rows ``x``, shape (k, d).

    Randomised subspace iteration (a few matmuls on ``x``) rather than a
    full ``d x d`` eigendecomposition, which costs seconds for d = 1280 on a
    busy 2-core CPU. Rows past the rank of ``x`` are zero.
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    d = xt.shape[1]
    p = min(d, k + 10)
    if p >= d:  # small d: exact
        basis = torch.eye(d)
    else:
        basis = torch.linalg.qr(xt.T @ (xt @ torch.randn(d, p, generator=gen)))[0]
        for _ in range(4):
            basis = torch.linalg.qr(xt.T @ (xt @ basis))[0]
    proj = (xt @ basis).double()
    vals, vecs = torch.linalg.eigh(proj.T @ proj)  # Rayleigh-Ritz, ascending
    order = torch.argsort(vals, descending=True)[:k]
    top = (basis.double() @ vecs[:, order]).T.numpy()
    top[vals[order].numpy() <= 1e-10 * max(float(vals.max()), 1e-30)] = 0.0
    # fix the sign so the result does not depend on the BLAS build
    pivot = top[np.arange(len(top)), np.abs(top).argmax(1)]
    top *= np.where(pivot < 0, -1.0, 1.0)[:, None]
    out = np.zeros((k, d), dtype=np.float32)
    out[: len(top)] = top
    return out


def train_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    out_dim: int = 64,
    hidden: int = 256,
    margin: float = 0.05,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    m: int = 5,
    samples_per_epoch: int = 2048,
    seed: int = 0,
    progress: Progress | None = None,
) -> ProjectionHead:
    """Train a projection head on cached backbone features with a triplet loss.

    Parameters
    ----------
    features : (n, d) array of float32
        Backbone features of every segment. All rows initialise the head
        (principal directions); only labelled rows train it.
    labels : (n,) array of int
        Class id per row, ``-1`` (any negative) for unlabelled.
    out_dim : int, optional
        Embedding dimension.
    hidden : int, optional
        Hidden width of the MLP branch.
    margin : float, optional
        Triplet margin (the paper's 0.05), for the loss and the miner.
    epochs : int, optional
        Number of epochs; the learning rate follows a cosine decay over them.
    lr, weight_decay : float, optional
        AdamW settings.
    batch_size : int, optional
        Rows per batch (fewer when fewer rows are labelled).
    m : int, optional
        Samples per class drawn in a row; with few classes a class gets
        several groups of ``m`` so the batch stays full.
    samples_per_epoch : int, optional
        Rows drawn per epoch. Fixed rather than tied to the number of labels,
        so the cost is bounded (a few seconds on a CPU) however many segments
        are labelled.
    seed : int, optional
        Seeds the initialisation and the sampling; training is deterministic
        for a seed on a given machine.
    progress : Progress, optional
        ``init(epochs * batches, desc)`` then ``update(1)`` per batch; a
        cancellation raises :class:`~napari_featann.core.progress.Cancelled`.

    Returns
    -------
    head : ProjectionHead
        Trained, in eval mode, on the CPU; ``head.history`` holds the mean
        loss of each epoch.

    Raises
    ------
    ValueError
        If fewer than 2 classes have at least 2 labelled rows, a row of
        ``features`` is not finite, or on bad shapes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(60, 16)).astype(np.float32)
    >>> y = np.repeat([0, 1, 2], 20)
    >>> f[:, 0] += y
    >>> head = train_head(f, y, out_dim=8, hidden=16, epochs=2, samples_per_epoch=64)
    >>> head.embed(f).shape
    (60, 8)
    """
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {features.shape}")
    labels = _check_labels(labels, len(features))
    if epochs < 1 or samples_per_epoch < 1:
        raise ValueError("epochs and samples_per_epoch must be >= 1")
    require_finite_rows(features)  # one such row makes the centring mean, so every output, NaN
    progress = ensure_progress(progress)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    x_all = features.astype(np.float32, copy=False)
    x_all = x_all / np.maximum(np.linalg.norm(x_all, axis=1, keepdims=True), 1e-12)
    head = ProjectionHead(features.shape[1], out_dim, hidden)
    sub = x_all
    if len(sub) > _MAX_INIT_ROWS:
        sub = sub[np.sort(rng.choice(len(sub), _MAX_INIT_ROWS, replace=False))]
    mean = sub.mean(0)
    centred = sub - mean
    scale = 1.0 / max(float(np.sqrt((centred**2).sum(1).mean())), 1e-6)
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(mean))
        head.scale.fill_(scale)
        head.skip.weight.copy_(torch.from_numpy(_principal_directions(centred, out_dim, gen)))
        lin1 = head.mlp[0]
        nn.init.kaiming_uniform_(lin1.weight, nonlinearity="relu", generator=gen)
        lin1.bias.zero_()
        head.mlp[2].weight.zero_()
        head.mlp[2].bias.zero_()

    lab = np.flatnonzero(labels >= 0)
    x = torch.from_numpy(np.ascontiguousarray(x_all[lab]))
    y_np = labels[lab]
    y = torch.from_numpy(y_np)
    bs, m = _batch_plan(batch_size, m, len(lab))
    n_batches = max(1, -(-samples_per_epoch // bs))
    loss_fn, miner = _triplet_objects(margin)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * n_batches)

    progress.init(epochs * n_batches, "Training projection head")
    head.train()
    for _ in range(epochs):
        total = 0.0
        for idx in _balanced_batches(y_np, m, bs, samples_per_epoch, rng):
            ib = torch.from_numpy(idx)
            emb = head(x[ib])
            yb = y[ib]
            loss = loss_fn(emb, yb, miner(emb, yb))
            if loss.requires_grad and loss.item() > 0:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total += float(loss.item())
            with warnings.catch_warnings():
                # a batch with no active triplet skips the optimiser, not the schedule
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                sched.step()
            progress.update(1)
        head.history.append(total / n_batches)
    return head.eval()


# -- full fine-tuning --------------------------------------------------------------------
def _embed_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.normalize(model(x).flatten(1), dim=1)


def finetune_backbone(
    model: nn.Module,
    crops_fn: Callable[[np.ndarray], torch.Tensor],
    labels: np.ndarray,
    *,
    margin: float = 0.05,
    lr: float = 0.1,
    momentum: float = 0.8,
    weight_decay: float = 5e-4,
    epochs: int = 3,
    samples_per_epoch: int = 1000,
    m: int = 5,
    batch_size: int = 40,
    hflip: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> nn.Module:
    """Fine-tune a whole backbone with the triplet loss, as in the paper.

    SGD (``lr``, ``momentum``, ``weight_decay``) with the learning rate
    divided by 10 after each epoch; each epoch draws ``samples_per_epoch``
    labelled segments in balanced batches (``m`` per class, ``batch_size``
    per batch), randomly flipped left-right; the loss is
    ``TripletMarginLoss(margin)`` on every margin-violating triplet of the
    batch, on the L2-normalised model output. Batches with no violating
    triplet are skipped, as in the reference code.

    Parameters
    ----------
    model : torch.nn.Module
        Backbone returning one vector per crop, e.g. a timm model created with
        ``num_classes=0``. It is not modified: a deep copy is trained.
    crops_fn : callable
        ``crops_fn(indices) -> Tensor (b, 3, H, W)``: the input crops (already
        normalised, e.g. 224x224) of the segments at these row indices of
        ``labels``. Keeps this function independent of how crops are made.
    labels : (n,) array of int
        Class id per segment, ``-1`` for unlabelled; only labelled rows are
        passed to ``crops_fn``.
    margin, lr, momentum, weight_decay : float, optional
        Paper settings: 0.05, 0.1, 0.8, 5e-4.
    epochs, samples_per_epoch, m, batch_size : int, optional
        Paper settings: 3 epochs of 1000 samples, batches of 40 with 5 per
        class (more per class when there are fewer than 8 classes, so batches
        stay full; fewer rows when fewer are labelled).
    hflip : bool, optional
        Flip each crop left-right with probability 0.5.
    device : str or torch.device, optional
        Where to train; defaults to CUDA when available, else the CPU.
    seed : int, optional
        Seeds the sampling and the flips.
    progress : Progress, optional
        ``init(epochs * batches, desc)`` then ``update(1)`` per batch; a
        cancellation raises :class:`~napari_featann.core.progress.Cancelled`
        and the caller's model is left as it was.

    Returns
    -------
    model : torch.nn.Module
        The trained copy, in eval mode, on the device of the input model.
        Re-embed every segment with it (L2-normalising the output).

    Raises
    ------
    ValueError
        If fewer than 2 classes have at least 2 labelled segments.
    """
    labels = _check_labels(labels)
    progress = ensure_progress(progress)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    try:
        home = next(model.parameters()).device
    except StopIteration:
        home = torch.device("cpu")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)

    lab = np.flatnonzero(labels >= 0)
    y_np = labels[lab]
    bs, m = _batch_plan(batch_size, m, len(lab))
    n_batches = max(1, -(-samples_per_epoch // bs))
    progress.init(epochs * n_batches, "Fine-tuning backbone")

    net = copy.deepcopy(model).to(device)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    loss_fn, miner = _triplet_objects(margin)
    for _ in range(epochs):
        for idx in _balanced_batches(y_np, m, bs, samples_per_epoch, rng):
            xb = torch.as_tensor(crops_fn(lab[idx]), dtype=torch.float32)
            if hflip:  # not in place: crops_fn may hand out views of a cache
                flip = torch.rand(len(xb), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            xb = xb.to(device)
            yb = torch.from_numpy(y_np[idx]).to(device)
            emb = _embed_model(net, xb)
            loss = loss_fn(emb, yb, miner(emb, yb))
            if loss.requires_grad and loss.item() > 0:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            progress.update(1)
        sched.step()
    return net.eval().to(home)


# -- evaluation ----------------------------------------------------------------------------
def knn_accuracy(
    features: np.ndarray, labels: np.ndarray, query_mask: np.ndarray, k: int = 5
) -> float:
    """Accuracy (percent) of a k-NN classifier on the query rows.

    The classifier votes with the ``k`` most cosine-similar rows among the
    labelled rows outside ``query_mask`` (for L2-normalised vectors this is
    the Euclidean neighbourhood); ties are broken by summed similarity.

    Parameters
    ----------
    features : (n, d) array of float
        Vectors (raw features or embeddings).
    labels : (n,) array of int
        Ground-truth class per row; rows ``< 0`` are ignored on both sides.
    query_mask : (n,) array of bool
        Rows to evaluate (e.g. the segments the annotator has not labelled).
    k : int, optional
        Number of neighbours.

    Returns
    -------
    accuracy : float
        Percentage of query rows whose predicted class is their label.

    Raises
    ------
    ValueError
        If there is no reference row or no labelled query row.

    Examples
    --------
    >>> f = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    >>> knn_accuracy(f, np.array([0, 0, 1, 1]), np.array([False, True, False, True]), k=1)
    100.0
    """
    features = np.asarray(features)
    labels = np.asarray(labels).astype(np.int64)
    query_mask = np.asarray(query_mask, dtype=bool)
    if features.ndim != 2 or labels.shape != (len(features),) or query_mask.shape != labels.shape:
        raise ValueError("features (n, d), labels (n,) and query_mask (n,) must agree")
    known = labels >= 0
    ref = known & ~query_mask
    qry = known & query_mask
    if not ref.any() or not qry.any():
        raise ValueError("knn_accuracy needs labelled rows both inside and outside query_mask")
    pred, _ = knn_predict(features, ref, labels, qry, k)
    return float(100.0 * np.mean(pred == labels[qry]))
