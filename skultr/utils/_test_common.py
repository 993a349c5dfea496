"""What the common estimator checks need to know about each estimator.

``tests/test_common.py`` runs scikit-learn's ``parametrize_with_checks`` over every class
returned by :func:`skultr.utils.discovery.all_estimators`. An estimator that can be built
with its defaults and is fast enough with them needs no entry here. Otherwise add:

- ``TEST_PARAMS[ClassName]``: a list of keyword dicts; each gives one instance to check
  (small ``max_epochs``, a base estimator for meta-estimators, ...). A value may be a
  zero-argument callable, which is called to build a fresh object for each instance.
- ``EXPECTED_FAILED_CHECKS[ClassName]``: ``{check_name: one-line reason}``; these checks
  become expected failures (xfail).

Keep every entry here, not in the test file, so a new estimator joins by editing the
registry next to the code it describes.
"""

TEST_PARAMS: dict[str, list[dict]] = {}

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "TorchMLPRegressor": {
        "check_methods_subset_invariance": (
            "float32 matrix products over batches of different shapes round differently "
            "(relative differences ~1e-7, above the check's 1e-7 tolerance)"
        ),
        "check_sample_weight_equivalence_on_dense_data": (
            "float32 training: a weighted mean and the mean over repeated rows sum in a "
            "different order, so after 100 Adam epochs predictions differ by ~1e-7 relative "
            "on some CPUs (AMD EPYC), above the check's 1e-7 tolerance; the equivalence is "
            "tested at float32 tolerance in skultr/_torch/tests/test_engine.py"
        ),
    },
}

# skultr.fairness: the TTTS post-processors wrap a tree or forest (unfitted here, so fit
# clones and trains it). Under the generic checks FairTTTS's protected attribute is column 0
# binarised at 0.5 (rows with x0 <= 0.5 form group 0), which works with any numeric X; on
# data where one group is empty it warns and behaves as TTTS for those rows.
TEST_PARAMS["TTTSClassifier"] = [
    {"estimator": lambda: _tree_estimator("DecisionTreeClassifier")},
    {"estimator": lambda: _tree_estimator("RandomForestClassifier"), "heuristic": "depth"},
]
TEST_PARAMS["FairTTTSClassifier"] = [
    {
        "estimator": lambda: _tree_estimator("DecisionTreeClassifier"),
        "protected_attribute": 0,
        "protected_threshold": 0.5,
        "unprivileged_value": 0,
    },
    {
        "estimator": lambda: _tree_estimator("RandomForestClassifier"),
        "protected_attribute": 0,
        "protected_threshold": 0.5,
        "unprivileged_value": 1,
        "heuristic": "fixed",
    },
]
EXPECTED_FAILED_CHECKS["FairTTTSClassifier"] = {
    "check_classifiers_classes": (
        "pos_label must be one of the labels of y; the check relabels y with strings, "
        "so pos_label=1 is rejected with a ValueError"
    ),
}


def _tree_estimator(name):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    if name == "RandomForestClassifier":
        return RandomForestClassifier(n_estimators=5, random_state=0)
    return DecisionTreeClassifier(random_state=0)


# skultr.ranking and skultr.propensity: the click-log rankers and the position propensity
# estimators learn from clicks, so y must be 0/1 (ValueError otherwise). Without qid all rows
# form one list; without position the rows of a list are in displayed order (XGBoost's
# convention), so every generic check gets a sensible fit. The checks listed in
# _CLICK_CHECKS fit on targets with other values (0..3, continuous) and fail by design; they
# run on 0/1 clicks in skultr/ranking/tests/test_estimator_checks.py.
_NOT_CLICKS = (
    "fits on targets other than 0/1 and y must be clicks; the check passes on 0/1 clicks "
    "(skultr/ranking/tests/test_estimator_checks.py)"
)
_CLICK_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_predict1d",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
_SAMPLE_WEIGHT_CLICK_CHECKS = (
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_pandas_series",
    "check_sample_weights_shape",
)
# The generic checks fit without qid. A log without qid is one list, and a click-log
# estimator refuses more rows than one list can hold (max_position), so the checks run with
# lists long enough for their data (at most a few hundred rows).
_CHECK_LIST_LENGTH = 1000
_SMALL_RANKER = {
    "hidden_layer_sizes": (8,),
    "max_epochs": 2,
    "device": "cpu",
    "random_state": 0,
    "max_position": _CHECK_LIST_LENGTH,
}
TEST_PARAMS["DLARanker"] = [dict(_SMALL_RANKER)]
TEST_PARAMS["NaiveRanker"] = [dict(_SMALL_RANKER)]
TEST_PARAMS["IPWRanker"] = [
    {
        **_SMALL_RANKER,
        "propensity": lambda: _check_propensity_model(),
    }
]


