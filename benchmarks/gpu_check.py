"""GPU readiness check: ``pytest -m gpu`` and CPU-vs-GPU throughput of every torch estimator.

On a machine with CUDA this script, in one go and in under 8 minutes:

1. runs ``pytest -m gpu`` and records the passed / failed / skipped counts;
2. times ``DLARanker`` with its default (512, 256, 128) MLP at batch size 1024 on a synthetic
   click log (``make_ranking_dataset`` + ``make_click_log``) against the issue's target of
   100,000 sessions/s on the GPU;
3. times every torch estimator, on the CPU and on the GPU, on the same synthetic data:
   the public estimators of :func:`skultr.utils.discovery.all_estimators` whose constructor
   takes ``device`` (so a new torch estimator joins without an edit here), plus the engine's
   reference model ``skultr._torch.TorchMLPRegressor``. Throughput is sessions/s for rankers,
   clicks/s or pairs/s (per epoch, summed over the epochs run) for the recommenders and
   propensity models, rows/s for the MLP regressor. Each size is calibrated from a short
   warm-up fit on both devices so that the CPU + GPU pair takes about ``--pair-seconds``.

It writes ``gpu_check.json`` (results, GPU name, torch / CUDA versions), ``gpu_check.md``
(the table, also printed) and the pytest log under ``--out``
(default ``benchmarks/results/gpu_check/``).

Without CUDA, or with ``--dry-run``, only the CPU half runs, on tiny data and one epoch; the
JSON has the same keys, the GPU fields are null and ``note`` says that no CUDA device was
used. ``tests/test_gpu_check.py`` runs that mode so the script keeps working.

    python benchmarks/gpu_check.py [--out DIR] [--dry-run] [--budget 450] [--pytest]
    make gpu-check GPU_CHECK_OUT=DIR

On the workplace's device machine (no network; its python3 holds CUDA torch but not skorch),
with the wheels of ``.whl/`` carried (``run(..., carry=[".whl"])``), the command is one line::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || export PYTHONPATH=$PWD:$PYTHONPATH; export PYTHONUNBUFFERED=1; if command -v make >/dev/null; then make gpu-check GPU_CHECK_OUT=$OUT; else python3 benchmarks/gpu_check.py --out $OUT; fi

(see the GPU section of ``doc/developer.rst`` for how ``.whl/`` is filled).
"""  # noqa: E501

import argparse
import datetime
import importlib
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without an install
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "gpu_check"
# Torch estimators that the public registry does not list (private modules).
EXTRA_ESTIMATORS = ("skultr._torch:TorchMLPRegressor",)
DLA_TARGET = 100_000  # sessions/s on the GPU, default MLP, batch 1024 (issue)
DLA_HIDDEN = (512, 256, 128)
NO_CUDA_NOTE = "no CUDA device: dry run, CPU half only on tiny data; GPU fields are null"

# Scale of each kind of data: the unit the size counts, the warm-up (probe) size, the
# largest size a timed run may use, and the size of a dry run.
KINDS = {
    "click_log": {"size": "sessions", "probe": 2_000, "cap": 200_000, "dry": 200},
    "implicit": {"size": "users", "probe": 500, "cap": 40_000, "dry": 60},
    "ratings": {"size": "users", "probe": 500, "cap": 40_000, "dry": 60},
    "tabular": {"size": "rows", "probe": 5_000, "cap": 1_000_000, "dry": 500},
}
N_ITEMS = {"implicit": 1_000, "ratings": 1_000}
N_ITEMS_DRY = 40


# --------------------------------------------------------------------------------------------
# Estimators and their data
# --------------------------------------------------------------------------------------------


def torch_estimators():
    """``(name, class)`` of every estimator whose constructor takes ``device``."""
    from skultr.utils.discovery import all_estimators

    found = dict(all_estimators())
    for spec in EXTRA_ESTIMATORS:
        module, name = spec.split(":")
        found[name] = getattr(importlib.import_module(module), name)
    return [
        (name, cls)
        for name, cls in sorted(found.items())
        if "device" in inspect.signature(cls).parameters
    ]


