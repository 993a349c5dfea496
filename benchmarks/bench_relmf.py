"""Rel-MF against naive MF, WMF, BPR and the ``implicit`` package on MAR test sets.

Protocol (the Rel-MF paper's real-data protocol, standard metrics):

- train on the self-selected ratings binarised at ``rating >= 4`` (clicks); every other
  (user, item) pair of the catalogue is unlabelled;
- test on the missing-at-random ratings (Coat: 16 random items per user; Yahoo! R3: 10
  random songs per user), binarised the same way; each user's test items are ranked by the
  model's scores; DCG@K (binary gain, ``1/log2(rank+1)``), Recall@K and MAP@K for K = 1, 3, 5,
  averaged over the users with at least one relevant test item (the others are skipped);
- every model gets the same number of factors (``--factors``) and its library defaults
  otherwise; Rel-MF is reported for a small grid of clipping constants ``M`` with the
  popularity propensity ``θ_i = (n_i / max n)^0.5``. Nothing is tuned on the test set.

Models: skultr ``RelMFRecommender`` (least squares, exact ALS), ``ImplicitMFRecommender``
(naive MF), ``WMFRecommender`` (Hu et al.), ``BPRRecommender``; ``implicit``'s
``AlternatingLeastSquares`` and ``BayesianPersonalizedRanking`` when the package is importable
(``pip install implicit``); a random and a train-popularity ranker as references. Reported:
metrics, fit seconds (best of ``--repeats``) and the peak resident memory the fit added.

Data: Coat from ``$SKULTR_DATA/recsys/coat`` (or ``--data``); Yahoo! R3 only when
``--yahoo PATH`` or ``$SKULTR_YAHOO_R3`` points at the folder holding its two rating files
(its licence forbids redistribution). ``--parts speed`` times the ALS solvers on a
Yahoo!-R3-sized synthetic click matrix (15,400 x 1,000, ~125k clicks) when the real file is
absent.

    python benchmarks/bench_relmf.py [--quick] [--parts coat,yahoo,speed] [--factors 32]
        [--threads 1] [--device cpu] [--repeats 3] [--yahoo PATH] [--out PATH]
"""

import argparse
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from skultr.datasets import load_coat, load_yahoo_r3
from skultr.metrics import average_precision_score, dcg_score, recall_at_k_score
from skultr.recommendation import (
    BPRRecommender,
    ImplicitMFRecommender,
    RelMFRecommender,
    WMFRecommender,
)

