"""Demo part for ``make demo``: debias a simulated click log with DLA.

Simulates position-biased clicks on synthetic lists with a known relevance, fits the naive
ranker and DLA on the clicks alone, and prints their nDCG@10 on the true labels of held-out
queries together with the examination curve DLA learned and the true one.
"""

import time

import numpy as np


def run_demo(*, quick=False, random_state=0):
    """Fit NaiveRanker and DLARanker on simulated clicks; print and return the results.

    Parameters
    ----------
    quick : bool, default=False
        Smaller log and fewer epochs: about 7 s instead of 14 s on 2 idle CPU cores.
    random_state : int, default=0

    Returns
    -------
    results : dict
        ``ndcg`` (nDCG@10 of the naive ranker and of DLA on held-out true labels),
        ``propensity`` (``learned`` and ``true`` curves), ``fit_seconds``, ``n_sessions``.
    """
    from skultr.datasets import make_click_log, make_ranking_dataset
    from skultr.ranking import DLARanker, NaiveRanker

    n_queries, n_sessions, epochs = (400, 5000, 8) if quick else (1000, 30_000, 12)
    X, y, qid = make_ranking_dataset(n_queries, random_state=random_state)
    X_test, y_test, qid_test = make_ranking_dataset(300, random_state=random_state + 1)
    # A noisy production ranker shows similar documents at varied positions, which lets
    # DLA separate position from relevance on a log this small.
    log = make_click_log(
        X, y, qid, n_sessions=n_sessions, score_noise=0.7, random_state=random_state
    )
    print(
        f"  {n_sessions} simulated sessions (top-10 lists, position-based clicks, eta=1), "
        f"{int(log.clicks.sum())} clicks"
    )
    params = {
        "hidden_layer_sizes": (32,),
        "lr": 0.1,
        "max_epochs": epochs,
        "random_state": random_state,
    }
    results = {"ndcg": {}, "fit_seconds": {}, "n_sessions": n_sessions}
    fitted = {}
    for name, model in [("naive", NaiveRanker(**params)), ("DLA", DLARanker(**params))]:
        start = time.perf_counter()
        model.fit(log.X, log.clicks, qid=log.qid, position=log.position)
        results["fit_seconds"][name] = time.perf_counter() - start
        results["ndcg"][name] = model.score(X_test, y_test, qid=qid_test)
        fitted[name] = model
    print("  nDCG@10 on true labels of held-out queries (clicks only in training):")
    for name, value in results["ndcg"].items():
        print(f"    {name:<6} {value:.3f}   (fit {results['fit_seconds'][name]:.1f}s)")
    learned = fitted["DLA"].propensity_
    results["propensity"] = {"learned": learned.tolist(), "true": log.propensity.tolist()}
    print("  examination propensity relative to position 1:")
    print("    position " + "".join(f"{k:>6d}" for k in range(1, len(learned) + 1)))
    print("    learned  " + "".join(f"{v:>6.2f}" for v in learned))
    print("    true     " + "".join(f"{v:>6.2f}" for v in log.propensity))
    print(f"    largest gap {np.nanmax(np.abs(learned - log.propensity)):.3f}")
    return results
