"""Fairness datasets: the FairTTTS paper's seven tables and a generator with planted bias.

The loaders read the public CSV files used by the FairTTTS authors from a local folder
(``data_home`` or the ``SKULTR_DATA`` environment variable, laid out as
``<root>/fairness/fairttts/<file>.csv``); nothing is downloaded. Each loader binarises
the protected attribute (1 = privileged, 0 = unprivileged), codes the target as 0/1 and
states the favourable label, and leaves categorical columns as strings so that their
encoding is fitted inside each cross-validation split (the authors' code target-encoded
the whole file before splitting).
"""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from skultr.utils._sklearn_compat import validate_params

from ._home import _data_root

__all__ = ["FAIRNESS_DATASETS", "load_fairness_dataset", "make_biased_classification"]

_FOLDER = ("fairness", "fairttts")


def _adult(frame, protected):
    target = (frame.pop("income").str.strip() != "<=50K").astype(np.int64)
    if protected == "sex":
        frame["sex"] = (frame["sex"] == "Male").astype(np.int64)
    else:
        frame["race"] = (frame["race"] != "Black").astype(np.int64)
    return frame, target


def _german(frame, protected):
    frame = frame.drop(columns=frame.columns[0])  # the file's row index
    target = (frame.pop("Risk") == "good").astype(np.int64)
    frame["Sex"] = (frame["Sex"] == "male").astype(np.int64)
    for col in ("Saving accounts", "Checking account"):
        frame[col] = frame[col].fillna("missing")
    return frame, target


def _recruitment(frame, protected):
    frame = frame.drop(columns="Id")
    target = frame.pop("decision").astype(np.int64)
    frame["gender"] = (frame["gender"] == "male").astype(np.int64)
    for col in frame.columns[[dtype.kind == "b" for dtype in frame.dtypes]]:
        frame[col] = frame[col].astype(np.int64)
    return frame, target


def _diabetes(frame, protected):
    target = frame.pop("diabetes").astype(np.int64)
    frame.insert(0, "age_ge_40", (frame.pop("age") >= 40).astype(np.int64))
    return frame, target


def _bank(frame, protected):
    target = (frame.pop("deposit") == "yes").astype(np.int64)
    frame.insert(0, "age_ge_40", (frame.pop("age") >= 40).astype(np.int64))
    return frame, target


_COMPAS_FEATURES = [
    "sex",
    "age",
    "age_cat",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "priors_count",
    "c_charge_degree",
    "score_text",
    "v_score_text",
]


def _compas(frame, protected):
    frame = frame.dropna(subset=["two_year_recid"]).reset_index(drop=True)
    target = frame["two_year_recid"].astype(np.int64)
    frame = frame[_COMPAS_FEATURES].copy()
    frame["race"] = (frame["race"] != "African-American").astype(np.int64)
    return frame, target


def _mimic(frame, protected):
    # the file's producer replaced the substring "na" by -999, in column names too
    frame = frame.rename(
        columns={
            "Re-999l failure": "Renal failure",
            "Creatine ki-999se": "Creatine kinase",
            "Bicarbo-999te": "Bicarbonate",
        }
    )
    frame = frame.drop(columns="ID")
    target = frame.pop("outcome").astype(np.int64)
    frame["gendera"] = (frame["gendera"] == 1).astype(np.int64)
    return frame, target


