"""The make targets that run the workflow on this machine: what they do about the VGG19 weights."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``make`` as a user runs it (not as a sub-make of ``make test``); never remakes the virtual environment."""
    inherited = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")
    clean = {k: v for k, v in os.environ.items() if k not in inherited and k != "NST_VGG19_WEIGHTS"}
    command = [MAKE, "--no-print-directory", "-o", ".venv/.installed", *arguments]
    return subprocess.run(command, cwd=REPO, env={**clean, **env}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_smoke_runs_offline_with_random_weights_and_survives_a_cleaned_temp_dir(tmp_path: Path) -> None:
    # A fresh HOME: no Keras cache to find ImageNet weights in, and flytekit's local cache stays out of ~/.flyte.
    for run in ("first", "after the temporary directory was cleaned"):
        temp = tmp_path / "tmp"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        result = make("smoke", env={"HOME": str(tmp_path), "TMPDIR": str(temp)})
        assert result.returncode == 0, f"{run}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        assert "NST_VGG19_WEIGHTS=random: VGG19 has random weights" in result.stdout + result.stderr
        png = Path(result.stdout.strip().splitlines()[-1].split()[-1])
        assert png.suffix == ".png" and png.is_file()


def test_bench_stops_in_one_line_before_benchmarking_when_the_weights_cannot_be_loaded(tmp_path: Path) -> None:
    missing = tmp_path / "vgg19.h5"
    result = make("bench", f"NST_VGG19_WEIGHTS={missing}", env={})
    assert result.returncode != 0
    assert [line for line in result.stderr.splitlines() if line.startswith("[bench]")] == [
        f"[bench] NST_VGG19_WEIGHTS={missing}: no such file. Offline? `make bench NST_VGG19_WEIGHTS=random` runs "
        "without them (the timing sections are the real network's; quality is measured on the VGG16 stand-in "
        "either way)"
    ]
    assert "Traceback" not in result.stderr and "bench_engine" not in result.stdout, "no benchmark started"


def test_the_demos_weights_line_says_random_weights_are_not_a_real_stylization(monkeypatch) -> None:
    """Random weights (the fast tests' setting) end the demo with a warning; the production network says nothing."""
    from devstack import weights

    monkeypatch.setenv("NST_VGG19_WEIGHTS", "random")
    chosen = weights.choose("demo")
    assert chosen.source.kind == "random"
    assert chosen.note.startswith("random (NST_VGG19_WEIGHTS=random): this is NOT a real stylization")
    assert weights.LocalWeights(weights.STAND_IN).note.startswith("trained VGG16 stand-in, fine-tuned on MRI scans")
