"""Every image a task holds is in the memory model: the styles at their analysis size (never enlarged beyond the
photo's own scale), the init image, the preview's inputs. A run that cannot fit its tasks is refused before any
download, naming ``more_styles`` and how many fit; a fitting run's tasks ask for what their images need, never
above the task limit. (The peaks themselves are measured against these requests by ``make bench``.)"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from flytekit.types.file import FlyteFile

from workflows.engine import memory, stages
from workflows.engine.options import DEFAULTS, OptionError, StyleOptions, style_held_side
from workflows.neural_style_transfer import neural_style_transfer_wf, preprocess

BIG = 4096 * 3072  # a 4:3 photo at the largest max_dim
BIG_STYLE = 4096 * 4096  # a square style at its analysis size there


def test_a_small_photo_keeps_its_styles_at_its_own_scale(write_image) -> None:
    """The styles are kept at ``style_scale`` times the photo as decoded, not at ``max_dim``: a 64 px photo under
    ``max_dim=4096`` (not upscaled) holds 64 px styles, not 4096 px ones (16 million pixels each)."""
    photo, style = write_image("photo.png", 64, 48), write_image("style.png", 300, 300, style=True)
    for scale, side in ((1.0, 64), (2.0, 128), (0.5, 32)):
        pixels = preprocess(
            content_img=FlyteFile(str(photo)),
            style_img=FlyteFile(str(style)),
            more_styles=[FlyteFile(str(style))] * 2,
            max_dim=4096,
            style_scale=scale,
            init_image="content",
            upscale=False,
            input_digest=f"small-photo-{scale}",
        )
        assert pixels.content.shape[:2] == (48, 64)
        assert [max(s.shape[:2]) for s in pixels.styles] == [side] * 3
    assert style_held_side(4096, 4.0) == 4096, "within max_dim's own bound"


@pytest.mark.parametrize("init", [0, BIG])
def test_the_styles_said_to_fit_fit_every_task_and_one_more_does_not(init: int) -> None:
    """The refusal's count is the model's own, over every task that holds the images: that many styles fit all of
    them (so the next try is not refused by the next task), one more does not fit one of them."""
    held = memory.HeldImages(BIG, (BIG_STYLE,) * 8, init)
    with pytest.raises(OptionError) as refused:
        stages.check_held_images(held, tiled=True)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("more_styles: 8 style image(s)")
    said = re.search(r"at most (\d+) more_styles fit", message)
    assert said, message
    fitting = int(said.group(1)) + 1  # the main style and the more_styles that fit
    stages.check_held_images(dataclasses.replace(held, styles=(BIG_STYLE,) * fitting), tiled=True)
    with pytest.raises(OptionError):
        stages.check_held_images(dataclasses.replace(held, styles=(BIG_STYLE,) * (fitting + 1)), tiled=True)


@pytest.mark.parametrize("task", ["preprocess", "preview", "style_targets"])
def test_the_default_size_with_eight_styles_fits_every_task(task: str) -> None:
    held = memory.HeldImages(512 * 384, (512 * 512,) * 8, 512 * 384)
    assert memory.with_margin(memory.holding_peak_bytes(task, held)) <= memory.HOLDING_LIMITS[task]


def test_the_init_image_counts_where_it_is_held() -> None:
    """Preprocessing holds the init image; the preview does not receive it."""
    styles = (BIG_STYLE,) * 2
    without = memory.holding_peak_bytes("preprocess", memory.HeldImages(BIG, styles))
    with_init = memory.holding_peak_bytes("preprocess", memory.HeldImages(BIG, styles, BIG))
    assert with_init > without
    stages.check_held_images(memory.HeldImages(BIG, styles[:1]))
    with pytest.raises(OptionError, match="with the photo and the init image"):
        stages.check_held_images(memory.HeldImages(BIG, styles + (BIG_STYLE,), BIG))


def test_optimisation_tasks_ask_for_their_styles_and_never_above_the_limit() -> None:
    """More styles make the whole-image task ask for more; at 4096 px the coarse stage shrinks to leave them room,
    every request stays within the task limit, and the tiles (handed only the shared targets) do not change."""
    options = DEFAULTS
    one = stages.plan((384, 512), options, (1024 * 1024,))
    eight = stages.plan((384, 512), options, (1024 * 1024,) * 8, init=True)  # style_scale 2
    assert eight.whole[0].memory_bytes > one.whole[0].memory_bytes
    big_one = stages.plan((3072, 4096), options, (BIG_STYLE,))
    big_three = stages.plan((3072, 4096), options, (BIG_STYLE,) * 3)
    assert big_one.tiled and big_three.tiled
    assert big_three.whole_hw[0] * big_three.whole_hw[1] < big_one.whole_hw[0] * big_one.whole_hw[1]
    assert big_three.tile_memory_bytes == big_one.tile_memory_bytes
    for plan in (one, eight, big_one, big_three):
        assert all(task.memory_bytes <= memory.TASK_LIMIT for task in plan.whole)
        assert plan.tile_memory_bytes <= memory.TASK_LIMIT


def test_styles_that_leave_no_room_for_the_photo_are_refused_in_one_line() -> None:
    options = StyleOptions(max_dim=4096)
    with pytest.raises(OptionError) as refused:
        stages.plan((3072, 4096), options, (BIG_STYLE,) * 12)
    assert "\n" not in str(refused.value) and "more_styles" in str(refused.value)


def test_the_workflow_refuses_too_many_large_styles_before_preprocessing(write_image, tmp_path: Path) -> None:
    """Through the workflow: refused by ``check_inputs`` (one line, naming ``more_styles``), so no task ever starts
    above its limit; the same styles at the default size run."""
    photo = write_image("photo.png", 400, 300)
    style = write_image("style.png", 400, 400, style=True)
    with pytest.raises(OptionError, match=r"^more_styles: 8 style image\(s\) .* at most \d+ more_styles fit"):
        neural_style_transfer_wf(
            content_img=str(photo),
            style_img=str(style),
            more_styles=[str(style)] * 7,
            max_dim=4096,
            upscale=True,
            epochs=1,
            steps_per_epoch=1,
        )
