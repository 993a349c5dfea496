"""``benchmarks/gpu_check.py`` in its dry-run mode, so the GPU check does not rot unseen.

The script is meant to run once on a machine with CUDA; here it runs its CPU half on tiny
data, in process, and the JSON it writes must keep the shape the GPU run will fill.
"""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"

# The torch estimators the issue names; the script finds them (and any new one) itself.
EXPECTED = {
    "DLARanker": ("click_log", "sessions"),
    "IPWRanker": ("click_log", "sessions"),
    "NaiveRanker": ("click_log", "sessions"),
    "RelMFRecommender": ("implicit", "clicks"),
    "ImplicitMFRecommender": ("implicit", "clicks"),
    "WMFRecommender": ("implicit", "clicks"),
    "BPRRecommender": ("implicit", "clicks"),
    "DebiasedMFRecommender": ("ratings", "pairs"),
    "KernelBalancingPropensity": ("ratings", "pairs"),
    "TorchMLPRegressor": ("tabular", "rows"),
}
ROW_KEYS = {
    "name",
    "module",
    "data",
    "size_unit",
    "size",
    "unit",
    "n_units",
    "batch_size",
    "cpu",
    "gpu",
    "speedup",
    "error",
    "skipped",
}


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dry_run(gpu_check, tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    rc = gpu_check.main(["--dry-run", "--out", str(out)])
    return rc, out


def test_finds_every_torch_estimator(gpu_check):
    found = {name: gpu_check.data_kind(cls) for name, cls in gpu_check.torch_estimators()}
    for name, (kind, _) in EXPECTED.items():
        assert found.get(name) == kind, name


def test_dry_run_writes_the_gpu_shape(dry_run):
    rc, out = dry_run
    assert rc == 0
    assert (out / "gpu_check.md").read_text().startswith("| estimator |")
    results = json.loads((out / "gpu_check.json").read_text())
    assert set(results) == {
        "schema",
        "date",
        "mode",
        "cuda_available",
        "note",
        "environment",
        "pytest_gpu",
        "dla_target",
        "estimators",
        "total_seconds",
    }
    assert results["mode"] == "dry-run"
    assert "dry run" in results["note"] or "no CUDA device" in results["note"]
    env = results["environment"]
    assert {"gpu_name", "torch", "cuda", "cpu_count", "sklearn", "skorch"} <= set(env)
    assert env["gpu_name"] is None

    pytest_gpu = results["pytest_gpu"]
    assert pytest_gpu["ran"] is False
    assert {"passed", "failed", "errors", "skipped", "summary"} <= set(pytest_gpu)

    dla = results["dla_target"]
    assert dla["target_sessions_per_s"] == 100_000
    assert dla["hidden_layer_sizes"] == [512, 256, 128] and dla["batch_size"] == 1024
    assert dla["error"] is None and dla["gpu"] is None and dla["met"] is None
    assert dla["cpu"]["per_s"] > 0

    rows = {row["name"]: row for row in results["estimators"]}
    assert set(EXPECTED) <= set(rows)
    for name, (kind, unit) in EXPECTED.items():
        row = rows[name]
        assert set(row) == ROW_KEYS, name
        assert row["error"] is None and row["skipped"] is None, (name, row["error"])
        assert (row["data"], row["unit"]) == (kind, unit)
        assert row["cpu"]["per_s"] > 0 and row["cpu"]["epochs"] >= 1
        assert row["gpu"] is None and row["speedup"] is None
