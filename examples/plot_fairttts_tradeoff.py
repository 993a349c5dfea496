"""
==============================================================
FairTTTS: trading accuracy for demographic parity at test time
==============================================================

A random forest trained on labels that favour one group inherits the bias. FairTTTS
post-processes the *fitted* forest: at prediction time, at nodes that split on the
protected attribute, an unprivileged sample heading to the less favourable branch is sent
to the other branch with probability ``min(alpha * p, 0.5)``. This example measures the
accuracy-fairness trade-off over ``alpha``, selects ``alpha`` with ``GridSearchCV`` and an
ordinary scorer (the protected attribute is a column of ``X``, so nothing has to be routed
to ``predict``), and checks that the exact expectation agrees with the paper's Monte-Carlo
simulation.
"""

# %%
# Data with a planted group bias
# ------------------------------
# :func:`~skultr.datasets.make_biased_classification` draws a latent merit per person that
# drives income, experience and a test score; the label adds a head start for the
# privileged group (column 0, 1 = privileged) at equal merit. The features are in natural
# units, like raw tabular data.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.tree import DecisionTreeClassifier

from skultr.datasets import make_biased_classification
from skultr.fairness import FairnessTradeoffDisplay, FairTTTSClassifier
from skultr.metrics import demographic_parity_difference, make_fairness_tradeoff_scorer

X, y = make_biased_classification(4000, bias=1.0, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
group_test = X_test[:, 0]
gap = y_test[group_test == 1].mean() - y_test[group_test == 0].mean()
print(f"favourable-label rate, privileged minus unprivileged: {gap:.3f}")

# %%
# The trained models inherit the gap
# ----------------------------------
forest = RandomForestClassifier(n_estimators=50, min_samples_leaf=5, random_state=0)
forest.fit(X_train, y_train)
tree = DecisionTreeClassifier(min_samples_leaf=20, random_state=0).fit(X_train, y_train)
for model in (forest, tree):
    pred = model.predict(X_test)
    dpd = demographic_parity_difference(y_test, pred, sensitive_features=group_test)
    print(f"{type(model).__name__:<24} accuracy {np.mean(pred == y_test):.3f}  DPD {dpd:.3f}")

# %%
# Post-processing the frozen models
# ---------------------------------
# ``FrozenEstimator`` keeps the trained model as is; ``fit`` only compiles its trees. The
# display evaluates several ``alpha`` on the same compiled trees (``alpha`` only enters
# prediction). With ``p_max = 0.1`` the amplified flip reaches its cap 0.5 at
# ``alpha = 5``, so larger values change nothing.

fig, ax = plt.subplots(figsize=(6.5, 4.5))
for model in (forest, tree):
    post = FairTTTSClassifier(
        FrozenEstimator(model), protected_attribute=0, unprivileged_value=0
    ).fit(X_train, y_train)
    FairnessTradeoffDisplay.from_estimator(
        post, X_test, y_test, alphas=[1, 2, 3, 4, 5, 9], ax=ax, name=type(model).__name__
    )
ax.set_title("FairTTTS over alpha (test data)")
plt.show()

# %%
# Choosing ``alpha`` with ``GridSearchCV``
# ----------------------------------------
# The scorer ``accuracy - DPD`` reads the group from column 0 of ``X``; no
# ``sensitive_features`` has to reach ``predict``, which is what breaks fairlearn's
# ``ThresholdOptimizer`` inside a grid search. The frozen forest is never refitted.

search = GridSearchCV(
    FairTTTSClassifier(FrozenEstimator(forest), protected_attribute=0, unprivileged_value=0),
    {"alpha": [1.0, 2.0, 3.0, 5.0]},
    scoring=make_fairness_tradeoff_scorer(protected_attribute=0),
    cv=3,
).fit(X_train, y_train)
best = search.best_estimator_
pred = best.predict(X_test)
dpd = demographic_parity_difference(y_test, pred, sensitive_features=group_test)
print(
    f"best alpha {search.best_params_['alpha']}: accuracy {np.mean(pred == y_test):.3f}, "
    f"DPD {dpd:.3f}"
)

# %%
# How often the fairness flip fires
# ---------------------------------
# ``protected_decision_path`` reports, per sample, the probability of reaching each node
# that splits on the protected attribute and the flip probability used there. Only
# unprivileged samples are amplified.

report = best.protected_decision_path(X_test)
unprivileged = group_test == 0
print(f"{len(best.protected_nodes_)} protected nodes in {best.n_trees_} trees")
print(
    "expected amplified flips per tree traversal: "
    f"unprivileged {report.firing_rate[unprivileged].mean():.3f}, "
    f"privileged {report.firing_rate[~unprivileged].mean():.3f}"
)

# %%
# Exact expectation versus Monte-Carlo simulation
# -----------------------------------------------
# The paper estimates the prediction with ``S`` random paths. Because flips are
# independent given ``x``, the expectation can be computed exactly by propagating reach
# probabilities; the Monte-Carlo error shrinks like ``1 / sqrt(S)`` around it (at most
# ``0.5 / sqrt(S T)`` per class for ``T`` trees).

exact = best.predict_proba(X_test[:300])
sims = [1, 4, 16, 32]
errors = []
for S in sims:
    mc = FairTTTSClassifier(
        FrozenEstimator(forest),
        protected_attribute=0,
        unprivileged_value=0,
        alpha=best.alpha,
        method="monte_carlo",
        n_simulations=S,
        random_state=0,
    ).fit(X_train, y_train)
    errors.append(np.abs(mc.predict_proba(X_test[:300]) - exact)[:, 1].mean())

fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.loglog(sims, errors, "o-", label="mean |Monte-Carlo - exact|")
ax.loglog(sims, 0.5 / np.sqrt(np.array(sims) * forest.n_estimators), "--", label="0.5 / sqrt(S T)")
ax.set_xlabel("paths per tree S")
ax.set_ylabel("error in P(favourable)")
ax.legend()
plt.show()
