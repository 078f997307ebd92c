"""`pyflyte run` of the workflow module as a user runs it: offline (random weights), no local cache (its
``~/.flyte`` entries point into temp folders that get cleaned), and a wide terminal so click's help is not
wrapped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pyflyte_run(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("pyflyte")), "run", "workflows/neural_style_transfer.py", *arguments]
    env = {**os.environ, "NST_VGG19_WEIGHTS": "random", "FLYTE_LOCAL_CACHE_ENABLED": "false", "COLUMNS": "200"}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
