"""The whole product on one machine, end to end: real S3/SQS server, real trigger, real workflow (tiny, random weights)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devstack.processes import wait_until
from devstack.stack import LocalStack, StackSettings, is_final
from lambda_trigger import rules
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


def outcome_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.match(r"\[trigger\] (done|failed|skipped) ", line)]


def test_uploads_become_results_and_bad_uploads_are_reported_once(tmp_path: Path, write_image) -> None:
    photo = write_image("photo.jpg", 96, 72, quality=95)
    portrait = write_image("portrait.png", 64, 96)
    style = write_image("default-style.png", 64, 64, style=True)
    log = (tmp_path / "worker.log").open("w")
    settings = StackSettings(
        workdir=tmp_path / "stack",
        decks=tmp_path / "decks",
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
        "uploads/truncated.jpg": photo.read_bytes()[: len(photo.read_bytes()) // 2],
    }
    workflow_failures = {"uploads/broken.jpg", "uploads/truncated.jpg", "uploads/late.jpg"}

    with LocalStack(settings) as stack:
        s3, bucket = stack.resources.s3(), stack.resources.bucket
        s3.upload_file(str(style), bucket, "styles/stripes.png")
        for key, body in uploads.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        outcomes = {key: stack.wait_for_outcome(key, timeout_s=240) for key in uploads}
        # The default style disappears: the next workflow fails on it, in preprocess.
        s3.delete_object(Bucket=bucket, Key="styles/default-style.png")
        s3.put_object(Bucket=bucket, Key="uploads/late.jpg", Body=uploads["uploads/My Photo+1 été.jpg"])
        uploads["uploads/late.jpg"] = uploads["uploads/My Photo+1 été.jpg"]
        outcomes["uploads/late.jpg"] = stack.wait_for_outcome("uploads/late.jpg", timeout_s=240)

        results = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket, Prefix="stylized/").get("Contents", [])}
        assert {"stylized/My Photo+1 été.jpg.png", "stylized/stripes/portrait.png.png"} <= set(results), (
            "each good upload"
        )
        pictures = {key for key in results if not key.endswith(rules.SIDE_SUFFIXES)}
        for name in ("notes", "broken", "truncated", "late"):
            assert not [key for key in pictures if f"/{name}." in key], f"no result from the {name} upload"
        # each bad upload's status record says what happened, in one line (the trigger's, or the run's failure)
        states = {
            name: json.loads(s3.get_object(Bucket=bucket, Key=f"stylized/{name}.png.progress.json")["Body"].read())
            for name in ("notes.txt", "broken.jpg", "truncated.jpg", "late.jpg")
        }
        assert states["notes.txt"]["state"] == "skipped" and "not an image" in states["notes.txt"]["reason"]
        for name in ("broken.jpg", "truncated.jpg", "late.jpg"):
            assert states[name]["state"] == "failed" and "\n" not in states[name]["reason"], states[name]
        assert "not an image" in states["broken.jpg"]["reason"]
        for key, size in (
            ("stylized/My Photo+1 été.jpg.png", (48, 36)),
            ("stylized/stripes/portrait.png.png", (32, 48)),
        ):
            with Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as image:
                assert (image.format, image.size) == ("PNG", size), key

        for key in ("uploads/My Photo+1 été.jpg", "uploads/stripes/portrait.png"):
            assert outcomes[key]["outcome"] == "launched"
            decks = [Path(deck) for deck in outcomes[key]["decks"]]
            assert decks and all(deck.parent.parent == (tmp_path / "decks").resolve() for deck in decks), key
            assert len({deck.read_text() for deck in decks}) == len(decks), "no copy is a duplicate"
            assert "<html" in decks[-1].read_text()
        assert outcomes["uploads/notes.txt"]["outcome"] == "skipped"
        assert ".txt" in outcomes["uploads/notes.txt"]["reason"]

        # A workflow that fails on the upload is a finished record: reported once, with its reason, not retried.
        for key in workflow_failures:
            assert outcomes[key]["outcome"] == "failed" and outcomes[key]["final"], key
            assert outcomes[key]["attempt"] == 1, f"{key} was retried"
        assert re.search(
            r"content image s3://nst-local/uploads/broken.jpg: not an image", outcomes["uploads/broken.jpg"]["error"]
        )
        assert "content image s3://nst-local/uploads/truncated.jpg: " in outcomes["uploads/truncated.jpg"]["error"]
        late = outcomes["uploads/late.jpg"]
        assert late["error"] == "style image s3://nst-local/styles/default-style.png: not found" and late["failed_task"]
        sqs = stack.resources.sqs()
        assert "Messages" not in sqs.receive_message(QueueUrl=stack.resources.dead_letter_url, WaitTimeSeconds=1)

        for key, body in uploads.items():  # nothing is lost: every upload is still there, unchanged
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key

        pids = [stack.server.pid, stack.worker.pid]
        port = int(stack.resources.endpoint.rsplit(":", 1)[1])
        temp_dir = stack.temp_dir
        assert temp_dir.is_dir() and any(temp_dir.iterdir()), "the children's temporary files go to the stack's folder"

    assert not any(alive(pid) for pid in pids), "no server or worker left behind"
    assert not port_open(port)
    assert not temp_dir.exists() and stack.temp_bytes_removed, "the temporary folder is removed, its size reported"

    worker_log = (tmp_path / "worker.log").read_text()
    lines = outcome_lines(worker_log)
    for key in workflow_failures:
        assert len([line for line in lines if f"s3://nst-local/{key}:" in line]) == 1, f"{key} reported once"
    assert "done     s3://nst-local/uploads/My Photo+1 été.jpg" in worker_log
    assert '"level"' not in worker_log, "the trigger's JSON log lines stay off the terminal"
    logged = [json.loads(line) for line in stack.trigger_log.read_text().splitlines()]
    assert {record.get("key") for record in logged} >= set(uploads), "... and go to trigger.log"
    # Each run is announced when it is launched and reported once when it ends, after that.
    for key in uploads.keys() - {"uploads/notes.txt"}:
        announced = [
            i
            for i, line in enumerate(worker_log.splitlines())
            if line.startswith(f"[trigger] started  s3://nst-local/{key} as ")
        ]
        ended = [
            i
            for i, line in enumerate(worker_log.splitlines())
            if line.startswith(("[trigger] done", "[trigger] failed"))
            and re.search(rf"s3://nst-local/{re.escape(key)}(:| ->)", line)
        ]
        assert len(announced) == 1 and len(ended) == 1 and announced[0] < ended[0], key


def run_processes(worker_pid: int) -> list[int]:
    """The worker's children that run a workflow (multiprocessing's spawned processes, not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) if entry.name.isdigit() else 0
            if parent == worker_pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_runs_go_concurrently_a_skip_is_reported_at_once_and_stopping_ends_every_run(
    tmp_path: Path, write_image
) -> None:
    """As on AWS, where every upload has its own invocation: two runs go, each in a process of its own, a third
    waits for a slot, and an upload that is skipped meanwhile is reported at once, not after them. Stopping the
    stack ends every run's process."""
    photo = write_image("photo.jpg", 64, 48)
    settings = StackSettings(
        workdir=tmp_path / "stack",
        default_style=write_image("style.png", 64, 64, style=True),
        # Runs of minutes (the test stops them): the skip, decided in about a second, cannot wait for them.
        workflow_env={**TINY, "NST_STEPS_PER_EPOCH": "100000"},
        max_runs=2,
        worker_output=(tmp_path / "worker.log").open("w"),
    )
    with LocalStack(settings) as stack:
        s3, bucket = stack.resources.s3(), stack.resources.bucket
        for name in ("a.jpg", "b.jpg", "c.jpg"):
            s3.upload_file(str(photo), bucket, f"uploads/{name}")
        worker = stack.worker.pid

        def started() -> set[str]:
            return {o["key"] for o in stack.outcomes() if o["outcome"] == "started"}

        wait_until(lambda: len(started()) == 3 and len(run_processes(worker)) == 2, 120, what="two runs going")
        s3.put_object(Bucket=bucket, Key="uploads/notes.txt", Body=b"not a picture")
        skipped = stack.wait_for_outcome("uploads/notes.txt", timeout_s=60)
        assert skipped["outcome"] == "skipped"
        runs_keys = {"uploads/a.jpg", "uploads/b.jpg", "uploads/c.jpg"}
        finals = [o for o in stack.outcomes() if o.get("key") in runs_keys and is_final(o)]
        assert finals == [], "the skip is reported while the runs go, before any of them ends"
        runs = run_processes(worker)
        assert len(runs) == 2, "at most --max-runs at a time: the third waits for a slot"
    assert not [pid for pid in runs if alive(pid)], "stopping the stack ends every run's process"