KS = (1, 3, 5)
CLIPS = (0.0, 0.1, 0.2, 0.3)
DATA = Path(os.environ.get("SKULTR_DATA", Path(__file__).parents[2] / "shared" / "data"))


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Largest resident-set size above the level at entry, polled every 10 ms (Linux)."""

    def __enter__(self):
        self.base = self.top = _rss()
        self._done = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()
        return self

    def _poll(self):
        while not self._done.wait(0.01):
            self.top = max(self.top, _rss())

    def __exit__(self, *exc):
        self._done.set()
        self._poller.join()
        self.top = max(self.top, _rss())
        self.mib = (self.top - self.base) / 2**20


def mar_metrics(y_test, scores, users):
    """DCG/Recall/MAP@1,3,5 over the users with a relevant test item."""
    relevant_users = np.unique(users[y_test > 0])
    keep = np.isin(users, relevant_users)
    y, s, q = y_test[keep], scores[keep], users[keep]
    row = {}
    for k in KS:
        row[f"DCG@{k}"] = dcg_score(y, s, qid=q, k=k, gain="linear")
    for k in KS:
        row[f"Recall@{k}"] = recall_at_k_score(y, s, qid=q, k=k)
    for k in KS:
        row[f"MAP@{k}"] = average_precision_score(y, s, qid=q, k=k)
    row["n_users"] = int(relevant_users.size)
    return row


# --------------------------------------------------------------------------------------------
# Models: each returns a function (user ids, item ids) -> scores
# --------------------------------------------------------------------------------------------


def _skultr(make):
    def fit(data, args):
        model = make(args, data).fit(data["X_train"], data["clicks"])
        return (lambda users, items: model.predict(np.column_stack([users, items]))), model

    return fit


def _common(args, data):
    return {
        "n_factors": args.factors,
        "n_users": data["n_users"],
        "n_items": data["n_items"],
        "device": args.device,
        "random_state": args.seed,
    }


def _implicit_matrix(data):
    users, items = data["X_train"][data["clicks"] > 0].T
    return sp.csr_matrix(
        (np.ones(users.size, dtype=np.float32), (users, items)),
        shape=(data["n_users"], data["n_items"]),
    )


def _implicit(kind):
    def fit(data, args):
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        if kind == "als":
            model = AlternatingLeastSquares(
                factors=args.factors, random_state=args.seed, num_threads=args.threads
            )
        else:
            model = BayesianPersonalizedRanking(
                factors=args.factors, random_state=args.seed, num_threads=args.threads
            )
        model.fit(_implicit_matrix(data), show_progress=False)
        U, V = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return lambda users, items: np.einsum("ij,ij->i", U[users], V[items]), model

    return fit


def _random(data, args):
    rng = np.random.default_rng(args.seed)
    return lambda users, items: rng.random(users.size), None


def _popularity(data, args):
    counts = np.bincount(data["X_train"][data["clicks"] > 0, 1], minlength=data["n_items"]).astype(
        float
    )
    return lambda users, items: counts[items], None


def methods(args):
    found = {
        "random": _random,
        "popularity": _popularity,
        "naive MF": _skultr(lambda a, d: ImplicitMFRecommender(**_common(a, d))),
    }
    for clip in CLIPS:
        found[f"Rel-MF M={clip:g}"] = _skultr(
            lambda a, d, clip=clip: RelMFRecommender(
                max_weight=1 / clip if clip else None, **_common(a, d)
            )
        )
    # Coat ships per-pair propensities of a rating being observed (Schnabel et al. 2016)
    found["Rel-MF M=0.1, Coat propensities"] = _skultr(
        lambda a, d: RelMFRecommender(
            max_weight=10.0, propensity=d["propensities"], **_common(a, d)
        )
    )
    found["WMF"] = _skultr(lambda a, d: WMFRecommender(**_common(a, d)))
    found["BPR"] = _skultr(lambda a, d: BPRRecommender(**_common(a, d)))
    try:
        import implicit  # noqa: F401

        found["implicit ALS"] = _implicit("als")
        found["implicit BPR"] = _implicit("bpr")
    except ImportError:
        print("  (implicit is not installed: its ALS and BPR are left out)")
    return found


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _prepare(bunch, name):
    return {
        "name": name,
        "X_train": bunch.X_train,
        "clicks": (bunch.y_train >= 4).astype(np.float64),
        "X_test": bunch.X_test,
        "y_test": (bunch.y_test >= 4).astype(np.float64),
        "n_users": int(bunch.n_users),
        "n_items": int(bunch.n_items),
        "propensities": getattr(bunch, "propensities", None),
    }


def run_dataset(data, args):
    print(
        f"\n## {data['name']}: {data['n_users']} users x {data['n_items']} items, "
        f"{int(data['clicks'].sum())} train clicks (rating >= 4), {len(data['y_test'])} MAR "
        f"test ratings, {int(data['y_test'].sum())} relevant"
    )
    counts = np.bincount(data["X_train"][data["clicks"] > 0, 1], minlength=data["n_items"])
    theta = (np.maximum(counts, 1) / counts.max()) ** 0.5
    print(
        f"  popularity propensity of the clicks: min {theta[counts > 0].min():.3f} "
        f"(clipping below it changes nothing), median {np.median(theta[counts > 0]):.3f}"
    )
    users, items = data["X_test"].T
    rows = {}
    for name, fit in methods(args).items():
        if args.methods and name not in args.methods:
            continue
        if "Coat propensities" in name and data["propensities"] is None:
            continue
        best = np.inf
        for _ in range(args.repeats if name not in ("random", "popularity") else 1):
            with PeakRSS() as memory:
                start = time.perf_counter()
                score, _ = fit(data, args)
                seconds = time.perf_counter() - start
            best = min(best, seconds)
        row = mar_metrics(data["y_test"], score(users, items), users)
        row.update(fit_seconds=best, peak_mib=memory.mib)
        rows[name] = row
    columns = [f"{m}@{k}" for m in ("DCG", "Recall", "MAP") for k in KS]
    print("\n| model | " + " | ".join(columns) + " | fit s | peak MiB |")
    print("|---" * (len(columns) + 3) + "|")
    for name, row in rows.items():
        values = " | ".join(f"{row[c]:.3f}" for c in columns)
        print(f"| {name} | {values} | {row['fit_seconds']:.3f} | {row['peak_mib']:.0f} |")
    print(f"  ({next(iter(rows.values()))['n_users']} users with a relevant test item)")
    return rows


def yahoo_sized_clicks(seed=0):
    """15,400 x 1,000 clicks with Yahoo! R3's size and a Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n_clicks = 15_400, 1_000, 125_077
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, size=int(n_clicks * 1.1), p=popularity / popularity.sum())
    users = rng.integers(0, n_users, size=items.size)
    pairs = np.unique(np.column_stack([users, items]), axis=0)[:n_clicks]
    return pairs, n_users, n_items


