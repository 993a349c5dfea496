"""One training contract for every iterative estimator (issue 12, item 1).

Every public estimator trained epoch by epoch (SGD, ALS sweeps, balancing steps) is found
from the registry by its ``max_epochs`` parameter and must, after ``fit``:

- have ``history_`` with the engine's columns, one row per epoch, and ``n_iter_`` equal to
  the number of rows;
- show exactly one progress bar with ``verbose=1`` (and print nothing to stdout);
- where it has ``warm_start``: two warm-started fits of ``m`` epochs equal one fit of ``2m``.
"""

import inspect
import re
import warnings

import numpy as np
import pytest

from skultr.utils._drop_in import (
    ESTIMATORS,
    click_log,
    family_of,
    fit_pairs,
    interactions,
    small_instance,
)

ITERATIVE = [
    (name, cls) for name, cls in ESTIMATORS if "max_epochs" in inspect.signature(cls).parameters
]
WARM = [
    (name, cls) for name, cls in ITERATIVE if "warm_start" in inspect.signature(cls).parameters
]
COLUMNS = {"epoch", "train_loss", "train_loss_best", "train_batch_count", "dur"}


def _fit(est):
    family = family_of(type(est))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "click_ranker":
            log, frame, _ = click_log()
            return est.fit(frame, log.clicks)
        pairs, y = interactions()
        return fit_pairs(est, pairs, y)


def _instance(name, cls, **params):
    est = small_instance(name, cls)
    settable = {k: v for k, v in params.items() if k in est.get_params()}
    return est.set_params(device="cpu", random_state=0, **settable)


def _outputs(est):
    family = family_of(type(est))
    if family == "click_ranker":
        log, frame, _ = click_log()
        return est.predict(frame)
    if hasattr(est, "weights_"):
        return est.weights_
    pairs, _ = interactions()
    return est.predict(pairs)


def test_iterative_estimators_are_found():
    names = {name for name, _ in ITERATIVE}
    assert {"DLARanker", "RelMFRecommender", "KernelBalancingPropensity"} <= names


@pytest.mark.parametrize(("name", "cls"), ITERATIVE, ids=[n for n, _ in ITERATIVE])
def test_history_has_the_engine_columns(name, cls):
    est = _fit(_instance(name, cls, max_epochs=3))
    assert len(est.history_) == est.n_iter_ and 1 <= est.n_iter_ <= 3
    assert est.history_[:, "epoch"] == list(range(1, est.n_iter_ + 1))
    for row in est.history_:
        assert set(row) >= COLUMNS, f"{name}: missing {COLUMNS - set(row)}"
        assert np.isfinite(row["train_loss"])


@pytest.mark.parametrize(("name", "cls"), ITERATIVE, ids=[n for n, _ in ITERATIVE])
def test_verbose_one_shows_one_bar(name, cls, capsys):
    est = _fit(_instance(name, cls, max_epochs=3, verbose=1))
    out, err = capsys.readouterr()
    assert out == ""
    bars = set(re.findall(r"(\w+): +\d+%", err))
    assert bars == {name}, f"{name}: progress bars {bars}"
    assert f"{est.n_iter_}/3" in err


@pytest.mark.parametrize(("name", "cls"), WARM, ids=[n for n, _ in WARM])
def test_warm_start_equals_one_longer_fit(name, cls):
    longer = _fit(_instance(name, cls, max_epochs=4, tol=0.0))
    warm = _fit(_instance(name, cls, max_epochs=2, tol=0.0, warm_start=True))
    _fit(warm)
    assert warm.n_iter_ == longer.n_iter_ == 4
    np.testing.assert_allclose(_outputs(warm), _outputs(longer), rtol=1e-5, atol=1e-6)


CALLBACKS = [
    (name, cls) for name, cls in ITERATIVE if "callbacks" in inspect.signature(cls).parameters
]


def _mean_prediction(net, X, y):
    return float(np.mean(net.predict(X)))


@pytest.mark.parametrize(("name", "cls"), CALLBACKS, ids=[n for n, _ in CALLBACKS])
def test_skorch_callbacks_run_on_every_torch_estimator(name, cls, tmp_path):
    from skorch.callbacks import Checkpoint, EpochScoring

    from skultr._torch import BaseTorchEstimator

    checkpoint = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    callbacks = [checkpoint]
    # A model whose predictions are ready during training is scored per epoch; the
    # kernel-balancing propensity builds its weight tables only after its last epoch.
    scored = issubclass(cls, BaseTorchEstimator)
    if scored:
        callbacks.append(EpochScoring(_mean_prediction, on_train=True, name="mean_prediction"))
    est = _fit(_instance(name, cls, max_epochs=2, callbacks=callbacks))
    if scored:
        scores = est.history_[:, "mean_prediction"]
        assert len(scores) == est.n_iter_ and np.isfinite(scores).all()
    assert est.history_[:, "event_cp"] == est.history_[:, "train_loss_best"]
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    assert est.callbacks == callbacks  # the parameter is left as given


def test_warm_start_of_a_factor_model_refuses_ids_outside_its_catalogue():
    from skultr.recommendation import ImplicitMFRecommender

    pairs, y = interactions()
    est = ImplicitMFRecommender(max_epochs=2, warm_start=True, random_state=0).fit(pairs, y)
    factors = est.user_factors_.copy()
    new = pairs.copy()
    new[3, 0] = 999  # a user the model has no factors for
    with pytest.raises(ValueError, match="user id 999 .* not in the training catalogue"):
        est.fit(new, y)
    np.testing.assert_array_equal(est.user_factors_, factors)
    assert est.n_iter_ == 2
    with pytest.raises(ValueError, match="n_factors"):
        est.set_params(n_factors=est.n_factors + 1).fit(pairs, y)


