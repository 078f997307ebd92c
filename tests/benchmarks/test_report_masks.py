"""BENCHMARKS.md's section on masks, rendered from a fixed result: no run here."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.report import render, render_masks


def run(edge: str, left: str, right: str, own: float, other: float, seconds: float) -> dict[str, Any]:
    """A two-region run whose halves are each ``own`` from the style their mask gave them and ``other`` from the
    other."""
    return {
        "edge": edge,
        "left": left,
        "right": right,
        "seconds": seconds,
        "halves": {
            side: {name: own if name == style else other for name in ("swirls", "mosaic")}
            for side, style in (("left", left), ("right", right))
        },
    }


def protect(strength: float | None, inside: float, outside: float, distance: float) -> dict[str, Any]:
    return {
        "preserve_strength": strength,
        "seconds": 20.0,
        "change": {"inside": inside, "outside": outside},
        "distance": distance,
    }


#: What ``bench_masks --sizes 128`` records, with round figures.
MASKS: dict[str, Any] = {
    "machine": {"cpu": "AMD EPYC", "cores": 2, "weights": "stand-in"},
    "network": "vgg16",
    "weights": "stand-in",
    "photo": "samples/landscape.jpg",
    "styles": ["samples/swirls.jpg", "samples/mosaic.jpg"],
    "command": "python -m benchmarks.bench_masks --sizes 128",
    "wall_s": 300.0,
    "sizes": [
        {
            "size": "128x96",
            "max_dim": 128,
            "epochs": 2,
            "steps_per_epoch": 50,
            "feather_fraction": 0.125,
            "feather_px": 16.0,
            "photo_halves": {"left": {"swirls": 4.0, "mosaic": 4.5}, "right": {"swirls": 5.0, "mosaic": 5.25}},
            "regions": [
                run("hard", "swirls", "mosaic", 3.0, 5.0, 30.0),
                run("hard", "mosaic", "swirls", 3.5, 5.0, 25.0),
                run("feathered", "swirls", "mosaic", 3.25, 5.0, 26.0),
                run("feathered", "mosaic", "swirls", 3.5, 5.0, 24.0),
            ],
            "protect": {
                "style": "swirls",
                "default_strength": 10.0,
                "area": "64x48 of 128x96",
                "area_fraction": 0.25,
                "photo_distance": 4.75,
                "runs": [
                    protect(None, 0.2, 0.25, 2.0),
                    protect(1.0, 0.08, 0.2, 2.5),
                    protect(10.0, 0.03, 0.2, 2.75),
                    protect(100.0, 0.01, 0.2, 3.0),
                ],
            },
        }
    ],
}


def test_the_two_region_table_holds_every_half_against_both_styles_and_the_photo() -> None:
    lines, _ = render_masks(MASKS)
    text = "\n".join(lines)
    assert lines[0] == "## 10. Masks: regional style and the protect mask"
    assert "`python -m benchmarks.bench_masks --sizes 128`" in text, "the section says how to rerun it"
    assert "### 128x96, 2 x 50 L-BFGS steps a run" in lines
    assert "| the photo | 4.00 | 4.50 | 5.00 | 5.25 | | | |" in lines
    assert "| hard edge, swirls left / mosaic right | 3.00 | 5.00 | 5.00 | 3.00 | 0.60 | 0.60 | 30 |" in lines
    assert "| feathered edge, mosaic left / swirls right | 5.00 | 3.50 | 3.50 | 5.00 | 0.70 | 0.70 | 24 |" in lines
    assert "a linear ramp over 0.125 of the width, 16 px" in text
    assert "Each half (the left 64 columns, the right 64)" in text


def test_the_two_region_sentences_are_computed_from_the_runs() -> None:
    text = "\n".join(render_masks(MASKS)[0])
    assert "the photo's left half is already 0.50 nearer swirls than mosaic" in text
    assert "and the photo's right half is already 0.25 nearer swirls than mosaic." in text
    assert (
        "After the runs, 8 of the 8 halves (4 runs, two halves each) are nearer the style their mask gave them than the "
        "other: the other's distance less their own's is 1.50 to 2.00." in text
    )
    assert "Swapping the masks (hard edge): the left half's distance to swirls goes from 3.00 to 5.00" in text
    assert "Swapping the masks (feathered edge): the left half's distance to swirls goes from 3.25 to 5.00" in text


def test_the_protect_table_and_sentence_come_from_the_runs() -> None:
    lines, _ = render_masks(MASKS)
    text = "\n".join(lines)
    assert "| the photo | 0 | 0 | | 4.75 | |" in lines
    assert "| no mask | 0.200 | 0.250 | 0.80 | 2.00 | 20 |" in lines
    assert "| preserve_strength 10 (the default) | 0.030 | 0.200 | 0.15 | 2.75 | 20 |" in lines
    assert "| preserve_strength 100 | 0.010 | 0.200 | 0.05 | 3.00 | 20 |" in lines
    assert "the protected quarter changes by 0.030 on average, 0.15x its change without the mask (0.200)" in text
    assert "The change inside falls with the strength: 0.080 at 1, 0.030 at 10, 0.010 at 100." in text


def test_the_targets_are_met_well_below_and_within_the_stated_change() -> None:
    _, targets = render_masks(MASKS)
    (regions_name, regions_measured, regions_ok), (protect_name, protect_measured, protect_ok) = targets
    assert regions_name.startswith("two regions at 128x96: each half's style distance to its own style <= 0.8 x")
    assert (regions_measured, regions_ok) == ("worst own / other 0.70", "met")
    assert protect_name == "protect mask at 128x96, preserve_strength 10: mean change inside <= 0.06 (of 1)"
    assert (protect_measured, protect_ok) == ("0.030 (outside 0.200)", "met")


@pytest.mark.parametrize(("own", "inside", "met"), [(4.5, 0.03, (False, True)), (3.0, 0.07, (True, False))])
def test_a_half_not_well_below_or_a_protected_region_that_moves_is_not_met(
    own: float, inside: float, met: tuple[bool, bool]
) -> None:
    masks = copy.deepcopy(MASKS)
    size = masks["sizes"][0]
    size["regions"][3] = run("feathered", "mosaic", "swirls", own, 5.0, 24.0)
    size["protect"]["runs"][2] = protect(10.0, inside, 0.2, 2.75)
    verdicts = tuple(ok == "met" for _, _, ok in render_masks(masks)[1])
    assert verdicts == met


def test_the_report_renders_the_section_and_its_targets_only_with_a_result() -> None:
    engine = {
        "machine": {
            "cpu": "AMD EPYC",
            "cores": 2,
            "memory_gib": 8,
            "cpu_flags": [],
            "gpus": [],
            "python": "3.11",
            "tensorflow": "2",
            "keras": "3",
            "numpy": "2",
            "weights": "random",
        }
    }
    with_masks, without = render(engine, None, "plot.png", masks=MASKS), render(engine, None, "plot.png")
    assert "## 10. Masks: regional style and the protect mask" in with_masks
    assert "| protect mask at 128x96, preserve_strength 10: mean change inside <= 0.06 (of 1) |" in with_masks
    assert "Masks" not in without


def test_the_memory_rows_compare_masked_with_unmasked_and_check_the_request() -> None:
    masks = copy.deepcopy(MASKS)
    gib = 2**30
    masks["memory_command"] = "python -m benchmarks.bench_masks --memory-only"
    masks["memory"] = [
        {
            "side": 512,
            "pixels": 512 * 384,
            "styles": 4,
            "peak_without_masks_bytes": 2 * gib,
            "peak_with_masks_bytes": 2.2 * gib,
            "request_with_masks_bytes": 3 * gib,
        },
        {
            "side": 768,
            "pixels": 768 * 576,
            "styles": 4,
            "peak_without_masks_bytes": 4 * gib,
            "peak_with_masks_bytes": 5 * gib,
            "request_with_masks_bytes": 4.5 * gib,
        },
    ]
    lines, targets = render_masks(masks)
    text = "\n".join(lines)
    assert "| 512x384 | 4 | 2.00 GiB | 2.20 GiB | 1.10 | 3.00 GiB |" in text
    assert "peaked at 1.10 to 1.25 times the same task without masks; 1 of 2 masked tasks stayed within" in text
    assert targets[-1] == ("optimisation tasks with masks within the memory model's request", "1 of 2", "**not met**")
