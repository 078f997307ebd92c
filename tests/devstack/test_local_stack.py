"""The whole product on one machine, end to end: real S3/SQS server, real trigger, real workflow (tiny, random weights)."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from devstack.stack import LocalStack, StackSettings
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
TINY = {"NST_VGG19_WEIGHTS": "random", "NST_MAX_DIM": "48", "NST_EPOCHS": "1", "NST_STEPS_PER_EPOCH": "2"}

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_uploads_become_results_and_bad_uploads_are_reported(tmp_path: Path, write_image) -> None:
    photo = write_image("photo.jpg", 96, 72, quality=95)
    portrait = write_image("portrait.png", 64, 96)
    style = write_image("default-style.png", 64, 64, style=True)
    log = (tmp_path / "worker.log").open("w")
    settings = StackSettings(
        workdir=tmp_path / "stack",
        default_style=style,
        workflow_env=TINY,
        max_receives=2,
        retry_delay_s=1,
        worker_output=log,
    )
    uploads = {
        "uploads/My Photo+1 été.jpg": photo.read_bytes(),
        "uploads/stripes/portrait.png": portrait.read_bytes(),  # a style chosen by folder
        "uploads/notes.txt": b"not a picture",
        "uploads/broken.jpg": b"a text file with an image's name",
    }

    with LocalStack(settings) as stack:
        s3, bucket = stack.resources.s3(), stack.resources.bucket
        s3.upload_file(str(style), bucket, "styles/stripes.png")
        for key, body in uploads.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        outcomes = {key: stack.wait_for_outcome(key, timeout_s=240) for key in uploads}

        results = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket, Prefix="stylized/").get("Contents", [])}
        assert set(results) == {"stylized/My Photo+1 été.png", "stylized/stripes/portrait.png"}, (
            "one result per good upload"
        )
        for key, size in (("stylized/My Photo+1 été.png", (48, 36)), ("stylized/stripes/portrait.png", (32, 48))):
            with Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as image:
                assert (image.format, image.size) == ("PNG", size), key

        assert outcomes["uploads/My Photo+1 été.jpg"]["outcome"] == "launched"
        assert outcomes["uploads/stripes/portrait.png"]["outcome"] == "launched"
        assert outcomes["uploads/notes.txt"]["outcome"] == "skipped"
        assert ".txt" in outcomes["uploads/notes.txt"]["reason"]
        broken = outcomes["uploads/broken.jpg"]
        assert broken["outcome"] == "failed" and broken["final"] and broken["attempt"] == 2
        assert re.search(r"content image s3://nst-local/uploads/broken.jpg: not an image", broken["error"])

        for key, body in uploads.items():  # nothing is lost: every upload is still there, unchanged
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        sqs = stack.resources.sqs()
        moved = sqs.receive_message(QueueUrl=stack.resources.dead_letter_url, WaitTimeSeconds=5)["Messages"]
        assert "broken.jpg" in moved[0]["Body"], "the failed event is kept in the dead-letter queue for a replay"

        pids = [stack.server.pid, stack.worker.pid]
        port = int(stack.resources.endpoint.rsplit(":", 1)[1])

    assert not any(alive(pid) for pid in pids), "no server or worker left behind"
    assert not port_open(port)
    assert "done     s3://nst-local/uploads/My Photo+1 été.jpg" in (tmp_path / "worker.log").read_text()


def run_cli(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_demo_command_prints_the_result_and_cleans_up(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    demo = run_cli("demo", "--out", str(tmp_path / "out"), "--workdir", str(workdir), "--timeout", "240", env=TINY)
    output, _ = demo.communicate(timeout=300)

    assert demo.returncode == 0, output[-3000:]
    assert "result in the bucket: s3://nst-local/stylized/landscape.png" in output
    assert f"result on disk:       {tmp_path / 'out' / 'landscape.png'}" in output
    assert re.search(r"\[nst\] epoch 1/1: step 2/2, loss", output), "progress a person can follow"
    with Image.open(tmp_path / "out" / "landscape.png") as image:
        assert image.size == (48, 36)
    port = int(re.search(r"S3/SQS server on http://127.0.0.1:(\d+)", output).group(1))
    assert not port_open(port) and not processes_mentioning(str(workdir))


def test_demo_reports_a_missing_photo_without_starting_anything(tmp_path: Path) -> None:
    demo = run_cli("demo", "--content", str(tmp_path / "nope.jpg"), "--workdir", str(tmp_path / "w"), env=TINY)
    output, _ = demo.communicate(timeout=60)
    assert demo.returncode != 0
    assert f"content image {tmp_path / 'nope.jpg'} does not exist" in output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_dev_stack_leaves_nothing_behind(tmp_path: Path, stop: signal.Signals) -> None:
    port, workdir = free_port(), tmp_path / "dev"
    dev = run_cli("dev", "--port", str(port), "--workdir", str(workdir), env=TINY)
    lines = []
    for line in dev.stdout:
        lines.append(line)
        if "Each upload's outcome is printed below" in line:
            break
    text = "".join(lines)
    assert f"S3 and SQS endpoint  http://127.0.0.1:{port}" in text, text[-2000:]
    assert "s3.upload_file('photo.jpg', 'nst-local', 'uploads/photo.jpg')" in text
    children = processes_mentioning(str(workdir))
    assert children, "the worker runs while the stack is up"

    dev.send_signal(stop)
    dev.wait(timeout=30)
    deadline = time.monotonic() + 15
    while (port_open(port) or processes_mentioning(str(workdir))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), "the S3 server is gone"
    assert not processes_mentioning(str(workdir)), "the worker is gone"
    if stop == signal.SIGINT:
        assert dev.returncode == 130
