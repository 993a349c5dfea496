"""Recommenders at scale (issue 13, item 3): ALS against implicit, stochastic epochs, recommend.

Each measurement runs in a fresh subprocess on synthetic clicks made with numpy: users drawn
uniformly, items with Zipf(1) popularity, duplicates dropped (``n_pairs`` in the output is
the distinct count).

- ``als``: Rel-MF ALS (``solver="als"``, exact) against ``implicit``'s CPU
  ``AlternatingLeastSquares`` at equal factors, sweeps and threads (torch's intra-op threads
  and implicit's ``num_threads``; BLAS is limited to the same count through the environment);
- ``epoch``: the seconds of one stochastic epoch (the engine's ``history_`` duration, so the
  data preparation and the propensity model are not counted) of ``BPRRecommender``,
  ``RelMFRecommender(solver="stochastic")`` and ``DebiasedMFRecommender`` (DR-JL without
  balancing, known propensities) at two user counts with the same clicks;
- ``recommend``: ``recommend(users, n=10)`` (all users, or ``--recommend-users`` of them
  drawn at random) of a model with random factors (no training), the clicks as its seen
  pairs: its seconds and its peak extra memory, the peak RSS of the call (``VmHWM`` reset
  just before it through ``/proc/self/clear_refs``) minus the RSS before it.

    python benchmarks/bench_recsys_scale.py als --users 1000000 --items 100000 \\
        --clicks 10000000 --threads 2
    python benchmarks/bench_recsys_scale.py epoch --users 100000 1000000 --clicks 10000000
    python benchmarks/bench_recsys_scale.py recommend --users 1000000 --items 100000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak():
    """Reset the process's peak RSS (Linux: VmHWM), so the next peak is this call's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return _peak_mb()