def data_kind(cls):
    """Which synthetic data an estimator is fitted on, read off its signatures."""
    fit = inspect.signature(cls.fit).parameters
    init = inspect.signature(cls).parameters
    if "qid" in fit:
        return "click_log"
    if "n_users" in init:  # (user id, item id) pairs
        y = fit.get("y")
        if "user_features" in fit or (y is not None and y.default is inspect.Parameter.empty):
            return "ratings"
        return "implicit"
    return "tabular"


def make_data(kind, size, *, dry=False, seed=0):
    """``(args, kwargs, n_units, unit)`` of a ``fit`` call on synthetic data of ``size``."""
    from skultr.datasets import (
        make_click_log,
        make_mnar_implicit_feedback,
        make_mnar_ratings,
        make_ranking_dataset,
    )

    if kind == "click_log":
        X, y, qid = make_ranking_dataset(50 if dry else 2_000, random_state=seed)
        log = make_click_log(X, y, qid, n_sessions=size, random_state=seed)
        kwargs = {"qid": log.qid, "position": log.position}
        return (log.X, log.clicks), kwargs, size, "sessions"
    n_items = N_ITEMS_DRY if dry else N_ITEMS.get(kind, 1_000)
    if kind == "implicit":
        data = make_mnar_implicit_feedback(n_users=size, n_items=n_items, random_state=seed)
        return (data.X,), {}, len(data.X), "clicks"
    if kind == "ratings":
        data = make_mnar_ratings(size, n_items, density=0.1 if dry else 0.05, random_state=seed)
        return (data.X, (data.y >= 4).astype(np.float64)), {}, len(data.X), "pairs"
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(size, 32)).astype(np.float32)
    y = (np.tanh(X[:, :4]).sum(1) + 0.1 * rng.normal(size=size)).astype(np.float32)
    return (X, y), {}, size, "rows"


def fit_args(cls, args, kwargs):
    """Drop keyword arguments that this ``fit`` does not take (a new estimator's)."""
    accepted = inspect.signature(cls.fit).parameters
    return args, {k: v for k, v in kwargs.items() if k in accepted}


def estimator_params(cls, device, epochs, **extra):
    """Fixed-length training: no early stopping, no convergence stop, quiet, seeded."""
    accepted = inspect.signature(cls).parameters
    wanted = {
        "device": device,
        "max_epochs": epochs,
        "random_state": 0,
        "verbose": 0,
        "early_stopping": False,
        "tol": 0.0,
        **extra,
    }
    return {k: v for k, v in wanted.items() if k in accepted}


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed_fit(cls, params, args, kwargs):
    """Fit once; wall seconds (CUDA synchronised), epochs run, seconds inside the epochs."""
    est = cls(**params)
    device = params.get("device", "cpu")
    _sync(device)
    start = time.perf_counter()
    est.fit(*args, **kwargs)
    _sync(device)
    seconds = time.perf_counter() - start
    epochs = getattr(est, "n_iter_", None)
    history = getattr(est, "history_", None)
    epoch_seconds = None
    try:
        if history is not None and len(history):
            epoch_seconds = float(sum(history[:, "dur"]))
            epochs = epochs or len(history)
    except (KeyError, TypeError, IndexError):  # no per-epoch durations recorded
        epoch_seconds = None
    epochs = int(epochs or params.get("max_epochs", 1))
    return {"seconds": seconds, "epochs": epochs, "epoch_seconds": epoch_seconds}


def _rate(run, n_units):
    run["per_s"] = n_units * run["epochs"] / run["seconds"] if run["seconds"] > 0 else None
    return run


def empty_row(name, cls):
    """The keys of one estimator's result, all unset."""
    init = inspect.signature(cls).parameters
    return {
        "name": name,
        "module": cls.__module__,
        "data": None,
        "size_unit": None,
        "size": None,
        "unit": None,
        "n_units": None,
        "batch_size": init["batch_size"].default if "batch_size" in init else None,
        "cpu": None,
        "gpu": None,
        "speedup": None,
        "error": None,
        "skipped": None,
    }


