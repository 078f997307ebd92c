"""What a run costs as tasks: peak memory per stage against pixels (the memory model's data), the fixed cost of
an optimisation task in a fresh process, and the wall time of a whole run, for ``epochs_per_task`` 0 against 1.

    NST_VGG19_WEIGHTS=random python -m benchmarks.bench_stages --out benchmarks/results/stages.json

Every task runs as it would in a pod: a fresh Python process executing the real ``optimize`` Flyte task (flytekit
local execution), handed the previous task's state file. Peak memory is the child's own VmHWM. The memory model
in ``workflows/engine/memory.py`` is checked against every measured peak: a peak above the request the model
gives fails the benchmark (not the test suite: speed and memory are measured here, never asserted in tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path

import numpy as np

from benchmarks.common import REPO, SAMPLES, child_env, log, machine, run_fresh
from workflows import images
from workflows.engine import stages
from workflows.engine.options import DEFAULTS, OptionError, StyleOptions

#: (optimizer, precision) pairs whose peak memory the model covers; "auto" computes in both precisions.
MEMORY_CONFIGS = [
    ("lbfgs", "float32"),
    ("lbfgs", "bfloat16"),
    ("lbfgs", "auto"),
    ("adam", "float32"),
    ("adam", "bfloat16"),
    ("adam", "auto"),
]
#: Each memory task runs two epochs, as a stage does (for ``auto``: a bfloat16 epoch, then the float32 one, whose
#: engine comes on top of what the first left), with a checkpoint and a Deck after each; L-BFGS runs enough steps
#: to hold its whole curvature history by the second epoch. Adam's state does not grow: two steps an epoch.
MEMORY_EPOCHS = 2


def load_pair(long_side: int) -> tuple[np.ndarray, np.ndarray]:
    content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=long_side)
    style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=long_side)
    return content, style


def run_in_fresh_process(
    folder: Path, name: str, task: str, tree: Path = REPO, baseline_tuning: bool = False, **kwargs: object
) -> tuple[object, dict[str, float]]:
    """Any task of the workflow module of ``tree`` (this checkout, or another commit's) in a fresh process
    (``benchmarks.fresh.run_task``: flytekit local execution), as a pod runs it: its output, and its wall
    seconds (interpreter start included), peak RSS and, on a GPU machine, TensorFlow's peak GPU memory.
    ``baseline_tuning`` adds the input only the baseline commit's tasks take."""
    import pickle

    inputs, outputs = folder / f"{name}.in", folder / f"{name}.out"
    inputs.write_bytes(pickle.dumps(kwargs))
    flags = ["--baseline-tuning"] if baseline_tuning else []
    report, wall, _ = run_fresh("run_task", task, inputs, outputs, *flags, scratch=folder, tree=tree)
    log(f"  {name}: {wall:.1f} s, peak {report['peak_bytes'] / 2**30:.2f} GiB")
    row = {"name": name, "wall_s": wall, "peak_bytes": report["peak_bytes"], "gpu_peak_bytes": report["gpu_peak_bytes"]}
    return pickle.loads(outputs.read_bytes()), row


def module_on_pair(
    module: str, content: np.ndarray, style: np.ndarray, *arguments: object, tree: Path = REPO
) -> tuple[typing.Any, float]:
    """``benchmarks.fresh.<module>`` in a fresh Python process for ``tree``, given the pair as two .npy files and
    then ``arguments``: what its last line of output holds (JSON), and the process's wall seconds (interpreter
    start and exit included)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/c.npy", content)
        np.save(f"{tmp}/s.npy", style)
        report, wall, _ = run_fresh(module, f"{tmp}/c.npy", f"{tmp}/s.npy", *arguments, scratch=tmp, tree=tree)
    return report, wall


def warm_epoch_seconds(content: np.ndarray, style: np.ndarray, options: StyleOptions) -> list[float]:
    """Seconds the steps of each epoch of the run ``options`` plan take once everything is built and traced: the
    run made twice in this process, each epoch timed the second time from its first step to its end, so without
    the engine build and the evaluation before that step (a task's fixed cost). Timed along the run itself, every
    step carries the curvature history it has there: the two-loop recursion's cost grows with it, which a step
    time measured on a short history would leave in the fixed cost."""
    from workflows.engine.chain import RunState, run_epochs

    first_step_at: list[float] = []
    seconds: list[float] = []

    def on_step(index: int, loss: float) -> None:
        if index == 0:
            first_step_at.append(time.perf_counter())

    def on_epoch(done: object) -> None:
        seconds.append(time.perf_counter() - first_step_at[-1])

    run_epochs(content, style, options, RunState.start(content, options))  # builds, traces, warms every kernel
    run_epochs(content, style, options, RunState.start(content, options), on_epoch=on_epoch, on_step=on_step)
    return seconds


# --- 1. memory per stage against pixels ----------------------------------------------------------------------


def memory_steps(optimizer: str) -> int:
    """Steps per epoch of a memory task: L-BFGS's history is full by the end of the last epoch."""
    if optimizer != "lbfgs":
        return 2
    return -(-(DEFAULTS.lbfgs_history + 1) // MEMORY_EPOCHS)


def memory_section(sizes: list[int], configs: list[tuple[str, str]] = MEMORY_CONFIGS) -> dict[str, object]:
    measured: list[dict[str, object]] = []
    for optimizer, precision in configs:
        for long_side in sizes:
            content, style = load_pair(long_side)
            options = StyleOptions(
                epochs=MEMORY_EPOCHS,
                steps_per_epoch=memory_steps(optimizer),
                max_dim=long_side,
                optimizer=optimizer,
                precision=precision,
            )
            with tempfile.TemporaryDirectory() as tmp:  # each task's sandbox removed after it
                _, result = run_in_fresh_process(
                    Path(tmp),
                    f"{optimizer}-{precision}-{long_side}",
                    "optimize",
                    content=content,
                    styles=[style],
                    init=None,
                    options=options,
                    first_epoch=0,
                    stop_epoch=MEMORY_EPOCHS,
                    resume=None,
                    output_uri="",
                )
            row = {
                "optimizer": optimizer,
                "precision": precision,
                "size": f"{content.shape[1]}x{content.shape[0]}",
                "pixels": content.shape[0] * content.shape[1],
                "peak_bytes": result["peak_bytes"],
                "gpu_peak_bytes": result["gpu_peak_bytes"],
            }
            check_against_model(row)
            log(f"memory: {row}")
            measured.append(row)
    fits = {}
    for optimizer, precision in configs:
        rows = [r for r in measured if (r["optimizer"], r["precision"]) == (optimizer, precision)]
        per_pixel, fixed = np.polyfit([r["pixels"] for r in rows], [r["peak_bytes"] for r in rows], 1)
        fits[f"{optimizer}/{precision}"] = {"fixed_bytes": float(fixed), "per_pixel_bytes": float(per_pixel)}
    log(f"fitted (fixed, per pixel): {fits}")
    steps = {optimizer: memory_steps(optimizer) for optimizer, _ in configs}
    return {"epochs": MEMORY_EPOCHS, "steps": steps, "measured": measured, "fits": fits}


def check_against_model(row: dict[str, typing.Any]) -> None:
    """A measured peak's ``request_bytes``, the request the memory model gives a stage of its pixels (the
    planner's own ``stages.task_request``), and whether the peak stayed ``within_request``."""
    options = StyleOptions(optimizer=row["optimizer"], precision=row["precision"])
    row["request_bytes"] = stages.task_request(row["pixels"], options)
    row["within_request"] = row["peak_bytes"] <= row["request_bytes"]


def recheck_memory(memory: dict[str, object]) -> None:
    """The measured peaks against the requests the memory model gives now (after a refit), without measuring."""
    for row in memory["measured"]:
        check_against_model(row)


#: Sizes the model was not fitted on (between the fitted ones, and beyond the largest), for the default optimiser
#: and the other one, each in ``auto`` (the default precision).
UNFITTED_SIZES = [640, 896, 1152, 1408]
UNFITTED_CONFIGS = [("lbfgs", "auto"), ("adam", "auto")]


# --- 1b. tasks that hold many images: peaks against their requests ------------------------------------------------

#: (max_dim, styles, init image): every case the memory model admits at its edge, and the defaults with 8 styles.
#: Each photo and style is enlarged to its size (``upscale``), so the cases are the largest images of their kind.
HELD_CASES = [(512, 8, True), (512, 16, True), (2048, 4, True), (4096, 2, False), (4096, 2, True)]
#: The style targets' task (tiled runs only) is measured up to this size: at 2048 px with 4 styles it took 16 min on
#: 2 cores (every style analysed in 768 px tiles); above, its model is extrapolated, and said so.
HELD_TARGETS_UP_TO = 2048


def held_images_section(
    cases: list[tuple[int, int, bool]], targets_up_to: int = HELD_TARGETS_UP_TO
) -> dict[str, object]:
    """Preprocessing, the preview, the style targets and the whole-image optimisation task of runs with many
    styles and an init image, each in a fresh process as a pod runs it: peak RSS, and what each task holds (so
    :func:`recheck_held` compares it with the model and the request as they are now)."""
    from flytekit.types.file import FlyteFile

    rows: list[dict[str, object]] = []
    styles_on_disk = [SAMPLES / "swirls.jpg", SAMPLES / "mosaic.jpg"]
    for max_dim, count, init in cases:
        options = StyleOptions(max_dim=max_dim, epochs=MEMORY_EPOCHS, steps_per_epoch=memory_steps("lbfgs"))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            pixels, result = run_in_fresh_process(
                folder,
                f"preprocess-{max_dim}-{count}",
                "preprocess",
                content_img=FlyteFile(str(SAMPLES / "landscape.jpg")),
                style_img=FlyteFile(str(styles_on_disk[0])),
                more_styles=[FlyteFile(str(styles_on_disk[k % 2])) for k in range(1, count)],
                max_dim=max_dim,
                style_scale=options.style_scale,
                init_image=str(SAMPLES / "mosaic.jpg") if init else "content",
                upscale=True,
                input_digest=f"held-{max_dim}-{count}-{init}",
            )
            content, styles, start = pixels["content"], pixels["styles"], pixels["init"]
            height, width = content.shape[:2]
            style_pixels = [s.shape[0] * s.shape[1] for s in styles]
            plan = stages.plan((height, width), options, tuple(style_pixels), init)
            whole = plan.whole[0]
            runs = [("preprocess", result, height * width)]
            _, preview_run = run_in_fresh_process(
                folder, f"preview-{max_dim}-{count}", "preview",
                content=content, styles=styles, options=options, output_uri="",
            )  # fmt: skip
            runs.append(("preview", preview_run, height * width))
            if plan.tiled and max_dim <= targets_up_to:
                _, targets_run = run_in_fresh_process(
                    folder, f"targets-{max_dim}-{count}", "style_targets",
                    content=content, styles=styles, options=options, long_side=max(height, width),
                )  # fmt: skip
                runs.append(("style_targets", targets_run, height * width))
            shape = (whole.height, whole.width)
            _, optimize_run = run_in_fresh_process(
                folder, f"optimize-{max_dim}-{count}", "optimize",
                content=images.resize_to(content, *shape), styles=styles,
                init=images.resize_to(start, *shape) if start is not None else None, options=options,
                first_epoch=0, stop_epoch=MEMORY_EPOCHS, resume=None, output_uri="",
            )  # fmt: skip
            runs.append((f"optimize ({whole.stage} {whole.width}x{whole.height})", optimize_run, shape[0] * shape[1]))
        for task, run, task_pixels in runs:
            row = {
                "max_dim": max_dim,
                "init": init,
                "task": task,
                "photo": f"{width}x{height}",
                "photo_pixels": height * width,
                "task_pixels": task_pixels,
                "style_pixels": style_pixels,
                "peak_bytes": run["peak_bytes"],
            }
            recheck_held_row(row)
            log(f"held: {row}")
            rows.append(row)
    return {"cases": [list(case) for case in cases], "measured": rows}


def recheck_held_row(row: dict[str, typing.Any]) -> None:
    """The row's task as the memory model sees it now: its modelled peak, its request (a holding task's fixed
    limit, an optimisation task's planned request), whether the peak is within it, and whether ``check_inputs``
    admits the case at all now (a refused case is one no task would run)."""
    from workflows.engine import memory

    styles, init, photo = tuple(row["style_pixels"]), bool(row["init"]), row["photo_pixels"]
    held = memory.HeldImages(photo, styles, photo if init else 0)
    options = StyleOptions(max_dim=row["max_dim"])
    width, height = (int(side) for side in row["photo"].split("x"))
    if row["task"].startswith("optimize"):
        # The request of the whole-image task the planner gives this run now. Where the model has grown since the
        # measurement, that task is smaller than the measured one: a measured peak within it is then within with
        # room to spare (a peak only grows with pixels).
        pixels = row["task_pixels"]
        row["model_bytes"] = memory.peak_bytes(pixels, options.optimizer, options.precision, 20, styles, init)
        try:
            planned = stages.plan((height, width), options, styles, init).whole[0]
            row["request_bytes"] = planned.memory_bytes
            row["planned_now"] = f"{planned.width}x{planned.height}"
        except OptionError:
            row["request_bytes"] = memory.request_bytes(pixels, options.optimizer, options.precision, 20, styles, init)
    else:
        holding = held if row["task"] == "preprocess" else dataclasses.replace(held, init=0)
        row["model_bytes"] = memory.holding_peak_bytes(row["task"], holding)
        row["request_bytes"] = memory.HOLDING_LIMITS[row["task"]]
    row["within_request"] = row["peak_bytes"] <= row["request_bytes"]
    try:
        stages.check_run_fits((height, width), options, held, init)
        row["admitted"] = True
    except OptionError:
        row["admitted"] = False


def recheck_held(held: dict[str, typing.Any]) -> None:
    for row in held["measured"]:
        recheck_held_row(row)


# --- 2. tasks per run: fixed cost in fresh processes, wall time --------------------------------------------------


#: The code issue 10 was filed against ("today's" fixed cost): one ``optimize_epoch`` task per epoch, each loading
#: the network, computing the targets and tracing afresh. Measured beside today's layouts from its own tree.
BASELINE_COMMIT = "5e8e2352b5c57ff116c3a811e6e6105641738940"


def baseline_tree(folder: Path) -> Path | None:
    """``BASELINE_COMMIT``'s files under ``folder``; None where that commit is not in this clone (a shallow one)."""
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BASELINE_COMMIT], capture_output=True)
    if archive.returncode != 0:
        log(f"baseline {BASELINE_COMMIT[:12]} not in this clone: {archive.stderr.decode().strip()}")
        return None
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def baseline_warm_epoch_seconds(tree: Path, content: np.ndarray, style: np.ndarray, epochs: int, steps: int) -> list:
    """``benchmarks.fresh.baseline_epochs`` in a fresh process for ``tree``: the seconds of each epoch's steps,
    warm."""
    seconds, _ = module_on_pair("baseline_epochs", content, style, epochs, steps, tree=tree)
    return seconds


def baseline_run(
    folder: Path, tree: Path, content: np.ndarray, style: np.ndarray, epochs: int, steps: int
) -> list[float]:
    """Wall seconds of each of ``BASELINE_COMMIT``'s one-epoch tasks in a fresh process, chained as its @dynamic
    chained them."""
    image, state, losses, walls = content, {}, [], []
    for epoch in range(epochs):
        result, row = run_in_fresh_process(
            folder,
            f"baseline-epoch-{epoch + 1}-of-{epochs}",
            "optimize_epoch",
            tree=tree,
            baseline_tuning=True,
            content=content,
            style=style,
            image=image,
            optimizer_state=state,
            losses=losses,
            epoch=epoch,
            epochs=epochs,
            steps=steps,
        )
        walls.append(row["wall_s"])
        image, state, losses = result["image"], result["optimizer_state"], result["losses"]
    return walls


def tasks_section(long_side: int, epochs: int, steps: int, rounds: int) -> dict[str, object]:
    """Each layout's summed fixed cost: its tasks' wall times in fresh processes less their steps' warm time
    (``warm_epoch_seconds``; ``BASELINE_COMMIT``'s steps timed by its own code). The layouts run in ``rounds``
    interleaved rounds, each with its own warm times: this machine's speed drifts by several percent within
    minutes, which moves one fresh process's residual by a second or more, so every layout reports its median
    round, and every round's sum beside it."""
    from workflows.engine.transfer import bfloat16_is_native

    content, style = load_pair(long_side)
    base = dataclasses.replace(DEFAULTS, epochs=epochs, steps_per_epoch=steps, max_dim=long_side)
    rows: dict[str, list[dict[str, object]]] = {"0": [], "1": [], "baseline": []}
    epoch_rounds: list[list[float]] = []
    with tempfile.TemporaryDirectory() as trees:  # the pre-work commit's files, for every round
        tree = baseline_tree(Path(trees))
        for round_index in range(rounds):
            log(f"round {round_index + 1} of {rounds}")
            epoch_s = warm_epoch_seconds(content, style, base)
            epoch_rounds.append(epoch_s)
            log(f"warm seconds of each epoch's steps: {epoch_s}")
            for per_task in (0, 1):
                options = dataclasses.replace(base, epochs_per_task=per_task)
                plan = stages.plan(content.shape[:2], options).whole
                with tempfile.TemporaryDirectory() as tmp:
                    _, run = run_plan(Path(tmp), content, style, options)
                warm = [sum(epoch_s[part.first_epoch : part.stop_epoch]) for part in plan]
                walls = [task["wall_s"] for task in run["tasks"]]
                rows[str(per_task)].append(layout_row(walls, warm, node_names=[p.node_name for p in plan]))
                log(f"epochs_per_task={per_task}: {rows[str(per_task)][-1]}")
            if tree is not None:
                baseline_s = baseline_warm_epoch_seconds(tree, content, style, epochs, steps)
                log(f"baseline: warm seconds of each epoch's steps: {baseline_s}")
                with tempfile.TemporaryDirectory() as tmp:
                    walls = baseline_run(Path(tmp), tree, content, style, epochs, steps)
                rows["baseline"].append(layout_row(walls, baseline_s, commit=BASELINE_COMMIT, warm_epoch_s=baseline_s))
                log(f"baseline: {rows['baseline'][-1]}")
    runs = {key: median_round(found) for key, found in rows.items() if found}
    return {
        "size": f"{content.shape[1]}x{content.shape[0]}",
        "epochs": epochs,
        "steps_per_epoch": steps,
        "rounds": rounds,
        "precisions": [base.compute_dtype(e, bfloat16_is_native()) for e in range(epochs)],
        "warm_epoch_s": [statistics.median(r[e] for r in epoch_rounds) for e in range(epochs)],
        "runs": runs,
    }


def layout_row(walls: list[float], warm: list[float], **extra: object) -> dict[str, object]:
    """One layout's tasks in one round: each task's fixed cost is its wall time less its steps' warm time."""
    fixed = [wall - steps for wall, steps in zip(walls, warm)]
    return {
        **extra,
        "tasks": len(walls),
        "task_wall_s": walls,
        "fixed_s_per_task": fixed,
        "summed_fixed_s": sum(fixed),
        "summed_wall_s": sum(walls),
    }


def median_round(rounds: list[dict[str, object]]) -> dict[str, object]:
    """The round whose summed fixed cost is the median (the lower middle one of an even count), with its own
    per-task figures, and every round's sum."""
    ordered = sorted(rounds, key=lambda r: float(r["summed_fixed_s"]))  # type: ignore[arg-type]
    return {**ordered[(len(ordered) - 1) // 2], "summed_fixed_s_rounds": [r["summed_fixed_s"] for r in rounds]}


# --- 2b. where a task's fixed cost goes ---------------------------------------------------------------------------


def fixed_cost_section(long_side: int) -> dict[str, object]:
    """A fresh process's time to the first step, by part, for each optimiser and precision (the warm step
    time, from the three further steps, shows what the first step costs beyond an ordinary one), and what its
    wall time holds beyond them: the interpreter's start and, mostly, its exit."""
    content, style = load_pair(long_side)
    breakdown = {}
    for optimizer, precision in (("lbfgs", "float32"), ("adam", "float32"), ("lbfgs", "bfloat16")):
        spans, wall = module_on_pair("fixed_cost", content, style, optimizer, precision)
        spans["interpreter start and exit"] = wall - sum(spans.values())
        breakdown[f"{optimizer}/{precision}"] = spans
        log(f"fixed cost {optimizer}/{precision}: {spans}")
    return {"size": f"{content.shape[1]}x{content.shape[0]}", "breakdown": breakdown}


# --- 3. a whole run: the workflow under local execution, and make demo ------------------------------------------


def whole_run_section(epochs: int, steps: int, long_side: int, demo: bool) -> dict[str, object]:
    """The workflow in a fresh process (what `make demo`'s worker runs in-process), both ways; then `make demo`."""
    walls = {}
    for per_task in (0, 1):
        arguments = [SAMPLES / "landscape.jpg", SAMPLES / "swirls.jpg", epochs, steps, long_side, per_task]
        with tempfile.TemporaryDirectory() as scratch:
            _, walls[str(per_task)], _ = run_fresh("whole_workflow", *arguments, scratch=scratch)
        log(f"workflow, epochs_per_task={per_task}: {walls[str(per_task)]:.1f} s")
    result: dict[str, object] = {"epochs": epochs, "steps_per_epoch": steps, "max_dim": long_side, "workflow_s": walls}
    if demo:
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "devstack", "demo", "--workdir", f"{tmp}/stack", "--out", f"{tmp}/out"],
                cwd=REPO,
                env=child_env(REPO, tmp),
                check=True,
                capture_output=True,
            )
            result["make_demo_s"] = time.perf_counter() - began
            log(f"make demo: {result['make_demo_s']:.1f} s")
    return result


def local_run_peak_section(long_side: int, steps: int) -> dict[str, object]:
    """A tiled run under local execution (every task in one process, as ``pyflyte run`` and the local stack run
    it): the process's peak RSS against the largest request among its tasks (what one pod would need), the photo
    enlarged to ``long_side``, one epoch of ``steps`` steps per task."""
    content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=long_side)
    style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=long_side)
    options = StyleOptions(epochs=1, steps_per_epoch=steps, max_dim=long_side)
    plan = stages.plan(content.shape[:2], options, (style.shape[0] * style.shape[1],))
    largest = max([task.memory_bytes for task in plan.whole] + [plan.tile_memory_bytes])
    arguments = [SAMPLES / "landscape.jpg", SAMPLES / "swirls.jpg", 1, steps, long_side, 0, "--upscale"]
    with tempfile.TemporaryDirectory() as scratch:
        report, wall, _ = run_fresh("whole_workflow", *arguments, scratch=scratch)
    result = {
        "size": f"{content.shape[1]}x{content.shape[0]}",
        "tiles": len(plan.tiles),
        "steps": steps,
        "peak_bytes": report["peak_bytes"],
        "largest_request_bytes": largest,
        "within_largest_request": report["peak_bytes"] <= largest,
        "wall_s": wall,
    }
    log(f"local run: {result}")
    return result


