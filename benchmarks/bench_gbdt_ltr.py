"""Gradient-boosted trees from click logs: PointwiseIPWRanker against the libraries' own modes.

The data of ``bench_dla.py``, reused from it:

- *synthetic*: ``make_ranking_dataset`` queries, a linear production ranker trained on 1% of
  them, top-10 lists, position-based clicks (eta = 1), and a separate shuffled log of a fifth
  of the sessions (at least 20,000) for the randomisation estimate;
- *lightgbm_rank*: the real features and labels (0-4) of LightGBM's ``examples/lambdarank``
  data (``../shared/data/ltr/lightgbm_rank``), production ranking = the real positions of
  ``rank.train.position``, clicks simulated from the labels with the same position-based
  model, ``P(click) = θ_k (0.1 + 0.9 (2^y - 1) / 15)``; scored on ``rank.test``.

Fitted on each log (all boosted models 100 trees, learning rate 0.1, their other defaults):

- ``HistGradientBoostingRegressor`` on the raw clicks (the biased baseline);
- ``PointwiseIPWRanker`` around it with the true propensities, regression-EM estimates,
  randomisation estimates (a frozen ``RandomizationPropensity`` fitted on the shuffled log)
  and around ``LGBMRegressor`` / ``XGBRegressor`` with the true propensities;
- ``xgboost.XGBRanker(objective="rank:ndcg")`` with and without ``lambdarank_unbiased``;
- LightGBM ``lambdarank`` with and without ``Dataset(position=...)`` (``LGBMRanker.fit`` has
  no ``position`` argument in LightGBM 4.7);
- skultr ``DLARanker`` (MLP 64-32, 5 epochs).

Reported: nDCG@10 on the true grades of held-out queries, mean ± sd over seeds (the seed
draws the log, the test queries and the models' seeds), and the mean fit seconds.

    python benchmarks/bench_gbdt_ltr.py [--quick] [--seeds 3] [--parts synthetic,ltr]
        [--out PATH]
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from bench_dla import lightgbm_rank, synthetic
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator

from skultr.metrics import ndcg_score
from skultr.propensity import RandomizationPropensity
from skultr.ranking import DLARanker, PointwiseIPWRanker

TREES = 100


def _hgb(seed):
    return HistGradientBoostingRegressor(max_iter=TREES, learning_rate=0.1, random_state=seed)


def _lgbm_regressor(seed):
    import lightgbm

    return lightgbm.LGBMRegressor(n_estimators=TREES, learning_rate=0.1, verbose=-1, seed=seed)


def _xgb_regressor(seed):
    import xgboost

    return xgboost.XGBRegressor(
        n_estimators=TREES, learning_rate=0.1, tree_method="hist", random_state=seed
    )


def _pointwise(make_estimator, propensity):
    def fit(data, seed):
        log = data["log"]
        if callable(propensity):
            theta = propensity(data)
        else:
            theta = log.propensity if propensity == "true" else propensity
        est = PointwiseIPWRanker(make_estimator(seed), propensity=theta)
        est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
        return est.predict

    return fit


def _randomised(data):
    r = data["randomised"]
    fitted = RandomizationPropensity().fit(r.X, r.clicks, qid=r.qid, position=r.position)
    return FrozenEstimator(fitted)


def _raw_hgb(data, seed):
    log = data["log"]
    return _hgb(seed).fit(log.X, log.clicks).predict


def _xgb_ranker(unbiased):
    def fit(data, seed):
        import xgboost

        log = data["log"]  # sessions contiguous, rows in displayed order: XGBoost's positions
        est = xgboost.XGBRanker(
            objective="rank:ndcg",
            lambdarank_unbiased=unbiased,
            n_estimators=TREES,
            learning_rate=0.1,
            tree_method="hist",
            random_state=seed,
        )
        est.fit(log.X, log.clicks, qid=log.qid)
        return est.predict

    return fit


def _lgbm_ranker(with_position):
    def fit(data, seed):
        import lightgbm

        log = data["log"]
        extra = {"position": log.position - 1} if with_position else {}
        dataset = lightgbm.Dataset(log.X, label=log.clicks, group=np.bincount(log.qid), **extra)
        params = {"objective": "lambdarank", "learning_rate": 0.1, "verbose": -1, "seed": seed}
        return lightgbm.train(params, dataset, num_boost_round=TREES).predict

    return fit


def _dla(data, seed):
    log = data["log"]
    est = DLARanker(hidden_layer_sizes=(64, 32), max_epochs=5, device="cpu", random_state=seed)
    est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
    return est.predict


METHODS = {
    "HGB on raw clicks": _raw_hgb,
    "PointwiseIPW(HGB), true θ": _pointwise(_hgb, "true"),
    "PointwiseIPW(HGB), regression-EM θ": _pointwise(_hgb, "regression_em"),
    "PointwiseIPW(HGB), randomisation θ": _pointwise(_hgb, _randomised),
    "PointwiseIPW(LGBMRegressor), true θ": _pointwise(_lgbm_regressor, "true"),
    "PointwiseIPW(XGBRegressor), true θ": _pointwise(_xgb_regressor, "true"),
    "XGBRanker rank:ndcg (biased)": _xgb_ranker(False),
    "XGBRanker lambdarank_unbiased=True": _xgb_ranker(True),
    "LightGBM lambdarank (biased)": _lgbm_ranker(False),
    "LightGBM lambdarank + position": _lgbm_ranker(True),
    "DLARanker (MLP 64-32)": _dla,
}


def run(part, args):
    results = {name: {"ndcg@10": [], "fit_s": []} for name in METHODS}
    for seed in range(args.seeds):
        if part == "synthetic":
            data = synthetic(args.sessions, n_queries=args.queries, seed=seed)
        else:
            data = lightgbm_rank(args.ltr_sessions, seed=seed)
        Xt, yt, qt = data["test"]
        for name, fit in METHODS.items():
            start = time.perf_counter()
            predict = fit(data, seed)
            seconds = time.perf_counter() - start
            value = ndcg_score(yt, predict(Xt), qid=qt, k=10)
            results[name]["ndcg@10"].append(value)
            results[name]["fit_s"].append(seconds)
            print(f"  [{part} seed {seed}] {name:<38} nDCG@10 {value:.4f}  fit {seconds:6.1f}s")
    return results


def markdown(results):
    lines = ["| method | nDCG@10 (mean ± sd) | fit s |", "|---|---:|---:|"]
    for name, r in results.items():
        v = np.asarray(r["ndcg@10"])
        lines.append(
            f"| {name} | {v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f} "
            f"| {np.mean(r['fit_s']):.1f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small logs, 2 seeds")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (3; --quick 2)")
    parser.add_argument("--sessions", type=int, default=None, help="sessions (20,000)")
    parser.add_argument("--ltr-sessions", type=int, default=None, help="lightgbm_rank (10,000)")
    parser.add_argument("--queries", type=int, default=None, help="synthetic queries (1,000)")
    parser.add_argument("--parts", default="synthetic,ltr")
    parser.add_argument("--out", default="benchmarks/results/gbdt_ltr.json")
    args = parser.parse_args()
    args.seeds = args.seeds or (2 if args.quick else 3)
    args.sessions = args.sessions or (5_000 if args.quick else 20_000)
    args.ltr_sessions = args.ltr_sessions or (2_000 if args.quick else 10_000)
    args.queries = args.queries or (300 if args.quick else 1_000)
    print(f"machine: {platform.processor() or platform.machine()}, {platform.platform()}")
    print(f"seeds {args.seeds}, sessions {args.sessions}, synthetic queries {args.queries}")
    report = {"args": vars(args)}
    for part in args.parts.split(","):
        results = run(part, args)
        report[part] = results
        print(f"\n### {part}\n\n{markdown(results)}\n", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
