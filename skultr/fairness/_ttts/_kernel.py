"""The exact engine compiled with numba (optional): one depth-first walk per tree and row block.

numba is imported on first use only, never by ``import skultr``. When it is missing, or
when ``SKULTR_TTTS_ENGINE=numpy``, :func:`._exact._expected_proba` runs its numpy engine;
both give the same numbers to float64 summation order (about 1e-16).

For a block of rows (``_KERNEL_ROWS``) the kernel walks each tree depth first, carrying
one float32 reach vector (one value per row of the block) per node on its stack. At an
internal node it computes, row by row, the same float32 quantities as the numpy engine
and :mod:`._flip`: the natural branch ``x_f <= threshold32``, the heuristic's ``p``
(``p_node`` or ``max(p_max - |x_f - center| * inv_scale, 0)``), the FairTTTS rule
``min(alpha p, cap)`` for unprivileged rows whose natural branch is the worse child,
``q = 1 - p`` (natural branch left) or ``p``, and the children ``reach * q`` and
``reach - reach * q``. A leaf adds ``value * reach`` (float64) to the rows' sums; a
child whose reach is zero for every row of the block is not walked (its subtree adds
exact zeros). Every row's result depends on that row only: not on the block, the other
rows or the number of threads.
"""

import os

import numpy as np

# Rows propagated together by the kernel: the reach stack (max depth x rows float32) and the
# block's feature values stay in the L1/L2 cache, and the inner loops over rows vectorise.
_KERNEL_ROWS = 256
# Environment variable choosing the exact engine: "auto" (numba when installed), "numba" or
# "numpy".
ENGINE_VARIABLE = "SKULTR_TTTS_ENGINE"
_ENGINES = ("auto", "numba", "numpy")

_compiled = None  # the jitted kernel, once compiled
_numba_missing = False


def _requested_engine():
    engine = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    if engine not in _ENGINES:
        raise ValueError(
            f"{ENGINE_VARIABLE}={engine!r} is not one of {', '.join(_ENGINES)}: 'auto' uses "
            "the numba kernel when numba is installed, 'numba' requires it, 'numpy' never "
            "uses it."
        )
    return engine


def _import_numba():
    """The numba module, or None when it cannot be imported (checked once)."""
    global _numba_missing
    if _numba_missing:
        return None
    try:
        import numba
    except ImportError:
        _numba_missing = True
        return None
    return numba


def _get_kernel():
    """The compiled kernel, or None when the numpy engine is to be used.

    ``SKULTR_TTTS_ENGINE`` (read at every call): ``auto`` (default) compiles the kernel on
    first use when numba can be imported; ``numba`` raises an ImportError when it cannot;
    ``numpy`` never uses it.
    """
    global _compiled
    engine = _requested_engine()
    if engine == "numpy":
        return None
    if _compiled is not None:
        return _compiled
    numba = _import_numba()
    if numba is None:
        if engine == "numba":
            raise ImportError(
                f"{ENGINE_VARIABLE}=numba but numba cannot be imported; install it "
                "(pip install 'skultr[fast]') or unset the variable to use the numpy engine."
            )
        return None
    _compiled = _jit(numba, _propagate)
    return _compiled


