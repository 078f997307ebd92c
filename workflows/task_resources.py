"""What the optimisation tasks request: the defaults, and the ``with_overrides`` arguments that the resource
inputs (or the memory model's plan) give each task."""

from __future__ import annotations

import re
import typing

from flytekit import Resources
from flytekit.extras.accelerators import GPUAccelerator

from workflows.engine.options import OptionError

#: Optimisation-task CPUs (a Kubernetes quantity). Memory defaults to ``auto``: each task's request comes from
#: the memory model for its pixels (``workflows/engine/memory.py``). The workflow inputs of the same role override.
OPTIMIZE_CPU, OPTIMIZE_MEM = "2", "auto"
#: What an optimisation task declares before the dynamic sizes it (it never runs with these).
OPTIMIZE_DEFAULT = Resources(cpu=OPTIMIZE_CPU, mem="3Gi")

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def optimize_overrides(cpu: str, mem: str, gpu: str, accelerator: str) -> dict[str, typing.Any]:
    """The ``with_overrides`` arguments for optimisation tasks; a bad quantity fails with the input's name."""
    for name, value in (("optimize_cpu", cpu), ("optimize_mem", mem), ("optimize_gpu", gpu)):
        if not (_QUANTITY.match(value) or (name == "optimize_mem" and value == "auto")):
            raise OptionError(f"{name}={value!r} is not a Kubernetes quantity (e.g. '2', '500m', '3Gi')")
    wants_gpu = float(gpu) > 0
    if accelerator and not wants_gpu:
        raise OptionError(f"gpu_accelerator={accelerator!r} needs optimize_gpu of at least 1")
    if mem == "auto":
        return {}
    resources = Resources(cpu=cpu, mem=mem, gpu=gpu) if wants_gpu else Resources(cpu=cpu, mem=mem)
    overrides: dict[str, typing.Any] = {"requests": resources, "limits": resources}
    if accelerator:
        overrides["accelerator"] = GPUAccelerator(accelerator)
    return overrides


def planned_overrides(planned: str, cpu: str, mem: str, gpu: str, accelerator: str) -> dict[str, typing.Any]:
    """A task's overrides: the memory model's ``planned`` memory unless ``optimize_mem`` names a quantity."""
    return optimize_overrides(cpu, planned if mem == "auto" else mem, gpu, accelerator)
