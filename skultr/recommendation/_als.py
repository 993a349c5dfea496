"""Alternating least squares for the pointwise implicit-feedback factor models (private).

Every ALS half step fixes one side's factors ``Y`` and solves, for each row ``r`` of the
other side, the ridge problem ``(w0 YᵀY + Σ_j extra_rj y_j y_jᵀ + λI) x_r = Σ_j a_rj y_j``:

- :class:`AlsSide` holds one side's click coordinates as sparse matrices of the right-hand
  side weights ``a`` and of the extra click weights ``extra``;
- :func:`als_half_step` solves the systems exactly (one batched Cholesky when ``extra`` is
  zero everywhere, per-row systems built and solved in blocks of rows otherwise, in memory
  bounded by ``_ALS_CHUNK_FLOATS`` whatever the sizes);
- :func:`als_half_step_cg` takes a few warm-started conjugate-gradient steps instead.
"""

import warnings

import numpy as np
import torch

from skultr._torch import to_tensor

# Memory budget (floats) of a weighted ALS step's work arrays: the k x k systems of one block
# of rows, and the click outer products ``extra y yᵀ`` added to them one piece at a time.
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
    sparse product. ``extra`` is None when it is zero everywhere.
    """

    def __init__(self, rows, cols, a, extra, *, shape, n_factors, device):
        order = np.lexsort((cols, rows))
        rows, cols, a = rows[order], cols[order], a[order]
        self.n_rows, self.n_cols = shape
        self.n_factors = n_factors
        self.a = _sparse_rows(rows, cols, a, shape, device)
        self.extra = (
            None if extra is None else _sparse_rows(rows, cols, extra[order], shape, device)
        )


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
    matrix ``w0 YᵀY`` is computed once; the click correction, when there is one, is built
    for a block of rows at a time (:func:`_weighted_systems`), so no array of one ``k × k``
    matrix per row or per column of the whole side is ever formed.
    """
    k = fixed.shape[1]
    gram = w0 * (fixed.T @ fixed) + reg * torch.eye(k, device=fixed.device, dtype=fixed.dtype)
    rhs = side.a @ fixed
    if side.extra is None:
        return _solve_spd(gram, rhs.T).T
    out = torch.empty_like(rhs)
    outer_all = None
    if fixed.shape[0] * k * k <= _ALS_CHUNK_FLOATS:  # small enough to share across pieces
        outer_all = (fixed[:, :, None] * fixed[:, None, :]).reshape(fixed.shape[0], k * k)
    block = max(_ALS_CHUNK_FLOATS // (k * k), 1)
    for start in range(0, side.n_rows, block):
        stop = min(start + block, side.n_rows)
        systems = _weighted_systems(side.extra, fixed, gram, start, stop, outer_all)
        out[start:stop] = _solve_spd(systems, rhs[start:stop].unsqueeze(-1)).squeeze(-1)
    return out


def _weighted_systems(extra, fixed, gram, start, stop, outer_all=None):
    """``gram + Σ_j extra_rj y_j y_jᵀ`` of the rows ``start .. stop - 1``: ``(rows, k, k)``.

    The clicks of the block are taken in pieces of at most ``_ALS_CHUNK_FLOATS / k²``; the
    outer products ``y_j y_jᵀ`` of a piece's distinct columns (or ``outer_all``, those of
    every column, when given) are summed into the systems of the rows the piece touches by
    one sparse product with the click weights. The work arrays stay within the budget even
    for a row (a popular item) with more clicks than that.
    """
    k = fixed.shape[1]
    crow, col, weight = extra.crow_indices(), extra.col_indices(), extra.values()
    systems = gram.expand(stop - start, k, k).clone()
    flat = systems.view(stop - start, k * k)
    bounds = crow[start : stop + 1]
    lo, hi = int(bounds[0]), int(bounds[-1])
    piece = max(_ALS_CHUNK_FLOATS // (k * k), 1)
    for first in range(lo, hi, piece):
        last = min(first + piece, hi)
        columns = col[first:last]
        if outer_all is None:
            columns, position = torch.unique(columns, return_inverse=True)
            y = fixed[columns]
            outer = (y[:, :, None] * y[:, None, :]).reshape(columns.shape[0], k * k)
        else:
            position, outer = columns, outer_all
        # The clicks are sorted by row: the piece touches the contiguous rows top .. end - 1.
        top = int(torch.searchsorted(bounds, first, right=True)) - 1
        end = int(torch.searchsorted(bounds, last - 1, right=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            weights = torch.sparse_csr_tensor(
                bounds[top : end + 1].clamp(first, last) - first,
                position,
                weight[first:last].to(fixed.dtype),
                size=(end - top, outer.shape[0]),
            )
        flat[top:end] += weights @ outer
    return systems


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
