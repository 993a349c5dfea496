"""The demo behind ``python -m skultr`` and ``make demo``: every part on synthetic data.

Each part is a function ``run_demo(*, quick=False, random_state=0) -> dict`` that prints a
short report and returns its numbers. The foundation's parts show the grouped ranking
metrics and the torch engine; each method adds its own part to ``PARTS``.
"""

import argparse
import time

import numpy as np

PARTS = {
    "engine": "skultr._demo:run_engine_demo",
    "dla": "skultr.ranking._demo:run_demo",
    "fairness": "skultr.fairness._demo:run_demo",
    "calibration": "skultr.calibration._demo:run_demo",
    "relmf": "skultr.recommendation._demo_relmf:run_demo",
    "kernel_balancing": "skultr.recommendation._demo_kb:run_demo",
}


def run_engine_demo(*, quick=False, random_state=0):
    """Train an MLP scorer on the shared engine and judge it with grouped metrics."""
    from skultr._torch import TorchMLPRegressor
    from skultr.datasets import make_ranking_dataset
    from skultr.metrics import average_precision_score, err_score, ndcg_score

    n_queries = 300 if quick else 2000
    X, y, qid = make_ranking_dataset(n_queries, n_documents=10, random_state=random_state)
    # rows arrive shuffled: the metrics and estimators take any row order
    order = np.random.default_rng(random_state).permutation(len(y))
    X, y, qid = X[order], np.asarray(y, dtype=float)[order], qid[order]
    train = qid < int(0.8 * n_queries)
    start = time.perf_counter()
    model = TorchMLPRegressor(
        hidden_layer_sizes=(64, 32),
        lr=0.01,
        max_epochs=10 if quick else 30,
        early_stopping=True,
        n_iter_no_change=5,
        random_state=random_state,
    ).fit(X[train], y[train])
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(random_state)
    scorers = {
        "random": rng.normal(size=(~train).sum()),
        "MLP": model.predict(X[~train]),
        "oracle": y[~train] + 1e-3 * rng.normal(size=(~train).sum()),
    }
    metrics = {"nDCG@10": ndcg_score, "ERR@10": err_score, "MAP": average_precision_score}
    results = {}
    print(f"  {(~train).sum()} held-out rows in {len(np.unique(qid[~train]))} lists")
    print(f"  TorchMLPRegressor on {model.device_}: {model.n_iter_} epochs in {seconds:.1f}s")
    print("  scorer    " + "".join(f"{name:>10}" for name in metrics))
    for name, score in scorers.items():
        row = {}
        for metric_name, metric in metrics.items():
            kwargs = {} if metric is average_precision_score else {"k": 10}
            row[metric_name] = metric(y[~train], score, qid=qid[~train], **kwargs)
        results[name] = row
        print(f"  {name:<10}" + "".join(f"{value:>10.3f}" for value in row.values()))
    return {"scores": results, "fit_seconds": seconds, "n_iter": model.n_iter_}


def _load(target):
    import importlib

    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skultr", description="Run skultr's demo on built-in synthetic data."
    )
    parser.add_argument("--quick", action="store_true", help="smaller data, seconds per part")
    parser.add_argument(
        "--part", choices=sorted(PARTS), action="append", help="run only this part (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random_state of every part")
    args = parser.parse_args(argv)

    import skultr

    print(f"skultr {skultr.__version__} demo{' (quick)' if args.quick else ''}")
    start = time.perf_counter()
    for name in args.part or PARTS:
        print(f"\n== {name}")
        part_start = time.perf_counter()
        _load(PARTS[name])(quick=args.quick, random_state=args.seed)
        print(f"  ({time.perf_counter() - part_start:.1f}s)")
    print(f"\ndone in {time.perf_counter() - start:.1f}s")
    return 0
