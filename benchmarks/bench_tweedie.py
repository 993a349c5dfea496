"""Tweedie and linear calibration corrections on the "one map, many trials" simulation.

Usage::

    pip install -e ".[bench]"    # ppi-python (the prediction-powered inference anchor)
    python benchmarks/bench_tweedie.py          # ~5 min on 2 shared cores
    python benchmarks/bench_tweedie.py --quick  # ~1 min

Quality. The simulation of Pettersson, Jerzak and Daoud (AAAI 2026), as
:func:`skultr.datasets.make_shrinkage_trial` implements it: for 50 true effects ``tau`` in
[-2, 2] (10 with ``--quick``), a new random imaging network, 10,000 labelled upstream units
(an MLP with the authors' architecture trained on 8,000, 2,000 kept for calibration) and a
fresh trial of 10,000 units whose outcome is the MLP's prediction. Every estimator is the
inverse-propensity-weighted (IPW) mean contrast with the true propensity, as in the paper.

- ``oracle (true Y)``: the IPW effect on the true outcomes (unobservable; the floor);
- ``naive``: the IPW effect on the predictions;
- ``LCC``: on :class:`~skultr.calibration.LinearCalibrationCorrector` outcomes;
- ``Tweedie (paper)``: :class:`~skultr.calibration.TweedieCorrector` with the authors'
  choices: KDE of the calibration predictions, Scott's bandwidth, score of the KDE;
- ``Tweedie (transform, deconvolved)``: density of the trial's own predictions with the
  deconvolved score, the setting that closes the gap of the paper's choices in small samples;
- ``PPI 1%`` / ``PPI 10%``: prediction-powered inference with 100 / 1,000 *fresh labels*
  drawn from the trial (what the corrections avoid): ``ppi_py.ppi_mean_ci`` (PPI++ with its
  tuned lambda) on the IPW pseudo-outcome ``T Y / e - (1 - T) Y / (1 - e)``.

Reported: the slope of ``tau_hat`` on ``tau`` (1 = no attenuation) with its standard error,
the mean absolute error against ``tau``, and the share of 95% intervals that contain ``tau``
(bootstrap over trial units and calibration pairs, refitting the corrector; ``--n-bootstrap``
resamples; the normal interval of :func:`~skultr.calibration.average_treatment_effect` in
the ``coverage (normal)`` column).

Speed. Correcting 10 million predictions (1 million with ``--quick``) with a density fitted on
2,000 calibration predictions: skultr's binned closed-form score against the authors' route,
``scipy.stats.gaussian_kde`` on the same 2,000 points and a central finite difference of its
``logpdf`` (two evaluations, each O(n m)). scipy is timed on a subsample of 20,000
predictions and extrapolated linearly to the full count (the full run would take minutes);
the largest score difference on that subsample is reported too.

Results are printed as markdown tables and written as JSON to ``benchmarks/results/``.
"""

import argparse
import json
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy.stats import gaussian_kde

import skultr
from skultr.calibration import (
    CalibrationWarning,
    LinearCalibrationCorrector,
    TweedieCorrector,
    average_treatment_effect,
)
from skultr.datasets import make_shrinkage_trial

RESULTS = Path(__file__).resolve().parent / "results"

CORRECTORS = {
    "LCC": LinearCalibrationCorrector(),
    "Tweedie (paper)": TweedieCorrector(),
    "Tweedie (transform, deconvolved)": TweedieCorrector(
        density_sample="transform", score_method="deconvolved"
    ),
}


def _ipw_pseudo_outcome(y, treatment, propensity):
    return np.where(treatment == 1, y / propensity, -y / (1.0 - propensity))


def _ppi_effect(data, share, rng):
    """PPI++ mean of the IPW pseudo-outcome with ``share`` of the trial freshly labelled."""
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    n = data.y.shape[0]
    labelled = np.zeros(n, dtype=bool)
    labelled[rng.choice(n, size=int(round(share * n)), replace=False)] = True
    truth = _ipw_pseudo_outcome(data.y, data.treatment, data.propensity)
    proxy = _ipw_pseudo_outcome(data.y_pred, data.treatment, data.propensity)
    args = (truth[labelled], proxy[labelled], proxy[~labelled])
    estimate = float(np.ravel(ppi_mean_pointestimate(*args))[0])
    low, high = (float(np.ravel(end)[0]) for end in ppi_mean_ci(*args, alpha=0.05))
    return estimate, (low, high)