FAIRNESS_DATASETS = {
    "adult_sex": ("adult.csv", _adult, "sex", 1, "income > 50K (1)"),
    "adult_race": ("adult.csv", _adult, "race", 1, "income > 50K (1)"),
    "german_sex": ("german_credit_data.csv", _german, "Sex", 1, "good credit risk (1)"),
    "recruitment_gender": (
        "recruitmentdataset-2022-1.3.csv",
        _recruitment,
        "gender",
        1,
        "hired (1)",
    ),
    "diabetes_age": (
        "diabetes_prediction_dataset.csv",
        _diabetes,
        "age_ge_40",
        0,
        "no diabetes (0)",
    ),
    "bank_age": ("bank.csv", _bank, "age_ge_40", 1, "term deposit subscribed (1)"),
    "compas_race": ("compas-scores-two-years_v1.csv", _compas, "race", 0, "no recidivism (0)"),
    "mimic_gender": ("MIMIC2.csv", _mimic, "gendera", 1, "outcome 1, as in the authors' code"),
}
"""Name -> (file, preparation, protected column, favourable label, meaning)."""

_PROTECTED_MEANING = {
    "adult_sex": "sex: 1 = Male, 0 = Female",
    "adult_race": "race: 1 = not Black, 0 = Black",
    "german_sex": "Sex: 1 = male, 0 = female",
    "recruitment_gender": "gender: 1 = male, 0 = female or other",
    "diabetes_age": "age_ge_40: 1 = age >= 40, 0 = younger (raw age dropped)",
    "bank_age": "age_ge_40: 1 = age >= 40, 0 = younger (raw age dropped)",
    "compas_race": "race: 1 = not African-American, 0 = African-American",
    "mimic_gender": "gendera: 1 = coded 1 in the file, 0 = coded 2",
}


