"""FairTTTS on the FairTTTS paper's datasets, against fairlearn and reject-option classification.

Usage::

    pip install -e ".[bench]"    # fairlearn
    SKULTR_DATA=../shared/data python benchmarks/bench_fairttts.py          # ~10 min, 2 cores
    SKULTR_DATA=../shared/data python benchmarks/bench_fairttts.py --quick  # ~2-3 min

``SKULTR_DATA`` (or ``--data-home``) is a folder holding ``fairness/fairttts/*.csv``.

Quality. For each of the eight dataset/attribute runs of the paper (``load_fairness_dataset``;
diabetes, 100,000 rows, is subsampled to 40,000, stratified) and two base models -- a decision
tree (``min_samples_leaf=20``, the authors' setting) and a random forest (25 trees,
``min_samples_leaf=10``; the authors used 100 fully grown trees, fewer and smaller trees keep
the run within budget) -- stratified 5-fold CV (the authors used 10 folds for trees, 5 for
forests). Categorical columns are target-encoded on each training fold only; the base model
is fitted on the training fold and every post-processor reuses that same fitted model:

- ``FairTTTS``: the faithful method of the paper and the authors' code: alpha = 9,
  p_max = 0.1, distance heuristic scaled by the tree's largest |threshold|, cap 0.5,
  amplification at nodes that split on the protected attribute, exact mode;
- ``FairTTTS-CV``: the extension, reported separately (below);
- ``TO-DP`` / ``TO-EO``: fairlearn's ``ThresholdOptimizer`` (demographic parity / equalized
  odds) on the fitted base model, fitted on the training fold with ``sensitive_features``, as
  the authors did (a forest's training-fold scores are optimistic, which weakens it);
  predictions are randomised, seeded;
- ``ROC``: reject-option classification (Kamiran et al. 2012): inside the band
  |P(favourable) - 1/2| <= 0.1 (AIF360's default margin) unprivileged rows get the
  favourable label and privileged rows the unfavourable one.

Metrics on each test fold, all for the favourable label: accuracy; demographic parity
difference (DPD, |difference of selection rates|); disparate impact (DI, selection rate of the
unprivileged over the privileged group, shown as the fold mean of its finite values) and its
gap ``1 - min(DI, 1/DI)``; equal opportunity difference (EOD, |difference of true positive
rates|). The run-level relative fairness improvement of a method is
``1 - (DPD + DI gap + EOD)_method / (DPD + DI gap + EOD)_base`` (fold means); the summary
averages it over the eight runs and also pools the gaps of all runs. A per-metric relative
change is not used: several baselines have gaps near 0 (EOD 0.000 on diabetes), which makes
it explode. The paper's headline is a 20.96 % average fairness improvement with +0.55 %
accuracy (related work: 18.78 %, -0.42 %); its aggregation is not public, so ours is a
stated choice, not a reproduction of theirs.

Extension (FairTTTS-CV). The faithful method can only act at nodes that split on the
protected attribute, and trees mostly carry the attribute through proxies; at p ~ 0.1 the
flip saturates at the cap 0.5 from alpha = 5 on. The extension applies the same rule at
every node (``amplified_nodes="all"``) and chooses the variant per training fold among
``CANDIDATES`` (the base model itself, i.e. p_max = 0; the faithful setting; "all" with alpha
in 1.25 ... 3 and p_max in {0.1, 0.05}): the
base model is refitted on 75 % of the training fold, each candidate is evaluated on the
other 25 % (at most 2,000 rows), and the candidate with the smallest gap sum among those
whose validation accuracy is not below the refitted base model's wins (the most accurate
one if none). Test folds are never used for the choice.

Speed. On Adult (sex), a 100-tree forest trained on 80 % of the rows, predicting 2,000
held-out rows (500 with ``--quick``), with ``min_samples_leaf=5`` (the 100-200x node ratio
the issue describes), 20 (smaller trees) and 1 (fully grown trees, as the authors' forests):
``predict_proba`` time (one thread), nodes in the forest, nodes ``predict_proba`` visits per
row, FairTTTS exact-mode time, the per-node cost ratio

    exact time / (predict_proba time * nodes in the forest / nodes visited per row)

(target <= 3), the plain ratio to ``predict_proba`` (target <= 40), Monte-Carlo time at
S = 100 and the exact mode's speed-up over it (target >= 5), each for both exact engines:
the compiled kernel (numba, when installed) and the numpy engine (``SKULTR_TTTS_ENGINE=numpy``,
with their largest absolute difference), and the exact mode with ``prune_tol`` in
``PRUNE_TOLS`` (time, speed-up over Monte-Carlo, largest absolute error against the unpruned
exact mode and the largest error bound the estimator returns; pruning always runs the numpy
engine). Times are CPU seconds of the process, the smallest of ``--repeat`` calls (3;
``predict_proba``: 5, single-threaded; the kernel is single-threaded too), the
exact, Monte-Carlo and pruned modes called in turn in each round so that they see the same
load; CPU time is less disturbed than wall time on a shared machine, but treat the figures
as indicative. The speed part alone::

    SKULTR_DATA=../shared/data python benchmarks/bench_fairttts.py --skip-quality

(``--speed-leaves 5`` and ``--prune-tols`` narrow it down; a partial run keeps the other
part of the previous JSON results).

The script prints markdown tables and writes ``benchmarks/results/fairttts.json``.
"""

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import TargetEncoder
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.fixes import parse_version

