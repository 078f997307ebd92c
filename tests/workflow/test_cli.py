"""The README's `pyflyte run` command, run as a user would, offline with random weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def test_pyflyte_run_completes_offline_and_prints_the_output(write_image) -> None:
    content = write_image("photo.jpg", 120, 90, quality=95)
    style = write_image("style.png", 64, 64, style=True)
    pyflyte = Path(sys.executable).with_name("pyflyte")
    command = [
        str(pyflyte),
        "run",
        "workflows/neural_style_transfer.py",
        "neural_style_transfer_wf",
        "--content_img",
        str(content),
        "--style_img",
        str(style),
        "--epochs",
        "1",
        "--steps_per_epoch",
        "3",
        "--max_dim",
        "96",
    ]
    env = {**os.environ, "NST_VGG19_WEIGHTS": "random"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-2000:]
    printed = [line for line in result.stdout.splitlines() if line.strip().endswith(".png")]
    assert printed, result.stdout
    with Image.open(printed[-1].strip()) as image:
        assert image.size == (96, 72)
    assert "epoch 1/1: step 3/3" in result.stderr
    assert "NOT a real stylization" in result.stderr
