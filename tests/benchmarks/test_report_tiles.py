"""BENCHMARKS.md's comparison of the tiled plan with a single stage, rendered from a fixed result: no run here."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.report import render_quality, render_tiles

GIB = 2**30
#: What ``bench_quality --tiles 2048`` records, with round figures: the single stage removes half the photo's loss.
TILES: dict[str, Any] = {
    "size": "2048x1536",
    "machine": {"cores": 2, "weights": "stand-in"},
    "options": {"network": "vgg16", "epochs": 2, "steps_per_epoch": 10},
    "epochs": 2,
    "steps_per_epoch": 10,
    "photo": {"loss": 2.0e6, "distance": 4.5},
    "single": {
        "loss": 1.0e6,
        "distance": 2.0,
        "wall_s": 600.0,
        "tasks": 1,
        "summed_task_s": 590.0,
        "peak_bytes": 12 * GIB,
    },
    "tiled": {
        "loss": 1.02e6,
        "distance": 1.96,
        "wall_s": 900.0,
        "tasks": 16,
        "summed_task_s": 880.0,
        "peak_bytes": 3 * GIB,
        "coarse": "795x596",
        "tiles": 12,
    },
    "loss_ratio": 1.02,
    "distance_ratio": 0.98,
}


def with_tiled(loss: float, distance: float) -> dict[str, Any]:
    """``TILES`` with the tiled result's loss and style distance (and so its ratios) replaced."""
    tiles = copy.deepcopy(TILES)
    tiles["tiled"].update(loss=loss, distance=distance)
    tiles["loss_ratio"], tiles["distance_ratio"] = (
        loss / tiles["single"]["loss"],
        distance / tiles["single"]["distance"],
    )
    return tiles


def test_the_table_holds_every_figure_of_both_runs_and_the_photo() -> None:
    lines, _ = render_tiles(TILES)
    text = "\n".join(lines)
    assert lines[0] == "### Tiles against a single stage at 2048x1536"
    assert "| the photo | 2e+06 | | 4.50 | | | |" in lines
    assert "| one stage | 1e+06 | 50.0 % | 2.00 | 600 s | 1 | 12.00 GiB |" in lines
    assert "| coarse 795x596 + 12 tiles | 1.02e+06 | 49.0 % | 1.96 | 900 s | 16 | 3.00 GiB |" in lines
    assert "each ran 2 epochs x 10 steps (network=vgg16)" in text
    assert "exact loss **1.020x**, style distance **0.980x**, wall time 1.50x" in text


@pytest.mark.parametrize(
    ("loss", "distance", "outside"),
    [
        (1.02e6, 1.96, ""),  # within the band both ways
        (1.10e6, 1.96, "the loss"),  # the tiled loss 10 % above
        (0.90e6, 1.96, "the loss"),  # 10 % below: two-sided, a tiled result far better is as suspect as worse
        (1.02e6, 2.20, "the style distance"),
        (1.02e6, 1.80, "the style distance"),
        (0.90e6, 2.20, "the loss and the style distance"),
    ],
)
def test_the_verdict_is_two_sided_on_the_loss_and_on_the_style_distance(
    loss: float, distance: float, outside: str
) -> None:
    lines, targets = render_tiles(with_tiled(loss, distance))
    ((name, measured, verdict),) = targets
    assert name.startswith("tiled within 5 % of a single stage at 2048x1536, either way")
    assert measured == f"loss {loss / 1e6:.3f}x, style distance {distance / 2.0:.3f}x"
    assert verdict == ("met" if not outside else "**not met**")
    sentence = "Both are within 5 % of the single stage's, either way."
    assert (sentence in "\n".join(lines)) == (not outside)
    if outside:
        assert f"Outside 5 % of the single stage's, either way: {outside}." in "\n".join(lines)


def test_section_3_renders_the_comparison_and_its_target_even_without_the_sizes() -> None:
    lines, targets = render_quality({"network": "vgg16", "weights": "stand-in", "tiles": TILES}, "plot.png")
    assert "### Tiles against a single stage at 2048x1536" in lines
    assert [name for name, _, _ in targets] == [render_tiles(TILES)[1][0][0]]
