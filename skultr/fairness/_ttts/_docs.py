"""Docstring fragments shared by TTTSClassifier and FairTTTSClassifier."""

_SAMPLE_WEIGHT_DOC = """sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows. Passed to the ``fit`` of an unfitted
            ``estimator`` trained here, and used by the per-node feature statistics
            (``heuristic="confidence"``, ``distance_scale="node_std"``), where an integer
            weight counts as that many copies of the row. A fitted or frozen estimator
            keeps the weights it was trained with. With metadata routing enabled, request
            it with ``set_fit_request(sample_weight=True)``."""


_FLIP_DOC = """
    heuristic : {"distance", "fixed", "depth", "agreement", "confidence"}, default="distance"
        How the flip probability ``p_n(x)`` of internal node ``n`` is computed (TTTS paper,
        eq. 2-6): ``"fixed"``: ``p = p_max``; ``"depth"``: ``p = min(depth_rate * d_n,
        p_max)`` with the root at depth 0; ``"agreement"``: ``p = min(1 - c_max / n_n,
        p_max)`` from the class distribution at the node; ``"confidence"``: ``p = max(p_max
        - |x_f - mu_n| / (sigma_n + eps), 0)``; ``"distance"``: ``p = max(p_max - |x_f -
        t_n| / s_n, 0)`` with the scale ``s_n`` set by ``distance_scale``.

    p_max : float in [0, 0.5], default=0.1
        Largest base flip probability. ``p_max=0`` reproduces the wrapped estimator.

    depth_rate : float >= 0, default=0.05
        Increase of ``p`` per level for ``heuristic="depth"``.

    distance_scale : {"max_threshold", "node_std"}, default="max_threshold"
        Scale ``s_n`` of the distance heuristic. ``"max_threshold"``: the largest ``|t|``
        over the internal nodes of the tree (the authors' code); ``"node_std"``: the
        standard deviation ``sigma_n + eps`` of the split feature over the rows given to
        ``fit`` that reach the node (TTTS paper, eq. 6). See Notes.

    method : {"exact", "monte_carlo"}, default="exact"
        ``"exact"`` propagates reach probabilities and returns the expectation over the
        random traversal (deterministic); ``"monte_carlo"`` samples ``n_simulations``
        paths per tree and row, as in the papers.

    n_simulations : int >= 1, default=100
        Paths per tree and row in Monte-Carlo mode (the paper's ``S``).

    prune_tol : float in [0, 1), default=0.0
        Exact mode only: an internal node whose reach probability is ``<= prune_tol``
        for every row of a chunk (the rows predicted together, up to 1024) is not
        expanded; its reach mass is dropped and each row is renormalised, which moves
        every class probability by at most the row's pruned mass ``M(x)`` times
        ``max(p, 1 - p)`` (see Notes; ``predict_proba(X, return_bound=True)`` returns
        the bound). ``0`` skips exact zeros only and changes nothing.

    random_state : int, RandomState instance or None, default=None
        Seeds the Monte-Carlo paths; every call of ``predict_proba`` with an int seed
        draws the same paths.
"""


_PRUNE_NOTES = """Pruning (``prune_tol = tau > 0``, exact mode). An internal node ``s`` whose reach
    ``P(s)`` is ``<= tau`` for every row of a chunk is not expanded. Let ``S_k(x)`` be
    the unexpanded nodes of tree ``k`` (their subtrees are disjoint) and

    .. math::

        M(x) = \\frac{1}{T} \\sum_{k=1}^{T} \\sum_{s \\in S_k(x)} P(s)
        \\le \\tau \\, \\frac{1}{T} \\sum_{k=1}^{T} |S_k(x)|

    the pruned mass of row ``x``. The unpruned prediction splits as
    ``p_hat_y = A_y + B_y``: ``A_y`` from the leaves still reached, ``B_y`` from the
    skipped subtrees, with ``0 <= B_y <= M(x)``. The pruned prediction is renormalised,
    ``p_tilde_y = A_y / (1 - M(x))`` (a distribution again), so

    .. math::

        \\hat p_y - \\tilde p_y = B_y - M(x)\\, \\tilde p_y
        \\in \\bigl[-M(x)\\, \\tilde p_y,\\ M(x)\\, (1 - \\tilde p_y)\\bigr],
        \\qquad
        |\\hat p_y - \\tilde p_y| \\le M(x) \\max(\\tilde p_y, 1 - \\tilde p_y)
        \\le M(x).

    Dropping the mass without renormalising, or sending it down the natural path,
    guarantees only ``M(x)``; renormalising halves that bound where it matters, at
    probabilities near 1/2. ``predict_proba(X, return_bound=True)`` returns the bound,
    plus ``2**-23 (D + 1) M(x)`` for float32 rounding of the reach probabilities (``D``
    the depth of the deepest tree). The pruned set depends on the rows predicted together;
    the bound holds for each row whatever they are. With the default distance
    heuristic ``p`` is close to ``p_max`` at almost every node, so the reach mass is
    spread over many paths and pruning buys little time for a small ``M`` (see the
    benchmarks page); it pays off when ``p`` is small or zero at many nodes."""


_ENGINE_NOTES = """Exact-mode engines. With numba installed (``pip install "skultr[fast]"``) the
    exact mode runs a compiled kernel: for a block of rows it walks each tree depth first
    with one reach probability per row, and skips a subtree whose reach is zero for every
    row of the block. It is compiled on the first exact prediction of a process (seconds;
    cached on disk when numba finds a writable cache folder). Without numba, or with the
    environment variable ``SKULTR_TTTS_ENGINE=numpy``, a numpy engine propagates all
    trees at once, level by level, over chunks of rows (``SKULTR_TTTS_ENGINE=numba``
    makes a missing numba an error). Both compute the same float32 reach and flip
    probabilities; only the order of the float64 leaf sums differs (results agree to
    about 1e-14). The kernel uses one thread and releases the GIL; pruning
    (``prune_tol > 0``) and ``decision_path`` use the numpy engine."""