from skultr.datasets import load_fairness_dataset
from skultr.fairness import FairTTTSClassifier
from skultr.fairness._ttts._kernel import ENGINE_VARIABLE, _kernel_available
from skultr.metrics import (
    demographic_parity_difference,
    disparate_impact_ratio,
    equal_opportunity_difference,
)

RESULTS = Path(__file__).resolve().parent / "results" / "fairttts.json"
RUNS = [
    "adult_sex",
    "adult_race",
    "german_sex",
    "recruitment_gender",
    "diabetes_age",
    "bank_age",
    "compas_race",
    "mimic_gender",
]
# FairTTTS-CV candidates (amplified nodes, alpha, p_max): the base model itself (p_max = 0,
# the do-no-harm fallback), the faithful setting, and the amplification at every node with a
# few strengths, at the paper's p_max and at half of it (less TTTS noise elsewhere).
CANDIDATES = (
    ("protected", 1.0, 0.0),
    ("protected", 9.0, 0.1),
    *(("all", a, p) for p in (0.1, 0.05) for a in (1.25, 1.5, 2.0, 3.0)),
)
ROC_MARGIN = 0.1
# Rows kept per run in the full benchmark (stratified subsample; only diabetes, 100,000 rows,
# is larger): keeps the run within ~10 minutes on 2 cores.
ROW_CAP = 40000
# Largest validation set used by FairTTTS-CV's selection.
VALIDATION_CAP = 2000
SEED = 111
# Speed part: min_samples_leaf of the 100-tree forests (1 = fully grown) and the pruning
# tolerances measured.
SPEED_LEAVES = (5, 20, 1)
PRUNE_TOLS = (1e-5, 1e-4, 1e-3)