def _check_propensity_model():
    from skultr.propensity import RegressionEMPropensity

    return RegressionEMPropensity(max_iter=3, max_position=_CHECK_LIST_LENGTH)


TEST_PARAMS["RandomizationPropensity"] = [{"max_position": _CHECK_LIST_LENGTH}]
TEST_PARAMS["RegressionEMPropensity"] = [{"max_iter": 3, "max_position": _CHECK_LIST_LENGTH}]
for _name in ("DLARanker", "NaiveRanker", "IPWRanker"):
    EXPECTED_FAILED_CHECKS[_name] = {
        **dict.fromkeys(_CLICK_CHECKS + _SAMPLE_WEIGHT_CLICK_CHECKS, _NOT_CLICKS),
        "check_sample_weight_equivalence_on_dense_data": (
            "listwise softmax loss: a repeated row is one more document in its list (it "
            "enters the softmax and, without position, shifts the positions), not a weight of 2"
        ),
    }
for _name in ("RandomizationPropensity", "RegressionEMPropensity"):
    EXPECTED_FAILED_CHECKS[_name] = dict.fromkeys(_CLICK_CHECKS, _NOT_CLICKS)

# PointwiseIPWRanker (issue 15): a meta-estimator over a regressor and over a classifier, with
# fixed propensities in (0, 1] for the one long list of the checks. y must be clicks, as for
# the rankers; the click checks run on 0/1 clicks in skultr/ranking/tests/test_pointwise.py.
TEST_PARAMS["PointwiseIPWRanker"] = [
    {
        "estimator": lambda: _pointwise_part("DecisionTreeRegressor"),
        "propensity": lambda: _pointwise_part("propensity"),
        "max_position": _CHECK_LIST_LENGTH,
    },
    {
        "estimator": lambda: _pointwise_part("DecisionTreeClassifier"),
        "propensity": lambda: _pointwise_part("propensity"),
        "max_position": _CHECK_LIST_LENGTH,
    },
]
EXPECTED_FAILED_CHECKS["PointwiseIPWRanker"] = {
    **dict.fromkeys(
        _CLICK_CHECKS + _SAMPLE_WEIGHT_CLICK_CHECKS,
        _NOT_CLICKS.replace(
            "skultr/ranking/tests/test_estimator_checks.py",
            "skultr/ranking/tests/test_pointwise.py",
        ),
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "without position a list's rows are in displayed order, so a repeated row is one more "
        "document at the next position (with its own propensity), not a weight of 2"
    ),
}


def _pointwise_part(name):
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if name == "propensity":  # examination 1 / sqrt(k), in (0, 1] at every position
        return 1.0 / np.sqrt(np.arange(1, _CHECK_LIST_LENGTH + 1))
    tree = DecisionTreeRegressor if name == "DecisionTreeRegressor" else DecisionTreeClassifier
    return tree(random_state=0)


# skultr.calibration: DebiasedRegressor needs its base regressor (the default corrector,
# TweedieCorrector, passes every check). The correctors themselves take one column of
# predictions and carry IsotonicRegression's tags (one_d_array=True, two_d_array=False), so
# parametrize_with_checks skips them, as scikit-learn does for IsotonicRegression; their
# contract is tested in skultr/calibration/tests/test_corrector_api.py.
TEST_PARAMS["DebiasedRegressor"] = [{"estimator": lambda: _calibration_base_regressor()}]


def _calibration_base_regressor():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


# skultr.recommendation (issue 4): Rel-MF, its implicit-feedback baselines and
# PopularityPropensity take X = (user id, item id) pairs: exactly two columns of non-negative
# integer ids (n_features_in_ is always 2). The generic checks fit on random float features
# with other widths, which are rejected by design. The checks in _ID_PAIR_CHECKS run on
# id pairs (and 0/1 clicks) in skultr/recommendation/tests/test_relmf_estimator_checks.py;
# the ones in _ID_PAIR_BY_DESIGN ask for sklearn's own error messages for feature matrices.
_NOT_ID_PAIRS = (
    "X must be (user id, item id) pairs, two integer columns; the check passes on id pairs "
    "(skultr/recommendation/tests/test_relmf_estimator_checks.py)"
)
_ID_PAIR_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
_ID_PAIR_BY_DESIGN = {
    "check_complex_data": "complex ids are rejected, with the id error rather than sklearn's",
    "check_dtype_object": "X must have two columns; the check's object array has 10",
    "check_estimators_empty_data_messages": (
        "an (n, 0) X gets the (user id, item id) shape error, not sklearn's feature message"
    ),
    "check_estimators_nan_inf": "NaN ids are rejected as non-integer ids, not with 'NaN'",
    "check_fit2d_predict1d": "1-D X gets the (n_pairs, 2) shape error, not 'Reshape your data'",
    "check_n_features_in_after_fitting": (
        "n_features_in_ is always 2 (user, item), whatever the width of the check's X"
    ),
}
_SMALL_MF = {"n_factors": 2, "max_epochs": 2, "device": "cpu", "random_state": 0}
for _name in ("RelMFRecommender", "ImplicitMFRecommender", "WMFRecommender", "BPRRecommender"):
    TEST_PARAMS[_name] = [dict(_SMALL_MF)]