def make_clicks(n_clicks, n_users, n_items, seed=0):
    """Distinct (user, item) clicks: uniform users, Zipf(1) item popularity."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1)
    p /= p.sum()
    users = rng.integers(0, n_users, size=n_clicks)
    items = rng.permutation(n_items)[rng.choice(n_items, size=n_clicks, p=p)]
    keys = np.unique(users * np.int64(n_items) + items)
    return np.stack([keys // n_items, keys % n_items], axis=1)


# --------------------------------------------------------------------------- workers


def work_als(args):
    import torch

    torch.set_num_threads(args.threads)
    pairs = make_clicks(args.clicks, args.users[0], args.items, seed=args.seed)
    out = {"n_pairs": len(pairs), "threads": args.threads}
    if args.model == "relmf":
        from skultr.recommendation import RelMFRecommender

        est = RelMFRecommender(
            solver="als",
            n_factors=args.factors,
            max_epochs=args.sweeps,
            tol=0.0,
            n_users=args.users[0],
            n_items=args.items,
            device="cpu",
            random_state=0,
        )
        rss = _rss_mb()
        start = time.perf_counter()
        est.fit(pairs)
        out["fit_s"] = time.perf_counter() - start
        out["train_s"] = float(sum(row["dur"] for row in est.history_))
    else:
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares

        matrix = sp.csr_matrix(
            (np.ones(len(pairs), dtype=np.float32), (pairs[:, 0], pairs[:, 1])),
            shape=(args.users[0], args.items),
        )
        est = AlternatingLeastSquares(
            factors=args.factors,
            iterations=args.sweeps,
            random_state=0,
            num_threads=args.threads,
            calculate_training_loss=False,
        )
        rss = _rss_mb()
        start = time.perf_counter()
        est.fit(matrix, show_progress=False)
        out["fit_s"] = time.perf_counter() - start
    out["added_mb"] = _peak_mb() - rss
    return out


def work_epoch(args):
    import torch

    torch.set_num_threads(args.threads)
    n_users = args.users[0]
    pairs = make_clicks(args.clicks, n_users, args.items, seed=args.seed)
    common = {
        "n_users": n_users,
        "n_items": args.items,
        "n_factors": args.factors,
        "max_epochs": 1,
        "batch_size": args.batch,
        "device": "cpu",
        "random_state": 0,
    }
    fit_kwargs = {}
    X, y = pairs, None
    if args.model == "bpr":
        from skultr.recommendation import BPRRecommender

        est = BPRRecommender(**common)
    elif args.model == "relmf":
        from skultr.recommendation import RelMFRecommender

        est = RelMFRecommender(solver="stochastic", **common)
    else:
        from skultr.recommendation import DebiasedMFRecommender

        rng = np.random.default_rng(args.seed + 1)
        y = (rng.random(len(pairs)) < 0.5).astype(np.float64)
        fit_kwargs["sample_propensity"] = rng.uniform(0.05, 0.5, len(pairs))
        est = DebiasedMFRecommender(method="dr_jl", balancing=None, **common)
    rss = _rss_mb()
    start = time.perf_counter()
    est.fit(X, y, **fit_kwargs)
    fit_s = time.perf_counter() - start
    epoch_s = float(est.history_[-1]["dur"])
    steps = int(np.ceil(len(pairs) / args.batch))
    return {
        "n_pairs": len(pairs),
        "fit_s": fit_s,
        "epoch_s": epoch_s,
        "ms_per_step": 1000 * epoch_s / steps,
        "added_mb": _peak_mb() - rss,
    }


def work_recommend(args):
    import torch

    torch.set_num_threads(args.threads)
    from skultr.recommendation import BPRRecommender

    n_users, n_items = args.users[0], args.items
    pairs = make_clicks(args.clicks, n_users, n_items, seed=args.seed)
    # A fitted model without training: catalogue and seen pairs from a one-click fit's
    # plumbing, random factors set directly (recommend reads only these).
    est = BPRRecommender(n_users=n_users, n_items=n_items, n_factors=args.factors, device="cpu")
    est.fit(pairs[:1])
    rng = np.random.default_rng(0)
    est.user_factors_ = rng.standard_normal((n_users, args.factors))
    est.item_factors_ = rng.standard_normal((n_items, args.factors))
    import scipy.sparse as sp

    est.seen_ = sp.csr_matrix(
        (np.ones(len(pairs), dtype=bool), (pairs[:, 0], pairs[:, 1])), shape=(n_users, n_items)
    )
    est.warm_users_ = np.ones(n_users, dtype=bool)
    del est.module_, pairs
    n_ask = args.recommend_users or n_users
    users = np.random.default_rng(1).permutation(n_users)[:n_ask]
    reset = _reset_peak()
    rss = _rss_mb()
    start = time.perf_counter()
    items, scores = est.recommend(users, n=10)
    seconds = time.perf_counter() - start
    peak = _hwm_mb() if reset else _peak_mb()
    return {
        "users_asked": int(n_ask),
        "seconds": seconds,
        "added_mb": peak - rss,
        "rss_before_mb": rss,
        "result_mb": (items.nbytes + scores.nbytes) / 2**20,
        "seen_nnz": int(est.seen_.nnz),
    }


WORKERS = {"als": work_als, "epoch": work_epoch, "recommend": work_recommend}


def _spawn(args, **override):
    command = [sys.executable, __file__, args.command, "--worker"]
    for key, value in {**vars(args), **override}.items():
        if key in ("command", "worker", "models", "quick") or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        command += [f"--{key.replace('_', '-')}", *map(str, values)]
    env = {**os.environ}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{command} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=list(WORKERS))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every command at small sizes (2,000 and 20,000 users, 2,000 items, 100,000 "
        "clicks, 2 sweeps): a smoke run for make bench",
    )
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--recommend-users", type=int, default=None, help="recommend: users asked (all)"
    )
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.command](args)))
        return
    if args.quick:
        args.users, args.items, args.clicks, args.sweeps = [2_000, 20_000], 2_000, 100_000, 2
        args.recommend_users = 1_000
        results = []
        for command in WORKERS:
            args.command = command
            results += _run_command(args)
        return results
    if args.command is None:
        parser.error("give a command (als, epoch or recommend) or --quick")
    return _run_command(args)


def _run_command(args):
    models = (
        args.models
        or {
            "als": ["relmf", "implicit"],
            "epoch": ["bpr", "relmf", "debiased"],
            "recommend": ["any"],
        }[args.command]
    )
    results = []
    for model in models:
        for n_users in args.users:
            run = _spawn(args, model=model, users=[n_users])
            run.update(command=args.command, model=model, users=n_users, items=args.items)
            run.update(clicks=args.clicks, threads=args.threads)
            results.append(run)
            print(json.dumps(run), flush=True)
    return results


if __name__ == "__main__":
    main()
