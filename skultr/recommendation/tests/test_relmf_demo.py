"""The Rel-MF part of ``make demo``."""

from skultr._demo import PARTS
from skultr.recommendation._demo_relmf import run_demo


def test_quick_demo_prints_and_returns_its_numbers(capsys):
    results = run_demo(quick=True, random_state=0)
    out = capsys.readouterr().out
    assert "ideal loss" in out and "Rel-MF" in out
    models = results["models"]
    assert set(models) == {"naive MF", "Rel-MF (popularity)", "Rel-MF (true theta, M=0.2)"}
    naive, relmf = models["naive MF"], models["Rel-MF (popularity)"]
    assert relmf["ideal_loss"] < naive["ideal_loss"]
    assert relmf["true_dcg5"] > naive["true_dcg5"]
    assert PARTS["relmf"] == "skultr.recommendation._demo_relmf:run_demo"
