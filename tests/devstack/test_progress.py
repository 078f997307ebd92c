"""The progress lines make demo and make dev print from the bucket's progress records."""

from __future__ import annotations

import json

import pytest

from devstack.progress_watcher import ProgressWatcher, describe


def test_each_changed_record_is_one_line(s3_server) -> None:
    s3 = s3_server.client()
    s3.create_bucket(Bucket="nst-progress-watch")
    lines: list[str] = []
    watcher = ProgressWatcher(s3, "nst-progress-watch", "stylized/", lines.append)
    key = "stylized/photo.png.progress.json"
    s3.put_object(Bucket="nst-progress-watch", Key=key, Body=json.dumps({"stage": "preview", "seconds": 0.4}))
    s3.put_object(Bucket="nst-progress-watch", Key="stylized/photo.png", Body=b"not a record")
    watcher.poll()
    watcher.poll()  # unchanged: nothing new to say
    record = {"epoch": 2, "epochs": 5, "steps": 200, "loss": 1.5e5, "seconds": 31.2, "done": False}
    s3.put_object(Bucket="nst-progress-watch", Key=key, Body=json.dumps(record))
    watcher.poll()
    assert lines == [
        "progress stylized/photo.png: preview ready (stylized/photo.png.preview.png) in 0.4 s",
        "progress stylized/photo.png: epoch 2/5, 200 steps, loss 1.5e+05, 31 s of optimisation; "
        "preview: stylized/photo.png.preview.png",
    ]


def test_the_last_epoch_says_so() -> None:
    line = describe("stylized/a.png", {"epoch": 5, "epochs": 5, "steps": 500, "loss": None, "seconds": 3, "done": True})
    assert line.startswith("progress stylized/a.png: epoch 5/5, 500 steps, 3 s of optimisation (last epoch)")


@pytest.mark.parametrize(
    ("record", "line"),
    [
        ({"state": "queued", "execution": "nst-abc"}, "queued as nst-abc"),
        ({"state": "refused", "reason": "nst-seed: 'x' is not a whole number", "execution": "e"}, "refused: nst-seed"),
        ({"state": "failed", "reason": "S3 timed out", "retrying": True, "execution": "e"}, "failed (delivered again)"),
        ({"state": "failed", "reason": "content image ...: not an image"}, "failed: content image ...: not an image"),
    ],
)
def test_the_trigger_and_failure_records_say_their_state_and_reason(record, line) -> None:
    """The records the trigger writes (and the run's failure handler) are lines of their own, not empty epochs."""
    shown = describe("stylized/a.jpg.png", record)
    assert line in shown and "epoch" not in shown


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2, 3]", "a JSON list, not an object"),
        (json.dumps({"epoch": 1, "seconds": "soon"}).encode(), 'seconds is "soon", not a number'),
        (json.dumps({"epoch": True, "seconds": 1}).encode(), "epoch is true, not an integer"),
        (json.dumps({"stage": "preview", "seconds": None}).encode(), "seconds is null, not a number"),
        (b'{"epoch": 1,', "not JSON: "),
        (b"\xff\xfe\x00 not text", "not UTF-8 text"),
    ],
)
def test_a_foreign_record_is_one_line_once_per_version_and_the_watcher_goes_on(s3_server, body, reason) -> None:
    s3 = s3_server.client()
    bucket = "nst-progress-foreign"
    s3.create_bucket(Bucket=bucket)
    for listed in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=listed["Key"])
    lines: list[str] = []
    watcher = ProgressWatcher(s3, bucket, "stylized/", lines.append)
    s3.put_object(Bucket=bucket, Key="stylized/foreign.png.progress.json", Body=body)
    good = {"epoch": 1, "epochs": 2, "steps": 100, "loss": None, "seconds": 4, "done": False}
    s3.put_object(Bucket=bucket, Key="stylized/photo.png.progress.json", Body=json.dumps(good))
    watcher.poll()
    watcher.poll()  # the same versions: nothing new to say
    ignored = "progress stylized/foreign.png: ignored stylized/foreign.png.progress.json, not a progress record ("
    assert len(lines) == 2 and lines[0].startswith(ignored) and reason in lines[0], lines
    assert lines[1].startswith("progress stylized/photo.png: epoch 1/2, 100 steps, 4 s of optimisation")
    s3.put_object(Bucket=bucket, Key="stylized/foreign.png.progress.json", Body=body + b" ")  # a new version
    watcher.poll()
    assert len(lines) == 3 and lines[2].startswith(ignored), "each version of it once"


def test_a_failing_store_is_asked_again_at_the_next_poll(s3_server) -> None:
    s3 = s3_server.client()
    lines: list[str] = []
    ProgressWatcher(s3, "nst-no-such-bucket", "stylized/", lines.append).poll()  # NoSuchBucket: no line, no raise
    assert lines == []
