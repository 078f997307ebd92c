"""High resolution: the tile plan, seam-free blending, style targets in bounded memory, the coarse + tiles plan,
a tiled run end to end, a resumed tile, and the serialised map over tiles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from flytekit.core.checkpointer import SyncCheckpoint
from flytekit.types.file import FlyteFile
from PIL import Image

from tests.conftest import smooth_pixels, striped_pixels
from tests.workflow.pod import KilledAtWrite, run_as_pod
from workflows.engine import memory, stages
from workflows.engine.chain import RunState, run_epochs
from workflows.engine.options import DEFAULTS, StyleOptions
from workflows.engine.tile_grid import Tile, blend, feather, plan_tiles
from workflows.engine.transfer import StyleTransfer, gram_targets

# --- the plan ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "budget"), [((1000, 1500), 400 * 400), ((3072, 4096), 860_000), ((300, 301), 200 * 200)]
)
def test_tiles_cover_the_image_overlap_their_neighbours_and_stay_within_budget(hw, budget) -> None:
    tiles = plan_tiles(hw, budget, overlap=64)
    coverage = np.zeros(hw, np.int32)
    for tile in tiles:
        assert tile.pixels <= budget, tile
        assert tile.top >= 0 and tile.left >= 0
        assert tile.top + tile.height <= hw[0] and tile.left + tile.width <= hw[1], "inside the image"
        coverage[tile.top : tile.top + tile.height, tile.left : tile.left + tile.width] += 1
    assert coverage.min() >= 1, "every pixel is covered"
    assert len({(t.height, t.width) for t in tiles}) == 1, "equal tiles: the border tiles are not slivers"
    rows = max(t.row for t in tiles) + 1
    columns = max(t.column for t in tiles) + 1
    assert rows * columns == len(tiles)
    by_place = {(t.row, t.column): t for t in tiles}
    for (row, column), tile in by_place.items():
        if column + 1 < columns:
            right = by_place[(row, column + 1)]
            assert tile.left + tile.width - right.left >= 64, "neighbours share at least the overlap"
        if row + 1 < rows:
            below = by_place[(row + 1, column)]
            assert tile.top + tile.height - below.top >= 64
    last = by_place[(rows - 1, columns - 1)]
    assert (last.top + last.height, last.left + last.width) == hw, "the last tile is aligned to the border"


def test_an_image_within_budget_is_one_tile() -> None:
    assert plan_tiles((300, 400), 500 * 500) == [Tile(0, 0, 0, 0, 300, 400)]
    with pytest.raises(ValueError, match="too small for an overlap"):
        plan_tiles((1000, 1000), 100 * 100, overlap=64)


def test_feather_weights_ramp_only_towards_neighbours() -> None:
    tiles = plan_tiles((400, 400), 250 * 250, overlap=32)
    first = feather(tiles[0], tiles, overlap=32)
    assert first[0, 0] == 1.0, "an image border keeps full weight"
    assert first[-1, -1] == pytest.approx((1 / 33) ** 2), "towards both neighbours it fades, never to 0"
    assert (first > 0).all()


# --- seams ---------------------------------------------------------------------------------------------------


def _border_steps(image: np.ndarray, tiles: list[Tile], window: int = 24) -> list[tuple[float, float]]:
    """At every tile border: the mean absolute difference between the two adjacent columns (or rows) there, and
    the median of the same differences over ``window`` columns (rows) either side of it. Local, because a
    stylization's texture strength drifts across the image; a seam is a step against its own surroundings."""
    found = []
    for axis, starts, ends, length in (
        (1, [t.left for t in tiles], [t.left + t.width for t in tiles], image.shape[1]),
        (0, [t.top for t in tiles], [t.top + t.height for t in tiles], image.shape[0]),
    ):
        steps = np.abs(np.diff(image, axis=axis)).mean(axis=(0, 2) if axis == 1 else (1, 2))
        edges = {s - 1 for s in starts if s > 0} | {e - 1 for e in ends if e < length}
        for edge in sorted(edges):
            around = [i for i in range(edge - window, edge + window + 1) if 0 <= i < len(steps) and i not in edges]
            found.append((float(steps[edge]), float(np.median(steps[around]))))
    return found


