"""FairTTTS around a Pipeline that selects DataFrame columns by name: the Pipeline
receives the DataFrame itself, the protected column is read from it by name."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from skultr.fairness import FairTTTSClassifier


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


def _frame(n=400, seed=0):
    """Numeric columns, a string column and a binary protected column 'sex' (0 is the
    unprivileged group, with a lower rate of the favourable class 1)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "hours": rng.normal(40, 5, n),
            "sex": rng.integers(0, 2, n),
            "job": rng.choice(["clerk", "nurse", "pilot"], n),
        }
    )
    logit = (X["age"] - 40) / 10 + 1.5 * X["sex"] + (X["job"] == "pilot") - 0.5
    y = (logit + rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def _pipeline(model, *, job=True):
    steps = [("num", StandardScaler(), ["age", "hours"])]
    if job:
        steps.append(("cat", OneHotEncoder(), ["job"]))
    return Pipeline([("pre", ColumnTransformer(steps, remainder="passthrough")), ("m", model)])


MODELS = {
    "hgb": HistGradientBoostingClassifier(max_iter=20, random_state=0),
    "forest": RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_same_as_fairttts_on_the_transformed_array(name):
    """Columns selected by name (a string column one-hot encoded): the result is FairTTTS
    on the same fitted model, applied to the manually transformed array with the protected
    column at its output position."""
    X, y = _frame()
    X_test, _ = _frame(seed=1)
    fair = FairTTTSClassifier(
        _pipeline(MODELS[name]),
        protected_attribute="sex",
        unprivileged_value=0,
        heuristic="fixed",
        p_max=0.2,
    ).fit(X, y)
    pre, model = fair.estimator_[:-1], fair.estimator_[-1]
    out = list(pre.get_feature_names_out())
    position = out.index("remainder__sex")
    assert fair.protected_nodes_.shape[0] > 0
    direct = FairTTTSClassifier(
        model, protected_attribute=position, unprivileged_value=0, heuristic="fixed", p_max=0.2
    ).fit(pre.transform(X), y)
    np.testing.assert_allclose(
        fair.predict_proba(X_test), direct.predict_proba(pre.transform(X_test)), atol=1e-12
    )
    # the amplification raises the unprivileged group's favourable probability
    plain = fair.set_params(alpha=1.0).fit(X, y).predict_proba(X_test)[:, 1]
    amplified = fair.set_params(alpha=8.0).fit(X, y).predict_proba(X_test)[:, 1]
    unpriv = X_test["sex"].to_numpy() == 0
    assert amplified[unpriv].mean() > plain[unpriv].mean()
    np.testing.assert_allclose(amplified[~unpriv], plain[~unpriv], atol=1e-12)


def test_without_flips_it_is_the_pipeline():
    X, y = _frame()
    fair = FairTTTSClassifier(
        _pipeline(MODELS["hgb"]), protected_attribute="sex", unprivileged_value=0, p_max=0.0
    ).fit(X, y)
    np.testing.assert_allclose(fair.predict_proba(X), fair.estimator_.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(
        fair.decision_function(X), fair.estimator_.decision_function(X), atol=1e-12
    )
    assert list(fair.feature_names_in_) == ["age", "hours", "sex", "job"]


def test_reordered_or_missing_columns_at_predict_are_errors():
    X, y = _frame()
    fair = FairTTTSClassifier(
        _pipeline(MODELS["hgb"]), protected_attribute="sex", unprivileged_value=0
    ).fit(X, y)
    with pytest.raises(ValueError, match="feature names"):
        fair.predict_proba(X[["hours", "age", "sex", "job"]])
    with pytest.raises(ValueError, match="feature names|features"):
        fair.predict(X.drop(columns="hours"))


def test_pickle_round_trip():
    X, y = _frame()
    fair = FairTTTSClassifier(
        _pipeline(MODELS["forest"]), protected_attribute="sex", unprivileged_value=0
    ).fit(X, y)
    again = pickle.loads(pickle.dumps(fair))
    np.testing.assert_array_equal(again.predict_proba(X), fair.predict_proba(X))


def test_non_numeric_protected_column_or_output_is_an_error():
    X, y = _frame()
    text = X.assign(sex=np.where(X["sex"] == 1, "M", "F"))
    fair = FairTTTSClassifier(
        _pipeline(MODELS["hgb"]), protected_attribute="sex", unprivileged_value=0
    )
    with pytest.raises(ValueError, match="protected column 'sex' must be numeric"):
        fair.fit(text, y)
    # 'job' passed through unencoded: the trees cannot split strings
    fair = FairTTTSClassifier(
        _pipeline(RandomForestClassifier(n_estimators=2), job=False),
        protected_attribute="sex",
        unprivileged_value=0,
    )
    with pytest.raises(ValueError, match="non-numeric|could not convert"):
        fair.fit(X, y)
