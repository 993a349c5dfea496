"""The DLA part of ``make demo``."""

from skultr.ranking._demo import run_demo
from skultr.ranking.tests import single_torch_thread  # noqa: F401 (autouse fixture)


def test_quick_demo_prints_and_returns_its_numbers(capsys):
    results = run_demo(quick=True, random_state=0)
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "learned" in out and "true" in out
    assert set(results) == {"ndcg", "propensity", "fit_seconds", "n_sessions"}
    assert results["ndcg"]["DLA"] > results["ndcg"]["naive"]
    assert len(results["propensity"]["learned"]) == len(results["propensity"]["true"]) == 10
