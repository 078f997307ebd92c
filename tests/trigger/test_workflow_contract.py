"""The trigger's assumptions about the real workflow: its launch plan name, and the name and type of every input
the trigger may send (``options.WORKFLOW_INPUTS``), with the stand-in the tests serve kept to the same signature."""

from __future__ import annotations

import enum
import types
import typing

import pytest
from flytekit.types.file import FlyteFile

from lambda_trigger.launchers import REQUIRED_INPUTS
from lambda_trigger.options import CHOICES, CONTROLS, WORKFLOW_INPUTS
from lambda_trigger.settings import DEFAULT_LAUNCH_PLAN, WORKFLOW_INT_SETTINGS
from tests.trigger import stub_workflow

#: What each kind of trigger input must be in the workflow's Python interface.
KINDS = {
    "file": FlyteFile,
    "optional file": FlyteFile | None,
    "files": list[FlyteFile],
    "str": str,
    "bool": bool,
    "choice": str,  # or an Enum of exactly CHOICES[name]: see same_type
    "int": int,
    "float": float,
    "floats": list[float],
}


@pytest.fixture(scope="module")
def workflow():
    # A plain import: a workflow module that no longer imports must fail the contract, not skip it.
    from workflows.neural_style_transfer import neural_style_transfer_wf

    return neural_style_transfer_wf


def same_type(actual: typing.Any, expected: typing.Any, choices: tuple[str, ...] | None = None) -> bool:
    """``actual`` (the workflow's declared type) takes what the trigger sends for ``expected``."""
    if choices is not None and isinstance(actual, type) and issubclass(actual, enum.Enum):
        return sorted(member.value for member in actual) == sorted(choices)  # flytekit fills an Enum from its value
    if typing.get_origin(expected) is list:
        return typing.get_origin(actual) is list and same_type(typing.get_args(actual)[0], typing.get_args(expected)[0])
    if typing.get_origin(expected) in (typing.Union, types.UnionType):  # an optional input: the same union
        return typing.get_origin(actual) in (typing.Union, types.UnionType) and set(typing.get_args(actual)) == set(
            typing.get_args(expected)
        )
    return typing.get_origin(actual) is None and issubclass(actual, expected)


def test_the_default_launch_plan_is_the_workflow(workflow) -> None:
    assert workflow.name == DEFAULT_LAUNCH_PLAN  # a default launch plan is named after its workflow


@pytest.mark.parametrize("name", sorted(WORKFLOW_INPUTS))
def test_every_input_the_trigger_may_send_exists_with_its_type(workflow, name: str) -> None:
    inputs = workflow.python_interface.inputs
    assert name in inputs, f"the trigger may send {name}, which the workflow does not take"
    assert same_type(inputs[name], KINDS[WORKFLOW_INPUTS[name]], CHOICES.get(name)), f"{name}: {inputs[name]}"


def test_the_input_table_covers_what_the_trigger_sends() -> None:
    """Every input some part of the trigger sets is in WORKFLOW_INPUTS (the table the contract checks)."""
    sent = {"content_img", "style_img", "output_uri", "more_styles", "style_blend_weights"}
    sent |= set(WORKFLOW_INT_SETTINGS) | {control.input for control in CONTROLS.values()} | set(REQUIRED_INPUTS)
    assert sent == set(WORKFLOW_INPUTS)


def test_the_stand_in_used_by_the_tests_matches_the_real_signature(workflow) -> None:
    """stub_workflow serves the fake flyteadmin and the local-launcher tests: it must not drift from the real one."""
    real = workflow.python_interface
    stub = stub_workflow.neural_style_transfer_wf.python_interface
    assert set(WORKFLOW_INPUTS) <= set(stub.inputs), "the stand-in takes every input the trigger may send"
    for name, python_type in stub.inputs.items():
        assert name in real.inputs, name
        assert real.inputs[name] is python_type or same_type(real.inputs[name], python_type), name
        assert real.default_inputs_as_kwargs.get(name) == stub.default_inputs_as_kwargs.get(name), name
    required_real = set(real.inputs) - set(real.default_inputs_as_kwargs)
    assert required_real <= set(stub.inputs)


def test_the_output_extensions_are_the_workflows() -> None:
    """The Lambda names the output key by the upload's output format: with the extension the workflow writes."""
    from lambda_trigger import options, rules
    from workflows.engine.options import OUTPUT_FORMATS
    from workflows.output_files import FORMAT_EXTENSIONS
    from workflows.result_formats import EXTENSIONS

    assert rules.OUTPUT_EXTENSIONS == EXTENSIONS and options.OUTPUT_FORMATS == OUTPUT_FORMATS
    assert all(EXTENSIONS[name] == FORMAT_EXTENSIONS[name][0] for name in OUTPUT_FORMATS)
