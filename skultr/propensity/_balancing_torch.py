"""Torch parts of kernel balancing (private; imported lazily so skultr.propensity stays light).

Shared by :class:`skultr.propensity.KernelBalancingPropensity` and
:class:`skultr.recommendation.DebiasedMFRecommender`:

- :class:`~skultr._torch._modules.MatrixFactorization` (from the engine): the prediction,
  imputation and weight models.
- :func:`kernel_matrix`: Gaussian or exponential kernel between two batches of features.
- :class:`Balancer`: the weight model's objective (KL to the base weights plus the hinge
  penalty of the kernel moment conditions) with random, worst-case or adaptive centres.
- :func:`fit_embeddings`: a first, naive MF fit whose embeddings are the kernel features.
"""

import torch
from torch import nn

from skultr._torch import iterate_batches, make_optimizer, run_epochs
from skultr._torch._modules import MatrixFactorization
from skultr._torch._random import seeded


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
      + γ [Σ_j max(0, |h^obs_j − h^all_j| − C) + max(0, |mean_b w_b − 1| − C)]``

    with ``h^obs_j = mean_b w_b K(x_b, c_j)`` and ``h^all_j = mean_m K(x_m, c_j)``.
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
        C,
        entropy_weight,
        penalty,
        ridge,
        max_worst_candidates=512,
    ):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.n_centers = n_centers
        self.centers = centers
        self.C = C
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
        violation = torch.relu((h_obs - h_all).abs() - self.C).sum()
        violation = violation + torch.relu((w.mean() - 1.0).abs() - self.C)
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
    with seeded(seed, device):
        module = MatrixFactorization(
            n_users, n_items, n_factors, biases=biases, init_std=init_std
        ).to(device)
    optimizer = make_optimizer("adam", module.parameters(), lr=lr, weight_decay=weight_decay)

    def loss_fn(model, batch):
        u, i, target = batch
        return nn.functional.binary_cross_entropy_with_logits(model(u, i), target)

    with seeded(seed + 1, device):
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
