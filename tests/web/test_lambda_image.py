"""What can be checked of the web API's Lambda image without Docker: its handler, and that the modules it imports
need nothing beyond web/requirements.txt (no TensorFlow, no flytekit)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "web" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.partition(" ")[0].upper(), line.partition(" ")[2].strip()) for line in lines]


def test_the_image_holds_the_handler_and_what_it_imports() -> None:
    assert [rest for keyword, rest in instructions() if keyword == "FROM"] == ["public.ecr.aws/lambda/python:3.12"]
    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert ["web/", "${LAMBDA_TASK_ROOT}/web/"] in copies
    assert ["lambda_trigger/", "${LAMBDA_TASK_ROOT}/lambda_trigger/"] in copies
    assert ["web/requirements.txt", "/tmp/requirements.txt"] in copies
    (cmd,) = [json.loads(rest) for keyword, rest in instructions() if keyword == "CMD"]
    assert cmd == ["web.lambda_function.lambda_handler"]


def test_the_handler_imports_only_its_own_requirements() -> None:
    """Imported in a fresh interpreter, as the runtime does: every third-party top-level module loaded is one that
    web/requirements.txt installs (or one of their dependencies), and none of the trigger's or the workflow's."""
    script = (
        "import sys, json; import web.lambda_function as entry; assert callable(entry.lambda_handler); "
        "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))"
    )
    env = {"PATH": "/usr/bin:/bin", "NST_ALLOWED_BUCKETS": "nst-web", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(json.loads(done.stdout))
    for heavy in ("tensorflow", "flytekit", "workflows", "devstack", "aws_lambda_powertools", "numpy", "PIL"):
        assert heavy not in loaded, f"the web Lambda imports {heavy}, which its image does not install"
    assert {"fastapi", "mangum", "boto3", "web", "lambda_trigger"} <= loaded


def test_the_image_installs_the_pinned_requirements_tested_here() -> None:
    from importlib import metadata

    pins = {}
    for line in (REPO / "web" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[0-9][\w.]*", version), f"{line} is not pinned"
            pins[name] = version
    assert set(pins) == {"fastapi", "mangum", "boto3"}
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: pinned {version}, tested with {metadata.version(name)}"
