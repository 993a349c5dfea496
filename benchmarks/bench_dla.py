"""DLA against its baselines and against XGBoost's and LightGBM's unbiased LambdaMART.

One simulated click log (the DLA paper's protocol: a linear production ranker trained on 1%
of the labelled queries, top-10 lists, position-based clicks with eta = 1), fitted by

- skultr ``DLARanker``, ``NaiveRanker``, ``IPWRanker`` with the true propensities and
  ``IPWRanker`` with propensities estimated by ``RandomizationPropensity`` on a separate
  randomised (shuffled) log of a fifth of the size;
- ``xgboost.XGBRanker(lambdarank_unbiased=True)`` (positions = row order in each session);
- LightGBM ``lambdarank`` with ``Dataset(position=...)`` (its sklearn wrapper has no
  position argument).

Reported: nDCG@1/3/5/10 and ERR@10 on the true grades of held-out queries, fit seconds,
peak memory added by the fit (resident set, sampled), and training throughput (sessions
processed per second: sessions x epochs / fit seconds for the torch models, sessions / fit
seconds for the boosted trees). The same table is then computed on LightGBM's
``examples/lambdarank`` data (``--ltr-data``) with clicks simulated from its labels and its
production positions. Finally the speed of ``DLARanker.fit`` is compared with a
hand-written torch loop doing the same computation on the same model (target: within 10%),
and, with ``--device cuda``, GPU throughput at batch 1024 (target: >= 100,000 sessions/s).

    python benchmarks/bench_dla.py [--quick] [--sessions N] [--epochs E] [--hidden 512,256,128]
        [--threads T] [--device cpu|cuda] [--parts synthetic,ltr,speed] [--methods DLA,XGB]
        [--out PATH]
"""

import argparse
import json
import math
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import torch

from skultr.datasets import load_svmlight_ranking, make_click_log, make_ranking_dataset
from skultr.metrics import err_score, ndcg_score
from skultr.propensity import RandomizationPropensity
from skultr.ranking import DLARanker, IPWRanker, NaiveRanker

