"""Grouped ranking metrics: nDCG, DCG, ERR and MAP averaged over the queries given by ``qid``.

The conventions shared by every metric (ties, queries without a relevant document) are stated
once, in the docstring of :mod:`skultr.metrics`. Every metric follows the same vectorised plan,
with no Python loop over queries:

1. map ``qid``, the scores and the grades to dense integer codes (a lookup table for integer
   ids, one argsort otherwise, :func:`numpy.unique` for strings and objects);
2. sort all rows once by ``(query, -score, relevance)`` with a single argsort of the packed
   integer key (:func:`numpy.lexsort` if the key would overflow int64), so each query is a
   contiguous block ordered from the best to the worst score and, within tied scores, from the
   least to the most relevant document (the order ``ties="pessimistic"`` scores);
3. compute the 0-based rank of each row inside its query, and the blocks of tied scores
   (:func:`_tie_blocks`; with ``ties="pessimistic"`` every row is a block of its own, so one
   code path serves both conventions);
4. reduce per tie block and per query with :func:`numpy.add.reduceat` /
   :func:`numpy.bincount`, using closed forms of the expectation over the orderings of each
   tie block (ERR: a dynamic programme over the block's items, vectorised over blocks), and
   average over queries.
"""

import math
import numbers
import warnings
from numbers import Real
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from sklearn.exceptions import UndefinedMetricWarning

from skultr.utils._sklearn_compat import validate_params
from skultr.utils._validation import check_1d, check_1d_finite, check_int, check_qid, first_index

_GAINS = ("exponential", "linear")
_NO_RELEVANT = ("skip", "zero", "one")
# DCG is not normalised: "one" has no meaning for it.
_NO_RELEVANT_DCG = ("skip", "zero")
_TIES = ("average", "pessimistic")
# 2.0 ** 1024 overflows float64; exponential gains need 2 ** grade to stay finite.
_MAX_EXPONENTIAL_GRADE = 1023


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _query_index(qid):
    """Dense query indices ``0 .. n_queries - 1`` for each row, and the number of queries."""
    qid = check_qid(qid)
    if qid.dtype.kind in "biu":
        return _dense_rank_of_integers(qid)
    if qid.dtype.kind in "fmM":
        return _dense_rank(qid)
    try:
        unique, group = np.unique(qid, return_inverse=True)
    except TypeError as exc:
        raise ValueError(
            f"qid values must be mutually comparable so they can be sorted (for example all "
            f"integers or all strings); numpy failed with: {exc}"
        ) from None
    return group.reshape(-1).astype(np.int64, copy=False), len(unique)


def _check_ranking_inputs(y_true, y_score, qid):
    """Validate the three per-row arrays and return them as float/float/query-index arrays."""
    y_true = check_1d(y_true, "y_true")
    y_score = check_1d(y_score, "y_score")
    qid = check_1d(qid, "qid")
    lengths = (len(y_true), len(y_score), len(qid))
    if len(set(lengths)) != 1:
        raise ValueError(
            "y_true, y_score and qid must have the same length; got lengths "
            f"{lengths[0]}, {lengths[1]} and {lengths[2]}."
        )
    if lengths[0] == 0:
        raise ValueError("y_true, y_score and qid are empty; at least one row is needed.")
    y_true = check_1d_finite(y_true, "y_true")
    negative = y_true < 0
    if negative.any():
        i = first_index(negative)
        raise ValueError(
            f"y_true must hold non-negative relevance grades; found {y_true[i]} at index {i}."
        )
    y_score = check_1d_finite(y_score, "y_score")
    group, n_queries = _query_index(qid)
    return y_true, y_score, group, n_queries