# -- data and models -------------------------------------------------------------------------
def encoder(categorical):
    """Target encoding of the categorical columns, fitted on the training fold only."""
    if parse_version(sklearn.__version__) >= parse_version("1.9"):
        target_encoder = TargetEncoder(cv=KFold(5, shuffle=True, random_state=0))
    else:  # before 1.9 the shuffling is set by random_state
        target_encoder = TargetEncoder(random_state=0)
    return ColumnTransformer(
        [("categorical", target_encoder, categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def base_models(quick):
    return {
        "DT": DecisionTreeClassifier(min_samples_leaf=20, random_state=SEED),
        "RF": RandomForestClassifier(
            n_estimators=15 if quick else 25, min_samples_leaf=10, random_state=SEED, n_jobs=2
        ),
    }


def fairttts(model, data, **kwargs):
    return FairTTTSClassifier(
        FrozenEstimator(model),
        protected_attribute=data.protected_attribute,
        unprivileged_value=data.unprivileged_value,
        pos_label=data.favorable_label,
        **kwargs,
    )


# -- post-processors -----------------------------------------------------------------------
def reject_option(model, X, unprivileged, favorable):
    """Kamiran et al.'s reject-option classification around P(favourable) = 1/2."""
    classes = model.classes_
    fav = int(np.flatnonzero(classes == favorable)[0])
    p_fav = model.predict_proba(X)[:, fav]
    favourable = p_fav > 0.5
    band = np.abs(p_fav - 0.5) <= ROC_MARGIN
    favourable[band & unprivileged] = True
    favourable[band & ~unprivileged] = False
    other = classes[1 - fav]
    return np.where(favourable, classes[fav], other)


def choose_variant(base, data, X_train, y_train, seed):
    """FairTTTS-CV: pick (amplified nodes, alpha) on a holdout of the training fold.

    The base model is refitted on 75 % of the training fold and frozen; every candidate is
    evaluated on the other 25 % (at most VALIDATION_CAP rows). Among the candidates whose
    validation accuracy is at least the refitted base model's, the one with the smallest
    sum of fairness gaps (DPD + DI gap + EOD) wins; if none keeps the accuracy, the most
    accurate candidate wins.
    """
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_train, y_train, test_size=0.25, stratify=y_train, random_state=seed
    )
    if len(y_val) > VALIDATION_CAP:
        X_val, y_val = X_val.iloc[:VALIDATION_CAP], y_val[:VALIDATION_CAP]
    unprivileged = (X_val[data.protected_attribute] == data.unprivileged_value).to_numpy()
    model = clone(base).fit(X_fit, y_fit)
    base_accuracy = float(np.mean(model.predict(X_val) == y_val))
    accuracy, gaps = [], []
    for nodes, alpha, p_max in CANDIDATES:
        post = fairttts(model, data, amplified_nodes=nodes, alpha=alpha, p_max=p_max)
        post.fit(X_fit, y_fit)
        metrics = fold_metrics(y_val, post.predict(X_val), unprivileged, data.favorable_label)
        accuracy.append(metrics["accuracy"])
        gaps.append(gap_sum(metrics))
    accuracy, gaps = np.array(accuracy), np.array(gaps)
    keeps = accuracy >= base_accuracy
    if keeps.any():
        best = int(np.flatnonzero(keeps)[np.argmin(gaps[keeps])])
    else:
        best = int(np.argmax(accuracy))
    return CANDIDATES[best]


def gap_sum(metrics):
    """DPD + DI gap + EOD (NaN gaps, e.g. a group without positives, count as 0)."""
    return float(np.nansum([metrics["dpd"], metrics["di_gap"], metrics["eod"]]))


def fold_metrics(y_true, y_pred, unprivileged, favorable):
    group = unprivileged.astype(int)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "dpd": demographic_parity_difference(
            None, y_pred, sensitive_features=group, pos_label=favorable
        ),
        "di": disparate_impact_ratio(
            None, y_pred, sensitive_features=group, unprivileged_value=1, pos_label=favorable
        ),
        "di_gap": 1.0
        - disparate_impact_ratio(None, y_pred, sensitive_features=group, pos_label=favorable),
        "eod": equal_opportunity_difference(
            y_true, y_pred, sensitive_features=group, pos_label=favorable
        ),
    }


def run_quality(data_home, quick, with_fairlearn, log, runs=RUNS):
    from_fairlearn = None
    if with_fairlearn:
        from fairlearn.postprocessing import ThresholdOptimizer

        from_fairlearn = ThresholdOptimizer
    n_folds = 3 if quick else 5
    cap = 5000 if quick else ROW_CAP
    results = {}
    for run in runs:
        data = load_fairness_dataset(run, data_home=data_home)
        X, y = data.data, data.target
        if cap is not None and len(y) > cap:
            keep, _ = train_test_split(
                np.arange(len(y)), train_size=cap, stratify=y, random_state=SEED
            )
            X, y = X.iloc[np.sort(keep)].reset_index(drop=True), y[np.sort(keep)]
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=42)
        for model_name, base in base_models(quick).items():
            start = time.perf_counter()
            per_fold = {}
            alphas = []
            for k, (train, test) in enumerate(folds.split(X, y)):
                enc = encoder(data.categorical_features)
                X_train = enc.fit_transform(X.iloc[train], y[train])
                X_test = enc.transform(X.iloc[test])
                y_train, y_test = y[train], y[test]
                unpriv_test = (
                    X_test[data.protected_attribute] == data.unprivileged_value
                ).to_numpy()
                group_train = X_train[data.protected_attribute].to_numpy()
                model = clone(base).fit(X_train, y_train)
                preds = {"base": model.predict(X_test)}
                post = fairttts(model, data).fit(X_train, y_train)
                t0 = time.perf_counter()
                preds["FairTTTS"] = post.predict(X_test)
                predict_seconds = time.perf_counter() - t0
                nodes, alpha, p_max = choose_variant(base, data, X_train, y_train, seed=k)
                alphas.append(f"{nodes}:{alpha:g}:{p_max:g}")
                chosen = fairttts(model, data, amplified_nodes=nodes, alpha=alpha, p_max=p_max)
                preds["FairTTTS-CV"] = chosen.fit(X_train, y_train).predict(X_test)
                if from_fairlearn is not None:
                    for label, constraint in (
                        ("TO-DP", "demographic_parity"),
                        ("TO-EO", "equalized_odds"),
                    ):
                        to = from_fairlearn(
                            estimator=model,
                            constraints=constraint,
                            prefit=True,
                            predict_method="predict_proba",
                        )
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            to.fit(X_train, y_train, sensitive_features=group_train)
                            preds[label] = to.predict(
                                X_test,
                                sensitive_features=X_test[data.protected_attribute],
                                random_state=0,
                            )
                preds["ROC"] = reject_option(model, X_test, unpriv_test, data.favorable_label)
                for method, pred in preds.items():
                    per_fold.setdefault(method, []).append(
                        fold_metrics(y_test, np.asarray(pred), unpriv_test, data.favorable_label)
                    )
                per_fold.setdefault("_fairttts_predict_s", []).append(predict_seconds)
            summary = {
                method: {key: _fold_mean([f[key] for f in folds_]) for key in folds_[0]}
                for method, folds_ in per_fold.items()
                if not method.startswith("_")
            }
            summary["_meta"] = {
                "rows": int(len(y)),
                "folds": n_folds,
                "fairttts_cv_choices": alphas,
                "fairttts_predict_s_per_fold": float(np.mean(per_fold["_fairttts_predict_s"])),
                "seconds": time.perf_counter() - start,
            }
            results[f"{run}/{model_name}"] = summary
            log(
                f"  {run:<19} {model_name}: {summary['_meta']['seconds']:.1f} s, "
                f"FairTTTS-CV chose {alphas}"
            )
    return results


