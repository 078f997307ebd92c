"""What a cluster receives: the protobufs `pyflyte package` writes, and the dynamic's compiled stage nodes."""

from __future__ import annotations

import numpy as np
import pytest
from flyteidl.core import tasks_pb2
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.core.context_manager import ExecutionState, FlyteContextManager
from flytekit.core.type_engine import TypeEngine

from tests.conftest import PACKAGE_IMAGE
from workflows.engine import memory, stages
from workflows.engine.options import StyleOptions
from workflows.neural_style_transfer import PREPROCESS_CACHE_VERSION, optimize_stages

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
        "check_inputs",
        "preprocess",
        "optimize",
        "optimize_stages",
        "finalize",
        "preview",
        "neural_style_transfer_wf",
        *(f"workflows.tile_tasks.{n}" for n in ("style_targets", "cut_tiles", "optimize_tile", "blend_tiles")),
        "neural_style_transfer_gpu",
        *(f"workflows.style_sheet.{n}" for n in ("sheet_options", "plan_sheet", "stylize_item", "contact_sheet")),
        "workflows.style_sheet.style_sheet_wf",
        "workflows.failure_records.record_failure",
    }
    assert f"{PREFIX}neural_style_transfer_wf:3" in package
    assert "neural_style_transfer_gpu:3" in package


def test_the_workflows_failure_node_writes_the_failed_record(package) -> None:
    """On a cluster the failure node runs record_failure with every input of the workflow, and Flyte's error."""
    workflow = package[f"{PREFIX}neural_style_transfer_wf:2"].template
    node = workflow.failure_node
    assert node.task_node.reference_id.name == "workflows.failure_records.record_failure"
    bound = {binding.var for binding in node.inputs}
    assert bound == {*workflow.interface.inputs.variables, "err"}, "every workflow input, and the error"
    handler = package["workflows.failure_records.record_failure:1"].template
    assert "err" in handler.interface.inputs.variables
    assert handler.container.image == PACKAGE_IMAGE
    for which in ("requests", "limits"):
        assert {CPU, MEMORY} <= set(resources(handler, which))


@pytest.mark.parametrize("name", ["check_inputs", "preprocess", "optimize", "optimize_stages", "finalize"])
def test_every_task_requests_cpu_and_memory_and_runs_the_image(package, name: str) -> None:
    template = task(package, name)
    assert template.container.image == PACKAGE_IMAGE
    for which in ("requests", "limits"):
        assert {CPU, MEMORY} <= set(resources(template, which)), f"{name} {which}"


def test_optimisation_task_resources_and_deck(package) -> None:
    template = task(package, "optimize")
    # Only the placeholder: the dynamic sizes every optimisation node for its pixels (below).
    assert resources(template, "requests") == {CPU: "2", MEMORY: "3Gi"}
    assert resources(template, "limits") == {CPU: "2", MEMORY: "3Gi"}
    assert template.metadata.retries.retries == 2
    assert template.metadata.generates_deck.value is True


def test_preprocess_is_cached_by_content_digest(package) -> None:
    metadata = task(package, "preprocess").metadata
    assert metadata.discoverable is True
    assert metadata.discovery_version == PREPROCESS_CACHE_VERSION
    assert list(metadata.cache_ignore_input_vars) == [
        "content_img",
        "style_img",
        "more_styles",
        "style_masks",
        "preserve_mask",
    ]
    assert metadata.retries.retries == 3


def test_only_preprocess_is_cached(package) -> None:
    for name in ("check_inputs", "optimize", "optimize_stages", "finalize"):
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
    assert output.type.blob.format == "image"  # the result in its output_format: PNG, TIFF or JPEG


# --- the dynamic, compiled as a cluster would run it --------------------------------------------------


def compile_optimize_stages(options: StyleOptions | None = None, size: tuple[int, int] = (24, 32), **overrides: object):
    """The dynamic as a pod runs it: its inputs in, the DynamicJobSpec it hands flytepropeller out."""
    settings = SerializationSettings(
        project="p",
        domain="d",
        version="v",
        image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="t")),
    )
    pixels = np.zeros((*size, 3), np.float32)
    inputs = {
        "content": pixels,
        "styles": [pixels],
        "init": None,
        "preview_image": None,
        "options": options or StyleOptions(epochs=3, steps_per_epoch=4),
        "output_uri": "",
        "optimize_cpu": "2",
        "optimize_mem": "auto",
        "optimize_gpu": "0",
        "gpu_accelerator": "",
        "tile_concurrency": 0,
        "style_masks": [],
        "preserve": None,
        **overrides,
    }
    optimize_stages._wf = None  # flytekit compiles a dynamic once per process; each call here plays a fresh pod
    context = FlyteContextManager.current_context().with_serialization_settings(settings)
    with FlyteContextManager.with_context(context) as context:
        state = context.execution_state.with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
        with FlyteContextManager.with_context(context.with_execution_state(state)) as context:
            literals = TypeEngine.dict_to_literal_map(
                context, inputs, type_hints=optimize_stages.python_interface.inputs
            )
            return optimize_stages.dispatch_execute(context, literals).to_flyte_idl()


def node_memory(node) -> tuple[str, str]:
    overrides = node.task_node.overrides.resources
    return (
        {e.name: e.value for e in overrides.requests}[MEMORY],
        {e.name: e.value for e in overrides.limits}[MEMORY],
    )