def _one_trial(seed, tau, n_bootstrap, ppi_available):
    data = make_shrinkage_trial(tau=tau, random_state=seed)
    rows = {}
    common = {"propensity": data.propensity, "method": "ipw"}
    calibration = {
        "y_pred_calibration": data.y_pred_calibration,
        "y_calibration": data.y_calibration,
    }

    truth = average_treatment_effect(data.y, data.treatment, ci="normal", **common)
    rows["oracle (true Y)"] = (
        truth.estimate,
        truth.confidence_interval,
        truth.confidence_interval,
        0.0,
    )
    naive = average_treatment_effect(data.y_pred, data.treatment, ci="normal", **common)
    rows["naive"] = (naive.estimate, naive.confidence_interval, naive.confidence_interval, 0.0)

    for name, corrector in CORRECTORS.items():
        start = time.perf_counter()
        boot = average_treatment_effect(
            data.y_pred,
            data.treatment,
            corrector=corrector,
            ci="bootstrap",
            n_bootstrap=n_bootstrap,
            random_state=seed,
            **common,
            **calibration,
        )
        seconds = time.perf_counter() - start
        normal = average_treatment_effect(
            data.y_pred, data.treatment, corrector=corrector, ci="normal", **common, **calibration
        )
        rows[name] = (boot.estimate, boot.confidence_interval, normal.confidence_interval, seconds)

    if ppi_available:
        rng = np.random.default_rng(seed)
        for share in (0.01, 0.10):
            start = time.perf_counter()
            estimate, interval = _ppi_effect(data, share, rng)
            seconds = time.perf_counter() - start
            rows[f"PPI {share:.0%} labels"] = (estimate, interval, interval, seconds)
    return data, rows


def _slope_with_se(tau, estimate):
    design = np.column_stack([np.ones_like(tau), tau])
    coef, *_ = np.linalg.lstsq(design, estimate, rcond=None)
    residual = estimate - design @ coef
    sigma2 = residual @ residual / (tau.shape[0] - 2)
    se = np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[1, 1])
    return float(coef[1]), float(se)


def _covers(interval, tau):
    return interval[0] <= tau <= interval[1]


def run_simulation(taus, n_bootstrap, ppi_available):
    per_method = {}
    shrinkage = []
    start = time.perf_counter()
    for i, tau in enumerate(taus):
        data, rows = _one_trial(
            seed=i, tau=float(tau), n_bootstrap=n_bootstrap, ppi_available=ppi_available
        )
        shrinkage.append(np.polyfit(data.y_calibration, data.y_pred_calibration, 1)[0])
        for name, (estimate, boot_ci, normal_ci, seconds) in rows.items():
            record = per_method.setdefault(
                name, {"estimate": [], "covered": [], "covered_normal": [], "seconds": []}
            )
            record["estimate"].append(estimate)
            record["covered"].append(_covers(boot_ci, tau))
            record["covered_normal"].append(_covers(normal_ci, tau))
            record["seconds"].append(seconds)
        print(f"  trial {i + 1}/{len(taus)} (tau={tau:+.2f}) done", file=sys.stderr, flush=True)
    summary = {}
    for name, record in per_method.items():
        estimate = np.asarray(record["estimate"])
        slope, slope_se = _slope_with_se(taus, estimate)
        summary[name] = {
            "slope": slope,
            "slope_se": slope_se,
            "mae": float(np.mean(np.abs(estimate - taus))),
            "coverage": float(np.mean(record["covered"])),
            "coverage_normal": float(np.mean(record["covered_normal"])),
            "seconds_per_trial": float(np.mean(record["seconds"])),
            "estimates": estimate.tolist(),
        }
    return summary, {
        "calibration_slope_k_mean": float(np.mean(shrinkage)),
        "wall_seconds": time.perf_counter() - start,
    }


