"""Metric learning: projection head on cached features, full fine-tuning, kNN accuracy."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_metric_learning")

from torch import nn  # noqa: E402

from napari_featann.core.progress import CancelAfter, Cancelled, Progress  # noqa: E402
from napari_featann.ml.metric import (  # noqa: E402
    ProjectionHead,
    finetune_backbone,
    knn_accuracy,
    train_head,
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a busy 2-core CI box, OpenMP spinning makes 2 threads far slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def overlapping_classes(n=3000, d=128, n_classes=4, sep=2.4, frac=0.2, seed=0):
    """Classes apart along ``n_classes`` dims, drowned in ``d`` noise dims.

    Returns features (n, d) float32, ground truth (n,), labelled mask (n,).
    A common offset along dim 0 mimics the shared component of CNN features.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(size=(n, d))
    x[np.arange(n), 1 + y] += sep
    x[:, 0] += 3.0
    labelled = rng.random(n) < frac
    return x.astype(np.float32), y, labelled


@pytest.fixture(scope="module")
def data():
    return overlapping_classes()


@pytest.fixture(scope="module")
def trained(data):
    x, y, labelled = data
    return train_head(x, np.where(labelled, y, -1), seed=0)


# -- knn_accuracy ---------------------------------------------------------------------------
def test_knn_accuracy_hand_made():
    f = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.6, 0.4]], np.float32)
    y = np.array([0, 0, 1, 1, 1])
    q = np.array([False, True, False, True, True])
    # row 4 is closer to class 0 rows: 2 of the 3 query rows are right
    assert knn_accuracy(f, y, q, k=1) == pytest.approx(100 * 2 / 3)


def test_knn_accuracy_ignores_unlabelled_rows():
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0], [1.0, 0.0]], np.float32)
    y = np.array([0, 1, 0, 1, -1])
    q = np.array([False, False, True, True, True])
    assert knn_accuracy(f, y, q, k=1) == 100.0


def test_knn_accuracy_refuses_labelled_rows_that_are_not_finite():
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0], [np.nan, 0.0]], np.float32)
    q = np.array([False, False, True, True, True])
    with pytest.raises(ValueError, match=r"features must be finite: rows \[4\]"):
        knn_accuracy(f, np.array([0, 1, 0, 1, 0]), q, k=1)
    assert knn_accuracy(f, np.array([0, 1, 0, 1, -1]), q, k=1) == 100.0  # unlabelled: unused


def test_knn_accuracy_needs_reference_and_query():
    f = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="inside and outside"):
        knn_accuracy(f, np.array([0, 1, 1]), np.ones(3, bool))


# -- train_head -------------------------------------------------------------------------------
def test_head_improves_knn_accuracy_of_unlabelled(data, trained):
    x, y, labelled = data
    before = knn_accuracy(x, y, ~labelled)
    after = knn_accuracy(trained.embed(x), y, ~labelled)
    assert 55 < before < 75  # raw features are poor
    assert after > before + 8, (before, after)  # measured here: 67.5 -> 80.2
    assert trained.history[-1] < trained.history[0]


def test_head_output_shape_norm_dtype(data, trained):
    x = data[0][:10]
    e = trained.embed(x)
    assert e.shape == (10, 64)
    assert e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_untrained_head_is_no_worse_than_raw(data):
    x, y, labelled = data
    head = train_head(x, np.where(labelled, y, -1), epochs=1, lr=0.0)
    assert knn_accuracy(head.embed(x), y, ~labelled) >= knn_accuracy(x, y, ~labelled) - 1


def test_head_round_trips_through_numpy_npz(data, trained):
    state = trained.state_dict_numpy()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        back = ProjectionHead.from_numpy(dict(npz))
    assert (back.in_dim, back.out_dim) == (trained.in_dim, trained.out_dim)
    x = data[0][:200]
    np.testing.assert_array_equal(back.embed(x), trained.embed(x))


def test_head_from_numpy_rejects_foreign_state():
    with pytest.raises(ValueError, match="missing"):
        ProjectionHead.from_numpy({"weight": np.zeros((2, 2))})


def test_head_is_deterministic_for_a_seed():
    x, y, labelled = overlapping_classes(n=300, d=32)
    tr = np.where(labelled, y, -1)
    a = train_head(x, tr, out_dim=8, hidden=16, epochs=2, seed=3).embed(x)
    b = train_head(x, tr, out_dim=8, hidden=16, epochs=2, seed=3).embed(x)
    np.testing.assert_array_equal(a, b)