# -- a failed fit leaves the estimator as it was (issue 13, bad input) -----------------


def _failing_run_epochs(monkeypatch, error):
    """Make the engine's loop train normally, then raise ``error`` (a half-updated model)."""
    import skultr._torch
    import skultr._torch._base

    real = skultr._torch._base.run_epochs

    def run_then_fail(**kwargs):
        real(**kwargs)
        raise error

    monkeypatch.setattr(skultr._torch._base, "run_epochs", run_then_fail)
    monkeypatch.setattr(skultr._torch, "run_epochs", run_then_fail)


def _out_of_memory():
    import torch

    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize(("name", "cls"), ITERATIVE, ids=[n for n, _ in ITERATIVE])
def test_out_of_memory_in_a_first_fit_leaves_it_unfitted(name, cls, monkeypatch):
    from sklearn.exceptions import NotFittedError

    est = _instance(name, cls, max_epochs=2)
    _failing_run_epochs(monkeypatch, _out_of_memory())
    with pytest.raises(MemoryError, match=rf"{name}\.fit ran out of memory .* left as it was"):
        _fit(est)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    with pytest.raises(NotFittedError):
        _outputs(est)


@pytest.mark.parametrize(("name", "cls"), ITERATIVE, ids=[n for n, _ in ITERATIVE])
def test_a_failed_refit_keeps_the_fitted_model(name, cls, monkeypatch):
    est = _fit(_instance(name, cls, max_epochs=2))
    before = np.array(_outputs(est), copy=True)
    _failing_run_epochs(monkeypatch, FloatingPointError("the training loss became nan"))
    with pytest.raises(FloatingPointError, match="became nan"):
        _fit(est)
    monkeypatch.undo()
    np.testing.assert_array_equal(_outputs(est), before)


@pytest.mark.parametrize(("name", "cls"), WARM, ids=[n for n, _ in WARM])
def test_out_of_memory_in_a_continued_fit_restores_the_model(name, cls, monkeypatch):
    """Weights, optimizer state and history put back: the next fit is as if none failed."""
    import copy

    est = _fit(_instance(name, cls, max_epochs=2, tol=0.0, warm_start=True))
    reference = copy.deepcopy(est)
    before = np.array(_outputs(est), copy=True)
    _failing_run_epochs(monkeypatch, _out_of_memory())
    message = r"ran out of memory on device 'cpu': .*(batch_size|n_factors)"
    with pytest.raises(MemoryError, match=message):
        _fit(est)
    monkeypatch.undo()
    assert est.n_iter_ == len(est.history_) == 2
    np.testing.assert_array_equal(_outputs(est), before)
    np.testing.assert_array_equal(_outputs(_fit(est)), _outputs(_fit(reference)))


def test_a_failed_shard_with_new_ids_leaves_the_catalogue_as_it_was(monkeypatch):
    import copy

    from skultr.recommendation import BPRRecommender

    pairs, y = interactions()
    est = BPRRecommender(max_epochs=1, random_state=0, device="cpu").partial_fit(pairs, y)
    reference = copy.deepcopy(est)
    shard = pairs.copy()
    shard[:5, 0] = 10_000 + np.arange(5)  # new users: the tables and optimizer state grow
    _failing_run_epochs(monkeypatch, _out_of_memory())
    with pytest.raises(MemoryError, match="BPRRecommender.partial_fit ran out of memory"):
        est.partial_fit(shard, y)
    monkeypatch.undo()
    assert est.n_users_ == reference.n_users_
    assert est.user_factors_.shape == reference.user_factors_.shape
    est.partial_fit(shard, y)
    reference.partial_fit(shard, y)
    np.testing.assert_array_equal(est.user_factors_, reference.user_factors_)


def test_out_of_memory_in_an_als_sweep_names_what_to_lower(monkeypatch):
    from skultr.recommendation import WMFRecommender

    pairs, y = interactions()
    _failing_run_epochs(monkeypatch, RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    with pytest.raises(MemoryError, match="partial_fit and solver='stochastic', or lower n_f"):
        WMFRecommender(solver="als", max_epochs=1, device="cpu").fit(pairs, y)


def test_a_model_above_the_snapshot_budget_is_reset_not_half_updated(monkeypatch):
    """No copy above SNAPSHOT_BYTES: a failure in training leaves it unfitted, and says so;
    a failure before training (a shard with other columns) still leaves it as it was."""
    from sklearn.exceptions import NotFittedError

    import skultr.utils._atomic as atomic
    from skultr.recommendation import BPRRecommender

    monkeypatch.setattr(atomic, "SNAPSHOT_BYTES", 0)
    pairs, y = interactions()
    est = BPRRecommender(max_epochs=1, random_state=0, device="cpu").partial_fit(pairs, y)
    factors = est.user_factors_.copy()
    with pytest.raises(ValueError, match="shard 2: X has 3 features"):
        est.partial_fit(np.c_[pairs, pairs[:, :1]], y)
    np.testing.assert_array_equal(est.user_factors_, factors)
    _failing_run_epochs(monkeypatch, _out_of_memory())
    with pytest.raises(MemoryError, match="reset to unfitted rather than left half-updated"):
        est.partial_fit(pairs, y)
    with pytest.raises(NotFittedError):
        est.recommend([0])
    assert est.get_params()["max_epochs"] == 1
