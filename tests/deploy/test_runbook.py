"""The deployment commands as far as they run without AWS, Docker or a cluster: the Makefile targets (dry runs and
their one-line failures when a tool is missing) and the runbook's execution-name one-liner."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flytekit.clis.sdk_in_container.register import register as register_command

from lambda_trigger.events import parse_event
from lambda_trigger.naming import execution_name
from tests.deploy.cfn import REPO, Template

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")
ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-trigger:v1"
ECR_WEB_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-web:v1"


def make(*arguments: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """``make`` in the repository, as a user runs it; never remakes the virtual environment (``-o``).

    The suite itself runs under ``make test``: the parent make's variables would turn this into a sub-make
    (``make[1]: ...`` lines, inherited flags), so they are left out."""
    inherited = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env["PATH"] = path if path is not None else os.environ["PATH"]
    command = [MAKE, "--no-print-directory", "-o", ".venv/.installed", *arguments]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH with nothing on it but what the failure checks themselves need: no docker, no sam."""
    return str(tmp_path)


@pytest.mark.parametrize(
    ("target", "line"),
    [
        ("task-image", "task-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)"),
        ("lambda-image", "lambda-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)"),
        ("web-image", "web-image: docker is not on PATH; install Docker to build images (docs/deploy.md, Prerequisites)"),
        ("deploy", "deploy: sam is not on PATH; install the AWS SAM CLI (docs/deploy.md, Prerequisites)"),
    ],
)  # fmt: skip
def test_targets_fail_with_one_line_when_their_tool_is_missing(bare_path: str, target: str, line: str) -> None:
    result = make(target, f"LAMBDA_IMAGE={ECR_IMAGE}", f"WEB_IMAGE={ECR_WEB_IMAGE}", "VERSION=v1", path=bare_path)
    assert result.returncode != 0
    assert [text for text in result.stderr.splitlines() if not text.startswith("make:")] == [line]


def test_deploy_refuses_a_trigger_image_outside_ecr(tmp_path: Path) -> None:
    fake_sam = tmp_path / "sam"
    fake_sam.write_text('#!/bin/sh\necho "sam $*"\n')
    fake_sam.chmod(0o755)
    result = make("deploy", "LAMBDA_IMAGE=nst-trigger:v1", path=f"{tmp_path}:/usr/bin:/bin")
    assert result.returncode != 0
    assert [line for line in result.stderr.splitlines() if not line.startswith("make:")] == [
        "deploy: LAMBDA_IMAGE=nst-trigger:v1 is not an ECR image URI; push the trigger image to ECR and pass "
        "LAMBDA_IMAGE=ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG"
    ]
    assert "sam " not in result.stdout, "nothing was built or deployed"
    web = make("deploy", f"LAMBDA_IMAGE={ECR_IMAGE}", "WEB_IMAGE=nst-web:v1", path=f"{tmp_path}:/usr/bin:/bin")
    assert web.returncode != 0 and "sam " not in web.stdout
    assert [line for line in web.stderr.splitlines() if not line.startswith("make:")] == [
        "deploy: WEB_IMAGE=nst-web:v1 is not an ECR image URI; push the web API image (make web-image) to ECR and "
        "pass WEB_IMAGE=ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG"
    ]


def test_task_image_passes_the_tag_and_the_tensorflow_package_through() -> None:
    plain = make("-n", "task-image", "IMAGE=r/nst-task:v1").stdout
    assert "docker build -t r/nst-task:v1 --build-arg tag=r/nst-task:v1  ." in plain
    gpu = make("-n", "task-image", "IMAGE=r/nst-task:v1", "TENSORFLOW_PACKAGE=tensorflow[and-cuda]==2.21.0").stdout
    assert '--build-arg TENSORFLOW_PACKAGE="tensorflow[and-cuda]==2.21.0"' in gpu


def test_lambda_image_builds_the_trigger_dockerfile_from_the_repository_root() -> None:
    out = make("-n", "lambda-image", f"LAMBDA_IMAGE={ECR_IMAGE}").stdout
    assert re.search(
        rf"docker build --platform linux/amd64 .*-f lambda_trigger/Dockerfile -t {re.escape(ECR_IMAGE)} \.$", out, re.M
    )


def test_register_runs_pyflyte_register_with_flags_it_has() -> None:
    out = make("-n", "register", "IMAGE=r/nst-task:v1", "VERSION=v1").stdout
    command = " ".join(out.replace("\\\n", " ").split())
    assert (
        ".venv/bin/pyflyte -c flyte.config register workflows --project flytesnacks --domain development "
        "--image r/nst-task:v1 --version v1 --copy none"
    ) in command
    flags = {option for parameter in register_command.params for option in parameter.opts}
    assert {"--project", "--domain", "--image", "--version", "--copy", "--dry-run"} <= flags


def test_deploy_is_guided_the_first_time_and_names_the_trigger_function() -> None:
    if (REPO / "deploy" / "samconfig.toml").exists():
        pytest.skip("deploy/samconfig.toml exists here: make deploy would take the plain branch")
    out = make("-n", "deploy", f"LAMBDA_IMAGE={ECR_IMAGE}", f"WEB_IMAGE={ECR_WEB_IMAGE}").stdout
    assert "cd deploy && sam build" in out
    guided = " ".join(out.replace("\\\n", " ").split())
    assert "sam deploy --guided --stack-name nst --capabilities CAPABILITY_IAM" in guided
    repository = ECR_IMAGE.rsplit(":", 1)[0]
    assert f"--image-repositories TriggerFunction={repository}" in guided
    assert f"--image-repositories WebApiFunction={ECR_WEB_IMAGE.rsplit(':', 1)[0]}" in guided
    assert f"--parameter-overrides TriggerImageUri={ECR_IMAGE} WebImageUri={ECR_WEB_IMAGE}" in guided
    assert Template().resources["TriggerFunction"]["Type"] == "AWS::Serverless::Function"


def test_runbook_execution_name_one_liner_matches_the_trigger() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"<!-- execution-name:begin -->\s*```sh\n(.*?)```", text, re.S).group(1).strip()
    assert block.startswith(".venv/bin/python -c ") and block.endswith(" < event.json")
    code = re.match(r"\.venv/bin/python -c '(.*)' < event\.json$", block).group(1)
    event = (REPO / "tests" / "trigger" / "events" / "s3_put_versioned.json").read_text()
    result = subprocess.run(
        [sys.executable, "-c", code], input=event, cwd=REPO, capture_output=True, text=True, check=True
    )
    expected = [
        f"{r.key} {execution_name(r.bucket, r.key, r.version_id, r.etag, r.sequencer)}"
        for r in parse_event(json.loads(event)).records
    ]
    assert result.stdout.splitlines() == expected and expected
