"""
=================================================
Grouped ranking metrics and ranking-aware search
=================================================

Ranking data has one row per document and a query id (``qid``) that says which list each
row belongs to. This example scores two rankers on synthetic lists with graded relevance
using the grouped metrics of :mod:`skultr.metrics`, then tunes a regressor with
``GridSearchCV`` while scoring it per list, passing ``qid`` through scikit-learn's metadata
routing.
"""

# %%
# Synthetic lists with graded relevance
# -------------------------------------
# Each of 300 queries has between 5 and 20 candidate documents with 6 features. A hidden
# linear utility of the features, plus noise, is cut into relevance grades 0 to 4. The rows
# are shuffled, so the documents of a query are scattered over the data set, as they may be
# after a join or a subsample; the metrics do not need them to be contiguous.

import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(0)
n_queries, n_features = 300, 6
list_sizes = rng.integers(5, 21, size=n_queries)
qid = np.repeat(np.arange(n_queries), list_sizes)
X = rng.normal(size=(len(qid), n_features))
true_weights = np.array([1.0, 0.7, 0.4, 0.0, 0.0, -0.3])
utility = X @ true_weights + 0.5 * rng.normal(size=len(qid))
y = np.digitize(utility, [0.0, 0.8, 1.5, 2.2])  # grades 0..4

shuffle = rng.permutation(len(qid))
X, y, qid, utility = X[shuffle], y[shuffle], qid[shuffle], utility[shuffle]
print(f"{len(qid)} rows in {n_queries} lists; grade counts: {np.bincount(y)}")

# %%
# Two rankers: a good one and a noisy one
# ---------------------------------------
# The "good" ranker sees the hidden utility with a little noise; the "noisy" one sees it
# through much more noise. Each ranker is only a vector of scores, one per row.

scores = {
    "good": utility + 0.3 * rng.normal(size=len(qid)),
    "noisy": utility + 2.0 * rng.normal(size=len(qid)),
}

# %%
# Grouped nDCG@10, ERR@10 and MAP
# -------------------------------
# Every metric is computed per query and averaged over queries. ``max_grade=4`` tells ERR
# the top of the relevance scale. Average precision counts every grade above 0 as relevant.
# Queries in which no document is relevant are left out of the mean (``no_relevant="skip"``,
# the default).

from skultr.metrics import average_precision_score, err_score, ndcg_score

metrics = {
    "nDCG@10": lambda s: ndcg_score(y, s, qid=qid, k=10),
    "ERR@10": lambda s: err_score(y, s, qid=qid, k=10, max_grade=4),
    "MAP": lambda s: average_precision_score(y, s, qid=qid),
}
results = {name: {m: f(s) for m, f in metrics.items()} for name, s in scores.items()}
for name, values in results.items():
    print(name.ljust(6), "  ".join(f"{m} = {v:.3f}" for m, v in values.items()))

# %%
# The good ranker wins on every metric. ERR is the strictest: it models a user who stops at
# the first satisfying document, so it mainly rewards putting a highly relevant document
# at the very top.

fig, ax = plt.subplots(figsize=(6, 3.5))
width = 0.38
positions = np.arange(len(metrics))
for offset, (name, values) in zip((-width / 2, width / 2), results.items(), strict=True):
    bars = ax.bar(positions + offset, list(values.values()), width, label=f"{name} ranker")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
ax.set_xticks(positions, list(metrics))
ax.set_ylim(0, 1.2)
ax.set_yticks(np.linspace(0, 1, 6))
ax.set_ylabel("mean over queries")
ax.set_title("Grouped ranking metrics")
ax.legend(loc="upper center", ncols=2, frameon=False)
fig.tight_layout()

# %%
# Tuning a regressor by nDCG@10 with metadata routing
# ---------------------------------------------------
# A pointwise ``Ridge`` regressor learns to predict the grade from the features. To choose
# its regularisation by nDCG@10, the scorer needs the ``qid`` of each test row.
# :func:`~skultr.metrics.make_ranking_scorer` builds a scorer that requests ``qid``;
# enabling metadata routing lets ``GridSearchCV.fit`` accept ``qid`` and hand each test
# fold its share. ``GroupKFold`` with ``groups=qid`` keeps every list whole inside one fold.

import sklearn
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold

from skultr.metrics import make_ranking_scorer

with sklearn.config_context(enable_metadata_routing=True):
    search = GridSearchCV(
        Ridge(),
        {"alpha": [0.1, 10.0, 1000.0, 30000.0]},
        cv=GroupKFold(n_splits=5),
        scoring=make_ranking_scorer("ndcg", k=10),
    )
    search.fit(X, y, qid=qid, groups=qid)

for alpha, mean, std in zip(
    search.cv_results_["param_alpha"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    strict=True,
):
    print(f"alpha = {alpha:>8}: nDCG@10 = {mean:.3f} +/- {std:.3f}")
print("best:", search.best_params_)

# %%
# The candidates score alike: a ranking depends only on the direction of the coefficient
# vector, and with a few thousand rows and six features the penalty changes that direction
# little until ``alpha`` becomes very large.
#
# Outside model selection the scorer can be called directly with ``qid``, with or without
# routing. Here it scores the refitted best model on the whole data set.

scorer = make_ranking_scorer("ndcg", k=10)
print(f"nDCG@10 of the refitted model: {scorer(search.best_estimator_, X, y, qid=qid):.3f}")