def test_tiles_stylized_independently_blend_without_a_step_at_their_borders() -> None:
    """Each tile "stylized" on its own ends with its own colour balance (a gain and an offset per tile, as
    independent optimisations drift apart): pasted, that is a step at every border; blended, it is not."""
    rng = np.random.default_rng(5)
    photo = 0.5 * smooth_pixels(256, 192) + 0.3 * rng.uniform(size=(192, 256, 3))  # fine texture everywhere
    tiles = plan_tiles(photo.shape[:2], 128 * 128, overlap=32)
    assert len(tiles) >= 4
    stylized = [
        np.clip(t.crop(photo) * rng.uniform(0.8, 1.2) + rng.uniform(-0.15, 0.15, size=3), 0, 1).astype(np.float32)
        for t in tiles
    ]
    joined = blend(photo.shape[:2], tiles, stylized, overlap=32)
    for step, median in _border_steps(joined, tiles):
        assert step <= 1.1 * median, (step, median)

    # The control: pasting the same tiles without feathering does leave steps (so the check above can fail).
    pasted = photo.copy()
    for tile, image in zip(tiles, stylized):
        pasted[tile.top : tile.top + tile.height, tile.left : tile.left + tile.width] = image
    assert any(step > 1.1 * median for step, median in _border_steps(pasted, tiles))


def test_tiles_optimised_on_their_own_keep_the_texture_across_borders() -> None:
    """The real engine on each tile, against shared targets: the blended result has no step either."""
    photo, style = smooth_pixels(256, 192), striped_pixels(64, 64)
    tiles = plan_tiles(photo.shape[:2], 128 * 128, overlap=48)
    options = StyleOptions(epochs=1, steps_per_epoch=6, optimizer="lbfgs", precision="float32", style_weight=1.0)
    targets = gram_targets(style, options)
    stylized = [
        run_epochs(t.crop(photo), [], options, RunState.start(t.crop(photo)), style_targets=targets).output
        for t in tiles
    ]
    for step, median in _border_steps(blend(photo.shape[:2], tiles, stylized, overlap=48), tiles):
        assert step <= 1.1 * median, (step, median)


def test_blend_refuses_missing_or_misshapen_tiles() -> None:
    tiles = plan_tiles((200, 200), 120 * 120, overlap=32)
    images = [np.zeros((t.height, t.width, 3), np.float32) for t in tiles]
    with pytest.raises(ValueError, match="tile images for"):
        blend((200, 200), tiles, images[:-1], overlap=32)
    with pytest.raises(ValueError, match="is .* its box is"):
        blend((200, 200), tiles, [np.zeros((5, 5, 3), np.float32)] * len(tiles), overlap=32)


# --- style targets in bounded memory ------------------------------------------------------------------------


def test_tiled_style_targets_match_the_whole_image_ones() -> None:
    style = striped_pixels(320, 256)
    whole = gram_targets(style, DEFAULTS, max_pixels=320 * 256)
    tiled = gram_targets(style, DEFAULTS, max_pixels=192 * 192)  # cores of 64 px plus 64 px of context
    for layer, (a, b) in enumerate(zip(whole, tiled)):
        assert np.abs(a - b).max() <= 0.02 * np.abs(a).max(), f"style layer {layer + 1}"


def test_precomputed_targets_are_the_engines_own() -> None:
    photo, style = smooth_pixels(48, 32), striped_pixels(48, 48)
    direct = StyleTransfer(photo, style)
    given = StyleTransfer(photo, None, style_targets=gram_targets(style))  # type: ignore[arg-type]
    assert float(given.loss(photo)) == pytest.approx(float(direct.loss(photo)), rel=1e-6)


# --- the plan: coarse + tiles above the single-task limit ---------------------------------------------------


def test_below_the_limit_nothing_is_tiled_above_it_a_coarse_stage_and_tiles() -> None:
    small = stages.plan((384, 512), DEFAULTS)
    assert not small.tiled and small.whole_hw == (384, 512)
    big = stages.plan((3072, 4096), dataclasses.replace(DEFAULTS, max_dim=4096))
    limit = stages.single_task_pixels(DEFAULTS)
    assert big.tiled and big.whole_hw[0] * big.whole_hw[1] <= limit
    assert big.whole_hw[0] * big.whole_hw[1] > 0.95 * limit, "the coarse stage is the largest size that fits"
    assert [t.node_name for t in big.whole] == ["coarse-epochs-1-5-of-5"]
    assert all(t.pixels <= limit for t in big.tiles)
    assert big.tile_memory_bytes <= memory.TASK_LIMIT and all(t.memory_bytes <= memory.TASK_LIMIT for t in big.whole)


