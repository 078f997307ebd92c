"""The optimisation task as Flyte runs it: epochs inside one task, an intratask checkpoint after each, a retry that
resumes from the last finished epoch, the Progress Deck published while it runs, and the progress record."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from flytekit.core.checkpointer import SyncCheckpoint
from flytekit.core.context_manager import FlyteContextManager
from flytekit.types.file import FlyteFile
from PIL import Image

from tests.conftest import smooth_pixels, striped_pixels
from tests.workflow.pod import KilledAtWrite, run_as_pod
from workflows.checkpoints import CHECKPOINT_FILE
from workflows.engine.chain import RunState
from workflows.engine.options import StyleOptions
from workflows.neural_style_transfer import neural_style_transfer_wf, optimize

OPTIONS = StyleOptions(epochs=4, steps_per_epoch=2, max_dim=40, optimizer="lbfgs", precision="float32")
CONTENT, STYLE = smooth_pixels(40, 30), striped_pixels(40, 40)


class StepLog(logging.Handler):
    """Collects the task's per-step progress lines ("epoch 2/4: step 1/2, ...")."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[str] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.lines.append(message)
        if re.match(r"epoch \d+/\d+: step", message):
            self.steps.append(message)


@pytest.fixture
def step_log():
    handler = StepLog()
    logger = logging.getLogger("nst")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def run_task(checkpoint: SyncCheckpoint, tmp_path: Path, output_uri: str = "", **inputs: object) -> dict:
    """Execute ``optimize`` as a pod would (dispatch_execute), with ``checkpoint`` as its intratask checkpoint."""
    values = {
        "content": CONTENT,
        "styles": [STYLE],
        "init": None,
        "options": OPTIONS,
        "first_epoch": 0,
        "stop_epoch": OPTIONS.epochs,
        "resume": None,
        "output_uri": output_uri,
        **inputs,
    }
    values, params = run_as_pod(optimize, values, {"image": np.ndarray, "state": FlyteFile}, checkpoint, tmp_path)
    state = RunState.from_bytes(Path(values["state"].path).read_bytes())
    return {"image": values["image"], "state": state, "params": params}


def test_a_killed_task_resumes_from_its_last_checkpoint(tmp_path: Path, step_log: StepLog) -> None:
    uninterrupted = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "straight")), tmp_path)
    straight_steps = len(step_log.steps)
    assert straight_steps == OPTIONS.total_steps

    step_log.steps.clear()
    first_attempt = tmp_path / "attempt-1"
    with pytest.raises(KeyboardInterrupt):  # epochs 1 and 2 checkpointed; epoch 3 ran, then the pod died
        run_task(KilledAtWrite(first_attempt, kill_at=3), tmp_path)
    steps_before_kill = len(step_log.steps)
    assert steps_before_kill == 3 * OPTIONS.steps_per_epoch

    step_log.steps.clear()
    retry = SyncCheckpoint(checkpoint_dest=str(tmp_path / "attempt-2"), checkpoint_src=str(first_attempt))
    resumed = run_task(retry, tmp_path)
    assert any("resuming from the checkpoint after epoch 2" in line for line in step_log.lines)
    assert len(step_log.steps) == 2 * OPTIONS.steps_per_epoch, "only epochs 3 and 4 run again"
    repeated = steps_before_kill + len(step_log.steps) - straight_steps
    assert repeated <= OPTIONS.steps_per_epoch, "a kill costs at most one epoch of steps"

    np.testing.assert_allclose(resumed["image"], uninterrupted["image"], atol=1e-5)
    assert resumed["state"].epochs_done == OPTIONS.epochs
    np.testing.assert_allclose(resumed["state"].losses, uninterrupted["state"].losses, rtol=1e-5)


