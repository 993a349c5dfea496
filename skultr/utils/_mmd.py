"""The kernel MMD estimator shared by kernel balancing's diagnostics (private, numpy only).

Used by :func:`skultr.propensity.weighted_mmd` and by the MMD diagnostics of the kernel
balancing fits (:mod:`skultr._torch._balancing`); it imports no torch.
"""

import numpy as np

# Groups of the delete-a-group jackknife that gives the MMD estimate its standard error.
MMD_JACKKNIFE_GROUPS = 20


def kernel_matrix_numpy(A, B, kernel, bandwidth):
    """``K(a, b)`` for all rows of ``A`` and ``B`` (float64 arrays), Gaussian or exponential."""
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    sq = np.maximum(sq, 0.0)
    if kernel == "gaussian":
        return np.exp(-sq / (2.0 * bandwidth * bandwidth))
    return np.exp(-np.sqrt(sq) / bandwidth)


def _one_hot(n, n_groups, seed):
    """``(n, n_groups)`` indicator of a fixed random split of ``n`` rows into groups."""
    groups = np.random.default_rng(seed).permutation(n) % n_groups
    return np.eye(n_groups)[groups]


def mmd_of_weights(A, B, weight_vectors, kernel, bandwidth, n_groups=MMD_JACKKNIFE_GROUPS):
    """Squared MMD and its standard error for several weight vectors of the same rows.

    Returns one ``(mmd2, se)`` pair per weight vector: the weighted U-statistic (self-terms
    without their diagonals, *not* clamped at zero, so it is negative when the imbalance is
    below its sampling noise) and its delete-a-group jackknife standard error. The observed
    and the catalogue rows are each split at random into ``n_groups`` groups; replicate ``k``
    leaves out observed group ``k`` and catalogue group ``k``. Kernels are computed once; the
    replicates reuse ``(n_groups x n_groups)`` block sums.
    """
    n, N = len(A), len(B)
    g = int(min(n_groups, n, N))
    K_oo = kernel_matrix_numpy(A, A, kernel, bandwidth)
    np.fill_diagonal(K_oo, 0.0)
    K_oa = kernel_matrix_numpy(A, B, kernel, bandwidth)
    K_aa = kernel_matrix_numpy(B, B, kernel, bandwidth)
    np.fill_diagonal(K_aa, 0.0)
    H_o, H_a = _one_hot(n, g, 0), _one_hot(N, g, 1)
    S_aa = H_a.T @ K_aa @ H_a
    count_a = H_a.sum(0)
    # the full sample, then one replicate per left-out group (none when there is one group)
    keep = [np.ones(g, dtype=bool)] + ([np.arange(g) != k for k in range(g)] if g > 1 else [])
    values = []
    for w in weight_vectors:
        w = np.asarray(w, dtype=np.float64)
        Hw = H_o * w[:, None]
        S_oo = Hw.T @ K_oo @ Hw
        S_oa = Hw.T @ K_oa @ H_a
        sum_w, sum_w2 = Hw.sum(0), (Hw * w[:, None]).sum(0)
        estimates = []
        for m in keep:
            W, W2, M = sum_w[m].sum(), sum_w2[m].sum(), count_a[m].sum()
            within_obs = S_oo[np.ix_(m, m)].sum() / max(W * W - W2, 1e-300)
            cross = S_oa[np.ix_(m, m)].sum() / max(W * M, 1e-300)
            within_all = S_aa[np.ix_(m, m)].sum() / max(M * M - M, 1.0)
            estimates.append(within_obs - 2.0 * cross + within_all)
        replicates = np.asarray(estimates[1:])
        if len(replicates) > 1:
            se = float(np.sqrt((g - 1) / g * ((replicates - replicates.mean()) ** 2).sum()))
        else:
            se = float("nan")
        values.append((float(estimates[0]), se))
    return values
