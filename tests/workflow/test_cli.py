"""The README's `pyflyte run` command, run as a user would, offline with random weights."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from tests.workflow.cli import REPO, pyflyte_run


def test_pyflyte_run_completes_offline_and_prints_the_output(write_image) -> None:
    content = write_image("photo.jpg", 120, 90, quality=95)
    style = write_image("style.png", 64, 64, style=True)
    result = pyflyte_run(
        "neural_style_transfer_wf",
        "--content_img",
        str(content),
        "--style_img",
        str(style),
        "--epochs",
        "1",
        "--steps_per_epoch",
        "3",
        "--max_dim",
        "96",
    )

    assert result.returncode == 0, result.stderr[-2000:]
    printed = [line for line in result.stdout.splitlines() if line.strip().endswith(".png")]
    assert printed, result.stdout
    with Image.open(printed[-1].strip()) as image:
        assert image.size == (96, 72)
    assert "epoch 1/1: step 3/3" in result.stderr
    assert "NOT a real stylization" in result.stderr
    deck = re.search(r"Progress Deck of this run: file://(\S+)", result.stderr)
    assert deck and "Epoch 1 of 1" in Path(deck.group(1)).read_text(), "the printed Deck is this run's"


def test_help_lists_the_allowed_values_and_a_wrong_one_is_refused_before_running() -> None:
    helped = pyflyte_run("neural_style_transfer_wf", "--help")
    assert "[lbfgs|adam]" in helped.stdout and "[none|luminance|histogram]" in helped.stdout
    photo = str(REPO / "samples" / "landscape.jpg")
    refused = pyflyte_run(
        "neural_style_transfer_wf", "--content_img", photo, "--style_img", photo, "--optimizer", "sgd"
    )
    assert refused.returncode != 0
    assert "'sgd' is not one of 'lbfgs', 'adam'" in refused.stdout + refused.stderr


def test_a_user_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    style = tmp_path / "style.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(style)
    result = pyflyte_run("neural_style_transfer_wf", "--content_img", str(notes), "--style_img", str(style))
    printed = result.stdout + result.stderr
    assert "not an image (no decoder recognises the file)" in printed
    assert "Traceback" not in printed and 'File "' not in printed, printed[-1500:]


def test_pyflyte_run_takes_masks_and_an_output_format(write_image, tmp_path: Path) -> None:
    """The mask inputs (a list of files, an optional file) and the output format, as a user types them."""
    content = write_image("photo.jpg", 120, 90, quality=95)
    style, other = write_image("style.png", 64, 64, style=True), write_image("other.png", 64, 64)
    left = Image.new("L", (120, 90), 0)
    left.paste(255, (0, 0, 60, 90))
    left.save(tmp_path / "left.png")
    left.point(lambda value: 255 - value).save(tmp_path / "right.png")
    Image.new("L", (240, 180), 0).save(tmp_path / "black.png")
    target = tmp_path / "out.tiff"
    arguments = [
        "--content_img", str(content), "--style_img", str(style), "--more_styles", f'["{other}"]',
        "--style_masks", f'["{tmp_path / "left.png"}", "{tmp_path / "right.png"}"]',
        "--output_format", "tiff16", "--output_uri", str(target),
        "--epochs", "1", "--steps_per_epoch", "2", "--max_dim", "64",
    ]  # fmt: skip
    result = pyflyte_run("neural_style_transfer_wf", *arguments)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 style mask(s)" in result.stderr
    with Image.open(target) as image:
        assert (image.format, image.size, image.tag_v2[258]) == ("TIFF", (64, 48), (16, 16, 16))

    refused = pyflyte_run("neural_style_transfer_wf", *arguments, "--preserve_mask", str(tmp_path / "black.png"))
    printed = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "preserve_mask" in printed and "all black" in printed
    assert "Traceback" not in printed, printed[-1500:]
