"""BENCHMARKS.md's rows of the tasks that hold many images, rendered from the data alone: every figure from the
measurement, and the verdict from the comparison, never fixed prose."""

from __future__ import annotations

from benchmarks.report import render_held

GIB = 2**30


def held_row(task: str, peak: float, request: float, admitted: bool = True) -> dict:
    return {
        "max_dim": 4096,
        "init": False,
        "task": task,
        "photo": "4096x3072",
        "photo_pixels": 4096 * 3072,
        "task_pixels": 4096 * 3072,
        "style_pixels": [4096 * 4096] * 2,
        "peak_bytes": peak * GIB,
        "model_bytes": 1.5 * GIB,
        "request_bytes": request * GIB,
        "within_request": peak <= request,
        "admitted": admitted,
    }


def test_each_task_is_a_row_and_the_verdict_counts_the_peaks_within_their_requests() -> None:
    rows = [held_row("preprocess", 1.52, 2.0), held_row("preview", 3.1, 3.0), held_row("optimize", 9.0, 4.0, False)]
    lines, targets = render_held({"held": {"measured": rows}})
    table = "\n".join(lines)
    assert "| 4096 px, 2 styles | preprocess | 4096x3072 | 1.52 GiB | 1.50 GiB | 2.00 GiB | yes | yes |" in table
    assert "| preview |" in table and "| **no** | yes |" in table
    assert "| **no** | no |" in table, "a case check_inputs refuses is shown, and not counted"
    assert targets == [("every admitted multi-image task's peak within its request", "1 of 2", "**not met**")]
    assert "Of 2 admitted tasks, 1 peaked within their request and 0 within the model's peak" in table


def test_the_local_run_is_compared_with_its_largest_task() -> None:
    local = {
        "size": "2048x1536",
        "tiles": 12,
        "steps": 3,
        "peak_bytes": 3.2 * GIB,
        "largest_request_bytes": 3.5 * GIB,
        "within_largest_request": True,
    }
    lines, targets = render_held({"held": {"measured": [held_row("preprocess", 1.0, 2.0)]}, "local_run": local})
    assert any("2048x1536 as a coarse stage and 12 tiles" in line and "3.20 GiB" in line for line in lines)
    assert targets[-1] == ("a local run's peak within its largest task's request", "3.20 / 3.50 GiB", "met")


def test_the_unfitted_sizes_are_rows_with_their_headroom_and_one_verdict() -> None:
    from benchmarks.report import render_memory_unfitted

    row = {"optimizer": "lbfgs", "precision": "auto", "size": "640x480", "pixels": 307_200}
    rows = [
        {**row, "peak_bytes": 1.8 * GIB, "request_bytes": 2.5 * GIB, "within_request": True},
        {**row, "size": "1408x1056", "peak_bytes": 7.0 * GIB, "request_bytes": 6.5 * GIB, "within_request": False},
    ]
    rows[0]["request_bytes_when_measured"] = 1.5 * GIB
    machine = {"cpu": "AMD EPYC", "cpu_flags": ["avx2", "fma"]}
    lines, targets = render_memory_unfitted(
        {"memory_unfitted": {"measured": rows, "epochs": 2, "steps": {"lbfgs": 11}, "machine": machine}}
    )
    assert "| lbfgs/auto | 640x480 | 307,200 | 1.80 GiB | 1.50 GiB | **no** | 2.50 GiB | yes |" in lines
    assert any(
        line.startswith("2 of 2 peaked above the request of the model they were measured against") for line in lines
    )
    assert targets == [
        ("every peak at sizes the model was not fitted on within the request it gave before seeing them", "0 of 2",
         "**not met**"),
        ("the same peaks within the refitted model's requests", "1 of 2", "**not met**"),
    ]  # fmt: skip