def _fold_mean(values):
    """Mean over folds, leaving out undefined values (NaN, or an infinite DI)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def relative_improvement(base, method):
    """Run-level relative fairness improvement in %: 1 - gap sum (method) / gap sum (base)."""
    return float(100 * (1 - gap_sum(method) / gap_sum(base)))


def pooled_improvement(results, runs, model_name, method):
    """1 - (gap sums of the method over all runs) / (the base model's), in %."""
    totals = np.zeros(2)
    for run in runs:
        res = results[f"{run}/{model_name}"]
        totals += [gap_sum(res["base"]), gap_sum(res[method])]
    return float(100 * (1 - totals[1] / totals[0]))


def quality_tables(results, methods, runs=RUNS):
    lines = []
    others = [m for m in methods if m != "base"]
    summary = []
    for model_name in ("DT", "RF"):
        lines.append(f"\n### {model_name}: fold means (accuracy / DPD / DI / EOD)\n")
        header = "| run | " + " | ".join(methods) + " |"
        lines += [header, "|" + "---|" * (len(methods) + 1)]
        for run in runs:
            res = results[f"{run}/{model_name}"]
            cells = [
                f"{res[m]['accuracy']:.3f} / {res[m]['dpd']:.3f} / {res[m]['di']:.2f} / "
                f"{res[m]['eod']:.3f}"
                for m in methods
            ]
            lines.append(f"| {run} | " + " | ".join(cells) + " |")
        lines.append(
            f"\n### {model_name}: relative fairness improvement % / accuracy change pp vs base\n"
        )
        lines += ["| run | " + " | ".join(others) + " |", "|" + "---|" * (len(others) + 1)]
        per_method = {m: [] for m in others}
        for run in runs:
            res = results[f"{run}/{model_name}"]
            cells = []
            for m in others:
                imp = relative_improvement(res["base"], res[m])
                dacc = 100 * (res[m]["accuracy"] - res["base"]["accuracy"])
                per_method[m].append((imp, dacc))
                cells.append(f"{imp:+.1f} % / {dacc:+.2f}")
            lines.append(f"| {run} | " + " | ".join(cells) + " |")
        cells = [
            f"**{np.nanmean([a for a, _ in per_method[m]]):+.1f} % / "
            f"{np.nanmean([d for _, d in per_method[m]]):+.2f}**"
            for m in others
        ]
        lines.append("| **average** | " + " | ".join(cells) + " |")
        for m in others:
            imps = [a for a, _ in per_method[m]]
            daccs = [d for _, d in per_method[m]]
            summary.append(
                f"| {model_name} | {m} | {np.nanmean(imps):+.1f} % | "
                f"{pooled_improvement(results, runs, model_name, m):+.1f} % | "
                f"{np.nanmean(daccs):+.2f} | {sum(d >= 0 for d in daccs)}/{len(daccs)} |"
            )
    lines += [
        "\n### Summary over the runs\n",
        "| model | method | mean run-level improvement | pooled improvement | "
        "mean accuracy change (pp) | runs with accuracy >= base |",
        "|---|---|---|---|---|---|",
        *summary,
    ]
    return "\n".join(lines)


# -- speed -------------------------------------------------------------------------------------
def best_time(func, repeat):
    """Smallest CPU time (all threads of the process) over ``repeat`` calls.

    CPU time rather than wall time: on a shared machine the wall time of a call depends
    on what else runs; the process's CPU time much less so.
    """
    return best_times([func], repeat)[0]


def best_times(funcs, repeat):
    """Smallest CPU time of each function over ``repeat`` rounds that call them in turn.

    Interleaving the calls exposes every function to the same drift of the machine's load,
    so their ratios are fairer than those of timings taken one after the other.
    """
    times = [[] for _ in funcs]
    for _ in range(repeat):
        for func, spent in zip(funcs, times, strict=True):
            start = time.process_time()
            func()
            spent.append(time.process_time() - start)
    return [min(spent) for spent in times]


def numpy_engine(func):
    """``func`` run with the exact mode's numpy engine (``SKULTR_TTTS_ENGINE=numpy``)."""

    def run():
        previous = os.environ.get(ENGINE_VARIABLE)
        os.environ[ENGINE_VARIABLE] = "numpy"
        try:
            return func()
        finally:
            if previous is None:
                del os.environ[ENGINE_VARIABLE]
            else:
                os.environ[ENGINE_VARIABLE] = previous

    return run


def run_speed(data_home, quick, log, leaves=SPEED_LEAVES, prune_tols=PRUNE_TOLS, repeat=3):
    """Prediction time on Adult (sex): exact mode (both engines), Monte-Carlo at S = 100,
    pruned exact mode.

    Every timing is the smallest CPU time of ``repeat`` calls (``predict_proba``: of 5);
    the exact (kernel, then numpy), Monte-Carlo and pruned modes are called in turn in
    each round. Without numba both exact columns time the numpy engine.
    """
    kernel = _kernel_available()
    data = load_fairness_dataset("adult_sex", data_home=data_home)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, stratify=data.target, random_state=0
    )
    enc = encoder(data.categorical_features)
    X_train = enc.fit_transform(X_train, y_train)
    X_test = enc.transform(X_test)
    X_test = X_test.iloc[: 500 if quick else 2000]
    rows = []
    for leaf in leaves:
        forest = RandomForestClassifier(
            n_estimators=100, min_samples_leaf=leaf, random_state=SEED, n_jobs=2
        ).fit(X_train, y_train)
        forest.set_params(n_jobs=1)
        n_nodes = int(sum(est.tree_.node_count for est in forest.estimators_))
        visited = float(forest.decision_path(X_test)[0].sum() / X_test.shape[0])
        t_pp = best_time(lambda f=forest: f.predict_proba(X_test), 5)
        scale = t_pp * n_nodes / visited  # predict_proba's time scaled to every node
        exact = fairttts(forest, data).fit(X_train, y_train)
        p_exact = exact.predict_proba(X_test)  # compiles the kernel on the first forest
        p_numpy = numpy_engine(lambda e=exact: e.predict_proba(X_test))()
        mc = clone(exact).set_params(method="monte_carlo", n_simulations=100, random_state=0)
        mc.fit(X_train, y_train)
        models = [exact, mc]
        funcs = [lambda e=exact: e.predict_proba(X_test)]
        funcs.append(numpy_engine(funcs[0]))
        pruned = []
        for tol in prune_tols:
            model = clone(exact).set_params(prune_tol=tol).fit(X_train, y_train)
            p_pruned, bound = model.predict_proba(X_test, return_bound=True)
            models.append(model)
            funcs.append(lambda m=model: m.predict_proba(X_test))
            pruned.append(
                {
                    "prune_tol": tol,
                    "max_abs_error": float(np.abs(p_pruned - p_exact).max()),
                    "max_bound": float(bound.max()),
                    "mean_bound": float(bound.max(axis=1).mean()),
                }
            )
        funcs.insert(2, lambda m=mc: m.predict_proba(X_test))
        seconds = best_times(funcs, repeat)
        t_exact, t_numpy, t_mc = seconds[:3]
        for entry, t_pruned in zip(pruned, seconds[3:], strict=True):
            entry["seconds"] = t_pruned
            entry["per_node_ratio"] = t_pruned / scale
            entry["speedup_over_mc"] = t_mc / t_pruned
        row = {
            "min_samples_leaf": leaf,
            "rows": int(X_test.shape[0]),
            "nodes": n_nodes,
            "visited_per_row": visited,
            "nodes_over_visited": n_nodes / visited,
            "predict_proba_s": t_pp,
            "exact_s": t_exact,
            "per_node_ratio": t_exact / scale,
            "plain_ratio": t_exact / t_pp,
            "monte_carlo_s": t_mc,
            "exact_speedup_over_mc": t_mc / t_exact,
            "exact_engine": "numba" if kernel else "numpy",
            "exact_numpy_s": t_numpy,
            "numpy_per_node_ratio": t_numpy / scale,
            "numpy_plain_ratio": t_numpy / t_pp,
            "numpy_speedup_over_mc": t_mc / t_numpy,
            "engines_max_abs_diff": float(np.abs(p_exact - p_numpy).max()),
            "pruned": pruned,
        }
        rows.append(row)
        log(f"  speed, min_samples_leaf={leaf}: {row}")
    lines = [
        "\n### Prediction time, 100-tree forest on Adult (sex), CPU seconds\n",
        f"Exact engine: {'numba kernel' if kernel else 'numpy (numba not installed)'}; "
        "numpy: the numpy engine.\n",
        "| trees' min_samples_leaf | rows | nodes | visited/row | nodes/visited | "
        "predict_proba s | exact s | per-node ratio (<= 3) | exact / predict_proba (<= 40) | "
        "MC S=100 s | exact speed-up over MC (>= 5) | numpy s | numpy / predict_proba | "
        "numpy speed-up over MC | engines' max abs diff |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        lines.append(
            f"| {r['min_samples_leaf']} | {r['rows']} | {r['nodes']} | {r['visited_per_row']:.0f} "
            f"| {r['nodes_over_visited']:.0f} | {r['predict_proba_s']:.3f} | {r['exact_s']:.2f} "
            f"| {r['per_node_ratio']:.2f} | {r['plain_ratio']:.1f} | {r['monte_carlo_s']:.1f} "
            f"| {r['exact_speedup_over_mc']:.1f} | {r['exact_numpy_s']:.2f} "
            f"| {r['numpy_plain_ratio']:.0f} | {r['numpy_speedup_over_mc']:.1f} "
            f"| {r['engines_max_abs_diff']:.1e} |"
        )
    if prune_tols:
        lines += [
            "\n### Exact mode with pruning (error against the unpruned exact mode)\n",
            "| trees' min_samples_leaf | prune_tol | s | per-node ratio | speed-up over MC | "
            "max abs error | max bound | mean bound |",
            "|" + "---|" * 8,
        ]
        for r in rows:
            for q in r["pruned"]:
                lines.append(
                    f"| {r['min_samples_leaf']} | {q['prune_tol']:g} | {q['seconds']:.2f} "
                    f"| {q['per_node_ratio']:.2f} | {q['speedup_over_mc']:.1f} "
                    f"| {q['max_abs_error']:.1e} | {q['max_bound']:.1e} | {q['mean_bound']:.1e} |"
                )
    return rows, "\n".join(lines)