def bench_estimator(name, cls, *, gpu, dry, epochs, pair_seconds):
    kind = data_kind(cls)
    spec = KINDS[kind]
    row = empty_row(name, cls)
    row.update(data=kind, size_unit=spec["size"])
    devices = ["cpu", gpu] if gpu else ["cpu"]
    try:
        if dry:
            size = spec["dry"]
        else:
            # Warm-up fit of one epoch on each device (CUDA kernels, allocator, caches), which
            # also calibrates the size: the probe's seconds per unit, scaled to pair_seconds.
            args, kwargs, n_probe, _ = make_data(kind, spec["probe"])
            args, kwargs = fit_args(cls, args, kwargs)
            probe_seconds = 0.0
            for device in devices:
                probe = timed_fit(cls, estimator_params(cls, device, 1), args, kwargs)
                probe_seconds += probe["seconds"]
            per_probe_epoch = max(probe_seconds, 1e-3)
            scale = pair_seconds / (epochs * per_probe_epoch)
            size = int(min(spec["cap"], max(spec["probe"], spec["probe"] * scale)))
        args, kwargs, n_units, unit = make_data(kind, size, dry=dry)
        args, kwargs = fit_args(cls, args, kwargs)
        row.update(size=size, unit=unit, n_units=n_units)
        for device, key in [("cpu", "cpu"), (gpu, "gpu")][: len(devices)]:
            run = timed_fit(cls, estimator_params(cls, device, epochs), args, kwargs)
            row[key] = _rate(run, n_units)
        if row["gpu"] is not None:
            row["speedup"] = row["cpu"]["seconds"] / row["gpu"]["seconds"]
    except Exception as exc:  # one broken estimator must not hide the others' numbers
        row["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    return row


# --------------------------------------------------------------------------------------------
# DLA target
# --------------------------------------------------------------------------------------------


def bench_dla_target(*, gpu, dry, gpu_seconds):
    """Sessions/s of DLARanker, default MLP, batch 1024; the target is on the GPU."""
    from skultr.ranking import DLARanker

    result = {
        "target_sessions_per_s": DLA_TARGET,
        "hidden_layer_sizes": list(DLA_HIDDEN),
        "batch_size": 1024,
        "cpu": None,
        "gpu": None,
        "met": None,
        "error": None,
    }
    cls = DLARanker
    extra = {"hidden_layer_sizes": DLA_HIDDEN, "batch_size": 1024}
    try:
        n_cpu = 200 if dry else 20_000
        args, kwargs, _, _ = make_data("click_log", n_cpu, dry=dry)
        cpu = timed_fit(cls, estimator_params(cls, "cpu", 1, **extra), args, kwargs)
        result["cpu"] = {**_rate(cpu, n_cpu), "n_sessions": n_cpu}
        if gpu:
            # Warm-up on the CPU run's log, then a run sized to take about gpu_seconds.
            warm = timed_fit(cls, estimator_params(cls, gpu, 1, **extra), args, kwargs)
            n_gpu = 200_000
            per_session = max(warm["seconds"], 1e-3) / n_cpu
            epochs = int(min(30, max(1, round(gpu_seconds / (per_session * n_gpu)))))
            args, kwargs, _, _ = make_data("click_log", n_gpu)
            gpu = timed_fit(cls, estimator_params(cls, gpu, epochs, **extra), args, kwargs)
            gpu = {**_rate(gpu, n_gpu), "n_sessions": n_gpu}
            if gpu["epoch_seconds"]:
                gpu["epoch_per_s"] = n_gpu * gpu["epochs"] / gpu["epoch_seconds"]
            result["gpu"] = gpu
            if str(gpu).startswith("cuda"):
                result["met"] = bool(max(gpu["per_s"], gpu.get("epoch_per_s") or 0) >= DLA_TARGET)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    return result


# --------------------------------------------------------------------------------------------
# pytest -m gpu
# --------------------------------------------------------------------------------------------


def run_pytest(out, *, timeout, paths=()):
    """Run ``pytest -m gpu`` in a subprocess; counts from its JUnit XML and summary line."""
    junit = out / "pytest_gpu.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        *paths,
    ]
    result = {
        "ran": True,
        "command": " ".join(command[1:]),
        "returncode": None,
        "passed": None,
        "failed": None,
        "errors": None,
        "skipped": None,
        "deselected": None,
        "summary": None,
        "seconds": None,
        "note": None,
    }
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        result["note"] = f"timed out after {timeout} s"
        output = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
    else:
        result["returncode"] = proc.returncode
        output = proc.stdout + proc.stderr
    result["seconds"] = time.perf_counter() - start
    (out / "pytest_gpu.log").write_text(output or "")
    lines = [line for line in (output or "").splitlines() if re.search(r" in [\d.]+s", line)]
    if lines:
        result["summary"] = lines[-1].strip("= ")
        match = re.search(r"(\d+) deselected", lines[-1])
        result["deselected"] = int(match.group(1)) if match else 0
    if junit.exists():
        root = ET.parse(junit).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        keys = ("tests", "failures", "errors", "skipped")
        count = {k: sum(int(suite.get(k, 0)) for suite in suites) for k in keys}
        result.update(
            failed=count["failures"],
            errors=count["errors"],
            skipped=count["skipped"],
            passed=count["tests"] - count["failures"] - count["errors"] - count["skipped"],
        )
    return result


