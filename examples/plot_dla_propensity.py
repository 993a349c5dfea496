"""
=====================================================
Learning the position bias of a click log with DLA
=====================================================

Users click what they look at, and they look at the top of a result list. A ranker trained
on raw clicks therefore learns the position bias of the system that produced the log along
with relevance. :class:`~skultr.ranking.DLARanker` (the Dual Learning Algorithm of Ai et al.,
SIGIR 2018) learns the ranker and the examination probability of each position together,
from the clicks alone.

This example simulates a click log with a known examination curve, fits DLA and a naive
ranker on the clicks, and compares the learned curve with the truth and both rankers on the
true relevance labels. It then shows what ``max_weight`` does to a steep bias.
"""

# %%
# A click log with a known position bias
# --------------------------------------
# :func:`~skultr.datasets.make_ranking_dataset` draws lists of documents whose graded
# relevance (0-4) is a known nonlinear function of their features.
# :func:`~skultr.datasets.make_click_log` then plays user sessions: each session shows the
# top 10 documents of a query under a production ranker and samples clicks from the
# position-based model, P(click) = examination(position) x attraction(relevance). Here the
# production ranker is a linear model fitted on 1% of the queries, with noisy scores
# (``score_noise``), so that similar documents appear at varied positions.

import matplotlib.pyplot as plt
import numpy as np

from skultr.datasets import make_click_log, make_ranking_dataset
from skultr.ranking import DLARanker, NaiveRanker, PositionBasedModel

X, y, qid = make_ranking_dataset(1000, random_state=0)
X_test, y_test, qid_test = make_ranking_dataset(300, random_state=1)
log = make_click_log(X, y, qid, n_sessions=20_000, score_noise=0.7, random_state=0)
print(f"{len(log.X)} displayed documents in 20,000 sessions, {log.clicks.sum()} clicks")
print("clicks per position:", np.bincount(log.position, weights=log.clicks)[1:].astype(int))

# %%
# Fit on clicks, judge on true relevance
# --------------------------------------
# Both rankers see only ``(X, clicks, qid, position)``. A small network keeps the example
# fast; the defaults follow the paper (a 512-256-128 MLP).

params = {"hidden_layer_sizes": (32,), "lr": 0.1, "max_epochs": 10, "random_state": 0}
naive = NaiveRanker(**params).fit(log.X, log.clicks, qid=log.qid, position=log.position)
dla = DLARanker(**params).fit(log.X, log.clicks, qid=log.qid, position=log.position)
for name, model in [("naive", naive), ("DLA", dla)]:
    ndcg = model.score(X_test, y_test, qid=qid_test)
    print(f"{name:>5}: nDCG@10 on held-out true labels {ndcg:.3f}")

# %%
# The learned examination curve
# -----------------------------
# ``propensity_`` is the examination probability of each position relative to position 1.
# The dashed line is the raw click-through rate per position, relative to position 1: it
# mixes examination with the relevance of what the production ranker put there, and is
# what a naive correction would use.

positions = np.arange(1, 11)
ctr = np.bincount(log.position, weights=log.clicks)[1:] / np.bincount(log.position)[1:]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(positions, log.propensity, "k-o", label="true examination")
ax.plot(positions, dla.propensity_, "C0-s", label="DLA propensity_")
ax.plot(positions, ctr / ctr[0], "C1--", label="click-through rate")
ax.set_xlabel("position")
ax.set_ylabel("relative to position 1")
ax.set_xticks(positions)
ax.legend()
ax.set_title("Examination propensity learned from clicks (eta = 1)")
plt.tight_layout()

# %%
# A steep bias and the weight clip
# --------------------------------
# With eta = 2 the examination falls to under 1% of position 1 at position 10, so the true
# inverse weights reach about 128. DLA clips both of its weight vectors at ``max_weight``
# (default 10), which keeps small logs stable and usually ranks at least as well, but when
# the true weights exceed the clip the learned curve comes out flatter than the truth,
# mostly at the top positions. With a large log and a bias this steep, a higher
# ``max_weight`` recovers the curve more closely.

steep = make_click_log(
    X,
    y,
    qid,
    n_sessions=20_000,
    score_noise=1.5,
    click_model=PositionBasedModel(eta=2.0),
    random_state=1,
)
curves = {}
for max_weight in [10.0, 200.0]:
    model = DLARanker(**{**params, "max_epochs": 16}, max_weight=max_weight)
    model.fit(steep.X, steep.clicks, qid=steep.qid, position=steep.position)
    curves[max_weight] = model.propensity_

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(positions, steep.propensity, "k-o", label="true examination (eta = 2)")
for (max_weight, curve), style in zip(curves.items(), ["C2-s", "C0-^"], strict=True):
    ax.plot(positions, curve, style, label=f"DLA, max_weight={max_weight:g}")
ax.set_xlabel("position")
ax.set_ylabel("relative to position 1")
ax.set_xticks(positions)
ax.legend()
ax.set_title("A steep bias (eta = 2) learned with two weight clips")
plt.tight_layout()
plt.show()