def test_a_failure_to_launch_is_retried_then_dead_lettered(tmp_path: Path, write_image) -> None:
    log = (tmp_path / "worker.log").open("w")
    settings = StackSettings(
        workdir=tmp_path / "stack",
        default_style=write_image("style.png", 64, 64, style=True),
        workflow_env={**TINY, "NST_LAUNCH_PLAN": "workflows.no_such_module.wf"},
        max_receives=2,
        retry_delay_s=1,
        worker_output=log,
    )
    with LocalStack(settings) as stack:
        s3, bucket = stack.resources.s3(), stack.resources.bucket
        # Foreign messages on the queue (another tool's, a hand-made test): each is one failed line per delivery,
        # and the worker goes on serving the uploads.
        sqs = stack.resources.sqs()
        foreign = [
            sqs.send_message(QueueUrl=stack.resources.queue_url, MessageBody=body)["MessageId"]
            for body in ("[1, 2, 3]", "not JSON at all", '{"Records": "soon"}')
        ]
        s3.upload_file(str(write_image("photo.jpg", 64, 48)), bucket, "uploads/photo.jpg")
        outcome = stack.wait_for_outcome("uploads/photo.jpg", timeout_s=120)
        assert outcome["outcome"] == "failed" and outcome["final"] and outcome["attempt"] == 2
        assert "cannot import workflow 'workflows.no_such_module.wf'" in outcome["error"]
        wait_until(
            lambda: {o.get("message_id") for o in stack.outcomes() if o.get("final")} >= set(foreign),
            60,
            what="the foreign messages' final lines",
        )
        assert stack.worker.running(), "the worker still serves"
        dead = stack.resources.sqs().receive_message(
            QueueUrl=stack.resources.dead_letter_url, WaitTimeSeconds=5, MaxNumberOfMessages=10
        )
        bodies = [message["Body"] for message in dead["Messages"]]
        assert any("photo.jpg" in body for body in bodies), "the event is kept in the dead-letter queue for a replay"
    lines = outcome_lines((tmp_path / "worker.log").read_text())
    assert [line.rsplit("(", 1)[1] for line in lines if "photo.jpg" in line] == [
        "attempt 1 of 2, will retry)",
        "attempt 2 of 2, moving to the dead-letter queue)",
    ]