# --------------------------------------------------------------------------------------------
# Environment and output
# --------------------------------------------------------------------------------------------


def _version(module):
    try:
        return importlib.import_module(module).__version__
    except Exception:  # not installed, or no version attribute
        return None


def environment(cuda):
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpu_name": None,
        "gpu_memory_gib": None,
        "gpu_capability": None,
    }
    for module in ("skultr", "numpy", "scipy", "sklearn", "skorch", "tqdm", "pandas"):
        env[module] = _version(module)
    if cuda:
        props = torch.cuda.get_device_properties(0)
        env["gpu_name"] = props.name
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        env["gpu_capability"] = f"{props.major}.{props.minor}"
    return env


def _fmt(value, spec=",.0f"):
    return "—" if value is None else format(value, spec)


def markdown(results):
    lines = [
        "| estimator | data | size | epochs | batch | CPU s | CPU units/s | GPU s | GPU units/s "
        "| GPU speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["estimators"]:
        cpu, gpu = row["cpu"] or {}, row["gpu"] or {}
        unit = row["unit"] or "units"
        size = f"{_fmt(row['size'])} {row['size_unit']}" if row["size"] else "—"
        if row["error"] or row["skipped"]:
            size += f" ({row['error'] or row['skipped']})"[:80]
        lines.append(
            f"| {row['name']} | {row['data']} | {size} | {cpu.get('epochs', '—')} "
            f"| {row['batch_size'] if row['batch_size'] is not None else '—'} "
            f"| {_fmt(cpu.get('seconds'), '.2f')} | {_fmt(cpu.get('per_s'))} {unit}/s "
            f"| {_fmt(gpu.get('seconds'), '.2f')} | {_fmt(gpu.get('per_s'))} "
            f"| {_fmt(row['speedup'], '.1f')}x |".replace("—x", "—")
        )
    dla = results["dla_target"]
    cpu, gpu = dla["cpu"] or {}, dla["gpu"] or {}
    lines += [
        "",
        f"DLA target (>= {DLA_TARGET:,} sessions/s, MLP {DLA_HIDDEN}, batch 1024): "
        f"GPU {_fmt(gpu.get('per_s'))} sessions/s end to end"
        f" ({_fmt(gpu.get('epoch_per_s'))} in the epochs), "
        f"CPU {_fmt(cpu.get('per_s'))} sessions/s; met: {dla['met']}",
    ]
    pt = results["pytest_gpu"]
    if pt["ran"]:
        lines.append(
            f"pytest -m gpu: {pt['passed']} passed, {pt['failed']} failed, "
            f"{pt['errors']} errors, {pt['skipped']} skipped ({pt['summary']})"
        )
    else:
        lines.append(f"pytest -m gpu: not run ({pt['note']})")
    env = results["environment"]
    lines.append(
        f"Machine: {env['gpu_name'] or 'no GPU'}, torch {env['torch']}, CUDA {env['cuda']}, "
        f"{env['cpu_count']} CPUs ({env['torch_threads']} torch threads)"
    )
    if results["note"]:
        lines.append(f"Note: {results['note']}")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU only, tiny data (automatic without CUDA)"
    )
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for everything")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per timed fit")
    parser.add_argument(
        "--pair-seconds", type=float, default=12.0, help="target seconds of one CPU + GPU pair"
    )
    parser.add_argument("--dla-seconds", type=float, default=15.0, help="DLA target GPU run")
    pytest_group = parser.add_mutually_exclusive_group()
    pytest_group.add_argument(
        "--pytest", dest="pytest", action="store_true", default=None, help="run pytest -m gpu"
    )
    pytest_group.add_argument("--no-pytest", dest="pytest", action="store_false")
    parser.add_argument("--pytest-timeout", type=int, default=180)
    parser.add_argument("--pytest-path", action="append", default=[], help="limit pytest")
    parser.add_argument(
        "--gpu-device",
        default="cuda",
        help="device of the GPU half; 'cpu' runs the full (non-dry) path twice on the CPU, "
        "to test the script's sizing without a GPU",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="time only these estimators (names)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    cuda = torch.cuda.is_available() and args.gpu_device.startswith("cuda")
    dry = args.dry_run or not (cuda or args.gpu_device == "cpu")
    gpu = None if dry else args.gpu_device
    cuda = cuda and not dry
    epochs = args.epochs or (1 if dry else 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if cuda:  # create the CUDA context before any timing
        torch.ones(1, device="cuda").sum().item()
    results = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "dry-run" if dry else "gpu",
        "cuda_available": torch.cuda.is_available(),
        "note": None,
        "environment": environment(cuda),
        "pytest_gpu": None,
        "dla_target": None,
        "estimators": [],
        "total_seconds": None,
    }

    if dry:
        results["note"] = (
            "dry run requested: CPU half only on tiny data; GPU fields are null"
            if torch.cuda.is_available()
            else NO_CUDA_NOTE
        )
    elif not cuda:
        results["note"] = f"GPU half ran on {gpu!r} (a test of the script): not GPU figures"
    run_tests = args.pytest if args.pytest is not None else not dry
    if run_tests:
        print("== pytest -m gpu", flush=True)
        results["pytest_gpu"] = run_pytest(
            out, timeout=args.pytest_timeout, paths=args.pytest_path
        )
        print(results["pytest_gpu"]["summary"], flush=True)
    else:
        results["pytest_gpu"] = {
            "ran": False,
            **dict.fromkeys(
                ["command", "returncode", "passed", "failed", "errors", "skipped"]
                + ["deselected", "summary", "seconds"]
            ),
            "note": "dry run; pass --pytest to run it",
        }

    print("== DLA target", flush=True)
    results["dla_target"] = bench_dla_target(gpu=gpu, dry=dry, gpu_seconds=args.dla_seconds)

    for name, cls in torch_estimators():
        if args.only and name not in args.only:
            continue
        left = args.budget - (time.perf_counter() - start)
        if not dry and left < 2.5 * args.pair_seconds:
            row = empty_row(name, cls)
            row["skipped"] = f"time budget: {left:.0f} s left of {args.budget:.0f} s"
            results["estimators"].append(row)
            continue
        print(f"== {name}", flush=True)
        results["estimators"].append(
            bench_estimator(
                name, cls, gpu=gpu, dry=dry, epochs=epochs, pair_seconds=args.pair_seconds
            )
        )
    results["total_seconds"] = time.perf_counter() - start
    table = markdown(results)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "gpu_check.md").write_text(table + "\n")
    print(table)
    print(f"wrote {out / 'gpu_check.json'} ({results['total_seconds']:.1f} s)")
    failed = any(row["error"] for row in results["estimators"]) or results["dla_target"]["error"]
    pt = results["pytest_gpu"]
    if pt["ran"] and (pt["returncode"] not in (0, 5) or pt["failed"] or pt["errors"]):
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
