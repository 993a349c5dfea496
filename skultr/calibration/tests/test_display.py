"""EffectRecoveryDisplay."""

import numpy as np
import pytest

from skultr.calibration import EffectRecoveryDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_display_reports_slopes_and_errors_and_draws_every_series():
    import matplotlib.pyplot as plt

    tau = np.linspace(-2, 2, 9)
    estimates = {"naive": 0.5 * tau, "corrected": tau + 0.1}
    intervals = {"corrected": np.column_stack([tau - 0.2, tau + 0.4])}
    fig, ax = plt.subplots()
    display = EffectRecoveryDisplay.from_estimates(tau, estimates, intervals=intervals, ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    assert display.slopes_ == pytest.approx({"naive": 0.5, "corrected": 1.0})
    assert display.mean_absolute_errors_["corrected"] == pytest.approx(0.1)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any(label.startswith("naive (slope 0.500") for label in labels)
    assert "truth" in labels
    plt.close(fig)


def test_display_rejects_mismatched_inputs():
    tau = [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match=r"estimates\['naive'\] must have one value per true"):
        EffectRecoveryDisplay.from_estimates(tau, {"naive": [0.0, 1.0]})
    with pytest.raises(ValueError, match="intervals names estimators without estimates"):
        EffectRecoveryDisplay.from_estimates(tau, {"naive": tau}, intervals={"lcc": [[0, 1]] * 3})
