"""The pieces of regression EM (``RegressionEMPropensity``) that are not the EM loop.

- The summary of earlier ``partial_fit`` shards: their unclicked rows per position, binned
  by the relevance they had, whose posterior examination is re-evaluated at any ``θ``.
- The relevance models fitted to soft labels in the M-step: the default L2-regularised
  logistic regression updated by warm Newton steps (:class:`_SoftLabelLogistic`), and a
  user's classifier fitted to each row as a weighted positive and negative
  (:class:`_WeightedClassifier`).
"""

import warnings

import numpy as np
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

# The earlier shards' unclicked rows, per position, by their relevance γ in this many bins.
_GAMMA_BINS = 512


def _gamma_histogram(slot, gamma, K):
    """Counts (K, bins) of rows by position and relevance bin."""
    bins = np.minimum((gamma * _GAMMA_BINS).astype(np.int64), _GAMMA_BINS - 1)
    return (
        np.bincount(slot * _GAMMA_BINS + bins, minlength=K * _GAMMA_BINS)
        .reshape(K, _GAMMA_BINS)
        .astype(np.float64)
    )


def _examined_by_histogram(theta, histogram):
    """Σ over the binned rows of ``P(E=1 | c=0) = θ(1 − γ) / (1 − θγ)``, per position."""
    gamma = (np.arange(_GAMMA_BINS) + 0.5) / _GAMMA_BINS
    t = theta[:, None]
    return (histogram * (t * (1.0 - gamma) / np.clip(1.0 - t * gamma, 1e-12, None))).sum(axis=1)


class _SoftLabelLogistic:
    """L2-regularised logistic regression on soft labels, updated by warm Newton steps.

    Minimises ``Σ_i −[r_i log σ(z_i) + (1 − r_i) log(1 − σ(z_i))] + ||w||² / (2C)`` with
    ``z = X w + b`` (the intercept is not penalised): the objective of scikit-learn's
    ``LogisticRegression(C=C)`` with each row entered as a positive of weight ``r`` and a
    negative of weight ``1 − r``, without duplicating the rows.

    At scale: ``X`` is used as given (no copy with a column of ones; a float32 ``X`` stays
    float32), the gradient is exact over all rows (two passes over ``X`` per step), and the
    Hessian comes from at most ``hessian_rows`` rows drawn once without replacement and
    scaled by ``n / hessian_rows``: a Newton step with a subsampled curvature has the same
    fixed point (the gradient is exact) and costs ``O(n F + m F²)`` instead of
    ``O(n F²)``. With ``n <= hessian_rows`` the Hessian is exact.
    """

    HESSIAN_ROWS = 50_000

    def __init__(self, X, C=1.0, steps=2, hessian_rows=None, seed=0, prior=None):
        hessian_rows = hessian_rows or self.HESSIAN_ROWS
        self.X = X
        n, n_features = X.shape
        self.coef = np.zeros(n_features)
        self.intercept = 0.0
        self.inv_C = 1.0 / C
        self.steps = steps
        self.rows, self.scale = None, 1.0
        if n > hessian_rows:
            rng = np.random.default_rng(seed)
            self.rows = np.sort(rng.choice(n, size=hessian_rows, replace=False))
            self.scale = n / hessian_rows
        self.penalty = np.r_[np.full(n_features, self.inv_C), 0.0]
        # ``prior = (w0, H0)``: the earlier shards' objective in its quadratic (Laplace)
        # form, ``(w − w0)ᵀ H0 (w − w0) / 2``, which holds the penalty too; it replaces the
        # penalty, and the objective becomes that of the shards so far (see
        # ``RegressionEMPropensity.partial_fit``).
        self.prior = prior
        if prior is not None:
            self.coef, self.intercept = prior[0][:-1].copy(), float(prior[0][-1])
        self.data_hessian = None

    def predict(self):
        return self._probabilities()

    def _probabilities(self):
        coef = self.coef.astype(self.X.dtype, copy=False)
        return expit(self.X @ coef + self.intercept).astype(np.float64, copy=False)

    def update(self, target):
        for _ in range(self.steps):
            p = self._probabilities()
            residual = p - target
            w = np.r_[self.coef, self.intercept]
            gradient = np.r_[
                self.X.T @ residual.astype(self.X.dtype, copy=False), residual.sum()
            ].astype(np.float64)
            curvature = p * (1.0 - p)
            X_h = self.X if self.rows is None else self.X[self.rows]
            c_h = curvature if self.rows is None else curvature[self.rows]
            weighted = X_h.T * c_h.astype(X_h.dtype, copy=False)
            k = len(self.coef)
            hessian = np.empty((k + 1, k + 1))
            hessian[:k, :k] = weighted @ X_h
            hessian[:k, k] = hessian[k, :k] = weighted.sum(axis=1)
            hessian[k, k] = c_h.sum()
            hessian *= self.scale
            self.data_hessian = hessian.copy()
            if self.prior is None:
                gradient += self.penalty * w
                hessian += np.diag(self.penalty)
            else:
                gradient += self.prior[1] @ (w - self.prior[0])
                hessian += self.prior[1]
            hessian += 1e-10 * np.eye(k + 1)
            step = np.linalg.solve(hessian, gradient)
            self.coef -= step[:k]
            self.intercept -= step[k]
        return self._probabilities()

    def posterior(self):
        """``(w, H)`` to carry to the next shard: the mean and the objective's curvature."""
        prior_hessian = np.diag(self.penalty) if self.prior is None else self.prior[1]
        return np.r_[self.coef, self.intercept], prior_hessian + self.data_hessian

    def estimator(self):
        model = LogisticRegression(C=1.0 / self.inv_C if self.inv_C else 1.0)
        model.coef_ = self.coef[None, :].copy()
        model.intercept_ = np.array([self.intercept])
        model.classes_ = np.array([0.0, 1.0])
        model.n_features_in_ = self.X.shape[1]
        return model


class _WeightedClassifier:
    """A user's classifier fitted to soft labels: each row as a weighted positive and negative."""

    def __init__(self, model, X):
        self.model = model
        if "warm_start" in model.get_params():
            model.set_params(warm_start=True)  # each M-step starts from the previous model
        self.X = X
        self.X2 = np.vstack([X, X])
        self.labels = np.r_[np.ones(len(X)), np.zeros(len(X))]

    def update(self, target):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(self.X2, self.labels, sample_weight=np.r_[target, 1.0 - target])
        return self.predict()

    def predict(self):
        return self.model.predict_proba(self.X)[:, list(self.model.classes_).index(1.0)]

    def estimator(self):
        return self.model
