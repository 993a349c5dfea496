"""The kernel-balancing part of ``make demo``."""

from skultr._demo import PARTS
from skultr.recommendation._demo_kb import run_demo


def test_quick_demo_prints_and_returns_its_numbers(capsys):
    results = run_demo(quick=True, random_state=0)
    out = capsys.readouterr().out
    assert "MMD" in out and "log loss, all pairs" in out
    mmd = results["mmd"]
    # the base weights' imbalance is detectable (measured 0.0037 ± 0.0008), the balanced
    # weights' is not (0.0006 ± 0.0018); the quick demo is too small to show more
    assert mmd["naive_bayes"] > 3 * mmd["naive_bayes_se"]
    assert abs(mmd["balanced"]) < 2 * mmd["balanced_se"]
    truth = results["ideal_loss"]["truth"]
    assert abs(results["ideal_loss"]["kbips"] - truth) < abs(results["ideal_loss"]["ips"] - truth)
    losses = results["full_log_loss"]
    assert set(losses) == {"naive MF", "IPS", "DR-JL", "KBIPS", "AKBDR"}
    # debiased training lowers the ideal loss (log loss on every pair) below naive MF's
    assert max(losses[name] for name in ("IPS", "DR-JL", "KBIPS", "AKBDR")) < losses["naive MF"]
    assert PARTS["kernel_balancing"] == "skultr.recommendation._demo_kb:run_demo"
