"""Time and peak memory against data size, for every estimator family and its anchors.

Three sizes (or more) spanning at least 10x per family, each (estimator, size) in a fresh
subprocess. Data are synthetic, made directly with numpy:

- ranking: sessions of 10 rows, random float32 features, positions 1..10, clicks from a
  position-based model (examination ``1 / position`` x relevance ``sigmoid(x . w)``);
  ``DLARanker`` (one epoch) and, when installed, XGBoost ``XGBRanker`` (unbiased
  lambdarank) and LightGBM lambdarank with ``position``;
- recommendation: random (user, item) clicks with Zipf item popularity (5,000 items, one
  user per 20 clicks; duplicates dropped, the distinct count is ``n_pairs`` in the JSON);
  ``RelMFRecommender`` (ALS, 10 sweeps), ``BPRRecommender`` (one epoch),
  ``DebiasedMFRecommender`` (DR-JL without balancing, given propensities, random binary
  ratings, one epoch of batch 1,024) and, when installed, ``implicit``'s ALS (10
  iterations) and BPR (one iteration), with ``num_threads`` = ``--threads``;
- propensity: ``RegressionEMPropensity`` (5 EM iterations) on the ranking log (sizes in
  rows) and ``KernelBalancingPropensity`` (one epoch, given random user / item features,
  ``bandwidth=1.5``) on random pairs;
- fairness: ``FairTTTSClassifier`` (exact mode) on a fitted
  ``RandomForestClassifier(n_estimators=20, min_samples_leaf=5)``: its ``predict_proba``
  against the forest's own ``predict_proba`` (the forest's fit is timed on that row).

Memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of the run minus the RSS
(``/proc/self/statm``) after the imports and the data creation, so the figure covers numpy,
torch's allocator and everything else the fit and predict add. When the peak was already
reached while making the data, the figure is an upper bound (marked ``<=``).

Growth: the least-squares slope of log(time) against log(size) per estimator (slope 1.0 =
linear), on the fit time, or on the predict time for the rows where prediction is the
measured work (FairTTTS and the forest's ``predict_proba``).

    python benchmarks/bench_scale.py --quick --plot doc/_static/scale.png
"""

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WIDTH = 10
N_FEATURES = 32

SIZES = {
    "quick": {
        "ranking": [5_000, 15_000, 50_000],  # sessions
        "recommendation": [50_000, 150_000, 500_000],  # clicks
        "em": [50_000, 150_000, 500_000],  # rows
        "kb": [20_000, 60_000, 200_000],  # pairs
        "fairness": [10_000, 30_000, 100_000],  # rows
    },
    "full": {
        "ranking": [20_000, 60_000, 200_000],
        "recommendation": [200_000, 600_000, 2_000_000],
        "em": [200_000, 600_000, 2_000_000],
        "kb": [50_000, 150_000, 500_000],
        "fairness": [30_000, 100_000, 300_000],
    },
}
UNITS = {
    "ranking": "sessions",
    "recommendation": "clicks",
    "em": "rows",
    "kb": "pairs",
    "fairness": "rows",
}


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- data


def make_ranking(n_sessions, seed=0):
    rng = np.random.default_rng(seed)
    n_rows = n_sessions * WIDTH
    X = rng.standard_normal((n_rows, N_FEATURES), dtype=np.float32)
    w = rng.standard_normal(N_FEATURES).astype(np.float32) / np.sqrt(N_FEATURES)
    relevance = 1.0 / (1.0 + np.exp(-(X @ w) * 2.0))
    position = np.tile(np.arange(1, WIDTH + 1, dtype=np.int64), n_sessions)
    qid = np.repeat(np.arange(n_sessions, dtype=np.int64), WIDTH)
    clicks = (rng.random(n_rows) < relevance / position).astype(np.int8)
    return X, clicks, qid, position