DEFAULT_HIDDEN = (512, 256, 128)
LTR_DATA = Path(os.environ.get("SKULTR_DATA", Path(__file__).parents[2] / "shared" / "data"))


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every 20 ms (Linux)."""

    def __enter__(self):
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        self.mib = (self.peak - self.start) / 2**20


def quality(y, scores, qid):
    row = {f"ndcg@{k}": ndcg_score(y, scores, qid=qid, k=k) for k in (1, 3, 5, 10)}
    row["err@10"] = err_score(y, scores, qid=qid, k=10, max_grade=4)
    return row


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def synthetic(n_sessions, *, n_queries, seed=0):
    X, y, qid = make_ranking_dataset(n_queries, random_state=seed)
    test = make_ranking_dataset(max(500, n_queries // 5), random_state=seed + 1)
    log = make_click_log(X, y, qid, n_sessions=n_sessions, random_state=seed)
    randomised = make_click_log(
        X,
        y,
        qid,
        n_sessions=max(20_000, n_sessions // 5),
        intervention="shuffle",
        random_state=seed + 2,
    )
    return {"log": log, "randomised": randomised, "test": test, "name": "synthetic"}


def lightgbm_rank(n_sessions, seed=0):
    folder = LTR_DATA / "ltr" / "lightgbm_rank"
    X, y, qid, position = load_svmlight_ranking(folder / "rank.train", return_position=True)
    Xt, yt, qt = load_svmlight_ranking(folder / "rank.test", n_features=X.shape[1])
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-6  # the neural rankers want scaled inputs
    X, Xt = (X - mean) / std, (Xt - mean) / std
    # Production ranking = the positions shipped with the data (lower position = higher score).
    log = make_click_log(X, y, qid, scores=-position, n_sessions=n_sessions, random_state=seed)
    randomised = make_click_log(
        X,
        y,
        qid,
        scores=-position,
        n_sessions=max(20_000, n_sessions // 5),
        intervention="shuffle",
        random_state=seed + 2,
    )
    return {"log": log, "randomised": randomised, "test": (Xt, yt, qt), "name": "lightgbm_rank"}


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def _torch_method(make):
    def fit(data, args):
        log = data["log"]
        est = make(data, args)
        est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
        return est, est.predict, est.n_iter_

    return fit


def _common(args):
    return {
        "hidden_layer_sizes": args.hidden,
        "max_epochs": args.epochs,
        "device": args.device,
        "random_state": 0,
    }


def _randomisation_propensity(data):
    r = data["randomised"]
    est = RandomizationPropensity().fit(r.X, r.clicks, qid=r.qid, position=r.position)
    return est.propensity_


def _xgboost(data, args):
    import xgboost

    log = data["log"]  # sessions are contiguous and in displayed order: XGBoost's positions
    est = xgboost.XGBRanker(
        objective="rank:ndcg",
        lambdarank_unbiased=True,
        n_estimators=args.trees,
        learning_rate=0.1,
        tree_method="hist",
        n_jobs=args.threads,
        random_state=0,
    )
    est.fit(log.X, log.clicks, qid=log.qid)
    return est, est.predict, 1


def _lightgbm(data, args):
    import lightgbm

    log = data["log"]
    sizes = np.bincount(log.qid)
    dataset = lightgbm.Dataset(log.X, label=log.clicks, group=sizes, position=log.position - 1)
    params = {
        "objective": "lambdarank",
        "learning_rate": 0.1,
        "num_leaves": 31,
        "verbose": -1,
        "seed": 0,
        **({"num_threads": args.threads} if args.threads else {}),
    }
    booster = lightgbm.train(params, dataset, num_boost_round=args.trees)
    return booster, booster.predict, 1


METHODS = {
    "skultr DLA": _torch_method(lambda data, args: DLARanker(**_common(args))),
    "skultr naive": _torch_method(lambda data, args: NaiveRanker(**_common(args))),
    "skultr IPW (true propensity)": _torch_method(
        lambda data, args: IPWRanker(propensity=data["log"].propensity, **_common(args))
    ),
    "skultr IPW (randomisation)": _torch_method(
        lambda data, args: IPWRanker(propensity=_randomisation_propensity(data), **_common(args))
    ),
    "XGBoost XGBRanker unbiased": _xgboost,
    "LightGBM lambdarank + position": _lightgbm,
}


def run_table(data, args):
    Xt, yt, qt = data["test"]
    n_sessions = int(data["log"].qid.max()) + 1
    rows = []
    for name, fit in METHODS.items():
        if args.methods and not any(m.lower() in name.lower() for m in args.methods.split(",")):
            continue
        if name.startswith(("XGBoost", "LightGBM")) and not _importable(name.split()[0].lower()):
            print(f"  (skipped {name}: not installed)")
            continue
        start = time.perf_counter()
        with PeakMemory() as memory:
            model, predict, epochs = fit(data, args)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        scores = predict(Xt)
        predict_seconds = time.perf_counter() - start
        row = {
            "method": name,
            **quality(yt, scores, qt),
            "fit_s": seconds,
            "predict_s": predict_seconds,
            "peak_mib": memory.mib,
            "sessions_per_s": n_sessions * epochs / seconds,
        }
        if hasattr(model, "propensity_"):
            truth = data["log"].propensity
            row["propensity_max_error"] = float(np.nanmax(np.abs(model.propensity_ - truth)))
        rows.append(row)
        print(
            f"  {name:<32} nDCG@10 {row['ndcg@10']:.4f}  fit {seconds:7.1f}s  "
            f"{row['sessions_per_s']:>9.0f} sessions/s  +{memory.mib:.0f} MiB",
            flush=True,
        )
    return rows


def _importable(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Training speed: DLARanker.fit against a hand-written loop on the same model
# --------------------------------------------------------------------------------------------


def hand_written_dla(features, clicks, *, hidden, epochs, batch_size, device, max_weight=10.0):
    """The DLA update written directly in torch: same network, loss, optimizer and clipping."""
    torch.manual_seed(0)
    layers, width = [], features.shape[-1]
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ELU()]
        width = size
    ranker = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).to(device)
    exam = torch.nn.Parameter(torch.zeros(features.shape[1], device=device))
    optimizer = torch.optim.Adagrad([{"params": ranker.parameters()}, {"params": [exam]}], lr=0.05)
    cap = math.log(max_weight)

    def weighted_ce(logits, log_w, c):
        u = c * torch.exp(log_w - log_w.max())
        return -(u * torch.log_softmax(logits, dim=1)).sum() / u.sum().clamp_min(1e-30)

    n = features.shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for i in range(0, n, batch_size):
            index = order[i : i + batch_size]
            x, c = features[index], clicks[index]
            s = ranker(x).squeeze(-1)
            e = exam.expand_as(s)
            with torch.no_grad():
                log_w = (e[:, :1] - e).clamp(max=cap)
                log_v = (s[:, :1] - s).clamp(max=cap)
            loss = weighted_ce(s, log_w, c) + weighted_ce(e, log_v, c)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for group in optimizer.param_groups:
                torch.nn.utils.clip_grad_norm_(group["params"], 5.0)
            optimizer.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def run_speed(args):
    n_sessions = 8000 if args.quick else 20_000
    X, y, qid = make_ranking_dataset(2000, random_state=0)
    log = make_click_log(X, y, qid, n_sessions=n_sessions, random_state=0)
    d = log.X.shape[1]
    device = str(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    features = torch.as_tensor(
        log.X.reshape(n_sessions, 10, d), dtype=torch.float32, device=device
    )
    clicks = torch.as_tensor(
        log.clicks.reshape(n_sessions, 10), dtype=torch.float32, device=device
    )
    epochs = 2
    results = {
        "hand-written loop": [],
        "DLARanker.fit (end to end)": [],
        "DLARanker epochs only": [],
    }
    hidden = DEFAULT_HIDDEN
    for batch_size in [256, 1024] if device.startswith("cuda") else [256]:
        # warm-up of both paths (allocator, kernels, CUDA context) before timing
        hand_written_dla(
            features[:2048],
            clicks[:2048],
            hidden=hidden,
            epochs=1,
            batch_size=batch_size,
            device=device,
        )
        DLARanker(
            hidden_layer_sizes=hidden, max_epochs=1, batch_size=batch_size, device=device
        ).fit(
            log.X[:20480], log.clicks[:20480], qid=log.qid[:20480], position=log.position[:20480]
        )
        for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
            results["hand-written loop"].append(
                (
                    batch_size,
                    hand_written_dla(
                        features,
                        clicks,
                        hidden=hidden,
                        epochs=epochs,
                        batch_size=batch_size,
                        device=device,
                    ),
                )
            )
            est = DLARanker(
                hidden_layer_sizes=hidden,
                max_epochs=epochs,
                batch_size=batch_size,
                device=device,
                random_state=0,
            )
            start = time.perf_counter()
            est.fit(log.X, log.clicks, qid=log.qid, position=log.position)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            results["DLARanker.fit (end to end)"].append((batch_size, time.perf_counter() - start))
            results["DLARanker epochs only"].append(
                (batch_size, float(sum(est.history_[:, "dur"])))
            )
    table = []
    for name, values in results.items():
        for batch_size in sorted({b for b, _ in values}):
            seconds = float(np.median([s for b, s in values if b == batch_size]))
            table.append(
                {
                    "loop": name,
                    "batch_size": batch_size,
                    "seconds": seconds,
                    "sessions_per_s": n_sessions * epochs / seconds,
                }
            )
    for row in table:
        base = next(
            r
            for r in table
            if r["loop"] == "hand-written loop" and r["batch_size"] == row["batch_size"]
        )
        row["vs_hand_written"] = row["seconds"] / base["seconds"]
    return {
        "n_sessions": n_sessions,
        "epochs": epochs,
        "hidden": hidden,
        "device": device,
        "rows": table,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def markdown(rows):
    columns = ["ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "err@10"]
    lines = [
        "| method | " + " | ".join(columns) + " | fit s | peak MiB | sessions/s |",
        "|---|" + "---:|" * (len(columns) + 3),
    ]
    for row in rows:
        lines.append(
            f"| {row['method']} | "
            + " | ".join(f"{row[c]:.4f}" for c in columns)
            + f" | {row['fit_s']:.1f} | {row['peak_mib']:.0f} | {row['sessions_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small log and network, minutes")
    parser.add_argument("--sessions", type=int, help="sessions in the synthetic log (1,000,000)")
    parser.add_argument("--ltr-sessions", type=int, help="sessions on lightgbm_rank (200,000)")
    parser.add_argument("--queries", type=int, help="labelled training queries (10,000)")
    parser.add_argument("--epochs", type=int, help="epochs of the torch models (3)")
    parser.add_argument("--hidden", help="hidden layers of the torch models, e.g. 64,32")
    parser.add_argument("--trees", type=int, default=100, help="boosting rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch / boosting threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the speed test")
    parser.add_argument("--parts", default="synthetic,ltr,speed")
    parser.add_argument(
        "--methods", default="", help="comma-separated name fragments to run (default: all)"
    )
    parser.add_argument("--out", default="benchmarks/results/dla.json")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    args.sessions = args.sessions or (20_000 if quick else 1_000_000)
    args.ltr_sessions = args.ltr_sessions or (20_000 if quick else 200_000)
    args.queries = args.queries or (1000 if quick else 10_000)
    args.epochs = args.epochs or (5 if quick else 3)
    args.hidden = (
        tuple(int(v) for v in args.hidden.split(",") if v)
        if args.hidden is not None
        else ((64, 32) if quick else DEFAULT_HIDDEN)
    )
    parts = set(args.parts.split(","))
    report = {
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "args": dict(vars(args)),
    }
    print(
        f"DLA benchmark: {args.sessions:,} sessions, {args.queries:,} queries, "
        f"epochs {args.epochs}, hidden {args.hidden}, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads"
    )
    if "synthetic" in parts:
        print("\n== synthetic click log (paper protocol, eta = 1)")
        data = synthetic(args.sessions, n_queries=args.queries)
        report["synthetic"] = run_table(data, args)
        print("\n" + markdown(report["synthetic"]))
    if "ltr" in parts:
        if (LTR_DATA / "ltr" / "lightgbm_rank" / "rank.train").exists():
            print(f"\n== lightgbm_rank ({args.ltr_sessions:,} sessions simulated from its labels)")
            data = lightgbm_rank(args.ltr_sessions)
            report["lightgbm_rank"] = run_table(data, args)
            print("\n" + markdown(report["lightgbm_rank"]))
        else:
            print(f"\n(lightgbm_rank data not found under {LTR_DATA}; set SKULTR_DATA)")
    if "speed" in parts:
        print("\n== training speed, default MLP: DLARanker.fit vs a hand-written torch loop")
        report["speed"] = speed = run_speed(args)
        print("| loop | batch | s (2 epochs) | sessions/s | vs hand-written |")
        print("|---|---:|---:|---:|---:|")
        for row in speed["rows"]:
            print(
                f"| {row['loop']} | {row['batch_size']} | {row['seconds']:.2f} | "
                f"{row['sessions_per_s']:,.0f} | {row['vs_hand_written']:.3f}x |"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
