"""Streamed training of the listwise rankers: batches built per step from the host log."""

import tracemalloc

import numpy as np
import pytest
import torch

from skultr._torch._batching import TensorSource, is_batch_source, iterate_batches
from skultr._torch._random import epoch_generator
from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.ranking import DLARanker, IPWRanker, NaiveRanker
from skultr.ranking._lists import build_list_source, build_list_tensors, in_memory
from skultr.utils._click_log import check_positions, list_codes

SMALL = {"hidden_layer_sizes": (8,), "max_epochs": 3, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def log():
    X, y, qid = make_ranking_dataset(60, n_features=6, random_state=0)
    return make_click_log(X, y, qid, n_sessions=600, random_state=0)


def _side(log):
    return {"qid": log.qid, "position": log.position}


def _source(log, **kwargs):
    codes, n_lists = list_codes(log.qid, len(log.X))
    position = check_positions(log.position, codes, n_lists)
    data = build_list_source(
        log.X, log.clicks, codes, position, None, max_position=10, device="cpu", **kwargs
    )
    return data, (codes, position)


@pytest.mark.parametrize("cls", [DLARanker, IPWRanker, NaiveRanker])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_streamed_and_in_memory_training_give_the_same_model(log, cls, early_stopping):
    fitted = {}
    for streaming in (True, False):
        est = cls(streaming=streaming, early_stopping=early_stopping, n_iter_no_change=1, **SMALL)
        fitted[streaming] = est.fit(log.X, log.clicks, **_side(log))
    a, b = fitted[True], fitted[False]
    np.testing.assert_allclose(a.predict(log.X), b.predict(log.X), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.history_[:, "train_loss"], b.history_[:, "train_loss"], 1e-5)
    if early_stopping:
        np.testing.assert_allclose(a.history_[:, "valid_loss"], b.history_[:, "valid_loss"], 1e-5)
        assert a.best_epoch_ == b.best_epoch_


def test_auto_streams_on_the_cpu(log, monkeypatch):
    seen = []
    original = DLARanker._train

    def spy(self, tensors, **kwargs):
        seen.append(type(tensors).__name__)
        return original(self, tensors, **kwargs)

    monkeypatch.setattr(DLARanker, "_train", spy)
    DLARanker(**SMALL).fit(log.X, log.clicks, **_side(log))
    DLARanker(streaming=False, **SMALL).fit(log.X, log.clicks, **_side(log))
    assert seen == ["ListBatchSource", "TensorSource"]


def test_batches_equal_the_rows_of_the_padded_tensors(log):
    data, (codes, position) = _source(log, drop_without_clicks=False)
    padded = build_list_tensors(
        log.X, log.clicks, codes, position, None, max_position=10, device="cpu"
    )
    source = data.source
    assert source.n_units == data.n_lists == padded.n_lists
    generator = epoch_generator(3, 1, "cpu")
    expected = list(iterate_batches(padded.tensors, 64, shuffle=True, generator=generator))
    generator = epoch_generator(3, 1, "cpu")
    got = list(source.batches(64, shuffle=True, generator=generator))
    assert len(got) == len(expected)
    for batch, reference in zip(got, expected, strict=True):
        for tensor, ref in zip(batch, reference, strict=True):
            assert torch.equal(tensor, ref)


def test_lists_without_clicks_are_dropped_from_batches_and_counted(log):
    data, _ = _source(log)
    source = data.source
    n_clicked = data.n_lists - data.n_lists_without_clicks
    assert 0 < data.n_lists_without_clicks < data.n_lists
    batches = list(source.batches(50, shuffle=True, generator=epoch_generator(0, 1, "cpu")))
    # every list is a unit of the shuffling; only clicked lists are gathered and padded
    assert sum(b.n_units for b in batches) == data.n_lists
    assert sum(b[0].shape[0] for b in batches) == n_clicked
    assert all((b[1].sum(dim=1) > 0).all() for b in batches)
    est = DLARanker(**SMALL).fit(log.X, log.clicks, **_side(log))
    counts = (est.n_lists_, est.n_lists_without_clicks_)
    assert counts == (data.n_lists, data.n_lists_without_clicks)
    # the in-memory form drops the same lists
    tensors = in_memory(source)
    sliced = list(tensors.batches(50, shuffle=True, generator=epoch_generator(0, 1, "cpu")))
    assert [b[0].shape[0] for b in sliced] == [b[0].shape[0] for b in batches]


def test_validation_split_shares_the_log(log):
    data, _ = _source(log)
    source = data.source
    held = source.nbytes()
    tracemalloc.start()
    est = DLARanker(early_stopping=True, **SMALL)
    est.seed_ = 0
    train, valid = est._split_validation(source)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert is_batch_source(train) and is_batch_source(valid)
    assert train._X is log.X and valid._X is log.X  # the caller's X, not a copy
    assert train._rows is source._rows and valid._offsets is source._offsets
    assert train.n_units + valid.n_units == source.n_units
    # only the unit ids of the split are new: far below the log and its index arrays
    assert peak < 32 * source.n_units + 4096 < log.X.nbytes
    assert peak < held
    ids = np.sort(np.r_[train.unit_ids(), valid.unit_ids()])
    np.testing.assert_array_equal(ids, np.arange(source.n_units))


def test_source_holds_index_arrays_only_and_batches_are_bounded(log):
    X = np.ascontiguousarray(np.tile(log.X, (4, 10)), dtype=np.float32)  # 60 features
    qid = np.r_[log.qid, log.qid + 10**6, log.qid + 2 * 10**6, log.qid + 3 * 10**6]
    position = np.tile(log.position, 4)
    clicks = np.tile(log.clicks, 4)
    codes, n_lists = list_codes(qid, len(X))
    position = check_positions(position, codes, n_lists)
    tracemalloc.start()
    data = build_list_source(X, clicks, codes, position, None, max_position=10, device="cpu")
    batches = data.source.batches(32, shuffle=True, generator=epoch_generator(0, 1, "cpu"))
    for _ in batches:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert data.source._X is X
    # O(n_rows) int64 arrays, a few batches, and nothing of the padded log's size
    assert peak < 64 * len(X) + 4 * 32 * 10 * X.shape[1] * 8 + 2**16
    assert peak < data.padded_nbytes / 4


def test_float32_X_is_not_copied_to_float64(log, monkeypatch):
    X = log.X.astype(np.float32)
    gathered = []
    from skultr.ranking import _lists

    init = _lists.ListBatchSource.__init__

    def spy(self, X, *args, **kwargs):
        gathered.append(X)
        init(self, X, *args, **kwargs)

    monkeypatch.setattr(_lists.ListBatchSource, "__init__", spy)
    est = DLARanker(**SMALL).fit(X, log.clicks, **_side(log))
    assert gathered[0] is X  # the source holds the caller's array itself: no float64 copy
    assert est.scaler_ is not None
    # the scaling is applied to the gathered rows of a batch, in X's dtype
    rows = X[:4].copy()
    assert est._row_transform()(rows).dtype == np.float32
    # float32 rounding of the in-place scaling may differ from scikit-learn's transform by an
    # ulp (its float32 arithmetic differs across versions), so compare with float32 tolerance
    np.testing.assert_allclose(rows, est.scaler_.transform(X[:4]), rtol=1e-6, atol=1e-6)
    reference = DLARanker(streaming=False, **SMALL).fit(X, log.clicks, **_side(log))
    np.testing.assert_allclose(est.predict(X), reference.predict(X), rtol=1e-5, atol=1e-7)


def test_tensor_source_without_keep_matches_iterate_batches():
    x = torch.arange(23.0)
    source = TensorSource((x, x * 2))
    got = list(source.batches(5, shuffle=True, generator=epoch_generator(1, 2, "cpu")))
    generator = epoch_generator(1, 2, "cpu")
    ref = list(iterate_batches((x, x * 2), 5, shuffle=True, generator=generator))
    for (a, b), (c, d) in zip(got, ref, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
    valid = source.subset(torch.tensor([3, 1]))
    assert torch.equal(next(valid.batches(10))[0], torch.tensor([3.0, 1.0]))