def make_clicks(n_clicks, seed=0):
    """Unique (user, item) clicks: uniform users, Zipf(1) item popularity."""
    rng = np.random.default_rng(seed)
    n_users = max(n_clicks // 20, 100)
    n_items = 5_000
    p = 1.0 / np.arange(1, n_items + 1)
    p /= p.sum()
    users = rng.integers(0, n_users, size=n_clicks)
    items = rng.permutation(n_items)[rng.choice(n_items, size=n_clicks, p=p)]
    pairs = np.unique(np.stack([users, items], axis=1), axis=0)
    return pairs, n_users, n_items


def make_pairs(n_pairs, seed=0):
    pairs, n_users, n_items = make_clicks(n_pairs, seed)
    rng = np.random.default_rng(seed + 1)
    user_features = rng.standard_normal((n_users, 4)).astype(np.float32)
    item_features = rng.standard_normal((n_items, 4)).astype(np.float32)
    return pairs, user_features, item_features


def make_fairness(n_rows, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, 10))
    X[:, 0] = rng.random(n_rows) < 0.4  # protected: 0 = unprivileged
    logit = X[:, 1:4].sum(axis=1) + 1.0 * X[:, 0] - 0.5
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return X, y


# ------------------------------------------------------------------------ runners
# Each runner makes its data, returns (prepare, work): ``prepare`` builds what is not
# measured (data, a fitted forest), ``work`` returns {"fit_s": ..., "predict_s": ...}.


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _ranking_args(args):
    return tuple(args.hidden) if args.hidden is not None else (64, 32)


def run_dla(n, args):
    from skultr.ranking import DLARanker

    X, clicks, qid, position = make_ranking(n)

    def work():
        est = DLARanker(
            hidden_layer_sizes=_ranking_args(args),
            max_epochs=1,
            device="cpu",
            random_state=0,
        )
        _, fit_s = _timed(lambda: est.fit(X, clicks, qid=qid, position=position))
        _, predict_s = _timed(lambda: est.predict(X))
        return {"fit_s": fit_s, "predict_s": predict_s}

    return work


def run_xgboost(n, args):
    import xgboost

    X, clicks, qid, position = make_ranking(n)

    def work():
        est = xgboost.XGBRanker(
            objective="rank:ndcg",
            lambdarank_unbiased=True,
            n_estimators=100,
            tree_method="hist",
            n_jobs=args.threads,
            random_state=0,
        )
        _, fit_s = _timed(lambda: est.fit(X, clicks, qid=qid))
        _, predict_s = _timed(lambda: est.predict(X))
        return {"fit_s": fit_s, "predict_s": predict_s}

    return work


def run_lightgbm(n, args):
    import lightgbm

    X, clicks, qid, position = make_ranking(n)
    group = np.full(n, WIDTH)

    def work():
        params = {
            "objective": "lambdarank",
            "num_threads": args.threads,
            "verbose": -1,
            "seed": 0,
        }

        def fit():
            data = lightgbm.Dataset(X, clicks, group=group, position=position - 1)
            return lightgbm.train(params, data, num_boost_round=100)

        booster, fit_s = _timed(fit)
        _, predict_s = _timed(lambda: booster.predict(X))
        return {"fit_s": fit_s, "predict_s": predict_s}

    return work


def _recommender(cls, **params):
    def runner(n, args):
        pairs, n_users, n_items = make_clicks(n)

        def work():
            est = cls(n_users=n_users, n_items=n_items, device="cpu", random_state=0, **params)
            _, fit_s = _timed(lambda: est.fit(pairs))
            return {"fit_s": fit_s, "n_pairs": len(pairs)}

        return work

    return runner


def _relmf(n, args):
    from skultr.recommendation import RelMFRecommender

    return _recommender(RelMFRecommender, solver="als", max_epochs=10, tol=0.0)(n, args)


def _bpr(n, args):
    from skultr.recommendation import BPRRecommender

    return _recommender(BPRRecommender, max_epochs=1)(n, args)


def _debiased(n, args):
    from skultr.recommendation import DebiasedMFRecommender

    pairs, n_users, n_items = make_clicks(n)
    rng = np.random.default_rng(1)
    y = (rng.random(len(pairs)) < 0.5).astype(np.float64)
    propensity = rng.uniform(0.05, 0.5, len(pairs))

    def work():
        est = DebiasedMFRecommender(
            method="dr_jl",
            balancing=None,
            n_factors=32,
            max_epochs=1,
            batch_size=1024,
            n_users=n_users,
            n_items=n_items,
            device="cpu",
            random_state=0,
        )
        _, fit_s = _timed(lambda: est.fit(pairs, y, sample_propensity=propensity))
        return {"fit_s": fit_s, "n_pairs": len(pairs)}

    return work