for _name in (
    "RelMFRecommender",
    "ImplicitMFRecommender",
    "WMFRecommender",
    "BPRRecommender",
    "PopularityPropensity",
):
    EXPECTED_FAILED_CHECKS[_name] = {
        **dict.fromkeys(_ID_PAIR_CHECKS, _NOT_ID_PAIRS),
        **_ID_PAIR_BY_DESIGN,
    }

# skultr.recommendation / skultr.propensity (issue 5): the kernel-balancing estimators take the
# same (user id, item id) pairs, so the same checks fail on float matrices by design; they run
# on id pairs in skultr/recommendation/tests/test_debiased_estimator_checks.py.
_NOT_ID_PAIRS_KB = _NOT_ID_PAIRS.replace(
    "test_relmf_estimator_checks.py", "test_debiased_estimator_checks.py"
)
TEST_PARAMS["DebiasedMFRecommender"] = [
    {"n_factors": 2, "max_epochs": 1, "batch_size": 16, "device": "cpu", "random_state": 0}
]
TEST_PARAMS["KernelBalancingPropensity"] = [
    {"n_factors": 2, "max_epochs": 2, "batch_size": 16, "device": "cpu", "random_state": 0}
]
for _name in (
    "DebiasedMFRecommender",
    "KernelBalancingPropensity",
    "NaiveBayesPropensity",
    "LogisticPropensity",
):
    EXPECTED_FAILED_CHECKS[_name] = {
        **dict.fromkeys(_ID_PAIR_CHECKS, _NOT_ID_PAIRS_KB),
        **_ID_PAIR_BY_DESIGN,
    }
# DebiasedMFRecommender takes sample_weight: those checks also fit on feature matrices (rerun
# on id pairs there too), and a weight is not a repetition in minibatch training.
_SAMPLE_WEIGHT_PAIR_CHECKS = (
    "check_all_zero_sample_weights_error",
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_pandas_series",
    "check_sample_weights_shape",
)
_WEIGHT_IS_NOT_REPETITION = {
    "check_sample_weight_equivalence_on_dense_data": (
        "minibatch training: a repeated pair is one more row in the shuffled batches (and in "
        "the catalogue's observation rate), not a weight of 2 in the same batch"
    ),
}
EXPECTED_FAILED_CHECKS["DebiasedMFRecommender"].update(
    dict.fromkeys(_SAMPLE_WEIGHT_PAIR_CHECKS, _NOT_ID_PAIRS_KB), **_WEIGHT_IS_NOT_REPETITION
)


# Estimators that are not public but whose contract the checks must still guard: the
# reference model of the shared torch engine (every neural estimator builds on its base).
PRIVATE_ESTIMATORS_TO_CHECK = ("skultr._torch._reference:TorchMLPRegressor",)


def _build(value):
    return value() if callable(value) and not isinstance(value, type) else value


def construct_instances(name, cls):
    """Yield the instances of ``cls`` that the common checks run on."""
    for params in TEST_PARAMS.get(name, [{}]):
        yield cls(**{key: _build(value) for key, value in params.items()})


# The TTTS post-processors on a forest: fit takes sample_weight, and a forest trains on
# bootstrap draws, so a weight is not a repeated row (scikit-learn expects the same check to
# fail for RandomForestClassifier itself). On a single tree the check passes.
_FOREST_WEIGHTS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a RandomForestClassifier draws bootstrap rows, so a weight is not a repetition "
        "(scikit-learn expects this check to fail for the forest itself)"
    ),
}


def expected_failed_checks(estimator):
    """Map check names to reasons for ``parametrize_with_checks``."""
    expected = dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
    inner = getattr(estimator, "estimator", None)
    if type(estimator).__name__ in ("TTTSClassifier", "FairTTTSClassifier") and (
        type(inner).__name__ == "RandomForestClassifier"
    ):
        expected.update(_FOREST_WEIGHTS)
    from sklearn.utils import get_tags

    from skultr.utils._sklearn_compat import SPARSE_WEIGHT_CHECK_IGNORES_TAGS

    if SPARSE_WEIGHT_CHECK_IGNORES_TAGS and not get_tags(estimator).input_tags.sparse:
        expected.setdefault(
            "check_sample_weight_equivalence_on_sparse_data",
            "scikit-learn 1.6 runs it on estimators that reject sparse X (its issue #30139)",
        )
    return expected
