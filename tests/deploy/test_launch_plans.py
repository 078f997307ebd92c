"""The launch plans in workflows/launch_plans.py as a cluster receives them, and what the GPU plan makes the dynamic do.

The package (``pyflyte --pkgs workflows package``) and the offline compilation of the ``optimize_stages`` dynamic are the
ones tests/workflow/test_serialization.py uses; they are imported, not repeated.
"""

from __future__ import annotations

import pytest
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import Literal

from lambda_trigger.launchers import REQUIRED_INPUTS
from lambda_trigger.settings import DEFAULT_LAUNCH_PLAN, WORKFLOW_INT_SETTINGS
from tests.deploy.cfn import Template
from tests.workflow.test_serialization import CPU, GPU, MEMORY, PREFIX, compile_optimize_stages
from workflows import launch_plans

GPU_PLAN = f"{launch_plans.GPU_LAUNCH_PLAN_NAME}:3"
RESOURCE_INPUTS = ("optimize_cpu", "optimize_mem", "optimize_gpu", "gpu_accelerator")


def plan_inputs(plan) -> tuple[dict[str, object], dict[str, object]]:
    """(fixed, defaults) of a serialized launch plan, as Python values."""

    def value(literal) -> object:
        return TypeEngine.to_python_value(None, Literal.from_flyte_idl(literal), str)

    fixed = {name: value(literal) for name, literal in plan.spec.fixed_inputs.literals.items()}
    defaults = {
        name: parameter.default.scalar.primitive.string_value
        for name, parameter in plan.spec.default_inputs.parameters.items()
        if name in RESOURCE_INPUTS
    }
    return fixed, defaults


def test_package_holds_the_gpu_launch_plan_beside_the_default_one(package) -> None:
    assert f"{PREFIX}neural_style_transfer_wf:3" in package
    assert f"{PREFIX}neural_style_transfer_wf:3" == f"{DEFAULT_LAUNCH_PLAN}:3", "the trigger's default still exists"
    plan = package[GPU_PLAN]
    assert plan.id.name == "neural_style_transfer_gpu"
    assert plan.spec.workflow_id.name == f"{PREFIX}neural_style_transfer_wf"


def test_gpu_plan_fixes_one_gpu_and_defaults_the_accelerator_and_a_larger_cpu_and_memory(package) -> None:
    fixed, defaults = plan_inputs(package[GPU_PLAN])
    assert fixed == {"optimize_gpu": "1"}
    assert defaults == {"gpu_accelerator": "nvidia-tesla-t4", "optimize_cpu": "3", "optimize_mem": "10Gi"}
    assert "optimize_gpu" not in package[GPU_PLAN].spec.default_inputs.parameters, "fixed, so not overridable"
    default_plan = package[f"{PREFIX}neural_style_transfer_wf:3"]
    assert not default_plan.spec.fixed_inputs.literals
    cpu_defaults = default_plan.spec.default_inputs.parameters
    assert cpu_defaults["optimize_gpu"].default.scalar.primitive.string_value == "0"
    assert int(defaults["optimize_cpu"]) > int(cpu_defaults["optimize_cpu"].default.scalar.primitive.string_value)


def test_gpu_plan_fixes_nothing_the_trigger_sends(package) -> None:
    """A fixed input the trigger also sent would make flyteadmin refuse every execution."""
    fixed, _ = plan_inputs(package[GPU_PLAN])
    assert not set(fixed) & (set(REQUIRED_INPUTS) | set(WORKFLOW_INT_SETTINGS))
    parameters = package[GPU_PLAN].spec.default_inputs.parameters
    assert parameters["content_img"].required and parameters["style_img"].required
    assert not parameters["output_uri"].required


def test_dynamic_compiled_with_the_gpu_plans_inputs_requests_the_gpu_and_accelerator(package) -> None:
    fixed, defaults = plan_inputs(package[GPU_PLAN])
    spec = compile_optimize_stages(**defaults, **fixed)
    assert [node.id for node in spec.nodes] == ["optimize-epochs-1-3-of-3"], "one stage, one task"
    for node in spec.nodes:
        overrides = node.task_node.overrides
        requests = {entry.name: entry.value for entry in overrides.resources.requests}
        limits = {entry.name: entry.value for entry in overrides.resources.limits}
        packaged = {**defaults, **fixed}  # what the registered plan itself says, read back from the package
        expected = {CPU: packaged["optimize_cpu"], MEMORY: packaged["optimize_mem"], GPU: packaged["optimize_gpu"]}
        assert requests == limits == expected, node.id
        assert expected[GPU] != "0", "the plan asks for a GPU"
        assert overrides.extended_resources.gpu_accelerator.device == "nvidia-tesla-t4", node.id


def test_the_python_launch_plan_object_matches_what_was_packaged(package) -> None:
    plan = launch_plans.GPU_LAUNCH_PLAN
    assert plan.name == launch_plans.GPU_LAUNCH_PLAN_NAME
    assert set(plan.fixed_inputs.literals) == {"optimize_gpu"}
    assert plan.workflow.name == DEFAULT_LAUNCH_PLAN


@pytest.mark.parametrize("name", [DEFAULT_LAUNCH_PLAN, launch_plans.GPU_LAUNCH_PLAN_NAME])
def test_the_stack_can_point_the_trigger_at_either_plan(name: str) -> None:
    template = Template({"LaunchPlan": name})
    assert template.properties("TriggerFunction")["Environment"]["Variables"]["NST_LAUNCH_PLAN"] == name
    assert Template().parameters["LaunchPlan"] == DEFAULT_LAUNCH_PLAN
