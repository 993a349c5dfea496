"""Off-policy evaluation (OPE): interval coverage and click-only model selection.

Usage::

    python benchmarks/bench_ope.py          # 200 replicates, ~3 min on 2 shared cores
    python benchmarks/bench_ope.py --quick  # 50 replicates

Ranking. ``make_ranking_dataset`` (300 queries of 10 documents, grades 0-4); the relevance
probability of a document is the position-based model's attraction
``γ = 0.1 + 0.9 (2^y − 1) / 15`` and ``θ_p`` its default examination curve. The logging
ranker is the production ranker of ``make_click_log`` with RandTop (``intervention="shuffle"``:
the query's 10 documents in a uniformly random order), so each document's logging exposure is
``ρ = mean(θ_1..θ_10)``. Six target rankers of varied quality score the documents by the true
utility plus Gaussian noise (standard deviations 0, 0.25, 0.5, 1, 2, 4). The reward model of
DR is a ``HistGradientBoostingRegressor`` of ``c / ρ`` on the features, fitted once on an
independent log. Each replicate draws a fresh log of 3,000 sessions; the truth is the mean over
queries of each target's DCG@10 with gains ``γ`` (sessions draw queries uniformly).

Recommendation. ``make_mnar_implicit_feedback`` (300 users x 100 items) gives ``γ`` and the
exposure propensities ``θ``; each replicate draws fresh exposures ``O ~ B(θ)`` and relevance
``R ~ B(γ)``, clicks ``Y = O R``, logged with their impressions ``O``. The target recommender
ranks every item of a user by the relevance logit plus N(0, 1) noise; the truth is the mean
over users of its DCG@10 with gains ``γ``. The DR imputation model is a rank-5 SVD of the
IPS-weighted clicks of one independent log, clipped to [0, 1].

Reported: coverage of the 95 % normal and bootstrap intervals (200 bootstrap resamples), the
mean interval width, the bias in units of the Monte Carlo standard error, and for model
selection the share of replicates where the candidate with the best IPS (and DR) estimate has
a true nDCG@10 (exponential gains, the true grades) within 0.01 of the best candidate.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from skultr.datasets import make_click_log, make_mnar_implicit_feedback, make_ranking_dataset
from skultr.datasets._ltr import true_relevance_utility
from skultr.metrics import dcg_score, ndcg_score, ope_ranking_metric, ope_recommendation_metric
from skultr.ranking import PositionBasedModel

NOISE = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def ranking_world(seed=0):
    X, y, qid = make_ranking_dataset(300, n_documents=10, random_state=seed)
    gamma = 0.1 + 0.9 * (2.0**y - 1.0) / 15.0
    theta = PositionBasedModel().examination(10)
    rho = float(theta.mean())
    utility = true_relevance_utility(X)
    utility = (utility - utility.mean()) / utility.std()
    rng = np.random.RandomState(seed + 1)
    targets = [utility + s * rng.normal(size=len(y)) for s in NOISE]
    truth = [
        dcg_score(gamma, t, qid=qid, k=10, gain="linear", no_relevant="zero") for t in targets
    ]
    true_ndcg = [ndcg_score(y, t, qid=qid, k=10) for t in targets]
    train = make_click_log(
        X, y, qid, n_sessions=20_000, intervention="shuffle", random_state=seed + 2
    )
    reward_model = HistGradientBoostingRegressor(max_iter=100, random_state=0)
    reward_model.fit(train.X, train.clicks / rho)
    reward = np.clip(reward_model.predict(X), 0.0, 1.0)
    return {
        "X": X,
        "y": y,
        "qid": qid,
        "theta": theta,
        "rho": rho,
        "targets": targets,
        "truth": truth,
        "true_ndcg": true_ndcg,
        "reward": reward,
    }


def ranking_replicate(world, seed, n_sessions, n_bootstrap):
    log = make_click_log(
        world["X"],
        world["y"],
        world["qid"],
        n_sessions=n_sessions,
        intervention="shuffle",
        random_state=seed,
    )
    common = {
        "qid": log.qid,
        "position": log.position,
        "propensity": world["theta"],
        "logging_exposure": np.full(len(log.qid), world["rho"]),
        "k": 10,
    }
    out = []
    for t in world["targets"]:
        row = {}
        for method in ("ips", "dr"):
            reward = world["reward"][log.row] if method == "dr" else None
            for interval in ("normal", "bootstrap"):
                r = ope_ranking_metric(
                    log.clicks,
                    t[log.row],
                    estimator=method,
                    reward=reward,
                    interval=interval,
                    n_bootstrap=n_bootstrap,
                    random_state=seed,
                    **common,
                )
                row[(method, interval)] = (r.estimate, r.ci_low, r.ci_high)
        out.append(row)
    return out


def recommendation_world(seed=0):
    data = make_mnar_implicit_feedback(n_users=300, n_items=100, random_state=seed)
    gamma, theta = data.relevance, data.exposure
    rng = np.random.RandomState(seed + 1)
    logit = np.log(gamma) - np.log1p(-gamma)
    target = logit + rng.normal(size=gamma.shape)
    users = np.repeat(np.arange(data.n_users), data.n_items)
    truth = dcg_score(
        gamma.ravel(), target.ravel(), qid=users, k=10, gain="linear", no_relevant="zero"
    )
    # Imputation model from one independent log: rank-5 SVD of the IPS-weighted clicks.
    train = (rng.random_sample(gamma.shape) < theta) & (rng.random_sample(gamma.shape) < gamma)
    u, s, vt = np.linalg.svd(train / theta, full_matrices=False)
    reward = np.clip((u[:, :5] * s[:5]) @ vt[:5], 0.0, 1.0)
    return {
        "gamma": gamma,
        "theta": theta,
        "target": target,
        "users": users,
        "truth": truth,
        "reward": reward,
    }


def recommendation_replicate(world, seed, n_bootstrap):
    rng = np.random.RandomState(seed)
    shape = world["gamma"].shape
    exposed = rng.random_sample(shape) < world["theta"]
    clicks = exposed & (rng.random_sample(shape) < world["gamma"])
    row = {}
    for method in ("ips", "dr"):
        for interval in ("normal", "bootstrap"):
            r = ope_recommendation_metric(
                clicks.ravel().astype(float),
                world["target"].ravel(),
                qid=world["users"],
                propensity=world["theta"].ravel(),
                exposure=exposed.ravel().astype(float),
                reward=world["reward"].ravel() if method == "dr" else None,
                estimator=method,
                interval=interval,
                n_bootstrap=n_bootstrap,
                random_state=seed,
                k=10,
            )
            row[(method, interval)] = (r.estimate, r.ci_low, r.ci_high)
    return row


def summarise(rows, truth):
    table = {}
    for key in rows[0]:
        est = np.array([r[key] for r in rows])
        cover = np.mean((est[:, 1] <= truth) & (truth <= est[:, 2]))
        width = np.mean(est[:, 2] - est[:, 1])
        mc_se = est[:, 0].std(ddof=1) / np.sqrt(len(est))
        table[key] = {
            "coverage": float(cover),
            "width": float(width),
            "bias_in_se": float((est[:, 0].mean() - truth) / mc_se),
        }
    return table


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--replicates", type=int, default=None)
    args = parser.parse_args()
    reps = args.replicates or (50 if args.quick else 200)
    n_bootstrap = 200
    start = time.perf_counter()

    world = ranking_world()
    per_target = [[] for _ in NOISE]
    picks = {"ips": [], "dr": []}
    for rep in range(reps):
        out = ranking_replicate(world, 1000 + rep, 3000, n_bootstrap)
        for j, row in enumerate(out):
            per_target[j].append(row)
        for method in picks:
            chosen = int(np.argmax([row[(method, "normal")][0] for row in out]))
            picks[method].append(world["true_ndcg"][chosen])
    best = max(world["true_ndcg"])
    results = {"replicates": reps, "ranking": {}, "selection": {}, "recommendation": {}}
    print(f"## Ranking OPE: DCG@10 of 6 target rankers, {reps} replicates x 3,000 sessions\n")
    print(
        "| target noise | true DCG@10 | true nDCG@10 | estimator | interval | coverage | "
        "mean width | bias / MC s.e. |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for j, noise in enumerate(NOISE):
        table = summarise(per_target[j], world["truth"][j])
        results["ranking"][str(noise)] = {f"{m}/{i}": v for (m, i), v in table.items()}
        for (m, i), v in table.items():
            print(
                f"| {noise} | {world['truth'][j]:.4f} | {world['true_ndcg'][j]:.4f} | {m} | "
                f"{i} | {v['coverage']:.3f} | {v['width']:.4f} | {v['bias_in_se']:+.2f} |"
            )
    print("\n## Model selection among 6 rankers by the click-only estimate\n")
    print(f"best true nDCG@10: {best:.4f}")
    for method, chosen in picks.items():
        share = float(np.mean(np.array(chosen) >= best - 0.01))
        results["selection"][method] = share
        print(f"{method}: chosen within 0.01 of the best in {share:.3f} of {reps} replicates")

    rworld = recommendation_world()
    rows = [recommendation_replicate(rworld, 5000 + rep, n_bootstrap) for rep in range(reps)]
    table = summarise(rows, rworld["truth"])
    print(
        f"\n## Recommendation OPE: DCG@10 on MNAR clicks, {reps} replicates, "
        f"true DCG@10 {rworld['truth']:.4f}\n"
    )
    print("| estimator | interval | coverage | mean width | bias / MC s.e. |")
    print("|---|---|---|---|---|")
    for (m, i), v in table.items():
        results["recommendation"][f"{m}/{i}"] = v
        print(f"| {m} | {i} | {v['coverage']:.3f} | {v['width']:.4f} | {v['bias_in_se']:+.2f} |")
    elapsed = time.perf_counter() - start
    print(f"\n{elapsed:.0f} s on {platform.processor() or platform.machine()}")
    results["seconds"] = elapsed
    out = Path(__file__).parent / "results" / "ope.json"
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