def _timed(function, repeats=3):
    """Best-of-``repeats`` wall time, then one more run under tracemalloc for peak memory."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, min(seconds), peak / 2**20


def run_speed(n_predictions, n_calibration=2000, n_scipy=20_000, seed=0):
    rng = np.random.default_rng(seed)
    y_pred = rng.gamma(4.0, 1.0, size=n_predictions)  # a skewed prediction map
    y_pred_cal = y_pred[:n_calibration]
    y_cal = y_pred_cal + rng.normal(scale=1.0, size=n_calibration)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        corrector = TweedieCorrector().fit(y_pred_cal, y_cal)
        corrector.transform(y_pred[:1000])  # warm-up
        corrected, seconds, peak = _timed(lambda: corrector.transform(y_pred))
        results["skultr TweedieCorrector (calibration density)"] = {
            "seconds": seconds,
            "peak_mib": peak,
            "extrapolated": False,
        }
        transform_mode = TweedieCorrector(density_sample="transform").fit(y_pred_cal, y_cal)
        _, seconds, peak = _timed(lambda: transform_mode.transform(y_pred))
        results["skultr TweedieCorrector (density of all predictions)"] = {
            "seconds": seconds,
            "peak_mib": peak,
            "extrapolated": False,
        }

    kde = gaussian_kde(y_pred_cal)
    subsample = y_pred[:n_scipy]
    delta = 1e-3 * y_pred_cal.std()

    def scipy_correction():
        score = (kde.logpdf(subsample + delta) - kde.logpdf(subsample - delta)) / (2 * delta)
        return subsample - corrector.sigma_**2 * score, score

    (scipy_corrected, _), seconds, peak = _timed(scipy_correction, repeats=1)
    results["scipy gaussian_kde + finite difference"] = {
        "seconds": seconds * n_predictions / n_scipy,
        "peak_mib": peak,
        "extrapolated": True,
        "measured_seconds_on_subsample": seconds,
        "subsample": n_scipy,
    }
    skultr_seconds = results["skultr TweedieCorrector (calibration density)"]["seconds"]
    return results, {
        "n_predictions": n_predictions,
        "n_calibration": n_calibration,
        "max_abs_difference_on_subsample": float(
            np.max(np.abs(scipy_corrected - corrected[:n_scipy]))
        ),
        "speedup_vs_scipy": results["scipy gaussian_kde + finite difference"]["seconds"]
        / skultr_seconds,
    }


def _print_simulation(summary, info, n_trials, n_bootstrap):
    print(
        f"\n### Simulation: {n_trials} trials, tau in [-2, 2], n = 10,000, IPW "
        f"(mean calibration slope k = {info['calibration_slope_k_mean']:.3f}; "
        f"{n_bootstrap} bootstrap resamples; {info['wall_seconds']:.0f} s)\n"
    )
    print("| method | slope (SE) | MAE | coverage (bootstrap) | coverage (normal) | s / trial |")
    print("|---|---|---|---|---|---|")
    for name, row in summary.items():
        print(
            f"| {name} | {row['slope']:.3f} ({row['slope_se']:.3f}) | {row['mae']:.3f} | "
            f"{row['coverage']:.2f} | {row['coverage_normal']:.2f} | "
            f"{row['seconds_per_trial']:.2f} |"
        )


def _print_speed(results, info):
    print(
        f"\n### Speed: correcting {info['n_predictions']:,} predictions "
        f"(density of {info['n_calibration']:,} calibration predictions)\n"
    )
    print("| implementation | seconds (best of 3) | peak MiB | note |")
    print("|---|---|---|---|")
    for name, row in results.items():
        note = (
            f"extrapolated from {row['subsample']:,} predictions "
            f"({row['measured_seconds_on_subsample']:.2f} s)"
            if row["extrapolated"]
            else "measured"
        )
        memory = "n/a" if row["extrapolated"] else f"{row['peak_mib']:.0f}"
        print(f"| {name} | {row['seconds']:.2f} | {memory} | {note} |")
    print(
        f"\nskultr is {info['speedup_vs_scipy']:.0f}x faster; largest difference of the "
        f"corrected values on the subsample: {info['max_abs_difference_on_subsample']:.2e}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 trials, 1M predictions")
    parser.add_argument("--n-bootstrap", type=int, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "tweedie.json")
    args = parser.parse_args(argv)

    n_trials = 10 if args.quick else 50
    n_bootstrap = args.n_bootstrap or (200 if args.quick else 400)
    n_predictions = 1_000_000 if args.quick else 10_000_000
    taus = np.linspace(-2.0, 2.0, n_trials)

    try:
        import ppi_py  # noqa: F401

        ppi_available = True
    except ImportError:
        ppi_available = False
        print("ppi-python is not installed: the PPI rows are left out.", file=sys.stderr)

    summary, info = run_simulation(taus, n_bootstrap, ppi_available)
    speed, speed_info = run_speed(n_predictions)
    _print_simulation(summary, info, n_trials, n_bootstrap)
    _print_speed(speed, speed_info)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "tweedie",
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "versions": {
            "skultr": skultr.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "simulation": {
            "taus": taus.tolist(),
            "n_bootstrap": n_bootstrap,
            **info,
            "methods": summary,
        },
        "speed": {**speed_info, "implementations": speed},
    }
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