def test_a_checkpoint_cut_short_by_a_kill_is_not_a_dead_end(tmp_path: Path, step_log: StepLog) -> None:
    """A pod killed while its checkpoint was being copied leaves a truncated file: the retry warns and starts
    from its input instead of failing on it every time."""
    whole = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "whole")), tmp_path, stop_epoch=2)
    cut = tmp_path / "cut"
    cut.mkdir()
    data = whole["state"].to_bytes()
    (cut / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    step_log.steps.clear()
    retry = SyncCheckpoint(checkpoint_dest=str(tmp_path / "retry"), checkpoint_src=str(cut))
    resumed = run_task(retry, tmp_path, stop_epoch=2)
    assert any(line.startswith("no usable checkpoint") for line in step_log.lines)
    assert len(step_log.steps) == 2 * OPTIONS.steps_per_epoch, "both epochs run again, from the photo"
    np.testing.assert_allclose(resumed["image"], whole["image"], atol=1e-5)


def other_size() -> RunState:
    """A well-formed checkpoint after 1 epoch of a run of a 32x24 photo (this task's is 40x30)."""
    return RunState(1, smooth_pixels(32, 24), {"adam_m": np.zeros((1, 24, 32, 3), np.float32)}, [1.0, 0.5], 2.0)


def wrong_arrays() -> RunState:
    """The right image after 1 epoch, but L-BFGS pairs of another shape (a state from another image)."""
    pairs = np.zeros((3, 1, 12, 16, 3), np.float32)
    state = {"lbfgs_s": pairs, "lbfgs_y": pairs, "step": np.array(2, np.int64)}
    return RunState(1, CONTENT.copy(), state, [1.0, 0.5], 2.0)


@pytest.mark.parametrize(
    ("checkpointed", "reason"),
    [
        (other_size, "its image has shape (24, 32, 3), this task's images are (30, 40, 3)"),
        (wrong_arrays, "its optimizer state lbfgs_s has shape (3, 1, 12, 16, 3), this task's images are (30, 40, 3)"),
    ],
)
def test_a_checkpoint_of_another_shape_is_unusable_and_the_task_starts_from_its_input(
    tmp_path: Path, step_log: StepLog, checkpointed, reason: str
) -> None:
    """Well-formed, so it reads: before, a state of another image size resumed silently, and arrays of another
    shape failed the attempt (and every retry) in the engine. Now it is logged once and ignored."""
    whole = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "whole")), tmp_path, stop_epoch=2)
    left = tmp_path / "left"
    left.mkdir()
    checkpointed().write(left / CHECKPOINT_FILE)
    step_log.steps.clear()
    step_log.lines.clear()
    retry = SyncCheckpoint(checkpoint_dest=str(tmp_path / "retry"), checkpoint_src=str(left))
    resumed = run_task(retry, tmp_path, stop_epoch=2)
    warned = [line for line in step_log.lines if line.startswith("no usable checkpoint")]
    assert warned == [f"no usable checkpoint ({reason}); starting this task from its input"]
    assert len(step_log.steps) == 2 * OPTIONS.steps_per_epoch, "both epochs run, from the photo"
    np.testing.assert_allclose(resumed["image"], whole["image"], atol=1e-5)


def test_the_runs_last_checkpoint_and_hand_off_drop_the_optimizer_state(tmp_path: Path, step_log: StepLog) -> None:
    """Nothing continues from the L-BFGS history once the last epoch is done, so neither the last checkpoint nor
    the hand-off stores it; a retry after that checkpoint runs no step and returns the same image."""
    midway = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "midway")), tmp_path, stop_epoch=2)
    assert midway["state"].optimizer_state["lbfgs_s"].shape[0] > 0, "a task that ends mid-run hands its history on"
    saved = list((tmp_path / "midway").iterdir())
    assert [p.name for p in saved] == [CHECKPOINT_FILE]
    assert "lbfgs_s" in RunState.from_bytes(saved[0].read_bytes()).optimizer_state

    finished = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "end")), tmp_path)
    assert finished["state"].optimizer_state == {} and finished["state"].epochs_done == OPTIONS.epochs
    last = RunState.from_bytes((tmp_path / "end" / CHECKPOINT_FILE).read_bytes())
    assert last.optimizer_state == {} and last.epochs_done == OPTIONS.epochs
    step_log.steps.clear()
    retry = SyncCheckpoint(checkpoint_dest=str(tmp_path / "again"), checkpoint_src=str(tmp_path / "end"))
    again = run_task(retry, tmp_path)
    assert step_log.steps == [], "the retry finds every epoch done"
    np.testing.assert_allclose(again["image"], finished["image"], atol=0)


