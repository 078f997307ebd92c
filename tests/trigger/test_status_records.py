"""The upload's status record, ``<output>.progress.json``: what the trigger writes, for which records, and the rule
that never lets it overwrite a run's record (lambda_trigger/status_records.py), against moto's S3 server.

Every test runs the real handler in remote mode against the fake flyteadmin, as a Lambda container would.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import grpc
import pytest

from lambda_trigger import rules, status_records
from lambda_trigger.report import TriggerFailed
from lambda_trigger.s3 import ObjectStore
from lambda_trigger.settings import Settings
from lambda_trigger.status_records import StatusRecords
from tests.fakes import BUCKET, StatusServer, load_event
from tests.trigger.test_time_budget import sqs_batch
from workflows.engine import progress_view
from workflows.progress_records import PROGRESS_SUFFIX

STYLE = f"s3://{BUCKET}/styles/default.jpg"
SETTINGS = Settings(allowed_buckets=(BUCKET,))


@pytest.fixture
def launching(handler, s3, flyteadmin, flyte_env) -> Any:
    """A container in remote mode against the fake flyteadmin, with styles/monet.jpg in the bucket."""
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")
    flyte_env(flyteadmin.endpoint)
    return handler(NST_STYLE_URI=STYLE)


def records_in(s3: Any) -> dict[str, dict[str, Any]]:
    """Every ``*.progress.json`` in the bucket, parsed, by key."""
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        item["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for item in listed
        if item["Key"].endswith(PROGRESS_SUFFIX)
    }


def record_at(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def one_upload(key: str, etag: str = "e1", sequencer: str = "A1") -> dict[str, Any]:
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1000, "eTag": etag, "sequencer": sequencer}},
    }
    return {"Records": [record]}


def test_the_state_names_and_the_suffix_are_the_workflow_packages() -> None:
    assert status_records.STATES == progress_view.STATES
    assert status_records.PROGRESS_SUFFIX == PROGRESS_SUFFIX
    assert (status_records.QUEUED, status_records.SKIPPED, status_records.REFUSED, status_records.FAILED) == (
        progress_view.QUEUED,
        progress_view.SKIPPED,
        progress_view.REFUSED,
        progress_view.FAILED,
    )
    assert rules.progress_key("stylized/a.jpg.png") == "stylized/a.jpg.png" + PROGRESS_SUFFIX


def test_each_upload_gets_its_state_and_nothing_that_is_not_an_upload_gets_a_record(launching, s3) -> None:
    """s3_mixed_batch: launched, skipped (empty, not an image), refused (no such style) uploads each get their
    record; a deletion, a folder marker, a result, a style image and a key outside the upload prefix get none."""
    result = launching(load_event("s3_mixed_batch.json"))

    found = records_in(s3)
    launched = {item["key"]: item["execution_name"] for item in result["launched"]}
    assert {key: record["state"] for key, record in found.items()} == {
        "stylized/photo.jpg.png.progress.json": "queued",
        "stylized/monet/harbour.PNG.png.progress.json": "queued",
        "stylized/monet/copy of beach.jpeg.png.progress.json": "queued",
        "stylized/empty.jpg.png.progress.json": "skipped",
        "stylized/notes.txt.png.progress.json": "skipped",
        "stylized/vangogh/field.jpg.png.progress.json": "refused",
    }
    assert found["stylized/photo.jpg.png.progress.json"] == {
        "state": "queued",
        "execution": launched["uploads/photo.jpg"],
    }
    assert found["stylized/empty.jpg.png.progress.json"]["reason"] == "zero-byte object"
    assert found["stylized/notes.txt.png.progress.json"]["reason"].startswith("not an image ('.txt'; accepted: ")
    refused = found["stylized/vangogh/field.jpg.png.progress.json"]
    (refusal,) = result["refused"]
    assert refused["reason"] == refusal["error"] and "vangogh" in refused["reason"]
    assert refused["execution"] == refusal["execution_name"]
    assert all("\n" not in record.get("reason", "") for record in found.values())


def test_a_record_never_starts_anything(launching, s3) -> None:
    """An event for a record itself (it lives under the output prefix) is skipped and writes nothing."""
    launching(one_upload("uploads/photo.jpg"))
    before = records_in(s3)
    result = launching(one_upload("stylized/photo.jpg.png.progress.json", sequencer="B2"))
    assert result["skipped"][0]["reason"].startswith("under the output prefix")
    assert records_in(s3) == before


def test_a_transient_failure_is_retrying_and_the_retry_that_launches_shows_queued(launching, s3, flyteadmin) -> None:
    key = "stylized/photo.jpg.png.progress.json"
    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(TriggerFailed):
        launching(one_upload("uploads/photo.jpg"))
    failed = record_at(s3, key)
    assert failed["state"] == "failed" and failed["retrying"] is True
    assert "UNAVAILABLE" in failed["reason"] and "\n" not in failed["reason"]

    flyteadmin.servicer.fail_with = None
    result = launching(one_upload("uploads/photo.jpg"))  # the same event, delivered again

    assert record_at(s3, key) == {"state": "queued", "execution": result["launched"][0]["execution_name"]}


@pytest.mark.parametrize("run_state", ["preview", "running", "done", "failed"])
def test_a_redelivery_never_overwrites_the_record_of_a_run(launching, s3, flyteadmin, run_state: str) -> None:
    """The run has the last word: neither a duplicate launch (queued) nor a failing redelivery (failed,
    retrying) replaces what the run wrote, whatever its state."""
    key = "stylized/photo.jpg.png.progress.json"
    launching(one_upload("uploads/photo.jpg"))
    run_record = {"state": run_state, "epoch": 1, "epochs": 2, "steps": 10, "loss": 3.5, "seconds": 1.0}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(run_record))

    duplicate = launching(one_upload("uploads/photo.jpg"))
    assert duplicate["launched"][0]["duplicate"] is True
    assert record_at(s3, key) == run_record

    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(TriggerFailed):
        launching(one_upload("uploads/photo.jpg"))
    assert record_at(s3, key) == run_record
    lines = [line for line in launching.logs() if str(line.get("message", "")).startswith("status record")]
    assert [line["message"] for line in lines] == ["status record written", "status record kept", "status record kept"]


def test_a_new_upload_of_the_same_key_replaces_the_record_the_trigger_wrote_for_the_old_one(launching, s3) -> None:
    """A refused upload, uploaded again (new ETag and sequencer: a new execution), shows the new one's state."""
    key = "stylized/vangogh/field.jpg.png.progress.json"
    assert launching(one_upload("uploads/vangogh/field.jpg"))["refused"]  # styles/vangogh.* does not exist yet
    assert record_at(s3, key)["state"] == "refused"
    s3.put_object(Bucket=BUCKET, Key="styles/vangogh.jpg", Body=b"style")

    result = launching(one_upload("uploads/vangogh/field.jpg", etag="e2", sequencer="B7"))

    assert record_at(s3, key) == {"state": "queued", "execution": result["launched"][0]["execution_name"]}