def test_head_reports_progress_and_cancels():
    x, y, labelled = overlapping_classes(n=300, d=32)
    tr = np.where(labelled, y, -1)
    calls = []
    p = Progress(lambda total, desc: calls.append((total, desc)), lambda n: calls.append(n))
    train_head(x, tr, epochs=2, samples_per_epoch=128, batch_size=32, progress=p)
    assert calls[0] == (8, "Training projection head")
    assert sum(c for c in calls[1:]) == 8

    cancel = CancelAfter(3)
    with pytest.raises(Cancelled):
        train_head(x, tr, epochs=5, progress=cancel)
    assert cancel.checks == 4  # init and 2 batches passed, the 3rd batch's update raised


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, 0, 0, -1], "at least 2 classes"),
        ([0, 1, 2, -1], "at least 2 classes"),
        ([0, 0, 1, -1], r"class 1: 1"),
    ],
)
def test_head_needs_two_classes_with_two_samples(labels, match):
    x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    with pytest.raises(ValueError, match=match):
        train_head(x, np.array(labels))


def test_head_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        train_head(np.zeros((4, 8), np.float32), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="2-D"):
        train_head(np.zeros(8, np.float32), np.array([0, 0, 1, 1]))


# -- finetune_backbone ----------------------------------------------------------------------------
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)


def square_crops(n=400, size=16, side=6, seed=0):
    """A coloured square (the class) on a random, noisy background colour."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(COLOURS)
    bg = rng.random((n, 3)).astype(np.float32)
    img = np.repeat(np.repeat(bg[:, :, None, None], size, 2), size, 3)
    img += rng.normal(0, 0.1, img.shape).astype(np.float32)
    for i, (r, c) in enumerate(rng.integers(0, size - side, (n, 2))):
        img[i, :, r : r + side, c : c + side] = COLOURS[y[i]][:, None, None]
    return torch.from_numpy(img), y


def tiny_backbone(seed=0):
    """A timm-like backbone with ``num_classes=0``: conv-BN-ReLU x2, global pooling."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


@torch.no_grad()
def embed(model, x):
    model.eval()
    return nn.functional.normalize(model(x), dim=1).numpy()


@torch.no_grad()
def triplet_loss(model, x, y):
    from pytorch_metric_learning import losses, miners

    e = torch.from_numpy(embed(model, x))
    t = torch.from_numpy(y)
    miner = miners.TripletMarginMiner(margin=0.05, type_of_triplets="all")
    return float(losses.TripletMarginLoss(margin=0.05)(e, t, miner(e, t)))


@pytest.fixture(scope="module")
def crops():
    x, y = square_crops()
    labelled = np.random.default_rng(1).random(len(y)) < 0.3
    return x, y, labelled


def test_finetune_improves_knn_and_loss(crops):
    x, y, labelled = crops
    model = tiny_backbone()
    requested = []

    def crops_fn(idx):
        requested.append(np.asarray(idx))
        return x[idx]

    tuned = finetune_backbone(model, crops_fn, np.where(labelled, y, -1), device="cpu")
    assert tuned is not model
    assert not tuned.training
    before = knn_accuracy(embed(model, x), y, ~labelled)
    after = knn_accuracy(embed(tuned, x), y, ~labelled)
    assert after > before + 20, (before, after)  # measured here: 39.9 -> 89.7
    assert triplet_loss(tuned, x, y) < triplet_loss(model, x, y)
    # only labelled segments were asked for
    assert labelled[np.concatenate(requested)].all()


def test_finetune_does_not_flip_the_callers_crops_in_place(crops):
    x, y, labelled = crops
    cache = x.clone()
    finetune_backbone(
        tiny_backbone(), lambda i: cache[: len(i)], np.where(labelled, y, -1), samples_per_epoch=80
    )
    torch.testing.assert_close(cache, x)


def test_cancelled_finetune_leaves_the_model_untouched(crops):
    x, y, labelled = crops
    model = tiny_backbone()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cancel = CancelAfter(4)
    with pytest.raises(Cancelled):
        finetune_backbone(model, lambda i: x[i], np.where(labelled, y, -1), progress=cancel)
    assert cancel.checks == 5
    after = model.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0)
    assert model.training  # mode untouched too


def test_finetune_needs_two_classes(crops):
    x, y, _ = crops
    labels = np.where(y == 0, 0, -1)
    with pytest.raises(ValueError, match="at least 2 classes"):
        finetune_backbone(tiny_backbone(), lambda i: x[i], labels)


def test_warm_up_imports_what_the_first_training_needs():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from napari_featann.learning import warm_up\n"
        "assert 'pytorch_metric_learning' not in sys.modules\n"
        "warm_up(background=False)\n"
        "assert 'pytorch_metric_learning.losses' in sys.modules\n"
        "from napari_featann.ml import metric\n"
        "assert metric._warmed\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