def _numba_version():
    try:
        import numba
    except ImportError:
        return None
    return numba.__version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 folds, 5000 rows, 20 trees")
    parser.add_argument("--data-home", default=os.environ.get("SKULTR_DATA"))
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", nargs="*", default=RUNS, choices=RUNS)
    parser.add_argument(
        "--speed-leaves",
        nargs="*",
        type=int,
        default=list(SPEED_LEAVES),
        help="min_samples_leaf of the speed part's forests (1: fully grown)",
    )
    parser.add_argument(
        "--prune-tols",
        nargs="*",
        type=float,
        default=list(PRUNE_TOLS),
        help="prune_tol values timed in the speed part (none: skip pruning)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timing repeats (best of) in the speed part"
    )
    args = parser.parse_args()
    if args.data_home is None:
        parser.error("set SKULTR_DATA or pass --data-home (folder with fairness/fairttts/*.csv)")
    try:
        import fairlearn  # noqa: F401

        with_fairlearn = True
    except ImportError:
        print("fairlearn is not installed (pip install skultr[bench]): TO-DP/TO-EO skipped")
        with_fairlearn = False

    def log(message):
        print(message, flush=True)

    start = time.perf_counter()
    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "numba": _numba_version(),
        },
        "quick": args.quick,
    }
    tables = []
    if not args.skip_quality:
        log("quality (stratified CV):")
        quality = run_quality(args.data_home, args.quick, with_fairlearn, log, args.runs)
        methods = ["base", "FairTTTS", "FairTTTS-CV"]
        methods += ["TO-DP", "TO-EO"] if with_fairlearn else []
        methods += ["ROC"]
        report["quality"] = quality
        tables.append(quality_tables(quality, methods, args.runs))
    if not args.skip_speed:
        log("speed:")
        speed, table = run_speed(
            args.data_home,
            args.quick,
            log,
            leaves=args.speed_leaves,
            prune_tols=args.prune_tols,
            repeat=args.repeat,
        )
        report["speed"] = speed
        tables.append(table)
    report["seconds"] = time.perf_counter() - start
    print("\n".join(tables))
    print(f"\ntotal {report['seconds']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists() and (args.skip_quality or args.skip_speed):
        # a partial run keeps the other part of the previous results
        previous = json.loads(args.out.read_text())
        for part in ("quality", "speed"):
            if part not in report and part in previous:
                report[part] = previous[part]
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