def run_cli(*args: str, env: dict[str, str], unset: tuple[str, ...] = (), **kwargs) -> subprocess.Popen:
    """``python -m devstack ARGS`` with this environment, ``env`` added and ``unset`` removed."""
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO,
        env={key: value for key, value in {**os.environ, **env}.items() if key not in unset},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_demo_stops_in_one_line_when_the_weights_cannot_be_loaded(tmp_path: Path) -> None:
    missing = tmp_path / "vgg19.h5"
    demo = run_cli("demo", "--workdir", str(tmp_path / "w"), env={**TINY, "NST_VGG19_WEIGHTS": str(missing)})
    output, _ = demo.communicate(timeout=120)
    assert demo.returncode == 1
    ours = [line for line in output.splitlines() if line.startswith("[demo]")]
    assert ours[1:] == [
        f"[demo] NST_VGG19_WEIGHTS={missing}: no such file. Offline? Leave NST_VGG19_WEIGHTS unset: `make demo` "
        "then runs on the trained VGG16 stand-in"
    ]
    assert "Traceback" not in output and not (tmp_path / "w").exists(), "nothing started"


def test_demo_offline_paints_with_the_trained_stand_in_prints_the_result_and_cleans_up(tmp_path: Path) -> None:
    """NST_VGG19_WEIGHTS unset and VGG19's ImageNet weights out of reach (an empty Keras cache, and every download
    sent to a closed loopback port): the demo runs on the VGG16 stand-in, says so, and really stylizes; it shows
    progress as it happens, says where everything is, keeps the instant preview, and leaves nothing running."""
    from workflows import images
    from workflows.engine.networks import arbitrary_stylization as feed_forward

    closed = f"http://127.0.0.1:{free_port()}"
    env = {"NST_MAX_DIM": "64", "NST_EPOCHS": "2", "NST_STEPS_PER_EPOCH": "20", "KERAS_HOME": str(tmp_path / "keras")}
    env.update({"HTTPS_PROXY": closed, "https_proxy": closed})
    workdir, out = tmp_path / "w", tmp_path / "out"
    demo = run_cli("demo", "--out", str(out), "--workdir", str(workdir), env=env, unset=("NST_VGG19_WEIGHTS",))
    output, _ = demo.communicate(timeout=300)
    assert demo.returncode == 0, output[-3000:]
    assert "[demo] offline: using the trained VGG16 stand-in, fine-tuned on MRI scans" in output
    assert re.search(r"\[nst\] epoch 2/2: step 20/20, loss", output), "progress a person can follow"
    assert re.search(
        r"\[demo\] progress stylized/landscape.jpg.png: epoch 2/2, 40 steps, loss [0-9.e+]+, \d+ s of optimisation",
        output,
    ), "the progress record in the bucket, as it happens"
    port = int(re.search(r"S3/SQS server on http://127.0.0.1:(\d+)", output).group(1))
    assert not port_open(port) and not processes_mentioning(str(workdir))
    # the last lines: where everything is, the preview kept beside the result, and what made it
    bucket, disk, preview, decks, weights = output.splitlines()[-5:]
    assert (bucket, disk) == (
        "result in the bucket: s3://nst-local/stylized/landscape.jpg.png",
        f"result on disk:       {out / 'landscape.jpg.png'}",
    )
    assert preview.startswith(f"preview on disk:      {out / 'landscape.jpg.png.preview.png'} ")
    with Image.open(out / "landscape.jpg.png.preview.png") as kept, Image.open(out / "landscape.jpg.png") as made:
        assert kept.size == made.size == (64, 48), "the preview, downloaded before the bucket went"
        assert np.asarray(kept).tolist() != np.asarray(made).tolist(), "the instant one, not the last image"
    deck = Path(decks.split("Decks (a browser):", 1)[1].split()[0])
    assert deck.parent.parent == (out / "decks").resolve() and "<html" in deck.read_text()
    assert weights.startswith(
        "weights:              trained VGG16 stand-in, fine-tuned on MRI scans: a real stylization, not the production "
        "network"
    )
    assert re.search(
        rf"\[demo\] stopped the worker and the server; removed their temporary files \({workdir}/tmp, \d+ MiB\)", output
    )
    assert not (workdir / "tmp").exists()
    with Image.open(tmp_path / "out" / "landscape.jpg.png") as saved:
        assert "stand-in" in saved.info["Comment"], "the PNG says what made it"
        result = np.asarray(saved.convert("RGB"), np.float32) / 255.0
    photo = images.load_rgb(REPO / "samples" / "landscape.jpg", role="content", max_dim=64)
    style = images.load_rgb(REPO / "samples" / "swirls.jpg", role="style", max_dim=64)
    reached, before = feed_forward.style_distance(result, style), feed_forward.style_distance(photo, style)
    assert reached <= 0.8 * before, f"style distance {reached:.2f}: not a painting (the photo's is {before:.2f})"


