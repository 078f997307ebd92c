"""What can be checked of the Lambda image without Docker: base image, COPY sources, the handler CMD names."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "lambda_trigger" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_built_on_the_aws_lambda_python_312_base_image() -> None:
    froms = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert froms == ["public.ecr.aws/lambda/python:3.12"]


def test_every_copy_source_exists_in_the_build_context() -> None:
    """The context is the repository root (docker build -f lambda_trigger/Dockerfile .)."""
    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert copies, "no COPY instruction"
    sources = [source for args in copies for source in args[:-1] if not source.startswith("--")]
    assert {"flyte.config", "lambda_trigger/", "lambda_trigger/requirements.txt"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), f"COPY source {source} is missing from the build context"


def test_the_package_lands_where_the_handler_path_expects_it() -> None:
    copies = [shlex.split(rest) for keyword, rest in instructions() if keyword == "COPY"]
    assert ["lambda_trigger/", "${LAMBDA_TASK_ROOT}/lambda_trigger/"] in copies
    assert ["flyte.config", "${LAMBDA_TASK_ROOT}/flyte.config"] in copies  # settings.DEFAULT_FLYTE_CONFIG


def test_the_cmd_handler_resolves_to_a_callable(handler) -> None:
    (cmd,) = [json.loads(rest) for keyword, rest in instructions() if keyword == "CMD"]
    (target,) = cmd
    module_name, _, function = target.rpartition(".")
    assert module_name == "lambda_trigger.lambda_function"
    handler()  # import it fresh, as the runtime would, with the default settings
    assert callable(getattr(importlib.import_module(module_name), function))


def test_the_image_installs_the_pinned_requirements_tested_here() -> None:
    pins = {}
    for line in (REPO / "lambda_trigger" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip()] = version.strip()
    assert set(pins) >= {"flytekit", "boto3", "aws-lambda-powertools"}
    for name, version in pins.items():
        assert version, f"{name} is not pinned"
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is pinned but not installed in this environment")
        assert installed == version, f"{name}: pinned {version}, tested with {installed}"
