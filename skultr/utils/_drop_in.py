"""Families of public estimators and their small valid data, for the drop-in tests.

``tests/test_drop_in.py`` (everyday uses) and ``tests/test_bad_input.py`` (the bad-input
catalogue) run over every estimator of :func:`skultr.utils.discovery.all_estimators`; the
*family* of an estimator says which data contract it follows (ARCHITECTURE.md, data
contracts) and so which data and scenarios apply. An estimator of a new family makes
``test_every_estimator_has_a_family`` fail until its family is added here.
"""

import inspect

import numpy as np

from skultr.utils._test_common import construct_instances
from skultr.utils.discovery import all_estimators


# ------------------------------------------------------------------------------------------
# Families
# ------------------------------------------------------------------------------------------
def family_of(cls):
    """The data contract of an estimator class (see ARCHITECTURE.md, data contracts)."""
    from skultr.calibration._base import _BaseCorrector
    from skultr.fairness._ttts import _BaseTTTS
    from skultr.propensity._position import _PositionPropensityMixin
    from skultr.ranking._listwise import BaseListwiseRanker
    from skultr.ranking._pointwise import PointwiseIPWRanker
    from skultr.recommendation._data import BaseRecommender

    if issubclass(cls, BaseListwiseRanker | PointwiseIPWRanker):  # X, clicks, qid, position
        return "click_ranker"
    if issubclass(cls, _PositionPropensityMixin):
        return "position_propensity"
    if issubclass(cls, BaseRecommender):
        return "recommender"
    if cls.__module__.startswith("skultr.propensity."):
        return "pair_propensity"
    if issubclass(cls, _BaseTTTS):
        return "tree_postprocessor"
    if issubclass(cls, _BaseCorrector):
        return "corrector"
    if cls.__module__.startswith("skultr.calibration."):
        return "meta_regressor"
    return None


def small_instance(name, cls):
    """The common checks' small instance, with the default list length (``max_position``).

    The generic checks fit without ``qid`` and so run with very long lists; the everyday
    scenarios here use the lists of the defaults, as users do.
    """
    est = next(iter(construct_instances(name, cls)))
    default = inspect.signature(cls).parameters.get("max_position")
    if default is not None:
        est.set_params(
            **{
                key: default.default
                for key in est.get_params(deep=True)
                if key == "max_position" or key.endswith("__max_position")
            }
        )
    return est


ESTIMATORS = all_estimators()


# ------------------------------------------------------------------------------------------
# Data of each family (small, seeded)
# ------------------------------------------------------------------------------------------
def click_log():
    import pandas as pd

    from skultr.datasets import make_click_log, make_ranking_dataset

    X, y, qid = make_ranking_dataset(40, n_documents=(10, 15), n_features=5, random_state=0)
    log = make_click_log(X, y, qid, n_sessions=120, intervention="shuffle", random_state=0)
    columns = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(log.X, columns=columns)
    frame["qid"] = log.qid
    frame["position"] = log.position
    return log, frame, columns


def interactions(n_users=30, n_items=20, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)])
    pick = rng.uniform(size=len(pairs)) < 0.4
    pairs = pairs[pick]
    affinity = np.sin(pairs[:, 0] * 0.7) * np.cos(pairs[:, 1] * 0.9)
    y = (rng.uniform(size=len(pairs)) < 0.3 + 0.4 * (affinity > 0)).astype(int)
    return pairs, y


def classification():
    from skultr.datasets import make_biased_classification

    X, y = make_biased_classification(300, random_state=0)
    return X, y


def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -0.5, 0.25] + 0.1 * rng.normal(size=120)
    return X, y


def fit_pairs(est, X, y):
    """Fit a recommender or pair propensity model the way its family expects.

    Estimators whose ``fit`` needs a missing-at-random sample get the first 20 targets.
    """
    kwargs = {}
    if "mar_y" in inspect.signature(est.fit).parameters:
        kwargs["mar_y"] = np.asarray(y)[:20]
    return est.fit(X, y, **kwargs)