def _jit(numba, func):
    """``numba.njit`` with an on-disk cache, or without one where no cache can be written."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # no writable cache location (read-only install, no home)
        return numba.njit(nogil=True)(func)


def _kernel_available():
    """Whether exact mode runs the compiled kernel (compiling it on first use)."""
    return _get_kernel() is not None


def _kernel_proba(forest, X32, model, fairness, unprivileged):
    """E[proba(x)] of every row through the kernel (the forest's leaf sums / n_trees).

    Call only when :func:`_kernel_available` is true.
    """
    kernel = _get_kernel()
    n_samples = X32.shape[0]
    n_nodes = forest.n_nodes
    constant = model.kind == "constant"
    dummy = np.zeros(n_nodes, np.float32)
    p_node = model.p_node if constant else dummy
    center = dummy if constant else model.center
    inv_scale = dummy if constant else model.inv_scale
    if fairness is None:
        amplify = np.zeros(n_nodes, bool)
        worse_left = amplify
        unpriv = np.zeros(n_samples, bool)
        alpha = cap = np.float32(0.0)
    else:
        amplify = fairness.has_worse  # the rule's nodes where a child is worse
        worse_left = fairness.worse_left
        unpriv = np.ascontiguousarray(unprivileged, dtype=bool)
        alpha, cap = np.float32(fairness.alpha), np.float32(fairness.cap)
    proba = np.zeros((n_samples, forest.value.shape[1]))
    # contiguous arrays of fixed dtypes: one compiled specialisation serves every call
    kernel(
        np.ascontiguousarray(X32.T, np.float32),
        unpriv,
        np.ascontiguousarray(forest.roots, np.intp),
        np.ascontiguousarray(forest.feature, np.intp),
        np.ascontiguousarray(forest.threshold32, np.float32),
        np.ascontiguousarray(forest.children[:, 0], np.intp),
        np.ascontiguousarray(forest.children[:, 1], np.intp),
        np.ascontiguousarray(forest.is_leaf, bool),
        np.ascontiguousarray(forest.value, np.float64),
        constant,
        np.ascontiguousarray(p_node, np.float32),
        np.ascontiguousarray(center, np.float32),
        np.ascontiguousarray(inv_scale, np.float32),
        np.float32(model.p_max),
        np.ascontiguousarray(amplify, bool),
        np.ascontiguousarray(worse_left, bool),
        alpha,
        cap,
        int(forest.depth.max()),
        max(1, min(_KERNEL_ROWS, n_samples)),
        proba,
    )
    if forest.n_trees > 1:
        proba /= forest.n_trees
    return proba


def _propagate(
    XT,
    unpriv,
    roots,
    feature,
    threshold32,
    left,
    right,
    is_leaf,
    value,
    constant,
    p_node,
    center,
    inv_scale,
    p_max,
    amplify,
    worse_left,
    alpha,
    cap,
    max_depth,
    block,
    out,
):
    """The kernel (compiled by :func:`_get_kernel`): leaf sums over the trees into ``out``.

    ``XT`` is (n_features, n_samples) float32; ``out`` (n_samples, n_classes) float64
    receives the sum over the trees of ``sum_leaves reach * value``.
    """
    n_samples = XT.shape[1]
    n_classes = value.shape[1]
    one = np.float32(1.0)
    zero = np.float32(0.0)
    n_slots = max_depth + 2
    stack_reach = np.empty((n_slots, block), np.float32)
    stack_node = np.empty(n_slots, np.int64)
    cur = np.empty(block, np.float32)
    leaf_left = np.empty(block, np.float32)
    leaf_right = np.empty(block, np.float32)
    acc = np.empty((n_classes, block), np.float64)
    for start in range(0, n_samples, block):
        nb = min(block, n_samples - start)
        unpriv_b = unpriv[start : start + nb]
        acc[:, :nb] = 0.0
        for root in roots:
            if is_leaf[root]:
                for c in range(n_classes):
                    v = value[root, c]
                    for r in range(nb):
                        acc[c, r] += v
                continue
            stack_node[0] = root
            stack_reach[0, :nb] = one
            top = 1
            while top > 0:
                top -= 1
                node = stack_node[top]
                cur[:nb] = stack_reach[top, :nb]
                x = XT[feature[node], start : start + nb]
                t = threshold32[node]
                lc = left[node]
                rc = right[node]
                left_leaf = is_leaf[lc]
                right_leaf = is_leaf[rc]
                # internal children go on the stack (left below right), leaves to scratch
                slot = top
                if left_leaf:
                    dl = leaf_left[:nb]
                else:
                    dl = stack_reach[slot, :nb]
                    slot += 1
                dr = leaf_right[:nb] if right_leaf else stack_reach[slot, :nb]
                if amplify[node]:
                    wl = worse_left[node]
                    for r in range(nb):
                        xr = x[r]
                        if constant:
                            p = p_node[node]
                        else:
                            p = p_max - abs(xr - center[node]) * inv_scale[node]
                            if p < zero:
                                p = zero
                        go_left = xr <= t
                        if unpriv_b[r] and go_left == wl:
                            p = alpha * p
                            if p > cap:
                                p = cap
                        q = one - p if go_left else p
                        a = cur[r] * q
                        dl[r] = a
                        dr[r] = cur[r] - a
                elif constant:
                    p = p_node[node]
                    q_nat = one - p
                    for r in range(nb):
                        q = q_nat if x[r] <= t else p
                        a = cur[r] * q
                        dl[r] = a
                        dr[r] = cur[r] - a
                else:
                    cn = center[node]
                    sn = inv_scale[node]
                    for r in range(nb):
                        xr = x[r]
                        p = p_max - abs(xr - cn) * sn
                        if p < zero:
                            p = zero
                        q = one - p if xr <= t else p
                        a = cur[r] * q
                        dl[r] = a
                        dr[r] = cur[r] - a
                if left_leaf:
                    for c in range(n_classes):
                        v = value[lc, c]
                        if v != 0.0:
                            for r in range(nb):
                                acc[c, r] += v * np.float64(dl[r])
                if right_leaf:
                    for c in range(n_classes):
                        v = value[rc, c]
                        if v != 0.0:
                            for r in range(nb):
                                acc[c, r] += v * np.float64(dr[r])
                # push the internal children with some non-zero reach (left, then right)
                if not left_leaf:
                    alive = False
                    for r in range(nb):
                        if dl[r] != 0.0:
                            alive = True
                            break
                    if alive:
                        stack_node[top] = lc
                        top += 1
                    elif not right_leaf:  # right sits one slot up: move it down
                        stack_reach[top, :nb] = dr
                        dr = stack_reach[top, :nb]
                if not right_leaf:
                    alive = False
                    for r in range(nb):
                        if dr[r] != 0.0:
                            alive = True
                            break
                    if alive:
                        stack_node[top] = rc
                        top += 1
        for r in range(nb):
            for c in range(n_classes):
                out[start + r, c] += acc[c, r]