def test_by_default_a_stage_is_one_task_sized_for_its_pixels() -> None:
    spec = compile_optimize_stages(StyleOptions(epochs=5), size=(384, 512))
    assert [node.id for node in spec.nodes] == ["optimize-epochs-1-5-of-5"]
    inputs = {binding.var: binding.binding for binding in spec.nodes[0].inputs}
    assert inputs["first_epoch"].scalar.primitive.integer == 0 and inputs["stop_epoch"].scalar.primitive.integer == 5
    expected = memory.quantity(memory.request_bytes(384 * 512, "lbfgs", "auto"))
    assert node_memory(spec.nodes[0]) == (expected, expected)
    assert spec.outputs[0].binding.promise.node_id == "optimize-epochs-1-5-of-5"


def test_one_task_per_epoch_chains_the_state_forward() -> None:
    spec = compile_optimize_stages(StyleOptions(epochs=3, epochs_per_task=1))
    assert [node.id for node in spec.nodes] == [
        "optimize-epoch-1-of-3",
        "optimize-epoch-2-of-3",
        "optimize-epoch-3-of-3",
    ]
    second = {binding.var: binding.binding for binding in spec.nodes[1].inputs}
    assert second["resume"].promise.node_id == "optimize-epoch-1-of-3"
    assert second["resume"].promise.var == "state"
    assert second["first_epoch"].scalar.primitive.integer == 1
    assert spec.outputs[0].binding.promise.node_id == "optimize-epoch-3-of-3"


def test_k_epochs_per_task_and_pyramid_tasks_sized_by_their_largest_epoch() -> None:
    options = StyleOptions(epochs=5, epochs_per_task=2, pyramid=True, max_dim=640)
    spec = compile_optimize_stages(options, size=(480, 640))
    assert [node.id for node in spec.nodes] == [
        "optimize-epochs-1-2-of-5",
        "optimize-epochs-3-4-of-5",
        "optimize-epoch-5-of-5",
    ]
    planned = stages.plan((480, 640), options, (480 * 640,)).whole
    assert [(part.height, part.width) for part in planned] == [(170, 226), (340, 453), (480, 640)]
    requests = [memory.request_bytes(p.height * p.width, "lbfgs", "auto", 20, (480 * 640,)) for p in planned]
    assert requests == sorted(requests) and requests[0] < requests[-1], "a coarse task asks for less"
    assert [node_memory(node)[0] for node in spec.nodes] == [memory.quantity(r) for r in requests]


def test_explicit_resource_inputs_override_the_model() -> None:
    overrides = compile_optimize_stages(optimize_cpu="4", optimize_mem="6Gi").nodes[0].task_node.overrides
    requests = {entry.name: entry.value for entry in overrides.resources.requests}
    assert requests == {CPU: "4", MEMORY: "6Gi"}
    assert not overrides.extended_resources.HasField("gpu_accelerator")


def test_dynamic_requests_a_gpu_and_accelerator_without_code_changes() -> None:
    for node in compile_optimize_stages(optimize_gpu="1", gpu_accelerator="nvidia-tesla-t4", optimize_mem="3Gi").nodes:
        overrides = node.task_node.overrides
        assert {e.name: e.value for e in overrides.resources.requests} == {CPU: "2", MEMORY: "3Gi", GPU: "1"}
        assert {e.name: e.value for e in overrides.resources.limits}[GPU] == "1"
        assert overrides.extended_resources.gpu_accelerator.device == "nvidia-tesla-t4"


def test_the_style_sheet_maps_one_task_per_pair_with_failure_tolerance_and_sized_resources() -> None:
    from workflows.style_sheet import plan_sheet

    settings = SerializationSettings(
        project="p", domain="d", version="v", image_config=ImageConfig(default_image=Image(name="d", fqn="i", tag="t"))
    )
    inputs = {
        "photos": ["s3://b/a.jpg", "s3://b/b.jpg"],
        "styles": ["s3://b/monet.jpg"],
        "style_names": [],
        "options": StyleOptions(max_dim=1024),
        "output_prefix": "s3://b/sheet/",
        "min_success_ratio": 0.5,
        "concurrency": 4,
    }
    plan_sheet._wf = None
    context = FlyteContextManager.current_context().with_serialization_settings(settings)
    with FlyteContextManager.with_context(context) as context:
        state = context.execution_state.with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
        with FlyteContextManager.with_context(context.with_execution_state(state)) as context:
            literals = TypeEngine.dict_to_literal_map(context, inputs, type_hints=plan_sheet.python_interface.inputs)
            spec = plan_sheet.dispatch_execute(context, literals).to_flyte_idl()
    mapped = next(node for node in spec.nodes if node.HasField("array_node"))
    assert mapped.array_node.min_success_ratio == pytest.approx(0.5) and mapped.array_node.parallelism == 4
    items = mapped.inputs[0].binding.collection.bindings
    assert len(items) == 2, "one item per (photo, style) pair"
    # 1024 px is above one task's pixels: each item runs as a coarse stage and tiles within the task limit
    expected = memory.quantity(memory.TASK_LIMIT)
    assert {e.name: e.value for e in mapped.array_node.node.task_node.overrides.resources.requests}[MEMORY] == expected
