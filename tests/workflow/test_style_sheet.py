"""The style sheet: pairs fanned out with map_task, one bad item tolerated, a labelled contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from workflows.style_sheet import TILE, sheet_output_names, style_sheet_wf

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
    assert (out / "photo.jpg" / "stripes.png").is_file() and not (out / "photo.jpg" / "notes.png").exists()
    with Image.open(sheet.path) as image:
        assert image.size == (2 * TILE, TILE + 18), "one row of two labelled tiles"
        grid = np.asarray(image)
    failed_tile = grid[10 : TILE - 10, TILE + 10 : 2 * TILE - 10]
    assert (np.abs(failed_tile.astype(int) - 200) <= 1).mean() > 0.8, "the failed item is a grey tile, not a hole"
    with Image.open(sheet.path) as image:
        failures = json.loads(image.text["Failures"])
    assert failures == {"notes": f"style image {bad}: not an image (no decoder recognises the file)"}, "and why"
    assert (out / "sheet.png").is_file()


def test_too_many_failures_fail_the_sheet(write_image, tmp_path: Path) -> None:
    photo = write_image("photo.jpg", 48, 36)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="style image .*notes.png: not an image"):
        style_sheet_wf(
            photos=[str(photo)], styles=[str(bad), str(bad)], style_names=["a", "b"], min_success_ratio=0.5, **TINY
        )


def test_names_must_match_the_styles(write_image) -> None:
    photo, style = write_image("photo.jpg", 48, 36), write_image("s.png", 32, 32, style=True)
    with pytest.raises(Exception, match="style_names has 2 names for 1 styles"):
        style_sheet_wf(photos=[str(photo)], styles=[str(style)], style_names=["a", "b"], **TINY)


def test_each_pair_keeps_its_own_picture_locally(write_image, tmp_path: Path) -> None:
    """Every item of a local map shares a working directory: each result must still be its own style's."""
    photo = write_image("photo.jpg", 48, 36)
    stripes, smooth = write_image("stripes.png", 32, 32, style=True), write_image("smooth.png", 32, 32)
    out = tmp_path / "sheet-out"
    three_steps = {**TINY, "steps_per_epoch": 3}  # the two styles' results differ by about 6/255 on average
    for prefix in ("", f"{out}/"):
        results, sheet = style_sheet_wf(
            photos=[str(photo)], styles=[str(stripes), str(smooth)], output_prefix=prefix, **three_steps
        )
        first, second = (pixels(result.path) for result in results)
        assert results[0].path != results[1].path and np.abs(first - second).mean() > 2, f"output_prefix={prefix!r}"
        grid = pixels(sheet.path)
        left, top = (TILE - 40) // 2, (TILE - 30) // 2  # where the 40x30 results sit in their tiles
        tiles = [grid[top : top + 30, x + left : x + left + 40] for x in (0, TILE)]
        assert np.abs(tiles[0] - tiles[1]).mean() > 2, "two tiles, two pictures"
    assert np.abs(pixels(out / "photo.jpg" / "stripes.png") - pixels(out / "photo.jpg" / "smooth.png")).mean() > 2


def pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def test_photos_sharing_a_file_name_are_refused_before_any_item_runs(write_image, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = write_image("a/x.jpg", 48, 36), write_image("b/x.jpg", 48, 36)
    style = write_image("s.png", 32, 32, style=True)
    with pytest.raises(Exception, match="photo file name 'x.jpg' appears more than once; each result is named by it"):
        style_sheet_wf(photos=[str(first), str(second)], styles=[str(style)], output_prefix=f"{tmp_path}/o/", **TINY)


_SEGMENTS = st.text(alphabet="ab.-/_xé", min_size=1, max_size=8)


@given(photos=st.lists(_SEGMENTS, min_size=1, max_size=5), styles=st.lists(_SEGMENTS, min_size=1, max_size=5))
def test_no_two_pairs_and_not_the_sheet_share_an_output(photos: list[str], styles: list[str]) -> None:
    uris = [f"s3://b/in/{photo}" for photo in photos]
    try:
        outputs = sheet_output_names(uris, styles, "s3://b/out/")
    except ValueError as refused:
        assert "\n" not in str(refused)
        return
    written = list(outputs.values())
    assert len(set(written)) == len(written) == 1 + len(photos) * len(styles)
    assert all(key.startswith("s3://b/out/") for key in written)
