"""Tests of the fairness loaders (skipped without the data) and of the biased generator."""

import os
from pathlib import Path

import numpy as np
import pytest

from skultr.datasets import load_fairness_dataset, make_biased_classification
from skultr.datasets._fairness import FAIRNESS_DATASETS


def _data_home():
    candidates = [os.environ.get("SKULTR_DATA"), Path(__file__).parents[4] / "shared" / "data"]
    for root in candidates:
        if root and (Path(root) / "fairness" / "fairttts" / "adult.csv").is_file():
            return Path(root)
    return None


DATA_HOME = _data_home()
needs_data = pytest.mark.skipif(
    DATA_HOME is None, reason="the FairTTTS CSV files are not available (set SKULTR_DATA)"
)

EXPECTED_ROWS = {
    "adult_sex": 32561,
    "adult_race": 32561,
    "german_sex": 1000,
    "recruitment_gender": 4000,
    "diabetes_age": 100000,
    "bank_age": 11162,
    "compas_race": 7214,
    "mimic_gender": 1176,
}


@needs_data
@pytest.mark.parametrize("name", sorted(FAIRNESS_DATASETS))
def test_loaders(name):
    data = load_fairness_dataset(name, data_home=DATA_HOME)
    frame, target = data.data, data.target
    assert frame.shape[0] == target.shape[0] == EXPECTED_ROWS[name]
    assert set(np.unique(target)) == {0, 1}
    assert data.favorable_label in (0, 1)
    protected = frame[data.protected_attribute]
    assert set(protected.unique()) == {0, 1}  # binarised, both groups present
    numeric = frame.drop(columns=data.categorical_features)
    assert all(dtype.kind in "biuf" for dtype in numeric.dtypes)
    assert not numeric.isna().any().any()
    assert data.protected_attribute not in data.categorical_features
    X, y = load_fairness_dataset(name, data_home=DATA_HOME, return_X_y=True)
    assert X.shape == frame.shape


@needs_data
def test_environment_variable(monkeypatch):
    monkeypatch.setenv("SKULTR_DATA", str(DATA_HOME))
    assert load_fairness_dataset("german_sex").data.shape == (1000, 9)


def test_missing_data_is_reported(monkeypatch, tmp_path):
    monkeypatch.delenv("SKULTR_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="SKULTR_DATA"):
        load_fairness_dataset("adult_sex")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_fairness_dataset("adult_sex", data_home=tmp_path)
    with pytest.raises(ValueError, match="name must be one of"):
        load_fairness_dataset("adult", data_home=tmp_path)


def test_biased_generator():
    X, y = make_biased_classification(4000, bias=1.0, random_state=0)
    X2, y2 = make_biased_classification(4000, bias=1.0, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    group = X[:, 0]
    assert set(np.unique(group)) == {0.0, 1.0}
    gap = y[group == 1].mean() - y[group == 0].mean()
    _, y0 = make_biased_classification(4000, bias=0.0, random_state=0)
    gap0 = y0[group == 1].mean() - y0[group == 0].mean()
    assert gap > 0.25
    assert abs(gap0) < 0.05
    with pytest.raises(ValueError, match="unprivileged_fraction"):
        make_biased_classification(10, unprivileged_fraction=1.0)