# --- 4. big images: single stage where it fits against coarse stage + tiles ---------------------------------------


def run_plan(folder: Path, content: np.ndarray, style: np.ndarray, options: StyleOptions) -> tuple[np.ndarray, dict]:
    """The run the @dynamic plans for ``content``, every task in a fresh process, as pods would run them."""
    from workflows.engine.tile_grid import blend

    plan = stages.plan(content.shape[:2], options, (style.shape[0] * style.shape[1],))  # as the @dynamic plans it
    tasks = []
    whole = images.resize_to(content, *plan.whole_hw) if plan.tiled else content
    resume = None
    result = None
    for part in plan.whole:
        result, row = run_in_fresh_process(
            folder,
            part.node_name,
            "optimize",
            content=whole,
            styles=[style],
            init=None,
            options=options,
            first_epoch=part.first_epoch,
            stop_epoch=part.stop_epoch,
            resume=resume,
            output_uri="",
        )
        resume = result["state"]
        tasks.append({**row, "kind": "whole" if not plan.tiled else "coarse", "pixels": part.height * part.width})
    if not plan.tiled:
        return result["image"], {"tiled": False, "tasks": tasks, "tiles": 0}
    targets, row = run_in_fresh_process(
        folder,
        "style-targets",
        "style_targets",
        content=whole,
        styles=[style],
        options=options,
        long_side=max(plan.full_hw),
    )
    tasks.append({**row, "kind": "targets", "pixels": 0})
    jobs, row = run_in_fresh_process(
        folder,
        "cut-tiles",
        "cut_tiles",
        content=content,
        coarse=result["image"],
        tiles=plan.tiles,
        targets=targets,
        options=options,
    )
    tasks.append({**row, "kind": "cut", "pixels": 0})
    pieces = []
    for job in jobs:
        piece, row = run_in_fresh_process(folder, job.tile.name, "optimize_tile", job=job)
        pieces.append(np.load(piece.path))
        tasks.append({**row, "kind": "tile", "pixels": job.tile.pixels})
    began = time.perf_counter()
    joined = blend(plan.full_hw, plan.tiles, pieces, plan.overlap)
    tasks.append(
        {"name": "blend", "kind": "blend", "wall_s": time.perf_counter() - began, "peak_bytes": 0, "pixels": 0}
    )
    return joined, {
        "tiled": True,
        "tasks": tasks,
        "tiles": len(plan.tiles),
        "coarse": f"{plan.whole_hw[1]}x{plan.whole_hw[0]}",
    }