def test_a_task_after_a_finished_task_continues_its_state(tmp_path: Path) -> None:
    """epochs_per_task splits: the second task starts from the first one's state file, not from the photo."""
    whole = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "whole")), tmp_path)
    first = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "a")), tmp_path, stop_epoch=2)
    assert first["state"].epochs_done == 2
    state_file = tmp_path / "handed-over.npz"
    state_file.write_bytes(first["state"].to_bytes())
    second = run_task(
        SyncCheckpoint(checkpoint_dest=str(tmp_path / "b")), tmp_path, first_epoch=2, resume=str(state_file)
    )
    np.testing.assert_allclose(second["image"], whole["image"], atol=1e-5)
    assert len(second["state"].losses) == OPTIONS.total_steps


def test_the_progress_deck_is_published_after_every_epoch(tmp_path: Path) -> None:
    result = run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "cp")), tmp_path)
    decks = [deck for deck in result["params"].decks if deck.name == "Progress"]
    assert len(decks) == 1, "one Progress Deck, replaced each epoch (not one per epoch)"
    page = decks[0].html
    assert "Epoch 4 of 4 (40x30, lbfgs, float32)" in page
    assert len(re.findall(r'class="epoch-end"', page)) == OPTIONS.epochs
    assert "steps_per_epoch" in page and 'role="alert"' in page and "RANDOM weights" in page

    sandbox = Path(FlyteContextManager.current_context().file_access.local_sandbox_dir)
    published = [p.read_text() for p in sandbox.rglob("deck.html") if "Epoch 1 of 4 (40x30" in p.read_text()]
    assert published, "Deck.publish() wrote the page while the task ran, after its first epoch"


def test_progress_record_and_preview_beside_a_local_output(tmp_path: Path) -> None:
    output = tmp_path / "out" / "photo.png"
    run_task(SyncCheckpoint(checkpoint_dest=str(tmp_path / "cp")), tmp_path, output_uri=str(output))
    record = json.loads(Path(f"{output}.progress.json").read_text())
    assert record["epoch"] == record["epochs"] == 4 and record["done"] is True and record["state"] == "done"
    assert record["steps"] == OPTIONS.total_steps and record["weights"] == "random" and record["loss"] > 0
    with Image.open(f"{output}.preview.png") as preview:
        assert preview.size == (40, 30)
    assert not output.exists(), "the result itself is finalize's to write"
    assert sorted(p.name for p in output.parent.iterdir()) == ["photo.png.preview.png", "photo.png.progress.json"]


def test_progress_record_beside_an_s3_output(flyte_s3, tmp_path: Path) -> None:
    s3 = flyte_s3.client()
    s3.create_bucket(Bucket="nst-progress")
    run_task(
        SyncCheckpoint(checkpoint_dest=str(tmp_path / "cp")), tmp_path, output_uri="s3://nst-progress/stylized/a.png"
    )
    body = s3.get_object(Bucket="nst-progress", Key="stylized/a.png.progress.json")["Body"].read()
    assert json.loads(body)["epoch"] == 4
    assert s3.head_object(Bucket="nst-progress", Key="stylized/a.png.preview.png")["ContentLength"] > 0


def test_the_result_png_says_when_the_weights_were_random(write_image, tmp_path: Path) -> None:
    content, style = write_image("photo.jpg", 48, 36), write_image("style.png", 32, 32, style=True)
    target = tmp_path / "result.png"
    neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), epochs=1, steps_per_epoch=1, max_dim=48, output_uri=str(target)
    )
    with Image.open(target) as image:
        assert "RANDOM weights" in image.text["Comment"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".result.png")] == [], "no temporary left"
    assert target.stat().st_mode & 0o044, "an ordinary readable file, not mkstemp's private mode"
