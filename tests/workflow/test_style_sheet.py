"""The style sheet: pairs fanned out with map_task, one bad item tolerated, a labelled contact sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workflows.style_sheet import TILE, style_sheet_wf

TINY = {"epochs": 1, "steps_per_epoch": 1, "max_dim": 40}


def test_one_photo_in_two_styles_with_one_bad_style_tolerated(write_image, tmp_path: Path) -> None:
    photo = write_image("photo.jpg", 48, 36)
    good = write_image("stripes.png", 32, 32, style=True)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = tmp_path / "sheet-out"
    results, sheet = style_sheet_wf(
        photos=[str(photo)], styles=[str(good), str(bad)], output_prefix=f"{out}/", min_success_ratio=0.5, **TINY
    )
    assert results[1] is None, "the bad style's item failed on its own"
    with Image.open(results[0].path) as image:
        assert image.size == (40, 30)
    assert (out / "photo-stripes.png").is_file() and not (out / "photo-notes.png").exists()
    with Image.open(sheet.path) as image:
        assert image.size == (2 * TILE, TILE + 18), "one row of two labelled tiles"
        grid = np.asarray(image)
    failed_tile = grid[10 : TILE - 10, TILE + 10 : 2 * TILE - 10]
    assert (np.abs(failed_tile.astype(int) - 200) <= 1).mean() > 0.9, "the failed item is a grey tile, not a hole"
    assert (out / "sheet.png").is_file()


def test_too_many_failures_fail_the_sheet(write_image, tmp_path: Path) -> None:
    photo = write_image("photo.jpg", 48, 36)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="style image .*notes.png: not an image"):
        style_sheet_wf(photos=[str(photo)], styles=[str(bad), str(bad)], min_success_ratio=0.5, **TINY)


def test_names_must_match_the_styles(write_image) -> None:
    photo, style = write_image("photo.jpg", 48, 36), write_image("s.png", 32, 32, style=True)
    with pytest.raises(Exception, match="style_names has 2 names for 1 styles"):
        style_sheet_wf(photos=[str(photo)], styles=[str(style)], style_names=["a", "b"], **TINY)
