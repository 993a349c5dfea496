"""The binned closed-form KDE score against the exact O(n m) sum and scipy."""

import numpy as np
import pytest
from scipy.stats import gaussian_kde

from skultr.calibration._kde_score import (
    bandwidth_rule,
    exact_gaussian_kde_score,
    gaussian_kde_score,
)


def _samples():
    rng = np.random.default_rng(0)
    return {
        "normal": rng.normal(size=1500),
        "bimodal": np.r_[rng.normal(size=750), 5 + 0.3 * rng.normal(size=750)],
        "skewed": rng.gamma(2.0, 1.0, size=1500),
        "outlier": np.r_[rng.normal(size=1499), 60.0],
    }


@pytest.mark.parametrize("name", ["normal", "bimodal", "skewed", "outlier"])
def test_binned_score_matches_exact_sum(name):
    sample = _samples()[name]
    h = bandwidth_rule(sample, "scott")
    z = np.linspace(sample.min() - 3 * h, sample.max() + 3 * h, 2001)
    # Within 8 bandwidths of the sample: deep inside a wide gap the exact score jumps by
    # about gap / h^2 where the two sides' kernels cross, which no grid resolves (tested below).
    distance = np.min(np.abs(z[:, None] - np.sort(sample)[None, :]), axis=1)
    z = z[distance < 8 * h]
    exact = exact_gaussian_kde_score(z, sample, h)
    approx = gaussian_kde_score(z, sample, h)
    # The score's natural scale is 1/h; binning and interpolation at 32 grid points per
    # bandwidth keep the error below 1% of it (measured: about 0.3%).
    assert np.max(np.abs(approx - exact)) * h < 0.01


def test_score_matches_scipy_finite_differences():
    sample = _samples()["skewed"]
    kde = gaussian_kde(sample)  # Scott's rule, as bandwidth_rule(..., "scott")
    h = float(np.sqrt(kde.covariance[0, 0]))
    assert h == pytest.approx(bandwidth_rule(sample, "scott"), rel=1e-12)
    z = np.linspace(np.percentile(sample, 1), np.percentile(sample, 99), 200)
    delta = 1e-5
    finite_difference = (kde.logpdf(z + delta) - kde.logpdf(z - delta)) / (2 * delta)
    np.testing.assert_allclose(gaussian_kde_score(z, sample, h), finite_difference, atol=5e-3)


def test_score_beyond_the_grid_is_exact():
    sample = _samples()["normal"]
    h = bandwidth_rule(sample, "scott")
    far = np.array([sample.min() - 30 * h, sample.max() + 30 * h])
    exact = exact_gaussian_kde_score(far, sample, h)
    approx = gaussian_kde_score(far, sample, h)
    # Far from the data the score is about (x_extreme - z) / h^2: large; the exact kernel
    # sums over the mass near the extremes match it to 1e-4 relative.
    np.testing.assert_allclose(approx, exact, rtol=1e-4)
    assert approx[0] > 0 > approx[1]


def test_score_inside_a_wide_gap_stays_finite_and_correct():
    rng = np.random.default_rng(1)
    sample = np.r_[rng.normal(size=500), 200 + rng.normal(size=500)]
    h = 0.5  # the gap is 400 bandwidths wide: the kernel sums underflow in the middle
    z = np.array([30.0, 170.0])
    approx = gaussian_kde_score(z, sample, h)
    assert np.all(np.isfinite(approx))
    # Dominated by the nearest cluster: s(z) ~ (x_nearest - z) / h^2.
    assert approx[0] < 0 < approx[1]
    np.testing.assert_allclose(approx, exact_gaussian_kde_score(z, sample, h), rtol=0.05)


def test_bandwidth_rules():
    sample = _samples()["normal"]
    m = sample.shape[0]
    assert bandwidth_rule(sample, "scott") == pytest.approx(sample.std(ddof=1) * m**-0.2)
    q75, q25 = np.percentile(sample, [75, 25])
    silverman = 0.9 * min(sample.std(ddof=1), (q75 - q25) / 1.349) * m**-0.2
    assert bandwidth_rule(sample, "silverman") == pytest.approx(silverman)
    assert bandwidth_rule(sample, 0.25) == 0.25


def test_deconvolved_score_matches_its_exact_formula():
    sample = _samples()["bimodal"]
    h = bandwidth_rule(sample, "scott")
    z = np.linspace(-2.5, 6.0, 500)
    difference = sample[None, :] - z[:, None]
    weight = np.exp(-0.5 * (difference / h) ** 2)
    weight /= weight.sum(axis=1, keepdims=True)
    mean = (weight * difference).sum(axis=1)
    variance = (weight * difference**2).sum(axis=1) - mean**2
    exact = mean / np.maximum(variance, 0.25 * h * h)
    approx = gaussian_kde_score(z, sample, h, deconvolve=True)
    # Within 1% of the larger of |score| and its scale 1/h; the worst point (0.5%) is where
    # the variance meets its floor and the score has a kink between two grid points.
    assert np.max(np.abs(approx - exact) / np.maximum(np.abs(exact), 1 / h)) < 0.01


def test_deconvolved_score_of_a_gaussian_sample_is_the_gaussian_score():
    """The KDE of N(0, 1) data has score -z / (1 + h^2); deconvolved, -z."""
    sample = np.random.default_rng(5).normal(size=50_000)
    h = bandwidth_rule(sample, "scott")
    z = np.linspace(-1.5, 1.5, 31)
    plain = gaussian_kde_score(z, sample, h)
    deconvolved = gaussian_kde_score(z, sample, h, deconvolve=True)
    # Slopes over [-1.5, 1.5]; sampling noise of each is ~1%.
    assert np.polyfit(z, plain, 1)[0] == pytest.approx(-1 / (1 + h * h), rel=0.02)
    assert np.polyfit(z, deconvolved, 1)[0] == pytest.approx(-1.0, rel=0.02)