def _check_option(name, value, allowed):
    """``value`` must be one of the strings in ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")
    return value


def _check_exponential_grades(y_true, what):
    """Exponential gains ``2 ** y`` must stay finite in float64."""
    too_large = y_true > _MAX_EXPONENTIAL_GRADE
    if too_large.any():
        i = first_index(too_large)
        raise ValueError(
            f"y_true grade {y_true[i]} at index {i} is too large for {what} "
            f"(2 ** grade overflows above {_MAX_EXPONENTIAL_GRADE})."
        )


# --------------------------------------------------------------------------------------------
# Vectorised building blocks
# --------------------------------------------------------------------------------------------


def _dense_rank(values):
    """Rank of each value among the distinct values (0 = smallest) and the number of them.

    Same result as ``np.unique(values, return_inverse=True)`` for numbers, but one unstable
    (SIMD) argsort instead of a stable one.
    """
    order = np.argsort(values)
    sorted_values = values[order]
    new_value = np.ones(len(values), dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=new_value[1:])
    sorted_rank = np.cumsum(new_value, dtype=np.int64) - 1
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = sorted_rank
    return rank, int(sorted_rank[-1]) + 1


def _dense_rank_of_integers(values):
    """:func:`_dense_rank` for integers: a lookup table, not a sort, when their span is small."""
    wide = values.astype(np.uint64 if values.dtype.kind == "u" else np.int64)
    low, high = wide.min(), wide.max()
    span = int(high) - int(low)
    if span > 4 * len(values) + 1024:
        return _dense_rank(values)
    offset = (wide - low).astype(np.intp)
    present = np.zeros(span + 1, dtype=bool)
    present[offset] = True
    code_of = np.cumsum(present, dtype=np.int64) - 1
    return code_of[offset], int(code_of[-1]) + 1


def _grade_codes(y_true):
    """Integer codes in the order of the grades: the grades themselves if small integers."""
    top = y_true.max()
    if top < 2**16 and np.array_equal(y_true, np.floor(y_true)):
        return y_true.astype(np.int64), int(top) + 1
    return _dense_rank(y_true)


def _argsort_by(*columns):
    """Indices that sort rows by integer code columns, the first column the most significant.

    Each column is ``(codes, n_codes)`` with codes in ``0 .. n_codes - 1``. When the mixed-radix
    number of all columns fits in int64 one argsort of the packed key does it; otherwise
    :func:`numpy.lexsort`. Rows with equal keys are identical in every column, so the unstable
    sort cannot make a result depend on the input row order.
    """
    if math.prod(n_codes for _, n_codes in columns) <= np.iinfo(np.int64).max:
        key = columns[0][0].astype(np.int64, copy=True)
        for codes, n_codes in columns[1:]:
            key *= n_codes
            key += codes
        return np.argsort(key)
    return np.lexsort([codes for codes, _ in reversed(columns)])


class _SortedQueries(NamedTuple):
    """Rows sorted by (query, descending score, ascending relevance).

    ``relevance``, ``score`` and ``query`` are the sorted per-row arrays, ``grade`` integer codes
    ordered like ``relevance`` (``n_grades`` of them), ``rank`` the 0-based position of each row
    inside its query, ``starts``/``sizes`` the block of each query.
    """

    relevance: np.ndarray
    score: np.ndarray
    query: np.ndarray
    grade: np.ndarray
    n_grades: int
    rank: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    n_queries: int


def _sort_queries(y_true, y_score, group, n_queries):
    """Sort the rows once; ties in score put the less relevant documents first."""
    grade, n_grades = _grade_codes(y_true)
    score_rank, n_scores = _dense_rank(-y_score)  # 0 = highest score
    order = _argsort_by((group, n_queries), (score_rank, n_scores), (grade, n_grades))
    query = group[order]
    sizes = np.bincount(group, minlength=n_queries)
    starts = np.zeros(n_queries, dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    return _SortedQueries(
        relevance=y_true[order],
        score=y_score[order],
        query=query,
        grade=grade[order],
        n_grades=n_grades,
        rank=rank,
        starts=starts,
        sizes=sizes,
        n_queries=n_queries,
    )


def _gains(relevance, gain):
    """Gain of each document: ``2 ** y - 1`` (exponential) or ``y`` (linear)."""
    if gain == "exponential":
        return np.exp2(relevance) - 1.0  # exact for integer grades
    return relevance


def _discounts(rank, k):
    """Discount ``1 / log2(r + 1)`` of the 1-based rank ``r = rank + 1``; zero beyond ``k``."""
    discount = 1.0 / np.log2(rank + 2.0)
    if k is not None:
        discount[rank >= k] = 0.0
    return discount


class _TieBlocks(NamedTuple):
    """Blocks of tied scores of :class:`_SortedQueries` rows (each inside one query).

    ``starts``/``sizes`` locate each block among the sorted rows, ``query`` is its query and
    ``first_rank`` the 0-based rank of its first row; ``of_row`` is the block of each row.
    """

    starts: np.ndarray
    sizes: np.ndarray
    query: np.ndarray
    first_rank: np.ndarray
    of_row: np.ndarray


def _tie_blocks(sq, ties):
    """The blocks over which a metric averages: tied scores, or single rows if pessimistic.

    A block of tied scores occupies a fixed set of ranks whatever its internal order. With
    ``ties="pessimistic"`` every row is its own block, so the rows keep the sorted order
    (non-relevant before relevant within tied scores) and the closed forms below reduce to
    the metric of that one ordering.
    """
    n = len(sq.score)
    new_block = np.ones(n, dtype=bool)
    if ties == "average":
        new_block[1:] = (sq.query[1:] != sq.query[:-1]) | (sq.score[1:] != sq.score[:-1])
    starts = np.flatnonzero(new_block)
    sizes = np.diff(np.append(starts, n))
    of_row = np.cumsum(new_block, dtype=np.intp) - 1
    return _TieBlocks(
        starts=starts,
        sizes=sizes,
        query=sq.query[starts],
        first_rank=sq.rank[starts],
        of_row=of_row,
    )


def _expected_dcg(sq, blocks, gains, discount):
    """Per-query DCG averaged over every ordering of each tie block, computed exactly.

    A tie block ``T`` occupies a fixed set of positions whatever its internal order, so its
    expected contribution is ``mean(gain over T) * sum(discount over positions of T)``.
    """
    block_mean_gain = np.add.reduceat(gains, blocks.starts) / blocks.sizes
    block_discount = np.add.reduceat(discount, blocks.starts)
    return np.bincount(
        blocks.query, weights=block_mean_gain * block_discount, minlength=sq.n_queries
    )


def _expected_top_k_sum(sq, blocks, values, k):
    """Per-query expected sum of ``values`` over the top ``k`` ranks, ties averaged exactly.

    A tie block of ``n`` rows with ``s`` of its ranks inside the top ``k`` puts each of its rows
    there with probability ``s / n``: it contributes ``sum(values over the block) * s / n``.
    """
    if k is None:
        return np.bincount(sq.query, weights=values, minlength=sq.n_queries)
    slots = np.clip(k - blocks.first_rank, 0, blocks.sizes)
    block_sum = np.add.reduceat(values, blocks.starts)
    return np.bincount(
        blocks.query, weights=block_sum * slots / blocks.sizes, minlength=sq.n_queries
    )


def _ideal_dcg(sq, gains, discount):
    """Per-query DCG of the ideal ordering (documents sorted by decreasing relevance)."""
    ideal_order = _argsort_by((sq.query, sq.n_queries), (sq.n_grades - 1 - sq.grade, sq.n_grades))
    return np.bincount(sq.query, weights=gains[ideal_order] * discount, minlength=sq.n_queries)


def _expected_err(sq, blocks, stop, not_stop, k):
    """Per-query ERR@k averaged exactly over the orderings of each tie block.

    The probability of reaching a block is the product of ``1 - R`` over the query's earlier
    rows, whatever their order. The first ``j`` positions of a block hold a uniformly random
    ``j``-subset of its rows, so the cascade passes them with probability ``m_j``, the mean over
    ``j``-subsets of the product of ``1 - R`` (``m_0 = 1``), and stops at the block's
    ``j``-th position with probability ``m_{j-1} - m_j`` (:func:`_block_pass_probabilities`).
    Single-row blocks (all of them with ``ties="pessimistic"``) contribute ``R / rank``.
    """
    reach = _segmented_cumprod(not_stop, sq.rank)  # inclusive: through each row
    n_blocks = len(blocks.starts)
    before = np.ones(n_blocks)
    inside = blocks.first_rank > 0
    before[inside] = reach[blocks.starts[inside] - 1]
    depth = blocks.sizes if k is None else np.clip(k - blocks.first_rank, 0, blocks.sizes)
    contribution = np.zeros(n_blocks)
    single = (blocks.sizes == 1) & (depth > 0)
    contribution[single] = stop[blocks.starts[single]] / (blocks.first_rank[single] + 1.0)
    tied = np.flatnonzero((blocks.sizes > 1) & (depth > 0))
    # Blocks of similar size (same bit length) share one array, so memory stays O(rows).
    size_class = np.frexp(blocks.sizes[tied])[1]
    for c in np.unique(size_class):
        members = tied[size_class == c]
        sizes, width = blocks.sizes[members], int(depth[members].max())
        m = _block_pass_probabilities(not_stop, blocks.starts[members], sizes, width)
        j = np.arange(1, width + 1)
        stop_at = (m[:, :-1] - m[:, 1:]) * (j <= depth[members, None])
        contribution[members] = (stop_at / (blocks.first_rank[members, None] + j)).sum(axis=1)
    return np.bincount(blocks.query, weights=before * contribution, minlength=sq.n_queries)


def _block_pass_probabilities(not_stop, starts, sizes, width):
    """``m[b, j]``: mean over the ``j``-subsets of block ``b`` of the product of ``not_stop``.

    One pass over the rows of all blocks at once (row ``t`` of every block of at least ``t``
    rows per step): with ``q_t`` the ``t``-th row's value,
    ``m_j <- ((t - j) m_j + j q_t m_{j-1}) / t``, a convex combination, so the values stay in
    [0, 1] without cancellation. Columns ``j = 0 .. width``; ``O(rows * width)`` work.
    """
    order = np.argsort(-sizes, kind="stable")
    starts, sizes = starts[order], sizes[order]
    m = np.zeros((len(starts), width + 1))
    m[:, 0] = 1.0
    for t in range(1, int(sizes[0]) + 1):
        active = int(np.searchsorted(-sizes, -t, side="right"))  # blocks with >= t rows
        c = min(t, width)
        j = np.arange(1, c + 1)
        q = not_stop[starts[:active] + t - 1][:, None]
        m[:active, 1 : c + 1] = ((t - j) * m[:active, 1 : c + 1] + j * q * m[:active, :c]) / t
    result = np.empty_like(m)
    result[order] = m
    return result


def _expected_precision_sum(sq, blocks, relevant, k):
    """Per-query sum over the top ``k`` ranks of ``P@r * rel_r``, ties averaged exactly.

    For a block of ``n`` rows holding ``a`` relevant ones, after ``h`` relevant rows of the
    query, its ``j``-th position is relevant with probability ``a / n``, and then the expected
    number of relevant rows up to it is ``h + 1 + (j - 1) (a - 1) / (n - 1)`` (McSherry and
    Najork, 2008). With single-row blocks this is ``rel_r * hits@r``.
    """
    in_block = np.add.reduceat(relevant, blocks.starts)
    hits = _segmented_cumsum(relevant, sq)
    before = hits[blocks.starts] - relevant[blocks.starts]
    n = blocks.sizes[blocks.of_row]
    a = in_block[blocks.of_row]
    within = np.arange(len(sq.rank)) - blocks.starts[blocks.of_row]
    pair = np.divide(a - 1.0, n - 1.0, out=np.zeros(len(n)), where=n > 1)
    term = (a / n) * (before[blocks.of_row] + 1.0 + within * pair) / (sq.rank + 1.0)
    if k is not None:
        term = term * (sq.rank < k)
    return np.bincount(sq.query, weights=term, minlength=sq.n_queries)


def _segmented_cumprod(values, rank):
    """Inclusive cumulative product restarting at every row with ``rank == 0``.

    Rows of a query are contiguous with ranks ``0, 1, 2, ...``. Doubling scan: after the pass with
    shift ``d`` every row holds the product of up to ``2 d`` trailing values of its own query, so
    ``ceil(log2(longest query))`` passes of plain products suffice (no logarithms, so zeros and
    underflow need no special care).
    """
    product = values.copy()
    longest = int(rank.max()) + 1 if len(rank) else 0
    shift = 1
    while shift < longest:
        same_query = rank[shift:] >= shift
        product[shift:] = product[shift:] * np.where(same_query, product[:-shift], 1.0)
        shift *= 2
    return product


def _segmented_cumsum(values, sq):
    """Inclusive cumulative sum of integer-valued ``values`` restarting at each query start."""
    total = np.cumsum(values)
    before_query = total[sq.starts] - values[sq.starts]
    return total - np.repeat(before_query, sq.sizes)


def _mean_over_queries(per_query, has_relevant, no_relevant, metric):
    """Mean of per-query scores; queries without a relevant document follow ``no_relevant``."""
    if no_relevant == "skip":
        kept = per_query[has_relevant]
        if kept.size == 0:
            warnings.warn(
                f"{metric} is undefined: no query has a relevant document (y_true > 0), and "
                "no_relevant='skip' drops such queries. Returning nan; pass no_relevant='zero' "
                "or 'one' to score them instead.",
                UndefinedMetricWarning,
                stacklevel=3,
            )
            return float("nan")
        return float(np.mean(kept))
    fill = 0.0 if no_relevant == "zero" else 1.0
    return float(np.mean(np.where(has_relevant, per_query, fill)))


def _has_relevant(sq):
    """Whether each query holds at least one document with ``y_true > 0``."""
    return np.bincount(sq.query, weights=sq.relevance > 0, minlength=sq.n_queries) > 0


# --------------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------------


def _per_query_dcg(y_true, y_score, qid, k, gain, ties):
    """Validate, sort and return (sorted queries, gains, discounts, per-query DCG)."""
    k = check_int(k, "k", allow_none=True)
    _check_option("gain", gain, _GAINS)
    _check_option("ties", ties, _TIES)
    y_true, y_score, group, n_queries = _check_ranking_inputs(y_true, y_score, qid)
    if gain == "exponential":
        _check_exponential_grades(y_true, "gain='exponential'")
    sq = _sort_queries(y_true, y_score, group, n_queries)
    gains = _gains(sq.relevance, gain)
    discount = _discounts(sq.rank, k)
    blocks = _tie_blocks(sq, ties)
    return sq, gains, discount, _expected_dcg(sq, blocks, gains, discount)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "gain": [str],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def dcg_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    gain: str = "exponential",
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Discounted Cumulative Gain at ``k``, averaged over queries.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative relevance grade of each row (document).
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means ranked earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        Query (list) id of each row: integers, strings or anything :func:`numpy.unique` sorts.
        Rows may come in any order; the rows of a query need not be contiguous.
    k : int or None, default=10
        Only the top ``k`` positions of each query count. ``None`` uses the whole list.
    gain : {"exponential", "linear"}, default="exponential"
        ``"exponential"`` uses ``2 ** y - 1`` (the learning-to-rank convention), ``"linear"``
        uses ``y`` (the convention of :func:`sklearn.metrics.dcg_score`).
    no_relevant : {"skip", "zero"}, default="skip"
        Queries without a relevant document (all ``y_true == 0``) have DCG 0 whatever the
        ranking: ``"skip"`` leaves them out of the mean (the convention of every
        :mod:`skultr.metrics` ranking metric, and of recommendation benchmarks that average
        DCG@k over the test users with at least one positive), ``"zero"`` keeps them at 0 (the
        mean over all queries; unbiased IPS estimates of DCG need it). Development versions
        before the metrics shared one convention defaulted to ``"zero"``.
    ties : {"average", "pessimistic"}, default="average"
        How documents with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of each block of tied scores; ``"pessimistic"`` puts the less
        relevant documents first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        Mean DCG@k over the queries kept by ``no_relevant``. ``nan`` (with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`) when ``no_relevant="skip"`` and no
        query has a relevant document.

    See Also
    --------
    ndcg_score : DCG normalised by the DCG of the ideal ordering.

    Notes
    -----
    For a query whose documents are ranked by decreasing score,

    .. math:: \\mathrm{DCG@}k = \\sum_{r=1}^{k} \\frac{G(y_r)}{\\log_2(r + 1)},
              \\qquad G(y) = 2^{y} - 1 \\text{ or } G(y) = y .

    **Ties.** Documents with equal scores have no defined order, so by default the DCG is averaged
    over all orderings of each block of tied scores. The average is computed exactly: a tie block
    ``T`` occupies a fixed set of positions ``P`` whatever its internal order, and contributes
    ``mean(G(y) over T) * sum(1 / log2(r + 1) over r in P, r <= k)``. This is the semantics of
    :func:`sklearn.metrics.dcg_score` with ``ignore_ties=False`` (with ``no_relevant="zero"``
    the two agree), and it makes the result independent of the row order.

    References
    ----------
    .. [1] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
       ACM Transactions on Information Systems 20(4), 2002.
    .. [2] F. McSherry and M. Najork, "Computing information retrieval performance measures
       efficiently in the presence of tied scores", ECIR 2008.

    Examples
    --------
    >>> from skultr.metrics import dcg_score
    >>> y_true = [2, 0, 1, 1, 0]
    >>> y_score = [0.9, 0.8, 0.1, 0.3, 0.7]
    >>> qid = [7, 7, 7, 8, 8]
    >>> round(dcg_score(y_true, y_score, qid=qid, gain="linear"), 4)
    1.5655
    """
    _check_option("no_relevant", no_relevant, _NO_RELEVANT_DCG)
    sq, _, _, dcg = _per_query_dcg(y_true, y_score, qid, k, gain, ties)
    return _mean_over_queries(dcg, _has_relevant(sq), no_relevant, "DCG")


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "gain": [str],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def ndcg_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    gain: str = "exponential",
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Normalised Discounted Cumulative Gain at ``k``, averaged over queries.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative relevance grade of each row (document).
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means ranked earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        Query (list) id of each row: integers, strings or anything :func:`numpy.unique` sorts.
        Rows may come in any order; the rows of a query need not be contiguous.
    k : int or None, default=10
        Only the top ``k`` positions of each query count. ``None`` uses the whole list.
    gain : {"exponential", "linear"}, default="exponential"
        ``"exponential"`` uses ``2 ** y - 1`` (the learning-to-rank convention), ``"linear"``
        uses ``y`` (the convention of :func:`sklearn.metrics.ndcg_score`).
    no_relevant : {"skip", "zero", "one"}, default="skip"
        What to do with queries without any relevant document (all ``y_true == 0``), whose nDCG
        is 0 / 0: ``"skip"`` leaves them out of the mean, ``"zero"`` / ``"one"`` score them 0 / 1.
        ``"zero"`` matches :func:`sklearn.metrics.ndcg_score`.
    ties : {"average", "pessimistic"}, default="average"
        How documents with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of each block of tied scores; ``"pessimistic"`` puts the less
        relevant documents first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        Mean nDCG@k over queries, in [0, 1]. ``nan`` (with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`) when ``no_relevant="skip"`` and no
        query has a relevant document.

    See Also
    --------
    dcg_score : the unnormalised metric.

    Notes
    -----
    .. math:: \\mathrm{nDCG@}k = \\frac{\\mathrm{DCG@}k}{\\mathrm{IDCG@}k}, \\qquad
              \\mathrm{DCG@}k = \\sum_{r=1}^{k} \\frac{G(y_r)}{\\log_2(r + 1)},

    with ``G(y) = 2 ** y - 1`` or ``G(y) = y`` and IDCG@k the DCG@k of the documents sorted by
    decreasing relevance.

    **Ties.** By default the DCG is the exact average over all orderings of each block of tied
    scores: a tie block contributes its mean gain times the sum of the discounts of the
    positions it occupies (truncated at ``k``). With ``gain="linear"`` and
    ``no_relevant="zero"`` this equals the mean over queries of
    :func:`sklearn.metrics.ndcg_score` (``ignore_ties=False``). The result does not depend on
    the row order. A constant scorer gets the expected nDCG of a random ranking.
    ``ties="pessimistic"`` puts the less relevant documents first instead.

    References
    ----------
    .. [1] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
       ACM Transactions on Information Systems 20(4), 2002.
    .. [2] F. McSherry and M. Najork, "Computing information retrieval performance measures
       efficiently in the presence of tied scores", ECIR 2008.

    Examples
    --------
    >>> from skultr.metrics import ndcg_score
    >>> y_true = [2, 0, 1, 1, 0]
    >>> y_score = [0.9, 0.8, 0.1, 0.3, 0.7]
    >>> qid = [7, 7, 7, 8, 8]
    >>> round(ndcg_score(y_true, y_score, qid=qid), 4)
    0.7974
    >>> round(ndcg_score(y_true, y_score, qid=qid, k=1), 4)
    0.5
    """
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    sq, gains, discount, dcg = _per_query_dcg(y_true, y_score, qid, k, gain, ties)
    ideal = _ideal_dcg(sq, gains, discount)
    has_relevant = ideal > 0
    ndcg = np.divide(dcg, ideal, out=np.zeros_like(dcg), where=has_relevant)
    return _mean_over_queries(ndcg, has_relevant, no_relevant, "nDCG")


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "max_grade": "no_validation",
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def err_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = 10,
    max_grade: float | None = None,
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Expected Reciprocal Rank at ``k`` (Chapelle et al., 2009), averaged over queries.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative relevance grade of each row (document).
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means ranked earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        Query (list) id of each row: integers, strings or anything :func:`numpy.unique` sorts.
        Rows may come in any order; the rows of a query need not be contiguous.
    k : int or None, default=10
        Only the top ``k`` positions of each query count. ``None`` uses the whole list.
    max_grade : float or None, default=None
        The highest grade of the relevance scale, ``g_max`` below (for example 4 for a 0-4 scale).
        ``None`` uses the largest grade found in ``y_true`` (over all queries). Passing the scale's
        maximum makes scores comparable across data sets. Must be >= every grade in ``y_true``.
    no_relevant : {"skip", "zero", "one"}, default="skip"
        What to do with queries without any relevant document (all ``y_true == 0``), whose ERR is
        0 whatever the ranking: ``"skip"`` leaves them out of the mean, ``"zero"`` / ``"one"``
        score them 0 / 1.
    ties : {"average", "pessimistic"}, default="average"
        How documents with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of each block of tied scores; ``"pessimistic"`` puts the less
        relevant documents first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        Mean ERR@k over queries, in [0, 1]. ``nan`` (with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`) when ``no_relevant="skip"`` and no
        query has a relevant document.

    Notes
    -----
    In the cascade model a user scans the list from the top and stops at the document of rank
    ``r`` with probability ``R_r``; ERR is the expected reciprocal of the stopping rank:

    .. math:: \\mathrm{ERR@}k = \\sum_{r=1}^{k} \\frac{1}{r} R_r \\prod_{i=1}^{r-1} (1 - R_i),
              \\qquad R_i = \\frac{2^{g_i} - 1}{2^{g_{\\max}}}.

    ERR is not normalised: even the ideal ranking scores below 1 unless a document has
    ``g = g_max`` and ``g_max`` is large.

    **Ties.** By default ERR is the exact mean over every ordering of each block of tied scores,
    so a constant scorer gets the expected ERR of a random ranking. Inside a block of ``n``
    tied documents the first ``j`` positions hold a uniformly random ``j``-subset, so the user
    passes them with probability ``m_j``, the mean over ``j``-subsets of ``prod (1 - R_i)``,
    and stops at the ``j``-th with probability ``m_{j-1} - m_j``; ``m`` comes from a stable
    recursion over the block's documents in ``O(n * min(n, k))`` operations (vectorised over
    blocks), which is cheap with a cut-off ``k`` but quadratic in the size of a tie block when
    ``k=None``. ``ties="pessimistic"`` puts the less relevant documents first instead. Either
    way the result does not depend on the row order.

    References
    ----------
    .. [1] O. Chapelle, D. Metzler, Y. Zhang and P. Grinspan, "Expected reciprocal rank for
       graded relevance", CIKM 2009.

    Examples
    --------
    One query on a 0-2 scale: ``R = (2**y - 1) / 4`` is 3/4 for the first document and 1/4 for
    the second, so ``ERR = 3/4 + (1/2) * (1/4) * (1 - 3/4)``.

    >>> from skultr.metrics import err_score
    >>> err_score([2, 1, 0], [0.9, 0.5, 0.1], qid=[1, 1, 1])
    0.78125
    """
    k = check_int(k, "k", allow_none=True)
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    _check_option("ties", ties, _TIES)
    y_true, y_score, group, n_queries = _check_ranking_inputs(y_true, y_score, qid)
    g_max = _check_max_grade(max_grade, y_true)
    sq = _sort_queries(y_true, y_score, group, n_queries)

    scale = 2.0**g_max
    two_g = np.exp2(sq.relevance)
    stop = (two_g - 1.0) / scale  # R
    # 1 - R written as one fraction, exact for integer grades below 53.
    not_stop = (scale - two_g + 1.0) / scale
    err = _expected_err(sq, _tie_blocks(sq, ties), stop, not_stop, k)
    return _mean_over_queries(err, _has_relevant(sq), no_relevant, "ERR")


def _check_max_grade(max_grade, y_true):
    """Resolve ``g_max``: the given scale maximum, or the largest grade in ``y_true``."""
    if max_grade is None:
        g_max = float(y_true.max())
        _check_exponential_grades(y_true, "err_score (2 ** g_max)")
        return g_max
    if (
        isinstance(max_grade, bool | np.bool_)
        or not isinstance(max_grade, numbers.Real)
        or not np.isfinite(max_grade)
        or max_grade < 0
        or max_grade > _MAX_EXPONENTIAL_GRADE
    ):
        raise ValueError(
            f"max_grade must be None or a finite number in [0, {_MAX_EXPONENTIAL_GRADE}]; "
            f"got {max_grade!r}."
        )
    above = y_true > max_grade
    if above.any():
        i = first_index(above)
        raise ValueError(
            f"y_true must not exceed max_grade={max_grade}; found {y_true[i]} at index {i}."
        )
    return float(max_grade)


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "qid": ["array-like"],
        "k": [Real, None],
        "no_relevant": [str],
        "ties": [str],
    },
    prefer_skip_nested_validation=True,
)
def average_precision_score(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    qid: ArrayLike,
    k: int | None = None,
    no_relevant: str = "skip",
    ties: str = "average",
) -> float:
    """Mean Average Precision (MAP@k) over queries, with binary relevance ``y_true > 0``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Non-negative relevance grade of each row; every grade above 0 counts as relevant.
    y_score : array-like of shape (n_samples,)
        Predicted score of each row; higher means ranked earlier. Must be finite.
    qid : array-like of shape (n_samples,)
        Query (list) id of each row: integers, strings or anything :func:`numpy.unique` sorts.
        Rows may come in any order; the rows of a query need not be contiguous.
    k : int or None, default=None
        Only the top ``k`` positions of each query count. ``None`` uses the whole list.
    no_relevant : {"skip", "zero", "one"}, default="skip"
        What to do with queries without any relevant document, whose AP is 0 / 0: ``"skip"``
        leaves them out of the mean, ``"zero"`` / ``"one"`` score them 0 / 1.
    ties : {"average", "pessimistic"}, default="average"
        How documents with equal scores are ordered (the convention of every
        :mod:`skultr.metrics` ranking metric, see its docstring): ``"average"`` gives the exact
        mean over every ordering of each block of tied scores; ``"pessimistic"`` puts the less
        relevant documents first, the worst ordering the scores allow.

    Returns
    -------
    score : float
        MAP@k, in [0, 1]. ``nan`` (with an :class:`~sklearn.exceptions.UndefinedMetricWarning`)
        when ``no_relevant="skip"`` and no query has a relevant document.

    Notes
    -----
    With ``rel_r`` in {0, 1} the relevance of the document at rank ``r``, ``P@r`` the fraction of
    relevant documents among the top ``r`` and ``n_rel`` the number of relevant documents of the
    query (in the whole list, not only the top ``k``),

    .. math:: \\mathrm{AP@}k = \\frac{1}{\\min(n_{rel}, k)} \\sum_{r=1}^{k} P@r \\; rel_r .

    Dividing by ``min(n_rel, k)`` rather than ``n_rel`` lets a perfect ranking reach 1 even when
    the query has more than ``k`` relevant documents. With ``k=None`` the divisor is ``n_rel``,
    the usual (untruncated) average precision. MAP is the mean of AP over queries.

    **Ties.** By default AP is the exact mean over every ordering of each block of tied scores
    (McSherry and Najork, 2008): the ``j``-th position of a block of ``n`` documents holding
    ``a`` relevant ones, after ``h`` relevant documents ranked above it, is relevant with
    probability ``a / n``, and then the expected number of relevant documents up to it is
    ``h + 1 + (j - 1) (a - 1) / (n - 1)``. A constant scorer gets the expected AP of a random
    ranking. ``ties="pessimistic"`` puts the non-relevant documents first instead. Either way
    the result does not depend on the row order. This differs from
    :func:`sklearn.metrics.average_precision_score`, which ranks by thresholds (all tied
    documents enter at once).

    References
    ----------
    .. [1] C. D. Manning, P. Raghavan and H. Schütze, "Introduction to Information Retrieval",
       Cambridge University Press, 2008, section 8.4.
    .. [2] F. McSherry and M. Najork, "Computing information retrieval performance measures
       efficiently in the presence of tied scores", ECIR 2008.

    Examples
    --------
    Relevant documents at ranks 1 and 3 of the first query: ``AP = (1/1 + 2/3) / 2``. The second
    query has its single relevant document at rank 2: ``AP = 1/2``.

    >>> from skultr.metrics import average_precision_score
    >>> y_true = [1, 0, 2, 0, 3, 0]
    >>> y_score = [0.9, 0.5, 0.1, 0.8, 0.7, 0.3]
    >>> qid = ["a", "a", "a", "b", "b", "b"]
    >>> round(average_precision_score(y_true, y_score, qid=qid), 4)
    0.6667
    """
    k = check_int(k, "k", allow_none=True)
    _check_option("no_relevant", no_relevant, _NO_RELEVANT)
    _check_option("ties", ties, _TIES)
    y_true, y_score, group, n_queries = _check_ranking_inputs(y_true, y_score, qid)
    sq = _sort_queries(y_true, y_score, group, n_queries)

    relevant = (sq.relevance > 0).astype(np.float64)
    n_relevant = np.bincount(sq.query, weights=relevant, minlength=n_queries)
    precision_sum = _expected_precision_sum(sq, _tie_blocks(sq, ties), relevant, k)
    divisor = n_relevant if k is None else np.minimum(n_relevant, k)
    has_relevant = n_relevant > 0
    ap = np.divide(precision_sum, divisor, out=np.zeros(n_queries), where=has_relevant)
    return _mean_over_queries(ap, has_relevant, no_relevant, "MAP")