def _implicit(model):
    def runner(n, args):
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        pairs, n_users, n_items = make_clicks(n)
        matrix = sp.csr_matrix(
            (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
            shape=(n_users, n_items),
        )

        def work():
            if model == "als":
                est = AlternatingLeastSquares(
                    factors=32, iterations=10, random_state=0, num_threads=args.threads
                )
            else:
                est = BayesianPersonalizedRanking(
                    factors=32, iterations=1, random_state=0, num_threads=args.threads
                )
            _, fit_s = _timed(lambda: est.fit(matrix, show_progress=False))
            return {"fit_s": fit_s}

        return work

    return runner


def run_em(n, args):
    from skultr.propensity import RegressionEMPropensity

    X, clicks, qid, position = make_ranking(n // WIDTH)

    def work():
        est = RegressionEMPropensity(max_iter=5, tol=0.0)
        _, fit_s = _timed(lambda: est.fit(X, clicks, qid=qid, position=position))
        return {"fit_s": fit_s}

    return work


def run_kb(n, args):
    from skultr.propensity import KernelBalancingPropensity

    pairs, user_features, item_features = make_pairs(n)

    def work():
        est = KernelBalancingPropensity(
            bandwidth=1.5,
            max_epochs=1,
            n_users=len(user_features),
            n_items=len(item_features),
            device="cpu",
            random_state=0,
        )
        _, fit_s = _timed(
            lambda: est.fit(pairs, user_features=user_features, item_features=item_features)
        )
        return {"fit_s": fit_s, "n_pairs": len(pairs)}

    return work


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=20, min_samples_leaf=5, n_jobs=1, random_state=0)


def run_fairttts(n, args):
    from skultr.fairness import FairTTTSClassifier

    X, y = make_fairness(n)
    forest = _forest().fit(X, y)

    def work():
        est = FairTTTSClassifier(
            forest, protected_attribute=0, unprivileged_value=0.0, method="exact"
        )
        _, fit_s = _timed(lambda: est.fit(X, y))
        _, predict_s = _timed(lambda: est.predict_proba(X))
        return {"fit_s": fit_s, "predict_s": predict_s}

    return work


def run_forest(n, args):
    X, y = make_fairness(n)

    def work():
        forest, fit_s = _timed(lambda: _forest().fit(X, y))
        _, predict_s = _timed(lambda: forest.predict_proba(X))
        return {"fit_s": fit_s, "predict_s": predict_s}

    return work


# name -> (family, size key, runner, optional import, time used for the slope)
ESTIMATORS = {
    "DLARanker": ("ranking", "ranking", run_dla, None, "fit_s"),
    "XGBRanker (unbiased)": ("ranking", "ranking", run_xgboost, "xgboost", "fit_s"),
    "LightGBM lambdarank": ("ranking", "ranking", run_lightgbm, "lightgbm", "fit_s"),
    "RelMF ALS": ("recommendation", "recommendation", _relmf, None, "fit_s"),
    "BPR": ("recommendation", "recommendation", _bpr, None, "fit_s"),
    "DebiasedMF DR-JL": ("recommendation", "recommendation", _debiased, None, "fit_s"),
    "implicit ALS": ("recommendation", "recommendation", _implicit("als"), "implicit", "fit_s"),
    "implicit BPR": ("recommendation", "recommendation", _implicit("bpr"), "implicit", "fit_s"),
    "RegressionEM": ("propensity", "em", run_em, None, "fit_s"),
    "KernelBalancing": ("propensity", "kb", run_kb, None, "fit_s"),
    "FairTTTS exact": ("fairness", "fairness", run_fairttts, None, "predict_s"),
    "forest predict_proba": ("fairness", "fairness", run_forest, None, "predict_s"),
}


def worker(args):
    import torch

    torch.set_num_threads(args.threads)
    # Imported before the baseline: the imports are not part of the measured memory.
    for module in ("fairness", "propensity", "ranking", "recommendation"):
        importlib.import_module(f"skultr.{module}")

    work = ESTIMATORS[args.worker][2](args.size, args)
    rss_data = _rss_mb()
    peak_data = _peak_mb()
    result = work()
    peak = _peak_mb()
    result.update(
        rss_data_mb=rss_data,
        peak_mb=peak,
        added_mb=peak - rss_data,
        upper_bound=bool(peak <= peak_data),
    )
    print(json.dumps(result))


# ------------------------------------------------------------------------- driver


def _installed(module):
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def slope(sizes, times):
    sizes, times = np.asarray(sizes, float), np.asarray(times, float)
    ok = times > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes[ok]), np.log(times[ok]), 1)[0])


