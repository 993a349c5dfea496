"""The kernel-balancing core shared by skultr.propensity and skultr.recommendation (private).

:class:`skultr.propensity.KernelBalancingPropensity` and the balanced variants of
:class:`skultr.recommendation.DebiasedMFRecommender` learn the same weight model:

- :class:`~skultr._torch._modules.MatrixFactorization` (from the engine): the prediction,
  imputation and weight models;
- :func:`fit_embeddings`: a first, naive MF fit whose embeddings serve as kernel features;
- :func:`prepare_balancing`: the set-up both fits share (standardised feature tables, the
  kernel bandwidth, the :class:`Balancer`);
- :class:`Balancer`: the weight model's objective (KL to the base weights plus the hinge
  penalty of the kernel moment conditions) with random, worst-case or adaptive centres;
- :func:`mmd_pair` and :func:`warn_if_collapsed`: the diagnostics of the fitted weights.

Importing this module loads torch: :mod:`skultr.propensity` imports it inside its methods.
"""

import warnings

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn

from skultr._torch import iterate_batches, make_optimizer, run_epochs
from skultr._torch._modules import MatrixFactorization
from skultr._torch._random import seeded, stream_seed
from skultr.utils._deprecation import resolve_renamed
from skultr.utils._mmd import mmd_of_weights

# Weights whose effective sample size is below this share of the pairs are "collapsed".
COLLAPSE_ESS_RATIO = 0.05
# Ridge of the worst-case and adaptive centre selection (relative; see Balancer.select).
_RIDGE = 1e-2


def kernel_matrix(A, B, kernel, bandwidth):
    """``K(a, b)`` for all rows of ``A`` (n, d) and ``B`` (m, d): an (n, m) tensor.

    Gaussian ``exp(-‖a − b‖² / (2σ²))``; exponential (Laplacian) ``exp(-‖a − b‖ / σ)``.
    """
    sq = (A * A).sum(1, keepdim=True) + (B * B).sum(1) - 2.0 * A @ B.T
    sq = sq.clamp_min(0.0)
    if kernel == "gaussian":
        return torch.exp(-sq / (2.0 * bandwidth * bandwidth))
    return torch.exp(-torch.sqrt(sq + 1e-12) / bandwidth)


def median_bandwidth(features, generator, n_sample=1000):
    """The median heuristic: median distance between pairs of rows of ``features``."""
    n = features.shape[0]
    index = torch.randint(n, (min(n_sample, n),), device=features.device, generator=generator)
    sample = features[index]
    distances = torch.cdist(sample, sample)
    upper = torch.triu_indices(len(sample), len(sample), offset=1, device=features.device)
    distances = distances[upper[0], upper[1]]
    positive = distances[distances > 0]
    return float(positive.median()) if positive.numel() else 1.0


