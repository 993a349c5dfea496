"""Peak memory and time per epoch of DLARanker: streamed, in memory, and a hand-written loop.

Each variant runs in a fresh subprocess (its own peak RSS, from ``resource.getrusage``) on a
synthetic click log made directly with numpy: ``n_sessions`` lists of 10 documents
(positions 1..10), ``n_features`` float32 features, clicks ~ Bernoulli(0.5 / position).

- ``streamed``: ``DLARanker(streaming=True)``, batches gathered, scaled and padded per step;
- ``in_memory``: ``DLARanker(streaming=False)``, the padded log built once;
- ``hand``: a plain torch loop over the same batches (same lists, same permutation, same
  module, optimizer and loss), with its own minimal gather/scale/pad per step: the time
  the engine is compared with.

Reported: ``X`` size, RSS after making the data (before fitting), peak RSS, peak RSS
beyond the RSS before fitting, and seconds of the epoch (``history_`` ``dur`` for the
estimator; the loop's own timer for ``hand``). Targets of the issue: peak RSS <= 1.5 x X,
epoch time <= 1.2 x the hand loop.

    python benchmarks/bench_ranker_memory.py --sizes 10000 100000 --threads 1
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

WIDTH = 10


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_log(n_sessions, n_features, seed=0):
    rng = np.random.default_rng(seed)
    n_rows = n_sessions * WIDTH
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    X *= 2.0
    X += 1.0  # not standardised: the scaling has work to do
    position = np.tile(np.arange(1, WIDTH + 1, dtype=np.int64), n_sessions)
    qid = np.repeat(np.arange(n_sessions, dtype=np.int64), WIDTH)
    clicks = (rng.random(n_rows, dtype=np.float32) < 0.5 / position).astype(np.int8)
    return X, clicks, qid, position


def _estimator(streaming, args):
    from skultr.ranking import DLARanker

    return DLARanker(
        hidden_layer_sizes=tuple(args.hidden),
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        device="cpu",
        random_state=0,
        streaming=streaming,
    )


def run_estimator(streaming, X, clicks, qid, position, args):
    est = _estimator(streaming, args)
    start = time.perf_counter()
    est.fit(X, clicks, qid=qid, position=position)
    fit_s = time.perf_counter() - start
    return {"epoch_s": float(est.history_[-1, "dur"]), "fit_s": fit_s}


def run_hand(X, clicks, qid, position, args):
    """A plain loop: rows of list i are X[10 i : 10 i + 10], in displayed order."""
    import torch
    from sklearn.preprocessing import StandardScaler
    from torch import nn

    from skultr._torch import make_mlp
    from skultr._torch._random import draw_seed, epoch_generator, stream_seed
    from skultr.ranking._lists import (
        clip_log_weights,
        log_ratio_to_first,
        log_ratio_to_position_one,
        weighted_softmax_cross_entropy,
    )

    start_fit = time.perf_counter()
    scaler = StandardScaler()
    step = max(1, 2**22 // X.shape[1])
    for s in range(0, len(X), step):
        scaler.partial_fit(X[s : s + step])
    mean = scaler.mean_.astype(X.dtype)
    scale = scaler.scale_.astype(X.dtype)
    n_lists = len(X) // WIDTH
    lists = np.flatnonzero(clicks.reshape(n_lists, WIDTH).any(axis=1))
    click_table = clicks.reshape(n_lists, WIDTH)
    seed = draw_seed(0)
    torch.manual_seed(stream_seed(seed, "init"))
    ranker = make_mlp(X.shape[1], tuple(args.hidden), activation="elu")
    logits = nn.Parameter(torch.zeros(WIDTH))
    optimizer = torch.optim.Adagrad(
        [{"params": list(ranker.parameters())}, {"params": [logits]}], lr=0.05
    )
    positions_row = torch.arange(WIDTH)
    max_weight = 10.0
    epoch_s = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        generator = epoch_generator(seed, epoch, "cpu")
        order = lists[torch.randperm(len(lists), generator=generator).numpy()]
        for s in range(0, len(order), args.batch_size):
            ids = order[s : s + args.batch_size]
            rows = (ids[:, None] * WIDTH + np.arange(WIDTH)).reshape(-1)
            x = X[rows]
            x -= mean
            x /= scale
            features = torch.from_numpy(x.reshape(len(ids), WIDTH, -1))
            c = torch.from_numpy(click_table[ids].astype(np.float32))
            positions = positions_row.expand(len(ids), WIDTH)
            mask = torch.ones(len(ids), WIDTH, dtype=torch.bool)
            optimizer.zero_grad(set_to_none=True)
            scores = ranker(features).squeeze(-1)
            exam = logits[positions]
            with torch.no_grad():
                log_w = clip_log_weights(log_ratio_to_position_one(logits, positions), max_weight)
                log_v = clip_log_weights(log_ratio_to_first(scores, positions, mask), max_weight)
            loss = weighted_softmax_cross_entropy(
                scores, log_w, c, mask
            ) + weighted_softmax_cross_entropy(exam, log_v, c, mask)
            loss.backward()
            for group in optimizer.param_groups:
                nn.utils.clip_grad_norm_(group["params"], 5.0)
            optimizer.step()
        epoch_s = time.perf_counter() - start
    return {"epoch_s": epoch_s, "fit_s": time.perf_counter() - start_fit}


def child(args):
    import torch

    torch.set_num_threads(args.threads)
    X, clicks, qid, position = make_log(args.sessions, args.features)
    before = _rss_mb()
    if args.run == "hand":
        result = run_hand(X, clicks, qid, position, args)
    else:
        result = run_estimator(args.run == "streamed", X, clicks, qid, position, args)
    result.update(
        variant=args.run,
        sessions=args.sessions,
        x_mb=X.nbytes / 2**20,
        rss_before_mb=before,
        peak_rss_mb=_peak_mb(),
    )
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--variants", nargs="+", default=["streamed", "in_memory", "hand"])
    parser.add_argument("--features", type=int, default=136)
    parser.add_argument("--hidden", type=int, nargs="*", default=[512, 256, 128])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="10,000 sessions x 32 features (make bench)"
    )
    args = parser.parse_args()
    if args.run:
        return child(args)
    if args.quick:
        args.sizes, args.features = [10_000], 32
    print(
        f"{'sessions':>9} {'variant':>10} {'X MB':>8} {'RSS pre':>8} {'peak RSS':>9} "
        f"{'peak/X':>7} {'(peak-pre)/X':>13} {'epoch s':>8} {'vs hand':>8}"
    )
    for n in args.sizes:
        rows = {}
        for variant in args.variants:
            command = [sys.executable, __file__, "--run", variant, "--sessions", str(n)]
            command += ["--features", str(args.features), "--batch-size", str(args.batch_size)]
            command += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
            command += ["--hidden", *map(str, args.hidden)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows[variant] = json.loads(out.strip().splitlines()[-1])
        hand = rows.get("hand", {}).get("epoch_s")
        for variant, r in rows.items():
            ratio = f"{r['epoch_s'] / hand:8.2f}" if hand else f"{'':>8}"
            print(
                f"{n:>9} {variant:>10} {r['x_mb']:8.0f} {r['rss_before_mb']:8.0f} "
                f"{r['peak_rss_mb']:9.0f} {r['peak_rss_mb'] / r['x_mb']:7.2f} "
                f"{(r['peak_rss_mb'] - r['rss_before_mb']) / r['x_mb']:13.2f} "
                f"{r['epoch_s']:8.2f} {ratio}",
                flush=True,
            )


if __name__ == "__main__":
    main()