def _fmt_s(value):
    return "" if value is None else f"{value:.3f}"


def markdown(results):
    lines = [
        "| family | estimator | size | fit s | predict s | peak added MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, entry in results["estimators"].items():
        if entry.get("skipped"):
            lines.append(f"| {entry['family']} | {name} | (not installed) | | | |")
            continue
        for run in entry["runs"]:
            mem = ("<= " if run["upper_bound"] else "") + f"{run['added_mb']:.0f}"
            lines.append(
                f"| {entry['family']} | {name} | {run['size']:,} {entry['unit']} | "
                f"{_fmt_s(run['fit_s'])} | {_fmt_s(run.get('predict_s'))} | {mem} |"
            )
    lines.append("")
    lines.append("Growth (least-squares slope of log(time) vs log(size); slope 1.0 = linear):")
    lines.append("")
    for name, entry in results["estimators"].items():
        if entry.get("skipped"):
            lines.append(f"- {name}: (not installed)")
        else:
            what = entry["slope_of"].replace("_s", "")
            lines.append(f"- {name}: slope {entry['slope']:.2f} ({what} time)")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    families = list(dict.fromkeys(e["family"] for e in results["estimators"].values()))
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.6))
    axes = np.atleast_1d(axes)
    for ax, family in zip(axes, families, strict=True):
        for name, entry in results["estimators"].items():
            if entry["family"] != family or entry.get("skipped"):
                continue
            sizes = [r["size"] for r in entry["runs"]]
            times = [r[entry["slope_of"]] for r in entry["runs"]]
            what = entry["slope_of"].replace("_s", "")
            label = f"{name} ({what}, slope {entry['slope']:.2f})"
            ax.loglog(sizes, times, "o-", label=label)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(family)
        ax.set_xlabel("size")
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes)")
    parser.add_argument("--threads", type=int, default=1, help="torch / anchor threads")
    parser.add_argument("--estimators", nargs="+", default=None, choices=list(ESTIMATORS))
    parser.add_argument(
        "--hidden", type=int, nargs="*", default=None, help="DLA MLP (default 64 32)"
    )
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    parser.add_argument("--plot", default=None, metavar="PATH")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(args)

    sizes = SIZES["quick" if args.quick else "full"]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "threads": args.threads,
        "quick": args.quick,
        "memory": "ru_maxrss at the end minus /proc/self/statm RSS after imports and data",
        "estimators": {},
    }
    total = time.perf_counter()
    for name in args.estimators or list(ESTIMATORS):
        family, key, _, module, slope_of = ESTIMATORS[name]
        entry = {"family": family, "unit": UNITS[key], "slope_of": slope_of}
        results["estimators"][name] = entry
        if not _installed(module):
            entry["skipped"] = True
            print(f"{name}: (not installed)", flush=True)
            continue
        entry["runs"] = []
        for size in sizes[key]:
            command = [sys.executable, __file__, "--worker", name, "--size", str(size)]
            command += ["--threads", str(args.threads)]
            if args.hidden is not None:
                command += ["--hidden", *map(str, args.hidden)]
            # BLAS threads as torch's and the anchors' (implicit's ALS calls BLAS too).
            env = dict(os.environ)
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(args.threads)
            out = subprocess.run(command, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"{name} at {size} failed")
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["size"] = size
            entry["runs"].append(run)
            print(
                f"{name:22s} {size:>10,} {UNITS[key]:9s} fit {run['fit_s']:8.3f} s"
                f"  predict {run.get('predict_s') or 0:8.3f} s"
                f"  added {run['added_mb']:7.0f} MB",
                flush=True,
            )
        entry["slope"] = slope(
            [r["size"] for r in entry["runs"]], [r[slope_of] for r in entry["runs"]]
        )
    results["total_s"] = time.perf_counter() - total
    print()
    print(markdown(results))
    print(f"\ntotal {results['total_s']:.0f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