# --- end to end, with a tiny single-task limit so it runs here in seconds ------------------------------------


@pytest.fixture
def tiny_task_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(stages, "single_task_pixels", lambda options, *held: 64 * 64)
    return 64 * 64


def test_a_style_sheet_item_too_big_for_one_task_runs_as_coarse_stage_and_tiles_in_its_task(
    tiny_task_limit, monkeypatch, write_image
) -> None:
    """A sheet item cannot chain tasks: it runs the same plan (coarse stage, shared targets, tiles, blend) in turn
    in its one task, whose request is never above the task limit."""
    from workflows.style_sheet import item_plan, style_sheet_wf

    monkeypatch.setattr(stages, "DEFAULT_OVERLAP", 16)  # tiles of a 128 px picture (the main workflow's own
    # tiled run is tests/workflow/test_quality_gates.py::test_a_tiled_result_stylizes)
    photo = write_image("photo.jpg", 128, 96, quality=95)
    style = write_image("style.png", 64, 64, style=True)
    assert item_plan((96, 128), StyleOptions(max_dim=128), 128 * 128).tiled
    results, _ = style_sheet_wf(
        photos=[str(photo)], styles=[str(style)], epochs=1, steps_per_epoch=2, max_dim=128, output_prefix=""
    )
    with Image.open(results[0].path) as image:
        assert image.size == (128, 96), "the full size, not the coarse one"
        pixels = np.asarray(image, np.float32)
    assert np.isfinite(pixels).all() and pixels.std() > 1.0


def test_a_sheet_item_never_asks_for_more_than_one_task_may() -> None:
    from workflows.style_sheet import TILED_ITEM_IMAGES, item_plan

    for max_dim in (1024, 2048, 4096):
        plan = item_plan((max_dim, max_dim), StyleOptions(max_dim=max_dim), max_dim * max_dim)
        assert plan.tiled
        held = TILED_ITEM_IMAGES * memory.HELD_PIXEL_BYTES * max_dim * max_dim * memory.MARGIN
        for request in [task.memory_bytes for task in plan.whole] + [plan.tile_memory_bytes]:
            assert request + held <= memory.TASK_LIMIT, (max_dim, request)


def run_tile(job, checkpoint: SyncCheckpoint, tmp_path: Path) -> np.ndarray:
    from workflows.tile_tasks import optimize_tile

    values, _ = run_as_pod(optimize_tile, {"job": job}, {"o0": FlyteFile}, checkpoint, tmp_path)
    return np.load(values["o0"].path)


def make_job(tmp_path: Path, options: StyleOptions):
    from workflows.tile_tasks import TileJob

    tile = Tile(0, 1, 0, 32, 48, 64)
    photo = smooth_pixels(96, 48)
    pixels, targets = tmp_path / "tile.npz", tmp_path / "targets.npz"
    np.savez(pixels, content=tile.crop(photo), start=tile.crop(photo))
    np.savez(targets, *gram_targets(striped_pixels(64, 64), options))
    return TileJob(tile=tile, pixels=FlyteFile(str(pixels)), targets=FlyteFile(str(targets)), options=options)


def test_a_killed_tile_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    options = StyleOptions(epochs=3, steps_per_epoch=2, optimizer="lbfgs", precision="float32")
    job = make_job(tmp_path, options)
    straight = run_tile(job, SyncCheckpoint(checkpoint_dest=str(tmp_path / "straight")), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tile(job, KilledAtWrite(tmp_path / "attempt-1", kill_at=2), tmp_path)
    retry = SyncCheckpoint(checkpoint_dest=str(tmp_path / "attempt-2"), checkpoint_src=str(tmp_path / "attempt-1"))
    resumed = run_tile(job, retry, tmp_path)
    assert resumed.shape == (48, 64, 3)
    np.testing.assert_allclose(resumed, straight, atol=1e-5)


def test_a_failing_tile_is_named(tmp_path: Path) -> None:
    from workflows.tile_tasks import TileJob

    job = make_job(tmp_path, StyleOptions(epochs=1, steps_per_epoch=1))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an npz")
    bad = TileJob(tile=job.tile, pixels=FlyteFile(str(broken)), targets=job.targets, options=job.options)
    with pytest.raises(Exception, match=r"tile-r1-c2 \(rows 0-48, columns 32-96\)"):
        run_tile(bad, SyncCheckpoint(checkpoint_dest=str(tmp_path / "cp")), tmp_path)