class Balancer:
    """The weight model's objective, with random, worst-case or adaptive centres.

    With observed features ``x_b``, base weights ``q_b``, balancing weights ``w_b = q_b
    exp(g_b)`` (b over *all* observed pairs) and centres ``c_j`` picked among ``M`` pairs
    ``x_m`` drawn uniformly from the catalogue, the objective is

    ``λ mean_b (w_b log(w_b / q_b) − w_b + q_b)
      + γ [Σ_j max(0, |h^obs_j − h^all_j| − τ) + max(0, |mean_b w_b − 1| − τ)]``

    with ``h^obs_j = mean_b w_b K(x_b, c_j)``, ``h^all_j = mean_m K(x_m, c_j)`` and the tolerance
    ``τ = balance_tol``.
    """

    # Worst-case selection solves an (M x M) system: at most ``max_worst_candidates``.
    # Adaptive selection solves a (B x B) system over a (B x M) kernel: above these sizes it
    # uses a uniform subsample of the batch and the first candidates (the regression stays
    # unbiased; with the authors' B = 2048 on Yahoo! R3 the full system cost ~1 s a step).
    MAX_ADAPTIVE_BATCH = 256
    MAX_ADAPTIVE_CANDIDATES = 1024

    def __init__(
        self,
        *,
        kernel,
        bandwidth,
        n_centers,
        centers,
        balance_tol,
        entropy_weight,
        penalty,
        ridge,
        max_worst_candidates=512,
    ):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.n_centers = n_centers
        self.centers = centers
        self.balance_tol = balance_tol
        self.entropy_weight = entropy_weight
        self.penalty = penalty
        self.ridge = ridge
        self.max_worst_candidates = max_worst_candidates

    def gram(self, A, B):
        return kernel_matrix(A, B, self.kernel, self.bandwidth)

    @torch.no_grad()
    def select(self, x_all, x_batch=None, w_batch=None, q_batch=None, outcome=None):
        """Features of the ``J`` centres, among the catalogue sample ``x_all`` (M, d).

        ``x_batch``, ``w_batch``, ``q_batch`` (observed pairs of the current batch, their
        current and base weights) are used by "worst"; ``x_batch``, ``q_batch`` and
        ``outcome`` (per-pair loss) by "adaptive".
        """
        M = x_all.shape[0]
        J = min(self.n_centers, M)
        if self.centers == "random":
            return x_all[torch.randperm(M, device=x_all.device)[:J]]
        if self.centers == "worst":
            # The function h = Σ_m ε_m K(·, x_m) of unit RKHS norm with the largest imbalance
            # εᵀδ, δ_m = mean_b w_b K(x_b, x_m) − mean_m' K(x_m', x_m): ε ∝ (K_MM + ρI)⁻¹ δ.
            x_all = x_all[: self.max_worst_candidates]
            M = x_all.shape[0]
            K_all = self.gram(x_all, x_all)
            delta = (w_batch[:, None] * self.gram(x_batch, x_all)).mean(0) - K_all.mean(0)
            eye = torch.eye(M, device=x_all.device, dtype=K_all.dtype)
            factor = torch.linalg.cholesky(K_all + self.ridge * eye)
            epsilon = torch.cholesky_solve(delta[:, None], factor)[:, 0]
        else:
            # Adaptive: the kernel expansion ε of the (centred) loss by base-weighted ridge
            # regression, min_ε Σ_b q_b (ℓ_b − Σ_m ε_m K(x_b, x_m))² + ρM‖ε‖², in its dual
            # form ε = Kᵀ (K Kᵀ + ρM diag(1/q))⁻¹ ℓ (a B x B system).
            if x_batch.shape[0] > self.MAX_ADAPTIVE_BATCH:
                keep = torch.randperm(x_batch.shape[0], device=x_batch.device)
                keep = keep[: self.MAX_ADAPTIVE_BATCH]
                x_batch, q_batch, outcome = x_batch[keep], q_batch[keep], outcome[keep]
            x_all = x_all[: self.MAX_ADAPTIVE_CANDIDATES]
            M = x_all.shape[0]
            K_batch = self.gram(x_batch, x_all)
            centred = outcome - (q_batch * outcome).sum() / q_batch.sum()
            system = K_batch @ K_batch.T + (self.ridge * M) * torch.diag(1.0 / q_batch)
            epsilon = K_batch.T @ torch.linalg.solve(system, centred)
        return x_all[torch.topk(epsilon.abs(), J).indices]

    def loss(self, log_ratio, q, x_obs, centers, x_all):
        """The objective over the observed pairs ``x_obs``; ``log_ratio`` carries the gradient."""
        w = q * torch.exp(log_ratio)
        with torch.no_grad():
            h_all = self.gram(centers, x_all).mean(1)
        h_obs = (w[:, None] * self.gram(x_obs, centers)).mean(0)
        violation = torch.relu((h_obs - h_all).abs() - self.balance_tol).sum()
        violation = violation + torch.relu((w.mean() - 1.0).abs() - self.balance_tol)
        divergence = (w * log_ratio - w + q).mean()
        return self.entropy_weight * divergence + self.penalty * violation


