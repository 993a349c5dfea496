"""
===========================================================================
Kernel balancing on MNAR ratings: simulated by default, Coat when available
===========================================================================

Ratings are self-selected: people rate what they chose. Inverse propensity scoring (IPS) and
doubly robust (DR) learning correct the training loss only as well as the propensities are
estimated. Kernel balancing (Li et al., ICLR 2024) learns weights for the observed pairs so
that, in a kernel space of user and item embeddings, the weighted observed pairs look like
all pairs. :class:`~skultr.recommendation.DebiasedMFRecommender` trains these weights jointly
with the matrix factorisation (KBIPS, AKBDR, ...).

**Which data:** with ``SKULTR_DATA`` pointing at a folder holding ``recsys/coat`` the
example runs on Coat (ratings >= 3 are positives); without it, as when the documentation is
built, it runs on :func:`~skultr.datasets.make_mnar_ratings` data of Coat's size (290 users,
300 items, 16 missing-at-random ratings per user). It prints which one it used; the numbers
shown in the built documentation are the simulated ones.

It trains naive MF, IPS, DR-JL, KBIPS and AKBDR in the paper's model class (4 factors, no
bias terms), briefly (10 epochs, so that the example runs in well under a minute),
evaluates them on the missing-at-random ratings, and compares with two strong and simple
baselines. The naive-Bayes propensity needs a small missing-at-random sample: we split 5% of
the MAR users off as that sample and *remove them from the evaluation*. For Coat numbers over
seeds and with the authors' training recipes, see ``benchmarks/bench_kernel_balancing.py``.
"""

# %%
# The data
# --------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skultr.datasets import load_coat, make_mnar_ratings
from skultr.metrics import f1_at_k_score, ndcg_score
from skultr.recommendation import DebiasedMFRecommender

try:
    coat = load_coat()
    X_train, y_train = coat.X_train, (coat.y_train >= 3).astype(float)
    X_mar, y_mar = coat.X_test, (coat.y_test >= 3).astype(float)
    source = "Coat (from SKULTR_DATA)"
except FileNotFoundError:
    sim = make_mnar_ratings(290, 300, density=0.08, n_mar_per_user=16, random_state=0)
    X_train, y_train = sim.X, (sim.y >= 3).astype(float)
    X_mar, y_mar = sim.X_mar, (sim.y_mar >= 3).astype(float)
    source = "simulated MNAR ratings of Coat's size (Coat not found: SKULTR_DATA not set)"

rng = np.random.default_rng(0)
users = np.unique(X_mar[:, 0])
sample_users = rng.choice(users, size=int(round(0.05 * len(users))), replace=False)
in_sample = np.isin(X_mar[:, 0], sample_users)
y_propensity_sample = y_mar[in_sample]  # used for the propensity only
X_test, y_test = X_mar[~in_sample], y_mar[~in_sample]  # evaluated, never seen in training
print(f"Data: {source}")
print(
    f"{len(X_train)} MNAR training ratings, propensity sample of "
    f"{in_sample.sum()} MAR ratings, {len(X_test)} MAR test ratings"
)

# %%
# Five estimators of the ideal loss
# ---------------------------------
# Every model is the same 4-factor MF trained with Adam; only the training loss differs.
# KBIPS balances random kernel centres, AKBDR the centres onto which the current DR error
# projects most.

models = {
    "naive MF": {"method": "naive", "balancing": None},
    "IPS": {"method": "ips", "balancing": None},
    "DR-JL": {"method": "dr_jl", "balancing": None},
    "KBIPS": {"method": "ips", "balancing": "random"},
    "AKBDR": {"method": "dr_jl", "balancing": "adaptive"},
}
EPOCHS = 10
results = {}
for name, params in models.items():
    model = DebiasedMFRecommender(
        **params,
        propensity="naive_bayes",
        biases=False,
        max_epochs=EPOCHS,
        device="cpu",
        random_state=0,
    )
    model.fit(X_train, y_train, mar_y=y_propensity_sample)
    scores = model.predict(X_test)
    results[name] = {
        "AUC": roc_auc_score(y_test, scores),
        "NDCG@5": ndcg_score(y_test, scores, qid=X_test[:, 0], k=5),
        "F1@5": f1_at_k_score(y_test, scores, qid=X_test[:, 0], k=5),
    }
    if model.mmd_ is not None:
        # squared MMD (unclamped) ± standard error: a change within ~2 se is noise
        print(
            f"{name}: squared MMD observed vs all pairs {model.mmd_base_:.5f} ± "
            f"{model.mmd_base_se_:.5f} (base weights) -> {model.mmd_:.5f} ± {model.mmd_se_:.5f}"
        )

# %%
# The strong baselines
# --------------------
# A predictor that adds the user's and the item's mean training label, and naive MF with
# user and item bias terms, are simple and strong on Coat.

overall = y_train.mean()


def _mean_by(ids, size):
    total = np.bincount(ids, y_train, size)
    count = np.bincount(ids, minlength=size)
    return np.where(count > 0, total / np.maximum(count, 1), overall)


n_users, n_items = X_train[:, 0].max() + 1, X_train[:, 1].max() + 1
mean_scores = (
    _mean_by(X_train[:, 0], n_users)[X_test[:, 0]] + _mean_by(X_train[:, 1], n_items)[X_test[:, 1]]
)
biased = DebiasedMFRecommender(
    method="naive", balancing=None, biases=True, max_epochs=EPOCHS, device="cpu", random_state=0
).fit(X_train, y_train)
for name, scores in [("user+item mean", mean_scores), ("MF + biases", biased.predict(X_test))]:
    results[name] = {
        "AUC": roc_auc_score(y_test, scores),
        "NDCG@5": ndcg_score(y_test, scores, qid=X_test[:, 0], k=5),
        "F1@5": f1_at_k_score(y_test, scores, qid=X_test[:, 0], k=5),
    }

for name, row in results.items():
    print(f"{name:<15}" + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))

# %%
# One seed is noisy (see ``benchmarks/bench_kernel_balancing.py`` for means over seeds); the
# plot shows the AUC of each model.

fig, ax = plt.subplots(figsize=(7, 3.5))
names = list(results)
ax.barh(names, [results[n]["AUC"] for n in names], color="tab:blue")
ax.set_xlim(0.5, max(r["AUC"] for r in results.values()) + 0.03)
ax.set_xlabel(f"AUC on the missing-at-random test ratings ({source.split(' (')[0]})")
ax.invert_yaxis()
fig.tight_layout()
plt.show()