def run_speed(args):
    """Fit seconds of the ALS solvers at equal factors on a Yahoo!-R3-sized click matrix."""
    pairs, n_users, n_items = yahoo_sized_clicks(args.seed)
    print(
        f"\n## speed: {n_users} x {n_items}, {len(pairs)} synthetic clicks, "
        f"{args.factors} factors, {args.threads} thread(s), best of {args.repeats}"
    )
    common = {
        "n_factors": args.factors,
        "n_users": n_users,
        "n_items": n_items,
        "device": args.device,
        "random_state": args.seed,
    }
    data = {
        "X_train": pairs,
        "clicks": np.ones(len(pairs)),
        "n_users": n_users,
        "n_items": n_items,
    }
    candidates = {
        "Rel-MF ALS (tol=1e-4)": lambda: RelMFRecommender(**common).fit(pairs),
        "Rel-MF ALS (15 sweeps)": lambda: RelMFRecommender(max_epochs=15, tol=0.0, **common).fit(
            pairs
        ),
        "WMF ALS (15 sweeps, 3 CG steps)": lambda: WMFRecommender(
            max_epochs=15, tol=0.0, **common
        ).fit(pairs),
        "WMF ALS (15 sweeps, exact)": lambda: WMFRecommender(
            max_epochs=15, tol=0.0, cg_steps=None, **common
        ).fit(pairs),
    }
    try:
        import implicit  # noqa: F401

        candidates["implicit ALS (15 iterations)"] = lambda: _implicit("als")(data, args)
    except ImportError:
        pass
    rows = {}
    for name, fit in candidates.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = fit()
            times.append(time.perf_counter() - start)
        sweeps = getattr(result, "n_iter_", 15)
        rows[name] = {"fit_seconds": min(times), "sweeps": int(sweeps)}
        print(f"  {name:<34} {min(times):7.3f} s  ({sweeps} sweeps)")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Coat only, one repeat")
    parser.add_argument("--parts", default="coat,yahoo,speed")
    parser.add_argument("--methods", default=None, help="comma-separated subset of models")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=str(DATA), help="folder holding recsys/coat")
    parser.add_argument(
        "--yahoo",
        default=os.environ.get("SKULTR_YAHOO_R3"),
        help="folder of the Yahoo! R3 rating files (or $SKULTR_YAHOO_R3)",
    )
    parser.add_argument("--out", default="benchmarks/results/relmf.json")
    args = parser.parse_args(argv)
    args.methods = set(args.methods.split(",")) if args.methods else None
    parts = set(args.parts.split(","))
    if args.quick:
        parts, args.repeats = {"coat"}, 1
    torch.set_num_threads(args.threads)
    try:  # implicit asks for single-threaded BLAS; apply the same limit to everyone
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        pass
    # warm-up: torch's first call pays one-off initialisation that no model should be billed
    RelMFRecommender(n_factors=2, device=args.device, max_epochs=2).fit([[0, 0], [1, 1]])
    results = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {args.threads} thread(s), "
        f"device {args.device}, torch {torch.__version__}",
        "factors": args.factors,
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"# Rel-MF benchmark ({results['machine']}, {args.factors} factors)")
    if "coat" in parts:
        results["coat"] = run_dataset(_prepare(load_coat(args.data), "Coat"), args)
    if "yahoo" in parts:
        if args.yahoo:
            results["yahoo_r3"] = run_dataset(
                _prepare(load_yahoo_r3(args.yahoo), "Yahoo! R3"), args
            )
        else:
            print("\n## Yahoo! R3: skipped (pass --yahoo PATH or set SKULTR_YAHOO_R3)")
    if "speed" in parts:
        results["speed"] = run_speed(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
