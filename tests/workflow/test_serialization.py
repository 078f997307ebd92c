"""What a cluster receives: the protobufs `pyflyte package` writes, and the dynamic's compiled epoch nodes."""

from __future__ import annotations

import numpy as np
import pytest
from flyteidl.core import tasks_pb2
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.context_manager import ExecutionState, FlyteContextManager
from flytekit.core.type_engine import TypeEngine

from tests.conftest import PACKAGE_IMAGE
from workflows.neural_style_transfer import stylize

PREFIX = "workflows.neural_style_transfer."
CPU, MEMORY, GPU = (tasks_pb2.Resources.ResourceName.Value(n) for n in ("CPU", "MEMORY", "GPU"))


def task(package: dict[str, object], name: str) -> tasks_pb2.TaskTemplate:
    return package[f"{PREFIX}{name}:1"].template


def resources(template: tasks_pb2.TaskTemplate, which: str) -> dict[int, str]:
    return {entry.name: entry.value for entry in getattr(template.container.resources, which)}


def test_package_holds_every_task_the_workflow_and_its_launch_plan(package) -> None:
    names = {key.split(":")[0].removeprefix(PREFIX) for key in package}
    # neural_style_transfer_gpu: the GPU launch plan of workflows/launch_plans.py (tests/deploy/test_launch_plans.py)
    assert names == {
        "fingerprint_inputs",
        "preprocess",
        "optimize_epoch",
        "stylize",
        "finalize",
        "neural_style_transfer_wf",
        "neural_style_transfer_gpu",
    }
    assert f"{PREFIX}neural_style_transfer_wf:3" in package
    assert "neural_style_transfer_gpu:3" in package


@pytest.mark.parametrize("name", ["fingerprint_inputs", "preprocess", "optimize_epoch", "stylize", "finalize"])
def test_every_task_requests_cpu_and_memory_and_runs_the_image(package, name: str) -> None:
    template = task(package, name)
    assert template.container.image == PACKAGE_IMAGE
    for which in ("requests", "limits"):
        assert {CPU, MEMORY} <= set(resources(template, which)), f"{name} {which}"


def test_optimisation_task_resources_and_deck(package) -> None:
    template = task(package, "optimize_epoch")
    assert resources(template, "requests") == {CPU: "2", MEMORY: "3Gi"}
    assert resources(template, "limits") == {CPU: "2", MEMORY: "3Gi"}
    assert template.metadata.retries.retries == 2
    assert template.metadata.generates_deck.value is True


def test_preprocess_is_cached_by_content_digest(package) -> None:
    metadata = task(package, "preprocess").metadata
    assert metadata.discoverable is True
    assert metadata.discovery_version == "1"
    assert list(metadata.cache_ignore_input_vars) == ["content_img", "style_img"]
    assert metadata.retries.retries == 3


def test_only_preprocess_is_cached(package) -> None:
    for name in ("fingerprint_inputs", "optimize_epoch", "stylize", "finalize"):
        assert task(package, name).metadata.discoverable is False, name


def test_launch_plan_defaults_match_the_public_contract(package) -> None:
    plan = package[f"{PREFIX}neural_style_transfer_wf:3"]
    defaults = plan.spec.default_inputs.parameters
    assert defaults["content_img"].required and defaults["style_img"].required
    scalars = {name: defaults[name].default.scalar.primitive for name in defaults if not defaults[name].required}
    assert scalars["epochs"].integer == 5
    assert scalars["steps_per_epoch"].integer == 100
    assert scalars["max_dim"].integer == 512
    assert scalars["style_weight"].float_value == pytest.approx(1e-2)
    assert scalars["content_weight"].float_value == pytest.approx(1e4)
    assert scalars["total_variation_weight"].float_value == pytest.approx(30.0)
    assert scalars["output_uri"].string_value == ""
    assert scalars["optimize_gpu"].string_value == "0"
    assert scalars["optimizer"].string_value == "lbfgs", (
        "the fastest configuration to the quality target (BENCHMARKS.md)"
    )
    assert scalars["pyramid"].boolean is False and scalars["precision"].string_value == "auto"
    output = package[f"{PREFIX}neural_style_transfer_wf:2"].template.interface.outputs.variables["o0"]
    assert output.type.blob.format == "png"


# --- the dynamic, compiled as a cluster would run it --------------------------------------------------


def compile_stylize(**overrides: object):
    settings = SerializationSettings(
        project="p",
        domain="d",
        version="v",
        image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="t")),
    )
    pixels = np.zeros((24, 24, 3), np.float32)
    inputs = {
        "content": pixels,
        "style": pixels,
        "epochs": 3,
        "steps_per_epoch": 4,
        "style_weight": 1e-2,
        "content_weight": 1e4,
        "total_variation_weight": 30.0,
        "optimizer": "adam",
        "ema": 0.0,
        "pyramid": False,
        "precision": "float32",
        "optimize_cpu": "2",
        "optimize_mem": "3Gi",
        "optimize_gpu": "0",
        "gpu_accelerator": "",
        **overrides,
    }
    stylize._wf = None  # flytekit compiles a dynamic once per process; each call here plays a fresh pod
    context = FlyteContextManager.current_context().with_serialization_settings(settings)
    with FlyteContextManager.with_context(context) as context:
        state = context.execution_state.with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
        with FlyteContextManager.with_context(context.with_execution_state(state)) as context:
            literals = TypeEngine.dict_to_literal_map(context, inputs, type_hints=stylize.python_interface.inputs)
            return stylize.dispatch_execute(context, literals).to_flyte_idl()


def test_dynamic_chains_one_node_per_epoch_feeding_state_forward() -> None:
    spec = compile_stylize()
    assert [node.id for node in spec.nodes] == ["epoch-1-of-3", "epoch-2-of-3", "epoch-3-of-3"]
    second = {binding.var: binding.binding for binding in spec.nodes[1].inputs}
    for carried in ("image", "optimizer_state", "losses"):
        assert second[carried].promise.node_id == "epoch-1-of-3", carried
    assert second["epoch"].scalar.primitive.integer == 1
    assert spec.outputs[0].binding.promise.node_id == "epoch-3-of-3"


def test_dynamic_applies_cpu_only_overrides_by_default() -> None:
    overrides = compile_stylize(optimize_cpu="4", optimize_mem="6Gi").nodes[0].task_node.overrides
    requests = {entry.name: entry.value for entry in overrides.resources.requests}
    assert requests == {CPU: "4", MEMORY: "6Gi"}
    assert not overrides.extended_resources.HasField("gpu_accelerator")


def test_dynamic_requests_a_gpu_and_accelerator_without_code_changes() -> None:
    for node in compile_stylize(optimize_gpu="1", gpu_accelerator="nvidia-tesla-t4").nodes:
        overrides = node.task_node.overrides
        assert {e.name: e.value for e in overrides.resources.requests} == {CPU: "2", MEMORY: "3Gi", GPU: "1"}
        assert {e.name: e.value for e in overrides.resources.limits}[GPU] == "1"
        assert overrides.extended_resources.gpu_accelerator.device == "nvidia-tesla-t4"
