"""Alternating least squares for the pointwise implicit-feedback factor models (private).

Every ALS half step fixes one side's factors ``Y`` and solves, for each row ``r`` of the
other side, the ridge problem ``(w0 YᵀY + Σ_j extra_rj y_j y_jᵀ + λI) x_r = Σ_j a_rj y_j``:

- :class:`AlsSide` holds one side's click coordinates as sparse matrices of the right-hand
  side weights ``a`` and of the extra click weights ``extra``;
- :func:`als_half_step` solves the systems exactly (one batched Cholesky when ``extra`` is
  zero everywhere, chunked per-row systems otherwise);
- :func:`als_half_step_cg` takes a few warm-started conjugate-gradient steps instead.
"""

import warnings

import numpy as np
import torch

from skultr._torch import to_tensor

# Memory budget (floats) of the per-row k x k systems built in one chunk of a weighted ALS step.
_ALS_CHUNK_FLOATS = 2**24


def _sparse_rows(rows, cols, values, shape, device):
    """A torch CSR matrix from coordinates sorted by row (products work on CPU and CUDA)."""
    crow = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.as_tensor(crow, dtype=torch.int64, device=device),
            torch.as_tensor(cols, dtype=torch.int64, device=device),
            to_tensor(values, device),
            size=shape,
        )


class AlsSide:
    """One side of an ALS sweep: the rows being solved and their clicked columns.

    ``a`` (the right-hand side weights) and ``extra`` (the click weight beyond ``w0``) are
    held as sparse ``n_rows × n_cols`` matrices, so ``Σ_j a_rj y_j`` for every row is one
    sparse product. ``extra`` is None when it is zero everywhere; otherwise it is cut into
    row chunks whose ``k × k`` systems fit the memory budget.
    """

    def __init__(self, rows, cols, a, extra, *, shape, n_factors, device):
        order = np.lexsort((cols, rows))
        rows, cols, a = rows[order], cols[order], a[order]
        self.n_rows, self.n_cols = shape
        self.a = _sparse_rows(rows, cols, a, shape, device)
        self.extra_chunks = []
        self.extra = None
        if extra is None:
            return
        extra = extra[order]
        self.extra = _sparse_rows(rows, cols, extra, shape, device)
        budget = max(_ALS_CHUNK_FLOATS // (n_factors * n_factors), 1)
        row_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.n_rows))])
        for start in range(0, self.n_rows, budget):
            stop = min(start + budget, self.n_rows)
            lo, hi = row_ptr[start], row_ptr[stop]
            matrix = _sparse_rows(
                rows[lo:hi] - start, cols[lo:hi], extra[lo:hi], (stop - start, self.n_cols), device
            )
            self.extra_chunks.append((start, stop, matrix))


def _solve_spd(systems, rhs):
    """Solve symmetric systems by Cholesky, falling back to LU where one is not positive."""
    factor, info = torch.linalg.cholesky_ex(systems)
    if bool((info == 0).all()):
        return torch.cholesky_solve(rhs, factor)
    return torch.linalg.solve(systems, rhs)


def als_half_step(side, fixed, *, w0, reg):
    """Solve every row's ridge problem with the other side's factors ``fixed``.

    Minimises ``Σ_j w_rj (x_r·y_j − p_rj)² + λ‖x_r‖²`` for each row ``r`` where the weight is
    ``w0`` off the clicks and ``w0 + extra`` on them, and ``w·p = a`` on the clicks (0
    elsewhere): ``(w0 YᵀY + Σ_j extra_rj y_j y_jᵀ + λI) x_r = Σ_j a_rj y_j``. The shared Gram
    matrix ``w0 YᵀY`` is computed once; the click correction, when there is one, is the
    sparse product of ``extra`` with the row-wise outer products ``y_j y_jᵀ``.
    """
    k = fixed.shape[1]
    gram = w0 * (fixed.T @ fixed) + reg * torch.eye(k, device=fixed.device, dtype=fixed.dtype)
    rhs = side.a @ fixed
    if not side.extra_chunks:
        return _solve_spd(gram, rhs.T).T
    outer = (fixed[:, :, None] * fixed[:, None, :]).reshape(fixed.shape[0], k * k)
    out = torch.empty_like(rhs)
    for start, stop, extra in side.extra_chunks:
        systems = (extra @ outer).reshape(stop - start, k, k) + gram
        out[start:stop] = _solve_spd(systems, rhs[start:stop].unsqueeze(-1)).squeeze(-1)
    return out


def als_half_step_cg(side, fixed, current, *, w0, reg, n_steps):
    """Approximate :func:`als_half_step` by ``n_steps`` of conjugate gradient per row.

    Warm-started at the ``current`` factors, as in Takács et al. (RecSys 2011) and the
    ``implicit`` package: the systems are never formed, each step costs one sampled product
    (``y_j·p_r`` on the clicks) and one sparse product, all rows at once.
    """
    k = fixed.shape[1]
    gram = w0 * (fixed.T @ fixed) + reg * torch.eye(k, device=fixed.device, dtype=fixed.dtype)
    extra = side.extra
    crow, col, weight = extra.crow_indices(), extra.col_indices(), extra.values()

    def matvec(p):
        dots = torch.sparse.sampled_addmm(extra, p, fixed.T, beta=0.0).values()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            scaled = torch.sparse_csr_tensor(crow, col, dots * weight, size=extra.shape)
        return p @ gram + scaled @ fixed

    x = current.clone()
    residual = side.a @ fixed - matvec(x)
    direction = residual.clone()
    norm = (residual * residual).sum(1)
    for _ in range(n_steps):
        product = matvec(direction)
        curvature = (direction * product).sum(1)
        step = torch.where(curvature > 0, norm / curvature.clamp_min(1e-30), 0.0)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        new_norm = (residual * residual).sum(1)
        direction = (
            residual
            + torch.where(norm > 0, new_norm / norm.clamp_min(1e-30), 0.0)[:, None] * direction
        )
        norm = new_norm
    return x