def fit_embeddings(
    users,
    items,
    y,
    *,
    n_users,
    n_items,
    n_factors,
    biases,
    n_epochs,
    batch_size,
    lr,
    weight_decay,
    seed,
    device,
    init_std=0.1,
):
    """Fit a naive MF (BCE on the observed labels) and return it (eval mode).

    ``users``, ``items``, ``y`` are device tensors; ``y`` in [0, 1].
    """
    with seeded(stream_seed(seed, "init"), device):
        module = MatrixFactorization(
            n_users, n_items, n_factors, biases=biases, init_std=init_std
        ).to(device)
    optimizer = make_optimizer("adam", module.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn(model, batch):
        u, i, target = batch
        return nn.functional.binary_cross_entropy_with_logits(model(u, i), target)

    run_epochs(
        module=module,
        optimizer=optimizer,
        loss_fn=loss_fn,
        train=(users, items, y),
        n_epochs=n_epochs,
        batch_size=batch_size,
        seed=seed,
    )
    module.eval()
    return module


def standardised_tables(user_table, item_table):
    """Centre and scale each feature column (users and items separately)."""

    def scale(table):
        table = table - table.mean(0, keepdim=True)
        std = table.std(0, keepdim=True) if table.shape[0] > 1 else torch.ones_like(table[:1])
        return table / torch.where(std > 0, std, torch.ones_like(std))

    return scale(user_table), scale(item_table)


@torch.no_grad()
def batched_logits(module, users, items, batch_size=65536):
    """Logits of ``module`` over many pairs, batch by batch (no per-sample Python)."""
    outputs = [module(u, i) for u, i in iterate_batches((users, items), batch_size)]
    return torch.cat(outputs)


# Catalogue pairs drawn to set the median-heuristic bandwidth.
BANDWIDTH_PAIRS = 2000


def prepare_balancing(user_table, item_table, *, settings, seed, device, **balancer_options):
    """Standardised feature tables, bandwidth and :class:`Balancer` of one balancing fit.

    ``settings`` carries the balancing parameters of
    :class:`~skultr.propensity.KernelBalancingPropensity` as attributes (``kernel``,
    ``bandwidth``, ``n_centers``, ``centers``, ``balance_tol`` (or its deprecated name ``C``),
    ``entropy_weight``, ``penalty``). The
    feature tables (one row per user and per item) are standardised column by column. With
    ``bandwidth="median"`` the bandwidth is half the median distance between the features of
    ``BANDWIDTH_PAIRS`` catalogue pairs drawn uniformly by a generator seeded with ``seed``
    (which also drives :func:`median_bandwidth`'s subsample); a number is used as given.
    ``balancer_options`` go to :class:`Balancer` (e.g. ``max_worst_candidates``).

    Returns
    -------
    user_features, item_features : torch.Tensor
        The standardised tables.
    bandwidth : float
    balancer : Balancer
    """
    user_features, item_features = standardised_tables(user_table, item_table)
    if settings.bandwidth == "median":
        generator = torch.Generator(device=device).manual_seed(seed)
        size = (BANDWIDTH_PAIRS,)
        rows = torch.randint(user_features.shape[0], size, device=device, generator=generator)
        cols = torch.randint(item_features.shape[0], size, device=device, generator=generator)
        pairs = torch.cat([user_features[rows], item_features[cols]], dim=1)
        bandwidth = 0.5 * median_bandwidth(pairs, generator)
    else:
        bandwidth = float(settings.bandwidth)
    balancer = make_balancer(settings, bandwidth, **balancer_options)
    return user_features, item_features, bandwidth, balancer


def make_balancer(settings, bandwidth, **balancer_options):
    """The :class:`Balancer` of ``settings`` (as in :func:`prepare_balancing`) at ``bandwidth``.

    A ``partial_fit`` shard after the first builds its balancer here, with the bandwidth
    the first shard fixed.
    """
    return Balancer(
        kernel=settings.kernel,
        bandwidth=bandwidth,
        n_centers=settings.n_centers,
        centers=settings.centers,
        balance_tol=resolve_renamed(settings, "C", "balance_tol"),
        entropy_weight=settings.entropy_weight,
        penalty=settings.penalty,
        ridge=_RIDGE,
        **balancer_options,
    )


def effective_sample_size(weights):
    """Kish's effective sample size ``(Σ w)² / Σ w²`` of non-negative weights."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    squares = (weights * weights).sum()
    return float(total * total / squares) if squares > 0 else 0.0


def warn_if_collapsed(weights, *, what, advice, stacklevel=3):
    """Warn when a few pairs carry most of the weight; return the effective sample size."""
    ess = effective_sample_size(weights)
    n = len(weights)
    if n and ess < COLLAPSE_ESS_RATIO * n:
        warnings.warn(
            f"{what} collapsed: their effective sample size is {ess:.1f} of {n} observed "
            f"pairs ({100 * ess / n:.2f}% < {100 * COLLAPSE_ESS_RATIO:.0f}%), so a few pairs "
            f"carry almost all the weight. {advice}",
            UserWarning,
            stacklevel=stacklevel,
        )
    return ess


def mmd_pair(
    user_table, item_table, users, items, weight_vectors, *, kernel, bandwidth, seed, n_sample=2000
):
    """Squared MMD between observed pairs (a sample of ``n_sample``) and the catalogue.

    The catalogue side is every pair when it has at most ``n_sample`` pairs, else a uniform
    sample of ``n_sample`` pairs; one ``(mmd2, se)`` pair per weight vector (see
    :func:`skultr.utils._mmd.mmd_of_weights`), on the same samples.
    """
    rng = check_random_state(seed % (2**32 - 1))
    obs = rng.choice(len(users), size=min(n_sample, len(users)), replace=False)
    n_users, n_items = len(user_table), len(item_table)
    if n_users * n_items <= n_sample:
        all_u, all_i = np.divmod(np.arange(n_users * n_items), n_items)
    else:
        all_u = rng.randint(n_users, size=n_sample)
        all_i = rng.randint(n_items, size=n_sample)
    x_obs = np.hstack([user_table[users[obs]], item_table[items[obs]]])
    x_all = np.hstack([user_table[all_u], item_table[all_i]])
    return mmd_of_weights(
        x_obs,
        x_all,
        [np.asarray(w, dtype=np.float64)[obs] for w in weight_vectors],
        kernel,
        bandwidth,
    )
