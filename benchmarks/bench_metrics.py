"""Speed of the grouped ranking metrics against a per-query loop over sklearn.metrics.ndcg_score.

Usage::

    python benchmarks/bench_metrics.py            # 1,000,000 rows in 100,000 queries
    python benchmarks/bench_metrics.py --quick    # 100,000 rows in 10,000 queries

Rows are shuffled across queries, list lengths vary (1 + multinomial, mean 10), grades are 0-4
and scores are rounded so that ties occur. Each skultr metric is timed ``--repeat`` times (best
and median reported) and once more under tracemalloc for the peak memory. The anchor is the
obvious loop ``mean(sklearn.metrics.ndcg_score(y[q][None], s[q][None], k=10) for q in queries)``,
run on a subset of queries (rows pre-grouped, so only sklearn's per-call cost is measured) and
extrapolated linearly to all queries; queries with a single document are left out of the anchor
because sklearn rejects them. The script prints a markdown table and writes
``benchmarks/results/metrics.json``.
"""

import argparse
import json
import os
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
import sklearn
import sklearn.metrics

from skultr.metrics import average_precision_score, dcg_score, err_score, ndcg_score

RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"
METRICS = {
    "ndcg_score": ndcg_score,
    "dcg_score": dcg_score,
    "err_score": err_score,
    "average_precision_score": average_precision_score,
}


def make_data(n_rows, n_queries, seed):
    """Shuffled rows of ``n_queries`` lists of varying length, graded 0-4, with tied scores."""
    rng = np.random.default_rng(seed)
    sizes = 1 + rng.multinomial(n_rows - n_queries, np.full(n_queries, 1 / n_queries))
    qid = np.repeat(np.arange(n_queries), sizes)
    y_true = rng.integers(0, 5, n_rows).astype(float)
    y_score = np.round(0.5 * y_true + rng.normal(size=n_rows), 1)
    order = rng.permutation(n_rows)
    return y_true[order], y_score[order], qid[order]


def time_metric(metric, y_true, y_score, qid, repeat):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = metric(y_true, y_score, qid=qid, k=10)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    metric(y_true, y_score, qid=qid, k=10)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "value": value,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "peak_mib": peak / 2**20,
    }


def time_sklearn_loop(y_true, y_score, qid, n_sample_queries, n_queries_total, seed):
    """Per-query loop over sklearn.metrics.ndcg_score on a sample, extrapolated to all queries."""
    order = np.argsort(qid, kind="stable")
    unique, starts, sizes = np.unique(qid[order], return_index=True, return_counts=True)
    eligible = np.flatnonzero(sizes > 1)
    rng = np.random.default_rng(seed)
    chosen = np.sort(
        rng.choice(eligible, size=min(n_sample_queries, len(eligible)), replace=False)
    )
    lists = [order[starts[i] : starts[i] + sizes[i]] for i in chosen]

    start = time.perf_counter()
    per_query = [
        sklearn.metrics.ndcg_score(y_true[r][None], y_score[r][None], k=10) for r in lists
    ]
    elapsed = time.perf_counter() - start

    # The same subset through skultr (linear gain, all-zero queries scored 0) must agree.
    rows = np.concatenate(lists)
    ours = ndcg_score(
        y_true[rows], y_score[rows], qid=qid[rows], k=10, gain="linear", no_relevant="zero"
    )
    return {
        "sample_queries": len(lists),
        "sample_s": elapsed,
        "extrapolated_s": elapsed / len(lists) * n_queries_total,
        "abs_diff_vs_skultr": abs(float(np.mean(per_query)) - ours),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows in 10k queries")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per metric")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    n_rows, n_queries = (100_000, 10_000) if args.quick else (1_000_000, 100_000)
    n_sample = 1_000 if args.quick else 2_000
    y_true, y_score, qid = make_data(n_rows, n_queries, args.seed)

    results = {
        name: time_metric(metric, y_true, y_score, qid, args.repeat)
        for name, metric in METRICS.items()
    }
    anchor = time_sklearn_loop(y_true, y_score, qid, n_sample, n_queries, args.seed)

    print(f"{n_rows:,} rows in {n_queries:,} queries, k=10, best of {args.repeat} runs\n")
    print("| metric | best s | median s | peak MiB | value |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| skultr.metrics.{name} | {r['best_s']:.3f} | {r['median_s']:.3f} "
            f"| {r['peak_mib']:.0f} | {r['value']:.4f} |"
        )
    print(
        f"| sklearn.metrics.ndcg_score per-query loop (extrapolated from "
        f"{anchor['sample_queries']:,} queries, {anchor['sample_s']:.2f} s) "
        f"| {anchor['extrapolated_s']:.1f} | | | |"
    )
    print(
        f"\nskultr vs sklearn loop on the sample (gain='linear', no_relevant='zero'): "
        f"|difference| = {anchor['abs_diff_vs_skultr']:.2e}"
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "grouped ranking metrics",
        "quick": args.quick,
        "n_rows": n_rows,
        "n_queries": n_queries,
        "k": 10,
        "repeat": args.repeat,
        "skultr": results,
        "sklearn_per_query_loop": anchor,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        },
    }
    RESULTS.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
