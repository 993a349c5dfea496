"""Click models: how simulated users click on a displayed list, given true relevance grades.

A click model turns a matrix of relevance grades (one row per session, one column per
displayed position, ``NaN`` where a list is shorter) into a matrix of 0/1 clicks. The
models here are the ones used to evaluate unbiased learning to rank (Ai et al., SIGIR 2018;
Agarwal et al., WWW 2019): position-based, cascade and trust bias. They hold no state and
draw all their randomness from the generator they are given, so a seed fixes a click log.
"""

from dataclasses import dataclass

import numpy as np

from skultr.utils._validation import check_probability, check_real

# Examination probabilities at ranks 1-10 of the DLA paper's simulation (Ai et al., 2018),
# from an eye-tracking study (Joachims et al., 2005). Ranks beyond 10 reuse the last value.
DEFAULT_EXAMINATION = (0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)


def _freeze_curve(model, name):
    """Validate the optional curve field ``name`` and store it as a tuple of floats."""
    curve = getattr(model, name)
    if curve is None:
        return
    array = np.asarray(curve, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence; got shape {array.shape}.")
    bad = ~((array >= 0) & (array <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must hold probabilities in [0, 1]; got {array[i]} at index {i}.")
    object.__setattr__(model, name, tuple(float(v) for v in array))


def _extend(curve, n_positions):
    """``curve`` padded to ``n_positions`` entries by repeating its last value."""
    curve = np.asarray(curve, dtype=np.float64)
    if n_positions <= len(curve):
        return curve[:n_positions].copy()
    return np.concatenate([curve, np.full(n_positions - len(curve), curve[-1])])


def graded_click_probability(grade, *, epsilon_minus=0.1, epsilon_plus=1.0, max_grade=4):
    """P(click | examined, grade) = ε⁻ + (ε⁺ − ε⁻)(2^y − 1)/(2^ymax − 1).

    ``NaN`` grades (empty slots) give ``NaN``. With the defaults, grades 0-4 map to
    ``[0.1, 0.16, 0.28, 0.52, 1.0]``.
    """
    grade = np.asarray(grade, dtype=np.float64)
    gain = np.expm1(grade * np.log(2.0)) / np.expm1(max_grade * np.log(2.0))
    return epsilon_minus + (epsilon_plus - epsilon_minus) * gain


class _ClickModel:
    """Shared validation of the relevance matrix and of the noise parameters."""

    def _check_noise(self):
        check_probability(self.epsilon_minus, "epsilon_minus")
        check_probability(self.epsilon_plus, "epsilon_plus")
        check_real(self.max_grade, "max_grade", low=0, strict=True)

    def _check_grades(self, relevance):
        relevance = np.asarray(relevance, dtype=np.float64)
        if relevance.ndim != 2:
            raise ValueError(
                "relevance must be a 2-D array (sessions x positions); "
                f"got shape {relevance.shape}."
            )
        shown = ~np.isnan(relevance)
        bad = shown & ~((relevance >= 0) & (relevance <= self.max_grade))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"relevance grades must lie in [0, max_grade={self.max_grade}]; got "
                f"{relevance[i, j]} in session {i} at position {j + 1}."
            )
        return relevance, shown

    def _attraction(self, relevance):
        return graded_click_probability(
            relevance,
            epsilon_minus=self.epsilon_minus,
            epsilon_plus=self.epsilon_plus,
            max_grade=self.max_grade,
        )

    def propensity(self, n_positions):
        """Examination probability of each position relative to position 1.

        ``None`` for models whose examination is not a fixed function of the position.
        """
        examination = self.examination(n_positions)
        return None if examination is None else examination / examination[0]

    def examination(self, n_positions):
        return None


@dataclass(frozen=True, kw_only=True)
class PositionBasedModel(_ClickModel):
    """Position-based click model: a click needs examination (by position) and attraction.

    P(click at position k | grade y) = θ_k · (ε⁻ + (ε⁺ − ε⁻)(2^y − 1)/(2^ymax − 1)),
    with θ_k = base_k^η. This is the simulation of the DLA paper (Ai et al., 2018).

    Parameters
    ----------
    eta : float, default=1.0
        Severity of the position bias: the examination curve is raised to this power
        (0 removes the bias, 2 makes it steeper).
    examination_curve : sequence of float, optional
        Examination probabilities at positions 1, 2, ... before the power ``eta``; positions
        beyond its length reuse the last value. Defaults to
        ``[0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06]``.
    epsilon_minus, epsilon_plus : float, default=0.1, 1.0
        Click probability of an examined document with the lowest / highest grade.
    max_grade : float, default=4
        Highest grade of the relevance scale.

    Examples
    --------
    >>> import numpy as np
    >>> from skultr.ranking import PositionBasedModel
    >>> model = PositionBasedModel(eta=2.0)
    >>> np.round(model.propensity(3), 3)
    array([1.   , 0.805, 0.498])
    >>> clicks = model.sample([[4, 0, np.nan]], np.random.RandomState(0))
    >>> clicks.shape, int(clicks[0, 2])
    ((1, 3), 0)
    """

    eta: float = 1.0
    examination_curve: tuple | None = None
    epsilon_minus: float = 0.1
    epsilon_plus: float = 1.0
    max_grade: float = 4

    def __post_init__(self):
        if not (np.isfinite(self.eta) and self.eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0; got {self.eta!r}.")
        _freeze_curve(self, "examination_curve")
        self._check_noise()

    def examination(self, n_positions):
        """Absolute examination probability θ_k of positions 1..n_positions."""
        base = DEFAULT_EXAMINATION if self.examination_curve is None else self.examination_curve
        return _extend(base, n_positions) ** self.eta

    def sample(self, relevance, random_state):
        """0/1 clicks (int8) for a sessions x positions matrix of grades (``NaN`` = empty)."""
        relevance, shown = self._check_grades(relevance)
        probability = self.examination(relevance.shape[1])[None, :] * self._attraction(relevance)
        draws = random_state.random_sample(relevance.shape)
        return (shown & (draws < np.where(shown, probability, 0.0))).astype(np.int8)


@dataclass(frozen=True, kw_only=True)
class CascadeModel(_ClickModel):
    """Cascade click model: the user scans from the top and may stop after a click.

    At each position reached, the document is examined and clicked with probability
    ε⁻ + (ε⁺ − ε⁻)(2^y − 1)/(2^ymax − 1). After a click the user stops with probability
    ``stop_after_click`` (1 gives the classic cascade of Craswell et al., 2008, at most one
    click per session); after a skip the user goes on with probability ``continue_after_skip``.
    Examination therefore depends on the documents above, not only on the position: this
    model breaks the position-based assumption of DLA and IPW on purpose.

    Parameters
    ----------
    epsilon_minus, epsilon_plus : float, default=0.1, 1.0
        Click probability of an examined document with the lowest / highest grade.
    max_grade : float, default=4
        Highest grade of the relevance scale; grades must lie in ``[0, max_grade]``.
    stop_after_click : float, default=1.0
        Probability that the user stops scanning after a click.
    continue_after_skip : float, default=1.0
        Probability that the user goes on to the next position after a document they did
        not click.
    """

    epsilon_minus: float = 0.1
    epsilon_plus: float = 1.0
    max_grade: float = 4
    stop_after_click: float = 1.0
    continue_after_skip: float = 1.0

    def __post_init__(self):
        self._check_noise()
        check_probability(self.stop_after_click, "stop_after_click")
        check_probability(self.continue_after_skip, "continue_after_skip")

    def sample(self, relevance, random_state):
        """0/1 clicks (int8) for a sessions x positions matrix of grades (``NaN`` = empty)."""
        relevance, shown = self._check_grades(relevance)
        attraction = np.where(shown, self._attraction(relevance), 0.0)
        n_sessions, n_positions = relevance.shape
        clicks = np.zeros(relevance.shape, dtype=np.int8)
        reading = np.ones(n_sessions, dtype=bool)
        for k in range(n_positions):
            click = (
                reading & shown[:, k] & (random_state.random_sample(n_sessions) < attraction[:, k])
            )
            clicks[:, k] = click
            go_on = random_state.random_sample(n_sessions)
            reading &= np.where(
                click, go_on >= self.stop_after_click, go_on < self.continue_after_skip
            )
        return clicks


@dataclass(frozen=True, kw_only=True)
class TrustBiasModel(_ClickModel):
    """Trust bias (Agarwal et al., WWW 2019): users trust top results more.

    P(click at k | grade y) = θ_k · (ε⁻_k + (ε⁺_k − ε⁻_k) · g(y)), g(y) = (2^y − 1)/(2^ymax − 1),
    with θ_k = base_k^η as in :class:`PositionBasedModel`. By default ε⁺_k = 1 − (min(k, 20) +
    1)/100 and ε⁻_k = 0.65/min(k, 10), the constants of Vardasbi et al. (2021): at the top
    even irrelevant documents get clicked often, so clicks are not proportional to relevance
    and a purely multiplicative correction (IPW, DLA) stays biased.

    Parameters
    ----------
    eta : float, default=1.0
        Severity of the position bias: the examination curve is raised to this power, as
        in :class:`PositionBasedModel`.
    examination_curve : sequence of float, optional
        Examination probabilities at positions 1, 2, ... before the power ``eta``, as in
        :class:`PositionBasedModel` (the same default).
    epsilon_plus, epsilon_minus : sequence of float, optional
        Per-position click probabilities of an examined most / least relevant document.
    max_grade : float, default=4
        Highest grade of the relevance scale; grades must lie in ``[0, max_grade]``.
    """

    eta: float = 1.0
    examination_curve: tuple | None = None
    epsilon_plus: tuple | None = None
    epsilon_minus: tuple | None = None
    max_grade: float = 4

    def __post_init__(self):
        if not (np.isfinite(self.eta) and self.eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0; got {self.eta!r}.")
        _freeze_curve(self, "examination_curve")
        _freeze_curve(self, "epsilon_plus")
        _freeze_curve(self, "epsilon_minus")
        check_real(self.max_grade, "max_grade", low=0, strict=True)

    def examination(self, n_positions):
        """Absolute examination probability θ_k of positions 1..n_positions."""
        base = DEFAULT_EXAMINATION if self.examination_curve is None else self.examination_curve
        return _extend(base, n_positions) ** self.eta

    def noise(self, n_positions):
        """``(ε⁺_k, ε⁻_k)`` for positions 1..n_positions."""
        k = np.arange(1, n_positions + 1)
        plus = (
            1.0 - (np.minimum(k, 20) + 1) / 100.0
            if self.epsilon_plus is None
            else _extend(self.epsilon_plus, n_positions)
        )
        minus = (
            0.65 / np.minimum(k, 10)
            if self.epsilon_minus is None
            else _extend(self.epsilon_minus, n_positions)
        )
        return plus, minus

    def sample(self, relevance, random_state):
        """0/1 clicks (int8) for a sessions x positions matrix of grades (``NaN`` = empty)."""
        relevance, shown = self._check_grades(relevance)
        n_positions = relevance.shape[1]
        plus, minus = self.noise(n_positions)
        gain = graded_click_probability(
            relevance, epsilon_minus=0.0, epsilon_plus=1.0, max_grade=self.max_grade
        )
        probability = self.examination(n_positions)[None, :] * (minus + (plus - minus) * gain)
        draws = random_state.random_sample(relevance.shape)
        return (shown & (draws < np.where(shown, probability, 0.0))).astype(np.int8)
