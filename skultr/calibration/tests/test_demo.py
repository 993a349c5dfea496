"""The demonstration run by ``python -m skultr``."""

import pytest

from skultr.calibration._demo import run_demo


def test_quick_demo_reports_attenuation_and_its_correction(capsys):
    results = run_demo(quick=True, random_state=0)
    report = capsys.readouterr().out
    assert "naive" in report and "Tweedie" in report and "slope" in report
    assert results["taus"] == [-2.0, 0.0, 2.0]
    assert set(results["estimates"]) == set(results["slope"]) == set(results["mae"])
    # Three trials only, so the slopes carry ~0.05 of noise; the naive slope is the shrinkage
    # k ~ 0.35 of the ridge predictor on 3,200 units with 100 features.
    assert results["slope"]["naive"] < 0.6
    for name in ("LCC", "Tweedie", "Tweedie (map density, deconvolved)"):
        assert results["slope"][name] == pytest.approx(1.0, abs=0.15)
        assert results["mae"][name] < 0.5 * results["mae"]["naive"]
    assert results["seconds"] < 30
