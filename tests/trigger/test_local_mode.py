"""The local stack's way of running the trigger: the real handler, given the in-process launcher
(``devstack/launcher.py``) by its host rather than by an environment variable, runs the workflow named by
NST_LAUNCH_PLAN with flytekit's local execution.

The stand-in workflow (``stub_workflow``) has the real signature and records what it received.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.launcher import InProcessLauncher
from lambda_trigger.pipeline import Trigger
from lambda_trigger.report import TriggerFailed
from tests.fakes import BUCKET, load_event

STUB = "tests.trigger.stub_workflow.neural_style_transfer_wf"


@pytest.fixture
def local(handler, s3, tmp_path):
    """``local(**env)``: a container whose trigger the host has given the in-process launcher, as the worker does."""
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")

    def start(**env: str):
        handle = handler(NST_LAUNCH_PLAN=STUB, **env)
        module = handle.module
        launcher = InProcessLauncher(module.SETTINGS.launch_plan, tmp_path / "decks")
        module.TRIGGER = Trigger.from_settings(module.SETTINGS, module.logger, launcher)
        return handle

    return start


def test_the_workflow_runs_with_the_upload_style_and_output(local) -> None:
    result = local(NST_EPOCHS="2")(load_event("s3_put.json"))
    (launched,) = result["launched"]
    assert launched["mode"] == "local" and launched["duplicate"] is False
    assert launched["execution_name"] == "nst-mxfhsoejpwljcuva"  # the same name flyteadmin would be given
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
        "output_uri": f"s3://{BUCKET}/stylized/monet/beach.jpg.png",
        "preserve_colors": "none",
        "style_scale": 1.0,
        "more_styles": [],
        "style_blend_weights": [],
        "init_image": "content",
        "seed": 0,
        "style_strength": 1.0,
        "mode": "full",
        "network": "vgg19",
        "style_masks": [],
        "preserve_strength": 10.0,
        "output_format": "png8",
        "jpeg_quality": 92,
        "keep_gps": False,
    }


def test_an_uploads_metadata_reaches_the_workflow(local, s3) -> None:
    """Upload with x-amz-meta-nst-* through moto's S3 server: the workflow receives exactly those options."""
    s3.put_object(Bucket=BUCKET, Key="styles/hokusai.png", Body=b"style")
    metadata = {
        "nst-preserve-colors": "Luminance",
        "nst-style-scale": "1.5",
        "nst-styles": "hokusai:0.3, monet:0.7",
        "nst-seed": "7",
        "nst-style-strength": "2",
        "nst-init-image": "noise",
        "nst-mode": "preview",
        "owner": "someone else's tool",  # not nst-: ignored
    }
    s3.put_object(Bucket=BUCKET, Key="uploads/monet/beach.jpg", Body=b"7", Metadata=metadata)
    (launched,) = local()(load_event("s3_put.json"))["launched"]
    received = json.loads(Path(launched["output"]).read_text())
    assert {name: received[name] for name in launched["inputs"]} == {
        "content_img": f"s3://{BUCKET}/uploads/monet/beach.jpg",
        "style_img": f"s3://{BUCKET}/styles/hokusai.png",  # nst-styles wins over the folder
        "more_styles": [f"s3://{BUCKET}/styles/monet.jpg"],
        "style_blend_weights": [0.3, 0.7],
        "output_uri": f"s3://{BUCKET}/stylized/monet/beach.jpg.png",  # the output still mirrors the upload's path
        "preserve_colors": "luminance",
        "style_scale": 1.5,
        "seed": 7,
        "style_strength": 2.0,
        "init_image": "noise",
        "mode": "preview",
    }


def test_a_duplicate_in_the_same_process_does_not_run_twice(local) -> None:
    handle = local()
    first = handle(load_event("s3_put.json"))["launched"][0]
    second = handle(load_event("s3_put.json"))["launched"][0]
    assert second["duplicate"] is True and second["execution_name"] == first["execution_name"]


def test_an_unimportable_workflow_fails_naming_the_module(local) -> None:
    handle = local()
    handle.module.TRIGGER = Trigger.from_settings(
        handle.module.SETTINGS, handle.module.logger, InProcessLauncher("no_such_package.module.wf", Path("decks"))
    )
    with pytest.raises(TriggerFailed) as caught:
        handle(load_event("s3_put.json"))
    assert "cannot import workflow 'no_such_package.module.wf' (is the repository root importable?)" in str(
        caught.value
    )
    assert "ModuleNotFoundError" in str(caught.value)


def test_the_lambda_package_has_no_in_process_launcher() -> None:
    """It ships without TensorFlow and could never run the workflow: that launcher is the local stack's."""
    import lambda_trigger.launchers as launchers

    assert not hasattr(launchers, "LocalLauncher") and not hasattr(launchers, "make_launcher")
    sources = "".join(path.read_text() for path in Path(launchers.__file__).parent.glob("*.py"))
    assert "from devstack" not in sources and "import devstack" not in sources