@validate_params(
    {"name": [str], "data_home": [str, os.PathLike, None], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_fairness_dataset(name, *, data_home=None, return_X_y=False):
    """Load one of the FairTTTS paper's eight dataset/attribute runs from local files.

    Parameters
    ----------
    name : str
        One of ``"adult_sex"``, ``"adult_race"``, ``"german_sex"``,
        ``"recruitment_gender"``, ``"diabetes_age"``, ``"bank_age"``, ``"compas_race"``,
        ``"mimic_gender"`` (the keys of ``FAIRNESS_DATASETS``).
    data_home : str or path-like, default=None
        Folder holding ``fairness/fairttts/<file>.csv``. Defaults to the ``SKULTR_DATA``
        environment variable.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        ``data`` (pandas DataFrame of features, the protected column included, coded
        1 = privileged and 0 = unprivileged), ``target`` (ndarray of 0/1),
        ``feature_names``, ``categorical_features`` (string columns to encode inside the
        CV split), ``protected_attribute`` (column name), ``privileged_value`` (1),
        ``unprivileged_value`` (0), ``favorable_label``, ``DESCR``.
    (data, target) : tuple
        When ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        When neither ``data_home`` nor ``SKULTR_DATA`` is set or the file is missing.

    Notes
    -----
    Departures from the authors' preprocessing: no row is dropped for missing categorical
    values (German credit's empty account fields become the category ``"missing"``, the
    authors dropped those rows); the encoding of categorical columns is left to a
    transformer fitted on each training split (e.g. :class:`~sklearn.preprocessing.
    TargetEncoder`); their extra ``white`` indicator on Adult is not added; the three
    empty trailing rows of the COMPAS file are dropped. The COMPAS features include the
    COMPAS tool's own ``score_text`` and ``v_score_text``, as in the authors' code. For
    MIMIC the favourable label 1 follows the authors' code; ``outcome`` appears to be
    in-hospital death, so read that run's "favourable" with care.

    Examples
    --------
    >>> from skultr.datasets import load_fairness_dataset
    >>> data = load_fairness_dataset("german_sex")  # doctest: +SKIP
    >>> data.data.shape, data.protected_attribute, data.favorable_label  # doctest: +SKIP
    ((1000, 9), 'Sex', 1)
    """
    import pandas as pd

    if name not in FAIRNESS_DATASETS:
        raise ValueError(f"name must be one of {sorted(FAIRNESS_DATASETS)}; got {name!r}.")
    file_name, prepare, protected, favorable, meaning = FAIRNESS_DATASETS[name]
    path = _data_root(data_home, "<folder>/fairness/fairttts/*.csv").joinpath(*_FOLDER, file_name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; data_home (or SKULTR_DATA) must point at a folder "
            "laid out as <folder>/fairness/fairttts/*.csv."
        )
    frame = pd.read_csv(path, low_memory=False)
    frame, target = prepare(frame, protected)
    frame = frame.reset_index(drop=True)
    categorical = [col for col in frame.columns if not pd.api.types.is_numeric_dtype(frame[col])]
    for col in categorical:
        frame[col] = frame[col].astype(str)
    target = np.asarray(target, dtype=np.int64)
    if return_X_y:
        return frame, target
    descr = (
        f"{name}: {frame.shape[0]} rows, {frame.shape[1]} features from {file_name}. "
        f"Protected attribute {_PROTECTED_MEANING[name]}. Target 0/1; favourable label "
        f"{favorable} = {meaning}. Categorical columns (encode inside each CV split): "
        f"{categorical}."
    )
    return Bunch(
        data=frame,
        target=target,
        feature_names=list(frame.columns),
        categorical_features=categorical,
        protected_attribute=protected,
        privileged_value=1,
        unprivileged_value=0,
        favorable_label=favorable,
        DESCR=descr,
    )


@validate_params(
    {
        "n_samples": [Integral],
        "bias": [Real],
        "unprivileged_fraction": [Real],
        "noise": [Real],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_biased_classification(
    n_samples=2000,
    *,
    bias=1.0,
    unprivileged_fraction=0.5,
    noise=0.5,
    random_state=None,
):
    """Tabular data in natural units with a planted bias against one group.

    Column 0 is the group (1 = privileged, 0 = unprivileged). The other columns are a
    yearly income in dollars, years of experience, a test score out of 100 and an age
    in years (the last one irrelevant). Each row has a latent merit ``z`` (standard
    normal) that drives the three relevant features, and the label is

        y = 1[ z + bias * (group - 1/2) + noise * e > 0 ],   e ~ N(0, 1),

    so at equal merit the privileged group is labelled favourable more often: a model
    trained on ``y`` learns to split on the group. ``bias=0`` gives unbiased labels.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of rows.
    bias : float, default=1.0
        Direct effect of the group on the label, in units of the merit's spread.
    unprivileged_fraction : float in (0, 1), default=0.5
        Share of rows in the unprivileged group.
    noise : float >= 0, default=0.5
        Standard deviation of the label noise.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, 5)
        Columns ``group, income, experience, score, age``.
    y : ndarray of shape (n_samples,)
        0/1 labels, 1 favourable.

    Examples
    --------
    >>> from skultr.datasets import make_biased_classification
    >>> X, y = make_biased_classification(1000, random_state=0)
    >>> X.shape, float(round(y[X[:, 0] == 1].mean() - y[X[:, 0] == 0].mean(), 2))
    ((1000, 5), 0.31)
    """
    if not 0 < unprivileged_fraction < 1:
        raise ValueError(
            f"unprivileged_fraction must be in (0, 1); got {unprivileged_fraction!r}."
        )
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}.")
    rng = check_random_state(random_state)
    group = (rng.uniform(size=n_samples) >= unprivileged_fraction).astype(np.float64)
    merit = rng.normal(size=n_samples)
    income = np.round(np.exp(10.8 + 0.35 * merit + 0.25 * rng.normal(size=n_samples)), -2)
    experience = np.clip(np.round(8 + 3 * merit + 3 * rng.normal(size=n_samples)), 0, 40)
    score = np.clip(np.round(60 + 8 * merit + 8 * rng.normal(size=n_samples)), 0, 100)
    age = rng.randint(20, 66, size=n_samples).astype(np.float64)
    latent = merit + bias * (group - 0.5) + noise * rng.normal(size=n_samples)
    X = np.column_stack([group, income, experience, score, age])
    return X, (latent > 0).astype(np.int64)
