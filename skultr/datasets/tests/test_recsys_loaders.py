"""Loaders of recommendation data: Coat from the shared data folder, Yahoo! R3 and triplets."""

import os
from pathlib import Path

import numpy as np
import pytest

from skultr.datasets import load_coat, load_interactions, load_yahoo_r3


def _coat_home():
    for candidate in (
        os.environ.get("SKULTR_DATA"),
        Path(__file__).parents[4] / "shared" / "data",
    ):
        if candidate and (Path(candidate) / "recsys" / "coat" / "train.ascii").is_file():
            return Path(candidate)
    return None


COAT_HOME = _coat_home()


@pytest.mark.skipif(COAT_HOME is None, reason="the Coat files are not available (SKULTR_DATA)")
def test_load_coat_matches_the_published_statistics():
    coat = load_coat(COAT_HOME)
    assert coat.X_train.shape == (6960, 2) and coat.X_test.shape == (4640, 2)
    assert (coat.n_users, coat.n_items) == (290, 300)
    assert np.bincount(coat.X_train[:, 0]).tolist() == [24] * 290
    assert np.bincount(coat.X_test[:, 0]).tolist() == [16] * 290
    assert set(np.unique(coat.y_train)) == {1, 2, 3, 4, 5}
    assert (coat.y_train >= 4).sum() == 1905 and (coat.y_test >= 3).sum() == 1862
    assert coat.propensities.shape == (290, 300)
    assert coat.propensities.min() > 0 and coat.propensities.max() < 1


def test_load_coat_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("SKULTR_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="SKULTR_DATA"):
        load_coat()
    with pytest.raises(FileNotFoundError, match="train.ascii does not exist"):
        load_coat(tmp_path)


def test_load_yahoo_r3_parses_user_files(tmp_path):
    (tmp_path / "ydata-ymusic-rating-study-v1_0-train.txt").write_text("1\t1\t5\n2\t3\t1\n")
    (tmp_path / "ydata-ymusic-rating-study-v1_0-test.txt").write_text("1\t2\t4\n")
    yahoo = load_yahoo_r3(tmp_path)
    assert yahoo.X_train.tolist() == [[0, 0], [1, 2]] and yahoo.y_train.tolist() == [5, 1]
    assert yahoo.X_test.tolist() == [[0, 1]] and (yahoo.n_users, yahoo.n_items) == (2, 3)
    with pytest.raises(FileNotFoundError, match="cannot ship"):
        load_yahoo_r3(tmp_path / "missing")


def test_load_interactions_validates(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("# user item\n0 1\n2 0\n")
    X, y = load_interactions(path)
    assert X.tolist() == [[0, 1], [2, 0]] and y is None
    path.write_text("0 1.5 3\n")
    with pytest.raises(ValueError, match="non-integer id"):
        load_interactions(path)
    path.write_text("0 1 3\n")
    with pytest.raises(ValueError, match="id below 1"):
        load_interactions(path, one_based=True)
