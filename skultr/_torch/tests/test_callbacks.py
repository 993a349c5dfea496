"""skorch callbacks on the shared training loop (one test per callback)."""

import numpy as np
import pytest
import torch
from skorch.callbacks import (
    Checkpoint,
    EpochScoring,
    GradientNormClipping,
    LoadInitState,
    LRScheduler,
    ProgressBar,
)
from torch.optim.lr_scheduler import StepLR

from skultr._torch import TorchMLPRegressor


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    return X, X @ [1.0, -1.0, 0.5, 0.0] + 0.1 * rng.normal(size=300)


def _reg(**params):
    defaults = {"hidden_layer_sizes": (16,), "max_epochs": 4, "batch_size": 64, "lr": 1e-2}
    defaults.update(device="cpu", random_state=0)
    return TorchMLPRegressor(**{**defaults, **params})


def _weights(est):
    return [p.detach().clone() for p in est.module_.parameters()]


def test_lr_scheduler_steps_the_optimizer_every_epoch(data):
    X, y = data
    est = _reg(callbacks=[LRScheduler(policy=StepLR, step_size=1, gamma=0.5)]).fit(X, y)
    assert est.history_[:, "event_lr"] == pytest.approx([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    assert est.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**4)
    # The estimator's own parameter is a template: the fit worked on a copy.
    assert not hasattr(est.callbacks[0], "lr_scheduler_")


def test_lr_scheduler_batch_policy_counts_batches(data):
    X, y = data
    scheduler = LRScheduler(policy=StepLR, step_size=5, gamma=0.1, step_every="batch")
    est = _reg(max_epochs=2, callbacks=[scheduler]).fit(X, y)
    n_batches = sum(est.history_[:, "train_batch_count"])  # 5 per epoch: 300 rows / 64
    assert n_batches == 10
    assert est.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.1**2)


def test_checkpoint_and_load_init_state_resume_a_fit_exactly(data, tmp_path):
    X, y = data
    whole = _reg(max_epochs=5).fit(X, y)

    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    first = _reg(max_epochs=3, callbacks=[checkpoint]).fit(X, y)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    assert first.n_iter_ == 3

    checkpoint = Checkpoint(monitor=None, dirname=str(tmp_path))
    resumed = _reg(max_epochs=2, callbacks=[checkpoint, LoadInitState(checkpoint)]).fit(X, y)
    assert resumed.n_iter_ == 5 and resumed.history_[:, "epoch"] == [1, 2, 3, 4, 5]
    for a, b in zip(_weights(resumed), _weights(whole), strict=True):
        torch.testing.assert_close(a, b)
    np.testing.assert_allclose(resumed.predict(X), whole.predict(X), rtol=1e-6)


def test_checkpoint_on_best_train_loss_with_load_best(data, tmp_path):
    X, y = data
    checkpoint = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path), load_best=True)
    est = _reg(callbacks=[checkpoint]).fit(X, y)
    assert est.history_[:, "event_cp"] == est.history_[:, "train_loss_best"]
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    for name, value in est.module_.state_dict().items():
        torch.testing.assert_close(value, saved[name])


def test_epoch_scoring_records_a_score_per_epoch(data):
    X, y = data
    scoring = EpochScoring("r2", lower_is_better=False, on_train=True, name="train_r2")
    est = _reg(callbacks=[scoring]).fit(X, y)
    scores = est.history_[:, "train_r2"]
    assert len(scores) == 4 and scores[-1] == pytest.approx(est.score(X, y), rel=1e-6)
    assert scores[-1] > scores[0]
    assert est.module_.training is False


def test_epoch_scoring_on_validation_data_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="on_train=True"):
        _reg(callbacks=[EpochScoring("r2")]).fit(X, y)


def test_progress_bar_counts_the_batches(data, capsys):
    X, y = data
    est = _reg(max_epochs=2, callbacks=[ProgressBar()]).fit(X, y)
    err = capsys.readouterr().err
    assert "0/5" in err  # a bar over the 5 batches of an epoch (cleared when it ends)
    assert len(est.history_[-1, "batches"]) == 5


def test_gradient_norm_clipping_callback(data):
    X, y = data
    clipped = _reg(max_epochs=1, lr=0.5, callbacks=[GradientNormClipping(1e-3)]).fit(X, y)
    free = _reg(max_epochs=1, lr=0.5).fit(X, y)
    assert not np.allclose(clipped.predict(X), free.predict(X))


def test_callbacks_do_not_break_clone_and_pickle(data):
    import pickle

    from sklearn.base import clone

    X, y = data
    est = _reg(callbacks=[ProgressBar(), LRScheduler(policy=StepLR, step_size=1)]).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert isinstance(clone(est).callbacks[1], LRScheduler)