def test_the_conditional_writes_lose_to_any_write_in_between(s3) -> None:
    """The two primitives of the rule, as moto's S3 server applies them: create only if absent, replace only the
    version read. A stale ETag (someone wrote since) or an existing key leaves the object as it is."""
    store = ObjectStore(SETTINGS)
    key = "stylized/a.jpg.png.progress.json"
    assert store.put_if(BUCKET, key, b'{"state": "queued"}', "w", "h", replacing=None) is True
    assert store.put_if(BUCKET, key, b'{"state": "failed"}', "w", "h", replacing=None) is False
    read = store.get(BUCKET, key, "r", "h")
    assert read is not None and json.loads(read.body) == {"state": "queued"}
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"state": "running"}')  # a run writes in between
    assert store.put_if(BUCKET, key, b'{"state": "failed"}', "w", "h", replacing=read.etag) is False
    assert record_at(s3, key) == {"state": "running"}
    assert store.put_if(BUCKET, "stylized/gone.png.progress.json", b"{}", "w", "h", replacing=read.etag) is False


@pytest.mark.parametrize("failure", ["forbidden", "silent"])
def test_a_record_that_cannot_be_written_changes_no_outcome(
    launching, s3, flyteadmin, black_hole, failure: str
) -> None:
    """S3 refusing the PutObject (403), or never answering: the upload is launched all the same, the result is
    the one a working S3 gives, and the failure is one WARNING line."""
    forbidding = StatusServer(403)
    try:
        endpoint = forbidding.url if failure == "forbidden" else black_hole.url
        settings = Settings(allowed_buckets=(BUCKET,), connect_timeout_s=0.2, read_timeout_s=0.3)
        store = ObjectStore(
            settings, lambda: boto3.client("s3", endpoint_url=endpoint, config=settings.aws_client_config())
        )
        trigger = launching.module.TRIGGER
        trigger.status_records = StatusRecords(store, trigger.logger)

        result = launching(sqs_batch(["uploads/photo 0.jpg", "uploads/photo 1.jpg"]))
    finally:
        forbidding.stop()

    assert [item["key"] for item in result["launched"]] == ["uploads/photo 0.jpg", "uploads/photo 1.jpg"]
    assert result["failed"] == [] and result["batchItemFailures"] == []
    assert len(flyteadmin.servicer.executions) == 2
    assert records_in(s3) == {}
    warnings = [line for line in launching.logs() if line.get("message") == "status record not written"]
    assert [line["level"] for line in warnings] == ["WARNING", "WARNING"]
    if failure == "forbidden":
        assert "403" in warnings[0]["error"] and "s3:PutObject" in warnings[0]["error"]
    else:  # found down once; the second record's write is not attempted
        assert "not attempted: S3 did not answer" in warnings[1]["error"]


def test_dry_run_writes_no_record(handler, s3) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    handle(load_event("s3_mixed_batch.json"))
    assert records_in(s3) == {}


def test_an_upload_asking_for_another_format_gets_its_output_and_record_under_that_name(
    launching, s3, flyteadmin
) -> None:
    """nst-output-format=tiff16 names the output ``<upload>.tiff`` and the status record sits beside it, whether
    the launch succeeds or fails and will be retried."""
    s3.put_object(Bucket=BUCKET, Key="uploads/photo.jpg", Body=b"x", Metadata={"nst-output-format": "tiff16"})
    result = launching(one_upload("uploads/photo.jpg"))
    (launched,) = result["launched"]
    assert launched["inputs"]["output_uri"] == f"s3://{BUCKET}/stylized/photo.jpg.tiff"
    assert record_at(s3, "stylized/photo.jpg.tiff.progress.json")["state"] == "queued"

    s3.put_object(Bucket=BUCKET, Key="uploads/print.png", Body=b"x", Metadata={"nst-output-format": "jpeg"})
    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(TriggerFailed):
        launching(one_upload("uploads/print.png", sequencer="B1"))
    failed = record_at(s3, "stylized/print.png.jpg.progress.json")
    assert failed["state"] == "failed" and failed["retrying"] is True
    assert set(records_in(s3)) == {"stylized/photo.jpg.tiff.progress.json", "stylized/print.png.jpg.progress.json"}
