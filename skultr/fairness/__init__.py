"""Fairness-aware post-processing of fitted tree ensembles.

:class:`TTTSClassifier` (Tree Test Time Simulation) sends each sample along random
detours through a fitted decision tree or forest; :class:`FairTTTSClassifier` amplifies
the detours at nodes that split on a protected attribute so that unprivileged samples
heading to the less favourable branch are routed as if privileged with some probability.
Both compute the expected prediction exactly (default) or by Monte-Carlo simulation, for
trees, forests and binary gradient-boosted trees (in logit space);
:func:`tune_fairttts_alpha` chooses ``alpha`` by cross-validation for a gap target.
"""

from ._alpha_cv import tune_fairttts_alpha
from ._display import FairnessTradeoffDisplay
from ._fairttts import FairTTTSClassifier
from ._ttts import TTTSClassifier

__all__ = [
    "FairTTTSClassifier",
    "FairnessTradeoffDisplay",
    "TTTSClassifier",
    "tune_fairttts_alpha",
]
