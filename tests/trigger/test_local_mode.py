"""NST_LAUNCH_MODE=local: the workflow named by NST_LAUNCH_PLAN runs in-process with flytekit's local execution.

The stand-in workflow (``stub_workflow``) has the real signature and records what it received.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_trigger.report import TriggerFailed
from tests.fakes import BUCKET, load_event

STUB = "tests.trigger.stub_workflow.neural_style_transfer_wf"


@pytest.fixture
def local(handler, s3):
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")

    def start(**env: str):
        return handler(NST_LAUNCH_MODE="local", NST_LAUNCH_PLAN=STUB, **env)

    return start


def test_the_workflow_runs_with_the_upload_style_and_output(local) -> None:
    result = local(NST_EPOCHS="2")(load_event("s3_put.json"))
    (launched,) = result["launched"]
    assert launched["mode"] == "local" and launched["duplicate"] is False
    assert launched["execution_name"].startswith("nst-")
    received = json.loads(Path(launched["output"]).read_text())
    assert received == {
        "content_img": f"s3://{BUCKET}/uploads/monet/beach.jpg",
        "style_img": f"s3://{BUCKET}/styles/monet.jpg",
        "epochs": 2,  # NST_EPOCHS
        "steps_per_epoch": 100,  # the workflow's own defaults for what is not set
        "max_dim": 512,
        "style_weight": 0.01,
        "content_weight": 10000.0,
        "total_variation_weight": 30.0,
        "output_uri": f"s3://{BUCKET}/stylized/monet/beach.png",
    }


def test_a_duplicate_in_the_same_process_does_not_run_twice(local) -> None:
    handle = local()
    first = handle(load_event("s3_put.json"))["launched"][0]
    second = handle(load_event("s3_put.json"))["launched"][0]
    assert second["duplicate"] is True and second["execution_name"] == first["execution_name"]
    assert "output" not in second


def test_an_unimportable_workflow_fails_with_the_mode_and_module_named(handler, s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")
    handle = handler(NST_LAUNCH_MODE="local", NST_LAUNCH_PLAN="no_such_package.module.wf")
    with pytest.raises(TriggerFailed) as caught:
        handle(load_event("s3_put.json"))
    assert "NST_LAUNCH_MODE=local cannot import workflow 'no_such_package.module.wf'" in str(caught.value)
    assert "ModuleNotFoundError" in str(caught.value)
