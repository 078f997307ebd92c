"""The whole trigger through ``lambda_handler``: real FlyteRemote over gRPC to the fake flyteadmin, real S3 (moto).

Each test imports the handler module afresh (a new container) under the environment it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flyteidl.admin import execution_pb2

from lambda_trigger.naming import execution_name
from tests.conftest import free_port
from tests.fakes import BUCKET, LAUNCH_PLAN, load_event, stage_uploads

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STYLE = f"s3://{BUCKET}/styles/default.jpg"


@pytest.fixture
def remote(handler, flyteadmin, flyte_env, s3):
    """``remote(**env)``: a container in remote mode against the fake flyteadmin, with styles/monet.jpg in S3."""
    flyte_env(flyteadmin.endpoint)
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")

    def start(**env: str):
        return handler(**{"NST_STYLE_URI": DEFAULT_STYLE, **env})

    return start


def literal_summary(request: execution_pb2.ExecutionCreateRequest) -> dict[str, Any]:
    """The inputs flyteadmin received, as plain values: blob URIs, strings and integers."""
    values: dict[str, Any] = {}
    for name, literal in request.inputs.literals.items():
        scalar = literal.scalar
        if scalar.HasField("blob"):
            values[name] = ("blob", scalar.blob.uri, scalar.blob.metadata.type.dimensionality)
        elif scalar.primitive.HasField("string_value"):
            values[name] = scalar.primitive.string_value
        else:
            values[name] = scalar.primitive.integer
    return values


def test_one_upload_becomes_one_execution_with_the_expected_inputs(remote, flyteadmin) -> None:
    result = remote(NST_EPOCHS="3", NST_MAX_DIM="256")(load_event("s3_put.json"))

    name = execution_name(
        BUCKET, "uploads/monet/beach.jpg", None, "8f14e45fceea167a5a36dedd4bea2543", "0065A1B2C3D4E5F601"
    )
    (request,) = flyteadmin.servicer.create_requests
    assert (request.project, request.domain, request.name) == ("flytesnacks", "development", name)
    lp = request.spec.launch_plan
    assert (lp.project, lp.domain, lp.name, lp.version) == ("flytesnacks", "development", LAUNCH_PLAN, "v2")
    assert literal_summary(request) == {
        "content_img": ("blob", f"s3://{BUCKET}/uploads/monet/beach.jpg", 0),
        "style_img": ("blob", f"s3://{BUCKET}/styles/monet.jpg", 0),
        "output_uri": f"s3://{BUCKET}/stylized/monet/beach.jpg.png",
        "epochs": 3,
        "max_dim": 256,
    }
    assert result == {
        "launched": [
            {
                "bucket": BUCKET,
                "key": "uploads/monet/beach.jpg",
                "execution_name": name,
                "duplicate": False,
                "mode": "remote",
                "launch_plan": f"{LAUNCH_PLAN}:v2",
                "attempts": 1,
                "inputs": {
                    "content_img": f"s3://{BUCKET}/uploads/monet/beach.jpg",
                    "style_img": f"s3://{BUCKET}/styles/monet.jpg",
                    "output_uri": f"s3://{BUCKET}/stylized/monet/beach.jpg.png",
                    "epochs": 3,
                    "max_dim": 256,
                },
            }
        ],
        "skipped": [],
        "failed": [],
        "refused": [],
    }
    assert flyteadmin.servicer.calls == ["ListLaunchPlans", "GetLaunchPlan", "GetWorkflow", "CreateExecution"]


def test_unset_workflow_settings_are_not_sent_so_the_launch_plan_defaults_apply(remote, flyteadmin) -> None:
    remote()(load_event("s3_put.json"))
    (request,) = flyteadmin.servicer.create_requests
    assert set(request.inputs.literals) == {"content_img", "style_img", "output_uri"}


def test_encoded_keys_reach_flyte_decoded(remote, flyteadmin) -> None:
    result = remote()(load_event("s3_put_encoded_keys.json"))
    uris = {
        literal_summary(r)["content_img"][1]: literal_summary(r)["output_uri"]
        for r in flyteadmin.servicer.create_requests
    }
    assert uris == {
        f"s3://{BUCKET}/uploads/a b+c dé.jpg": f"s3://{BUCKET}/stylized/a b+c dé.jpg.png",
        f"s3://{BUCKET}/uploads/monet/summer holiday/東京 tower.JPG": f"s3://{BUCKET}/stylized/monet/summer holiday/東京 tower.JPG.png",
        f"s3://{BUCKET}/uploads/100% real.png": f"s3://{BUCKET}/stylized/100% real.png.png",
        f"s3://{BUCKET}/uploads/monet/café=noir&lait.webp": f"s3://{BUCKET}/stylized/monet/café=noir&lait.webp.png",
    }
    assert len(result["launched"]) == 4 and not result["failed"]


def test_a_duplicate_delivery_creates_exactly_one_execution(remote, flyteadmin) -> None:
    handle = remote()
    first = handle(load_event("s3_put.json"))
    second = handle(load_event("s3_put.json"))
    assert first["launched"][0]["duplicate"] is False
    assert second["launched"][0]["duplicate"] is True
    name = first["launched"][0]["execution_name"]
    assert second["launched"][0]["execution_name"] == name
    # flytekit retries every failed RPC, ALREADY_EXISTS included, so the duplicate may be asked more than once
    assert {request.name for request in flyteadmin.servicer.create_requests} == {name}
    assert len(flyteadmin.servicer.executions) == 1


def test_a_duplicate_in_a_new_container_is_still_one_execution(remote, flyteadmin) -> None:
    remote()(load_event("s3_put.json"))
    again = remote()(load_event("s3_put.json"))  # another container, same event (Lambda retry elsewhere)
    assert again["launched"][0]["duplicate"] is True and len(flyteadmin.servicer.executions) == 1


def test_a_reupload_of_the_same_key_runs_again(remote, flyteadmin) -> None:
    handle = remote()
    first = handle(load_event("s3_put.json"))["launched"][0]["execution_name"]
    second = handle(load_event("s3_reupload.json"))["launched"][0]
    assert second["execution_name"] != first and second["duplicate"] is False
    assert len(flyteadmin.servicer.executions) == 2


def test_flyte_remote_and_the_launch_plan_are_fetched_once_per_container(remote, flyteadmin) -> None:
    handle = remote()
    handle(load_event("s3_put.json"))
    handle(load_event("s3_reupload.json"))
    assert flyteadmin.servicer.calls == [
        "ListLaunchPlans",
        "GetLaunchPlan",
        "GetWorkflow",
        "CreateExecution",
        "CreateExecution",
    ]


def test_a_pinned_launch_plan_version_is_used_without_listing(remote, flyteadmin) -> None:
    result = remote(NST_LAUNCH_PLAN_VERSION="v1")(load_event("s3_put.json"))
    (request,) = flyteadmin.servicer.create_requests
    assert request.spec.launch_plan.version == "v1"
    assert result["launched"][0]["launch_plan"] == f"{LAUNCH_PLAN}:v1"
    assert "ListLaunchPlans" not in flyteadmin.servicer.calls


def test_a_mixed_batch_handles_every_record_and_refuses_the_unknown_style_once(remote, flyteadmin) -> None:
    """A style that does not exist is a permanent error: refused in the result, and the invocation does not raise
    (Lambda would retry it, and a retry finds the same)."""
    handle = remote()
    result = handle(load_event("s3_mixed_batch.json"))
    assert result["failed"] == []
    (refused,) = result["refused"]
    assert refused["key"] == "uploads/vangogh/field.jpg"
    assert refused["error"].startswith(f"style 'vangogh' not found: tried s3://{BUCKET}/styles/vangogh.jpg, ")
    launched = sorted(literal_summary(r)["content_img"][1] for r in flyteadmin.servicer.create_requests)
    assert launched == [
        f"s3://{BUCKET}/uploads/monet/copy of beach.jpeg",
        f"s3://{BUCKET}/uploads/monet/harbour.PNG",
        f"s3://{BUCKET}/uploads/photo.jpg",
    ]
    outcomes = [(line["key"], line["outcome"]) for line in handle.record_logs()]
    assert outcomes == [
        ("uploads/photo.jpg", "launched"),
        ("uploads/photo.jpg", "skipped"),
        ("uploads/monet/", "skipped"),
        ("uploads/empty.jpg", "skipped"),
        ("stylized/photo.png", "skipped"),
        ("styles/monet.jpg", "skipped"),
        ("uploads/notes.txt", "skipped"),
        ("other/photo.jpg", "skipped"),
        ("uploads/monet/harbour.PNG", "launched"),
        ("uploads/vangogh/field.jpg", "refused"),
        ("uploads/monet/copy of beach.jpeg", "launched"),
    ]


def test_one_json_log_line_per_record_with_the_request_id(remote) -> None:
    handle = remote()
    handle(load_event("s3_mixed_batch.json"))
    lines = handle.record_logs()
    assert len(lines) == 11
    for line in lines:
        assert line["function_request_id"] == "c6af9ac6-7b61-11e6-9a41-93e812345678"
        assert line["bucket"] == BUCKET and line["sequencer"].startswith("0065A1B2C3D4E5F6")
    launched = next(line for line in lines if line["outcome"] == "launched")
    assert launched["execution_name"].startswith("nst-") and launched["level"] == "INFO"
    refused = next(line for line in lines if line["outcome"] == "refused")
    assert refused["level"] == "WARNING" and refused["error"].startswith("style 'vangogh' not found")
    assert refused["execution_name"].startswith("nst-")
    skipped = next(line for line in lines if line["outcome"] == "skipped")
    assert skipped["reason"] == "event ObjectRemoved:Delete is not an object creation"


def test_a_test_event_is_skipped_without_failure(remote, flyteadmin) -> None:
    result = remote()(load_event("s3_test_event.json"))
    assert result["launched"] == [] and result["failed"] == []
    assert result["skipped"] == [
        {"bucket": BUCKET, "key": "", "reason": "s3:TestEvent (sent when a notification configuration is saved)"}
    ]
    assert flyteadmin.servicer.calls == []  # skipping needs no connection


def test_eventbridge_events(remote, flyteadmin) -> None:
    handle = remote()
    created = handle(load_event("eventbridge_object_created.json"))
    (request,) = flyteadmin.servicer.create_requests
    assert literal_summary(request)["content_img"] == ("blob", f"s3://{BUCKET}/uploads/monet/a b+c dé.jpg", 0)
    assert created["launched"][0]["execution_name"] == execution_name(
        BUCKET, "uploads/monet/a b+c dé.jpg", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", None, "617f08299329d189"
    )
    deleted = handle(load_event("eventbridge_object_deleted.json"))
    assert deleted["skipped"][0]["reason"] == "event Object Deleted is not an object creation"
    assert "batchItemFailures" not in created


def test_sqs_batch_reports_only_the_failed_messages(remote, flyteadmin) -> None:
    result = remote()(load_event("sqs_batch.json"))
    assert result["batchItemFailures"] == [
        {"itemIdentifier": "5b1f6c6e-4a8f-4d6a-9d38-3c4a7f0e2b11"},  # unparseable body
    ]  # style 'vangogh' missing (c4d2e6a8) is refused: never redelivered
    assert [(i["message_id"][:8], i["key"]) for i in result["refused"]] == [("c4d2e6a8", "uploads/vangogh/field.jpg")]
    assert [(i["message_id"][:8], i["key"]) for i in result["launched"]] == [
        ("059f36b4", "uploads/monet/beach.jpg"),
        ("7f6b1d2c", "uploads/photo.jpg"),
        ("a3c1e5f7", "uploads/monet/a b+c dé.jpg"),
    ]
    assert [(i["message_id"][:8], i["key"]) for i in result["skipped"]] == [
        ("2e1424d4", ""),
        ("7f6b1d2c", "stylized/photo.png"),
    ]
    assert [(i["message_id"][:8], i["bucket"]) for i in result["failed"]] == [("5b1f6c6e", None)]
    assert "body is not JSON" in result["failed"][0]["error"]
    assert len(flyteadmin.servicer.executions) == 3


def test_a_redelivered_sqs_batch_launches_nothing_new(remote, flyteadmin) -> None:
    handle = remote()
    handle(load_event("sqs_batch.json"))
    again = handle(load_event("sqs_batch.json"))
    assert [item["duplicate"] for item in again["launched"]] == [True, True, True]
    assert len(flyteadmin.servicer.executions) == 3


def test_an_unsupported_event_raises(remote) -> None:
    with pytest.raises(ValueError, match="unsupported event"):
        remote()({"detail-type": "Scheduled Event", "source": "aws.events"})


def test_dry_run_launches_nothing_and_touches_no_network(handler, monkeypatch) -> None:
    dead = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{dead}")  # any S3 call would fail
    monkeypatch.setenv("FLYTE_PLATFORM_URL", dead)  # any flyteadmin call would fail
    result = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=DEFAULT_STYLE, NST_EPOCHS="1")(
        load_event("s3_put_encoded_keys.json")
    )
    assert not result["failed"] and len(result["launched"]) == 4
    first = result["launched"][0]
    assert first["mode"] == "dry-run" and first["launch_plan"] == f"{LAUNCH_PLAN}:latest"
    assert first["inputs"] == {
        "content_img": f"s3://{BUCKET}/uploads/a b+c dé.jpg",
        "style_img": DEFAULT_STYLE,
        "output_uri": f"s3://{BUCKET}/stylized/a b+c dé.jpg.png",
        "epochs": 1,
    }
    assert result["launched"][1]["inputs"]["style_img"] == f"s3://{BUCKET}/styles/monet.{{jpg,jpeg,png,webp}}"


def test_dry_run_does_not_even_import_flytekit_or_boto3(tmp_path) -> None:
    """A fresh interpreter, as a cold Lambda: dry-run handles an event without loading either library."""
    script = (
        "import json, sys\n"
        "from tests.fakes import LambdaContextStub, load_event\n"
        "sys.modules.pop('flytekit', None)\n"
        "before = {'flytekit', 'boto3'} & set(sys.modules)\n"
        "import lambda_trigger.lambda_function as f\n"
        "result = f.lambda_handler(load_event('s3_put.json'), LambdaContextStub())\n"
        "print(json.dumps({'launched': len(result['launched']), "
        "'loaded': sorted({'flytekit', 'boto3'} & set(sys.modules) - before)}))\n"
    )
    env = {**os.environ, "NST_LAUNCH_MODE": "dry-run", "NST_ALLOWED_BUCKETS": BUCKET, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"launched": 1, "loaded": []}


def test_a_cold_container_with_flytectl_config_naming_yaml_flyte_config(remote, flyteadmin, s3) -> None:
    """flytekit reads FLYTECTL_CONFIG at import and would parse 'flyte.config' as INI: a fresh interpreter copes."""
    stage_uploads(s3, load_event("s3_put.json"))
    assert os.environ["FLYTECTL_CONFIG"].endswith("flyte.config")  # YAML content, set by the flyte_env fixture
    script = (
        "import json\n"
        "from tests.fakes import LambdaContextStub, load_event\n"
        "import lambda_trigger.lambda_function as f\n"
        "print(json.dumps(f.lambda_handler(load_event('s3_put.json'), LambdaContextStub())))\n"
    )
    env = {**os.environ, "NST_STYLE_URI": DEFAULT_STYLE, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["launched"][0]["duplicate"] is False and len(flyteadmin.servicer.executions) == 1
