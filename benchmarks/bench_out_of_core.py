"""Out-of-core training of DLARanker through the Dask route, beside the one-machine route.

Writes a simulated click log as Parquet shards (sessions of 10 rows, float32 features,
positions 1..10, clicks from a position-based model: examination ``1 / position`` x
relevance ``sigmoid(x . w)``), one shard at a time, so the log is never whole in memory.
Then, each in a fresh subprocess:

- ``dask``: ``partial_fit_partitions(DLARanker(...), dd.read_parquet(shards), y="click")``,
  one pass (one epoch per shard), Dask's default local scheduler;
- ``memory`` (the one-machine route, only when the log fits: ``--memory-sessions``): the
  same log read into memory and ``DLARanker(max_epochs=1).fit``.

Reports wall time, sessions per second and peak RSS (``ru_maxrss`` of the subprocess).

    python benchmarks/bench_out_of_core.py --sessions 10000000 --features 16 \\
        --shard-sessions 100000 --memory-sessions 1000000 --dir /tmp/log
    python benchmarks/bench_out_of_core.py --quick   # 200,000 sessions, both routes
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WIDTH = 10


def write_log(directory, n_sessions, n_features, shard_sessions, seed=0):
    import pandas as pd

    directory.mkdir(parents=True, exist_ok=True)
    w = np.random.default_rng(seed).normal(size=n_features) / np.sqrt(n_features)
    position = np.arange(1, WIDTH + 1)
    columns = [f"f{j}" for j in range(n_features)]
    n_shards = 0
    for start in range(0, n_sessions, shard_sessions):
        size = min(shard_sessions, n_sessions - start)
        rng = np.random.default_rng([seed, start])
        X = rng.normal(size=(size * WIDTH, n_features)).astype(np.float32)
        relevance = 1.0 / (1.0 + np.exp(-(X @ w)))
        pos = np.tile(position, size)
        clicks = (rng.random(size * WIDTH) < relevance / pos).astype(np.int8)
        frame = pd.DataFrame(X, columns=columns)
        frame["qid"] = np.repeat(np.arange(start, start + size, dtype=np.int64), WIDTH)
        frame["position"] = pos
        frame["click"] = clicks
        frame.to_parquet(directory / f"shard-{n_shards:05d}.parquet", index=False)
        n_shards += 1
    return n_shards


def _ranker():
    from skultr.ranking import DLARanker

    return DLARanker(hidden_layer_sizes=(64, 32), batch_size=1024, device="cpu", random_state=0)


def run(route, directory, n_sessions):
    start = time.perf_counter()
    if route == "dask":
        import dask.dataframe as dd

        from skultr.distributed import partial_fit_partitions

        frame = dd.read_parquet(str(directory / "*.parquet"))
        ranker = partial_fit_partitions(_ranker(), frame, y="click")
    else:
        import pandas as pd

        parts = []  # the first shards, up to n_sessions sessions (shards are in qid order)
        for path in sorted(directory.glob("*.parquet")):
            part = pd.read_parquet(path)
            parts.append(part[part["qid"] < n_sessions])
            if part["qid"].max() >= n_sessions - 1:
                break
        frame = pd.concat(parts, ignore_index=True)
        del parts
        clicks = frame.pop("click").to_numpy()
        ranker = _ranker().set_params(max_epochs=1).fit(frame, clicks)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "route": route,
        "sessions": int(ranker.n_lists_),
        "seconds": seconds,
        "sessions_per_s": ranker.n_lists_ / seconds,
        "peak_rss_mb": peak,
        "epochs": int(ranker.n_iter_),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--shard-sessions", type=int, default=100_000)
    parser.add_argument("--memory-sessions", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/skultr_ooc_log"))
    parser.add_argument("--worker", choices=["dask", "memory"])
    parser.add_argument(
        "--quick", action="store_true", help="200,000 sessions in 4 shards, both routes"
    )
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.shard_sessions, args.memory_sessions = 200_000, 50_000, 200_000
    if args.worker:
        print(json.dumps(run(args.worker, args.dir, args.memory_sessions)))
        return
    start = time.perf_counter()
    n_shards = write_log(args.dir, args.sessions, args.features, args.shard_sessions)
    print(
        f"wrote {args.sessions:,} sessions x {WIDTH} rows x {args.features} features in "
        f"{n_shards} Parquet shards, {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    routes = ["dask"] + (["memory"] if args.memory_sessions else [])
    results = []
    for route in routes:
        command = [sys.executable, __file__, "--worker", route, "--dir", str(args.dir)]
        command += ["--memory-sessions", str(args.memory_sessions)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    report = {
        "machine": platform.processor() or platform.machine(),
        "sessions": args.sessions,
        "features": args.features,
        "shard_sessions": args.shard_sessions,
        "results": results,
    }
    out = Path(__file__).parent / "results" / "out_of_core.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