def projected_cluster_s(run: dict, parallel: int) -> float:
    """Wall time on a cluster with ``parallel`` tile pods at once: the chain of whole/coarse tasks, the targets
    and the cut, then the tiles in waves of ``parallel`` (each wave as long as its slowest tile), then the blend.
    Each task's time is its fresh-process time measured here; pod starts are not included."""
    serial = sum(t["wall_s"] for t in run["tasks"] if t["kind"] != "tile")
    tiles = sorted((t["wall_s"] for t in run["tasks"] if t["kind"] == "tile"), reverse=True)
    waves = [tiles[i : i + parallel] for i in range(0, len(tiles), parallel)]
    return serial + sum(max(wave) for wave in waves)


def big_images_section(sizes: list[int], steps: int) -> dict[str, object]:
    """Each size's run as the ``@dynamic`` plans it: its tasks' time and peak memory. (Whether the tiled result
    matches a single stage's is a question of quality, measured on trained features: ``bench_quality --tiles``.)"""
    style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=512)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for long_side in sizes:
            content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=long_side)  # enlarged
            options = StyleOptions(epochs=1, steps_per_epoch=steps, max_dim=long_side)
            log(f"big images: {content.shape[1]}x{content.shape[0]}")
            _, run = run_plan(Path(tmp), content, style, options)
            run["size"] = f"{content.shape[1]}x{content.shape[0]}"
            run["max_task_peak_bytes"] = max(t["peak_bytes"] for t in run["tasks"])
            run["summed_task_s"] = sum(t["wall_s"] for t in run["tasks"])
            if run["tiled"]:
                run["projected_cluster_s"] = {str(n): projected_cluster_s(run, n) for n in (1, 4, run["tiles"])}
            runs[str(long_side)] = run
    return {"steps": steps, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 768, 1024, 1280])
    parser.add_argument(
        "--recheck", action="store_true", help="only check the stored peaks against the current memory model"
    )
    parser.add_argument("--size", type=int, default=512, help="long side of the per-run task comparison")
    parser.add_argument("--task-steps", type=int, default=5, help="steps per epoch in the per-run comparison")
    parser.add_argument("--task-rounds", type=int, default=3, help="interleaved rounds of the per-run comparison")
    parser.add_argument(
        "--held-cases",
        nargs="+",
        default=[f"{d}:{n}:{int(i)}" for d, n, i in HELD_CASES],
        help="max_dim:styles:init (0 or 1) of the held-images section",
    )
    parser.add_argument("--held-targets-up-to", type=int, default=HELD_TARGETS_UP_TO)
    parser.add_argument("--big-sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--big-steps", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="sections to skip: memory held tasks fixed run demo big")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "stages.json")
    args = parser.parse_args(argv)

    previous = json.loads(args.out.read_text()) if args.skip and args.out.exists() else {}
    results: dict[str, object] = {**previous, "machine": machine()}
    if "memory" not in args.skip:
        results["memory"] = memory_section(args.sizes)
    if "unfitted" not in args.skip:  # the model checked where it was not fitted: between and beyond the sizes
        results["memory_unfitted"] = memory_section(UNFITTED_SIZES, UNFITTED_CONFIGS)
    if args.recheck:
        recheck_memory(results["memory"])
        if "held" in results:
            recheck_held(results["held"])
        if "memory_unfitted" in results:
            recheck_memory(results["memory_unfitted"])
    if "held" not in args.skip:
        cases = [tuple(int(part) for part in case.split(":")) for case in args.held_cases]
        results["held"] = held_images_section([(d, n, bool(i)) for d, n, i in cases], args.held_targets_up_to)
    if "tasks" not in args.skip:
        results["tasks"] = tasks_section(args.size, DEFAULTS.epochs, args.task_steps, args.task_rounds)
    if "fixed" not in args.skip:
        results["fixed"] = fixed_cost_section(args.size)
    if "run" not in args.skip:
        results["whole_run"] = whole_run_section(2, 50, 256, demo="demo" not in args.skip)
    if "local" not in args.skip:
        results["local_run"] = local_run_peak_section(2048, 3)
    if "big" not in args.skip:
        results["big"] = big_images_section(args.big_sizes, args.big_steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    log(f"wrote {args.out}")
    over = [
        r
        for section in ("memory", "memory_unfitted", "held")
        for r in results.get(section, {}).get("measured", [])  # type: ignore[attr-defined]
        if not r["within_request"]
    ]
    if over:
        log(f"PEAK ABOVE THE MODEL'S REQUEST: {over}; refit workflows/engine/memory.py from 'fits'")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
