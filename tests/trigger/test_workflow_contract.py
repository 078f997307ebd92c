"""The trigger's assumptions about the real workflow: its launch plan name and the inputs the trigger sends."""

from __future__ import annotations

import typing

import pytest
from flytekit.types.file import FlyteFile

from lambda_trigger.launchers import FILE_INPUTS, REQUIRED_INPUTS
from lambda_trigger.settings import DEFAULT_LAUNCH_PLAN, WORKFLOW_INT_SETTINGS
from tests.trigger import stub_workflow


@pytest.fixture(scope="module")
def workflow():
    # A plain import: a workflow module that no longer imports must fail the contract, not skip it.
    from workflows.neural_style_transfer import neural_style_transfer_wf

    return neural_style_transfer_wf


def test_the_default_launch_plan_is_the_workflow(workflow) -> None:
    assert workflow.name == DEFAULT_LAUNCH_PLAN  # a default launch plan is named after its workflow


def test_every_input_the_trigger_sends_exists_with_the_expected_type(workflow) -> None:
    inputs = workflow.python_interface.inputs
    for name in FILE_INPUTS:
        assert issubclass(inputs[name], FlyteFile), name
    assert inputs["output_uri"] is str
    for name in WORKFLOW_INT_SETTINGS:
        assert inputs[name] is int, name
    assert set(REQUIRED_INPUTS) <= set(inputs)


def test_the_stand_in_used_by_the_tests_matches_the_real_signature(workflow) -> None:
    """stub_workflow serves the fake flyteadmin and local-mode tests: it must not drift from the real one."""
    real = workflow.python_interface
    stub = stub_workflow.neural_style_transfer_wf.python_interface
    for name, python_type in stub.inputs.items():
        assert name in real.inputs, name
        assert typing.get_origin(real.inputs[name]) is None
        assert issubclass(real.inputs[name], python_type), name
        assert real.default_inputs_as_kwargs.get(name) == stub.default_inputs_as_kwargs.get(name), name
    required_real = set(real.inputs) - set(real.default_inputs_as_kwargs)
    assert required_real <= set(stub.inputs)
