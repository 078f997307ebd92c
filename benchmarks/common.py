"""What every benchmark shares: where things are, how a time is taken, how a fresh process is run, what the
machine is, and how progress is logged.

No TensorFlow import at module level: the trigger's benchmarks run without it (a Lambda has none), and
``machine`` imports it only where it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
RESULTS = REPO / "benchmarks" / "results"
#: CPU features that decide which kernels oneDNN runs (bfloat16 is native only with the last four).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def log(message: str) -> None:
    """A progress line on stderr (stdout is kept for what a fresh process reports to its parent)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- the machine -------------------------------------------------------------------------------------------------


def machine(network: str = "vgg19") -> dict[str, object]:
    """The machine every figure of one results file was measured on: CPU model, cores this process may use, the
    CPU features that matter, GPUs, memory, the versions that decide the kernels, and the weights of ``network``
    (the feature network the figures were measured with)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    described: dict[str, object] = {
        "cpu": model or platform.processor(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("workflows") is not None:
        import keras
        import numpy as np
        import tensorflow as tf

        from workflows.engine.networks.vgg_features import weights_from_env

        described.update(
            gpus=[device.name for device in tf.config.list_physical_devices("GPU")],
            tensorflow=tf.__version__,
            keras=keras.__version__,
            numpy=np.__version__,
            weights=weights_from_env(network=network).kind,
        )
    return described


# --- timing ------------------------------------------------------------------------------------------------------


def wall_samples(function: Callable[[], object], repeats: int, warmup: int = 2) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``function`` after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def timed(function: Callable[[], object], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median and fastest wall seconds of ``repeats`` calls of ``function`` after ``warmup`` calls."""
    samples = wall_samples(function, repeats, warmup)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "n": repeats}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` percentile of ``values`` (0.95: p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- fresh processes ---------------------------------------------------------------------------------------------


def child_env(
    tree: Path, scratch: Path | str, environ: Mapping[str, str] | None = None, **extra: str
) -> dict[str, str]:
    """A fresh process's environment: this checkout's ``benchmarks`` importable (``python -m``), and its
    temporary files (flytekit's local sandbox: every task's inputs, outputs and checkpoints) under ``scratch``,
    which the caller removes. Left in /tmp they pile up (tens of GB over a ``make bench``), and the page cache
    they fill slows every later fresh process: its memory must first be reclaimed from that cache. The tree
    under test (``tree``: this checkout or another commit's files) is put first on ``sys.path`` by the fresh
    module itself (``benchmarks.fresh.use_tree``), so ``workflows`` is that tree's. ``environ`` replaces this
    process's environment as the base (a benchmark that controls every setting the child sees)."""
    base = os.environ if environ is None else environ
    return {**base, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch), "NST_BENCH_TREE": str(tree), **extra}


def run_fresh(
    module: str,
    *arguments: object,
    scratch: Path | str,
    tree: Path = REPO,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
    **extra_env: str,
) -> tuple[Any, float, subprocess.CompletedProcess[str]]:
    """``python -m benchmarks.fresh.<module> arguments...`` in a fresh interpreter: what the last line of its
    output holds (JSON; None when it wrote nothing or failed and ``check`` is false), its wall seconds
    (interpreter start and exit included), and the finished process. ``environ``: see ``child_env``."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.fresh.{module}", *map(str, arguments)],
        cwd=REPO,
        env=child_env(tree, scratch, environ, **extra_env),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0 and check:
        raise RuntimeError(f"benchmarks.fresh.{module} failed ({done.returncode}): {done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    reported = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    return reported, wall, done


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM), as a pod's memory limit counts it."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
