"""Tests of the shared torch engine through its reference estimator and its parts."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skultr._torch import (
    EarlyStopper,
    TorchMLPRegressor,
    iterate_batches,
    loadable_device,
    make_mlp,
    make_optimizer,
    resolve_device,
    run_epochs,
)
from skultr._torch._random import epoch_generator


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=300)
    return X, y


def _reg(**params):
    defaults = {"hidden_layer_sizes": (16,), "max_epochs": 5, "batch_size": 32, "device": "cpu"}
    return TorchMLPRegressor(**{**defaults, **params})


def _weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- device ------------------------------------------------------------------------------
def test_resolve_device_strings():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "", 3, None])
def test_resolve_device_rejects_unknown(bad):
    with pytest.raises(ValueError, match="device"):
        resolve_device(bad)


def test_resolve_device_cuda_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        _reg(device="cuda:1").fit(np.zeros((4, 1)), np.zeros(4))


def test_loadable_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        assert loadable_device("cuda:0") == torch.device("cpu")
    assert loadable_device("cpu") == torch.device("cpu")


# -- seeding -----------------------------------------------------------------------------
def test_same_seed_same_weights(data):
    X, y = data
    a, b = _reg(random_state=3).fit(X, y), _reg(random_state=3).fit(X, y)
    assert _same_weights(_weights(a), _weights(b))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = _reg(random_state=4).fit(X, y)
    assert not _same_weights(_weights(a), _weights(c))


def test_fit_leaves_global_torch_rng_alone(data):
    X, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _reg(random_state=0, dropout=0.2).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_random_state_none_still_fits(data):
    X, y = data
    est = _reg(random_state=None).fit(X, y)
    assert np.isfinite(est.predict(X)).all()


def test_parameters_are_float32_on_device(data):
    X, y = data
    est = _reg(random_state=0).fit(X.astype(np.float64), y)
    assert all(p.dtype == torch.float32 for p in est.module_.parameters())
    assert est.predict(X).dtype == np.float64


# -- batching ----------------------------------------------------------------------------
@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), seed=st.integers(0, 2**31 - 2))
def test_shuffled_batches_cover_every_unit_once(n, batch_size, seed):
    x = torch.arange(n)
    y = torch.arange(n) * 10
    batches = list(
        iterate_batches(
            (x, y), batch_size, shuffle=True, generator=epoch_generator(seed, 1, "cpu")
        )
    )
    assert len(batches) == -(-n // batch_size)
    assert all(len(bx) <= batch_size for bx, _ in batches)
    xs = torch.cat([bx for bx, _ in batches])
    ys = torch.cat([by for _, by in batches])
    assert torch.equal(torch.sort(xs).values, x)
    assert torch.equal(ys, xs * 10)  # tensors are sliced together


def test_shuffling_is_seeded():
    x = torch.arange(100)

    def order(seed, epoch):
        gen = epoch_generator(seed, epoch, "cpu")
        return torch.cat([b for (b,) in iterate_batches((x,), 7, shuffle=True, generator=gen)])

    assert torch.equal(order(1, 1), order(1, 1))
    assert not torch.equal(order(1, 1), order(1, 2))
    assert not torch.equal(order(1, 1), order(2, 1))


def test_unshuffled_batches_are_views():
    x = torch.arange(10.0)
    (first,), *_ = iterate_batches((x,), 4)
    assert first.data_ptr() == x.data_ptr()


def test_batches_need_equal_lengths():
    with pytest.raises(ValueError, match="first dimension"):
        list(iterate_batches((torch.zeros(3), torch.zeros(4)), 2))


# -- optimizer, clipping, loop -----------------------------------------------------------
@pytest.mark.parametrize("name", ["adam", "adagrad", "sgd"])
def test_optimizer_choice(name, data):
    X, y = data
    est = _reg(optimizer=name, lr=0.01, random_state=0).fit(X, y)
    assert type(est.optimizer_).__name__.lower() == name


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop", [torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="optimizer"):
        _reg(optimizer="rmsprop").fit(np.zeros((4, 1)), np.zeros(4))


def test_optimizer_created_once_and_kept(data):
    X, y = data
    est = _reg(random_state=0).fit(X, y)
    optimizer = est.optimizer_
    est.partial_fit(X, y)
    assert est.optimizer_ is optimizer
    assert len(optimizer.state) > 0  # Adam moments carried over


def test_gradient_norm_clipping_bounds_each_step():
    torch.manual_seed(0)
    module = make_mlp(3, (8,))
    x, y = torch.randn(64, 3), torch.randn(64) * 100
    before = torch.cat([p.detach().flatten().clone() for p in module.parameters()])
    optimizer = make_optimizer("sgd", module.parameters(), lr=1.0)

    def loss_fn(m, batch):
        return (m(batch[0]).squeeze(-1) - batch[1]).square().mean()

    run_epochs(
        module=module,
        optimizer=optimizer,
        loss_fn=loss_fn,
        train=(x, y),
        n_epochs=1,
        batch_size=64,
        seed=0,
        clip_grad_norm=1e-3,
    )
    after = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert torch.linalg.vector_norm(after - before) <= 1e-3 * (1 + 1e-4)


def test_clipping_is_per_parameter_group():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = make_optimizer("sgd", [{"params": [a]}, {"params": [b]}], lr=1.0)
    module = torch.nn.Module()
    module.a, module.b = a, b

    def loss_fn(m, batch):
        return -(1000 * m.a.sum() + 0.001 * m.b.sum()) + 0 * batch[0].sum()

    run_epochs(
        module=module,
        optimizer=optimizer,
        loss_fn=loss_fn,
        train=(torch.zeros(1),),
        n_epochs=1,
        batch_size=1,
        seed=0,
        clip_grad_norm=1.0,
    )
    assert torch.linalg.vector_norm(a.detach()) == pytest.approx(1.0, rel=1e-5)
    assert torch.linalg.vector_norm(b.detach()) == pytest.approx(0.001 * 2**0.5, rel=1e-4)


def test_history_and_loss_decrease(data):
    X, y = data
    est = _reg(max_epochs=15, lr=0.01, random_state=0).fit(X, y)
    losses = est.history_[:, "train_loss"]
    assert len(est.history_) == est.n_iter_ == 15
    assert est.history_[:, "epoch"] == list(range(1, 16))
    assert losses[-1] < 0.2 * losses[0]


def test_non_finite_loss_raises(data):
    X, y = data
    with pytest.raises(FloatingPointError, match="lower lr"):
        _reg(optimizer="sgd", lr=1e6, random_state=0).fit(X, y * 1e6)


# -- early stopping ----------------------------------------------------------------------
def test_early_stopping_stops_and_restores_best():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(120, 10)), rng.normal(size=120)  # pure noise: overfits fast
    est = _reg(
        hidden_layer_sizes=(128,),
        lr=0.01,
        max_epochs=200,
        early_stopping=True,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X, y)
    valid = est.history_[:, "valid_loss"]
    assert est.n_iter_ < 200
    assert est.n_iter_ == est.best_epoch_ + 3
    assert min(valid) == valid[est.best_epoch_ - 1]
    # the restored weights are the best epoch's: recompute its validation loss
    assert sum(est.history_[:, "valid_loss_best"]) >= 1


def test_early_stopper_tolerance():
    stopper = EarlyStopper(patience=2, tol=0.1)
    module = torch.nn.Linear(1, 1)
    assert stopper.update(1.0, module, 1)
    assert not stopper.update(0.95, module, 2)  # not better by more than tol
    assert not stopper.should_stop
    assert not stopper.update(0.99, module, 3)
    assert stopper.should_stop and stopper.best_epoch == 1


def test_early_stopping_needs_two_units():
    with pytest.raises(ValueError, match="at least 2 training units"):
        _reg(early_stopping=True).fit(np.zeros((1, 2)), np.zeros(1))


# -- progress ----------------------------------------------------------------------------
def test_verbose_two_prints_one_line_per_epoch(data, capsys):
    X, y = data
    _reg(max_epochs=3, verbose=2, early_stopping=True, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and "valid_loss" in lines[0]


def test_verbose_one_shows_a_progress_bar(data, capsys):
    X, y = data
    _reg(max_epochs=3, verbose=1, random_state=0).fit(X, y)
    assert "3/3" in capsys.readouterr().err


# -- warm start and partial_fit ----------------------------------------------------------
def test_warm_start_continues(data):
    X, y = data
    est = _reg(warm_start=True, random_state=0).fit(X, y)
    module = est.module_
    est.fit(X, y)
    assert est.module_ is module and est.n_iter_ == 10
    cold = _reg(warm_start=False, random_state=0).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 5


def test_partial_fit_runs_one_epoch_each_call(data):
    X, y = data
    est = _reg(random_state=0)
    for expected in (1, 2, 3):
        est.partial_fit(X, y)
        assert est.n_iter_ == expected
    assert est.history_[:, "epoch"] == [1, 2, 3]


def test_partial_fit_feature_mismatch(data):
    X, y = data
    est = _reg(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2], y)


def test_partial_fit_matches_fit_epochs(data):
    X, y = data
    a = _reg(max_epochs=3, random_state=0).fit(X, y)
    b = _reg(random_state=0)
    for _ in range(3):
        b.partial_fit(X, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-5, atol=1e-6)


def test_sample_weight_equals_repeated_rows_at_float32_tolerance():
    """Integer weights act as repeated rows (sklearn's check, at a tolerance any CPU meets).

    sklearn's ``check_sample_weight_equivalence_on_dense_data`` compares at rtol 1e-7, which
    float32 training meets on some CPUs and not on others (summation order); the property
    itself must hold to float32 round-off accumulated over the epochs.
    """
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15).astype(float)
    sw = rng.randint(0, 5, size=15)
    repeated = _reg(random_state=0).fit(X.repeat(sw, axis=0), y.repeat(sw))
    weighted = _reg(random_state=0).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-4, atol=1e-5)
    # and the weights matter: unweighted training gives another model
    plain = _reg(random_state=0).fit(X, y)
    assert np.abs(plain.predict(X) - repeated.predict(X)).max() > 1e-3


# -- pickling ----------------------------------------------------------------------------
def test_pickle_round_trip_resumes_identically(data):
    X, y = data
    a = _reg(random_state=0).fit(X, y)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    a.partial_fit(X, y)
    b.partial_fit(X, y)  # optimizer state and seed travel with the pickle
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_pickle_from_cuda_loads_on_cpu_only_machine(data, monkeypatch):
    X, y = data
    est = _reg(random_state=0).fit(X, y)
    expected = est.predict(X)
    state = est.__getstate__()
    state["device_"] = "cuda:0"  # what a model trained on a GPU carries
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = TorchMLPRegressor.__new__(TorchMLPRegressor)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        restored.__setstate__(pickle.loads(pickle.dumps(state)))
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict(X), expected)


def test_unfitted_estimator_pickles():
    est = pickle.loads(pickle.dumps(_reg()))
    assert est.get_params() == _reg().get_params()


# -- composition -------------------------------------------------------------------------
def test_pipeline_and_grid_search(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), _reg(random_state=0, max_epochs=10))
    search = GridSearchCV(pipe, {"torchmlpregressor__lr": [1e-3, 1e-2]}, cv=3).fit(X, y)
    assert search.best_params_["torchmlpregressor__lr"] == 1e-2
    assert clone(search.best_estimator_).get_params()["torchmlpregressor__lr"] == 1e-2


# -- GPU (run on a CUDA machine; skipped elsewhere) --------------------------------------
@pytest.mark.gpu
def test_cuda_fit_predict_pickle_to_cpu(data, monkeypatch):
    X, y = data
    est = _reg(device="cuda", random_state=0).fit(X, y)
    assert est.device_.startswith("cuda")
    assert next(est.module_.parameters()).is_cuda
    expected = est.predict(X)
    blob = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        restored = pickle.loads(blob)
    assert restored.device_ == "cpu"
    np.testing.assert_allclose(restored.predict(X), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_cuda_auto_device_and_seeding(data):
    X, y = data
    a = _reg(device="auto", random_state=0).fit(X, y)
    b = _reg(device="auto", random_state=0).fit(X, y)
    assert a.device_.startswith("cuda")
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("size", [2, 3])
def test_data_parallel_pieces_make_up_each_batch(keep, size):
    # Data-parallel ranks take piece r of each shuffled batch: together, the batches of one
    # process, the last batch of 1 unit leaving the other pieces empty (None).
    from skultr._torch._batching import TensorSource, epoch_batches

    x = torch.arange(21.0)
    mask = (x % 3 != 0) if keep else None
    data = TensorSource((x,), keep=mask) if keep else (x,)

    def batches(part):
        generator = epoch_generator(0, 1, "cpu")
        return list(epoch_batches(data, 5, shuffle=True, generator=generator, part=part))

    whole = batches(None)
    pieces = [batches((rank, size)) for rank in range(size)]
    assert all(len(p) == len(whole) for p in pieces)
    for i, batch in enumerate(whole):
        parts = [p[i] for p in pieces if p[i] is not None]
        got, want = torch.cat([part[0] for part in parts]), batch[0]
        if keep:  # a batch without kept units gathers one unit standing for its units
            got, want = got[got % 3 != 0], want[want % 3 != 0]
            assert sum(p.n_units for p in parts) == batch.n_units
        assert torch.equal(got, want)
    assert [p[-1] is None for p in pieces] == [rank < size - 1 for rank in range(size)]


def test_clip_gradients_handles_sparse_embedding_gradients():
    """A sparse embedding gradient is clipped like the same gradient held dense."""
    import torch

    from skultr._torch._loop import clip_gradients

    torch.manual_seed(0)
    rows = torch.tensor([0, 3, 3, 7])  # a repeated row: its gradient rows add up
    grads = []
    for sparse in (True, False):
        table = torch.nn.Embedding(10, 4, sparse=sparse)
        table.weight.data = torch.arange(40.0).reshape(10, 4) / 10
        bias = torch.nn.Parameter(torch.ones(3))
        optimizer = torch.optim.SGD([{"params": [table.weight, bias]}], lr=0.1)
        (table(rows).sum() * 5 + (bias * 7).sum()).backward()
        clip_gradients(optimizer, 1.0)
        weight_grad = table.weight.grad.to_dense() if sparse else table.weight.grad
        grads.append((weight_grad, bias.grad))
        norm = torch.sqrt(weight_grad.pow(2).sum() + bias.grad.pow(2).sum())
        assert abs(float(norm) - 1.0) < 1e-5
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1])


def test_a_factor_model_on_sparse_gradients_trains_with_clip_grad_norm():
    """DebiasedMF on a catalogue large enough for sparse steps, with clipping."""
    import numpy as np

    from skultr.recommendation import DebiasedMFRecommender
    from skultr.utils._drop_in import interactions

    pairs, y = interactions()
    est = DebiasedMFRecommender(
        method="ips",
        n_users=20_000,
        max_epochs=2,
        clip_grad_norm=0.5,
        device="cpu",
        random_state=0,
    )
    est.fit(pairs, y)
    assert est._sparse_gradients() and est.n_iter_ == 2
    assert np.isfinite(est.predict(pairs)).all()
