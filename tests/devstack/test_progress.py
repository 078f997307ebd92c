"""The progress lines make demo and make dev print from the bucket's progress records."""

from __future__ import annotations

import json

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