def test_demo_reports_a_missing_photo_without_starting_anything(tmp_path: Path) -> None:
    demo = run_cli("demo", "--content", str(tmp_path / "nope.jpg"), "--workdir", str(tmp_path / "w"), env=TINY)
    output, _ = demo.communicate(timeout=60)
    assert demo.returncode != 0
    assert f"content image {tmp_path / 'nope.jpg'} does not exist" in output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_dev_stack_leaves_nothing_behind(tmp_path: Path, stop: signal.Signals) -> None:
    port, workdir = free_port(), tmp_path / "dev"
    dev = run_cli("dev", "--port", str(port), "--web-port", "0", "--workdir", str(workdir), env=TINY)
    lines = []
    for line in dev.stdout:
        lines.append(line)
        if "Each upload's outcome is printed below" in line:
            break
    text = "".join(lines)
    assert f"S3 and SQS endpoint  http://127.0.0.1:{port}" in text, text[-2000:]
    assert "s3.upload_file('photo.jpg', 'nst-local', 'uploads/photo.jpg')" in text
    credentials = text.index("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
    assert credentials < text.index("aws --endpoint-url"), "the AWS CLI commands work when pasted in order"
    assert "[dev] checking the VGG19 weights" in text and "[demo]" not in text
    children = processes_mentioning(str(workdir))
    assert children, "the worker runs while the stack is up"
    page = re.search(r"the page +http://127\.0\.0\.1:(\d+)/", text)
    assert page and port_open(int(page[1])), "make dev serves the page and prints its address"
    web_port = int(page[1])

    dev.send_signal(stop)
    dev.wait(timeout=30)
    deadline = time.monotonic() + 15
    while (
        port_open(port) or port_open(web_port) or processes_mentioning(str(workdir))
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), "the S3 server is gone"
    assert not port_open(web_port), "the web server is gone"
    assert not processes_mentioning(str(workdir)), "the worker is gone"
    if stop == signal.SIGINT:
        assert dev.returncode == 130
        rest = dev.stdout.read()
        assert re.search(r"\[dev\] stopped the worker and the server; removed their temporary files", rest), rest
        assert not (workdir / "tmp").exists()


def test_an_upload_asking_for_the_preview_gets_the_feed_forward_result(tmp_path: Path, write_image) -> None:
    """x-amz-meta-nst-mode: preview, through the real local stack: the result is the preview, no optimisation."""
    from workflows import images
    from workflows.engine.networks import arbitrary_stylization as feed_forward

    photo = write_image("photo.jpg", 96, 72, quality=95)
    style = write_image("default-style.png", 64, 64, style=True)
    log_path = tmp_path / "worker.log"
    settings = StackSettings(
        workdir=tmp_path / "stack",
        decks=tmp_path / "decks",
        default_style=style,
        workflow_env=TINY,
        worker_output=log_path.open("w"),
    )
    with LocalStack(settings) as stack:
        s3, bucket = stack.resources.s3(), stack.resources.bucket
        s3.upload_file(str(photo), bucket, "uploads/quick.jpg", ExtraArgs={"Metadata": {"nst-mode": "preview"}})
        outcome = stack.wait_for_outcome("uploads/quick.jpg", timeout_s=240)
        body = s3.get_object(Bucket=bucket, Key="stylized/quick.jpg.png")["Body"].read()
    assert outcome["outcome"] == "launched"
    with Image.open(io.BytesIO(body)) as image:
        result = np.asarray(image, np.float32) / 255.0
    expected = feed_forward.preview_of(
        images.load_rgb(photo, role="content", max_dim=48), images.load_rgb(style, role="style", max_dim=48)
    )
    assert result.shape == (36, 48, 3) and np.abs(result - expected).max() <= 1 / 255 + 1e-6
    assert "epoch 1/1" not in log_path.read_text(), "no optimisation step ran"
