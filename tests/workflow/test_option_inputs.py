"""The workflow's flat inputs come from one table: every ``StyleOptions`` field the workflow takes is an input with
its default and meaning, ``pyflyte run --help`` explains each, and the flat inputs become the same options."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

from flytekit import task, workflow

from workflows.engine.options import DEFAULTS, StyleOptions
from workflows.neural_style_transfer import check_inputs, neural_style_transfer_wf
from workflows.option_inputs import (
    REQUIRED,
    STYLE_TRANSFER_INPUTS,
    FlatInput,
    option_inputs,
    options_from_inputs,
    takes_inputs,
)


def test_the_workflow_and_its_first_task_take_exactly_the_table() -> None:
    table = {row.name for row in STYLE_TRANSFER_INPUTS}
    assert set(neural_style_transfer_wf.python_interface.inputs) == table
    assert set(check_inputs.python_interface.inputs) == table
    optional = {row.name for row in STYLE_TRANSFER_INPUTS if row.default is None}  # flytekit lists no None default
    required = set(table) - set(neural_style_transfer_wf.python_interface.default_inputs_as_kwargs) - optional
    assert required == {"content_img", "style_img"}
    assert optional == {"preserve_mask"}


def test_every_input_has_a_description_in_the_flyte_interface() -> None:
    """flytekit read them from the docstring :func:`takes_inputs` wrote: the console and ``--help`` show them."""
    described = neural_style_transfer_wf.interface.inputs
    for row in STYLE_TRANSFER_INPUTS:
        assert described[row.name].description == " ".join(row.meaning.split()), row.name


def test_pyflyte_run_help_explains_every_input() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flytekit.clis.sdk_in_container.pyflyte", "run", "workflows/neural_style_transfer.py",
         "neural_style_transfer_wf", "--help"],
        capture_output=True, text=True, check=True, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    text = " ".join(result.stdout.split())
    for row in STYLE_TRANSFER_INPUTS:
        assert f"--{row.name} " in text or f"--{row.name}/" in text, row.name
        assert " ".join(row.meaning.split())[:40] in text, row.name
    assert ":param" not in text, "the docstring above the inputs is the summary alone"


def test_flat_default_inputs_are_the_default_options() -> None:
    defaults = neural_style_transfer_wf.python_interface.default_inputs_as_kwargs
    assert options_from_inputs(defaults) == DEFAULTS


def test_flat_inputs_become_the_options_they_name() -> None:
    rows = {row.name: row for row in option_inputs()}
    chosen = StyleOptions(optimizer="adam", ema=0.5, style_blend_weights=(2.0, 1.0), preserve_colors="luminance")
    flat = {name: getattr(chosen, name) for name in rows}
    flat["optimizer"] = rows["optimizer"].annotation("adam")  # as flytekit hands them to the task: enums, lists
    flat["preserve_colors"] = rows["preserve_colors"].annotation("luminance")
    flat["style_blend_weights"] = [2.0, 1.0]
    assert options_from_inputs(flat) == chosen


def test_every_option_but_the_internal_ones_is_an_input() -> None:
    internal = {f.name for f in dataclasses.fields(StyleOptions) if not f.metadata["workflow_input"]}
    assert internal == {"lbfgs_history"}
    assert [row.name for row in option_inputs()] == [
        f.name for f in dataclasses.fields(StyleOptions) if f.name not in internal
    ]


def test_a_new_row_reaches_a_task_and_a_workflow_with_its_default() -> None:
    """The mechanism itself, on a table of its own: one row is a typed input with a default and a description,
    and a local execution hands the task what the workflow was given."""
    rows = [
        FlatInput("photo", str, REQUIRED, "which photo"),
        FlatInput("strength", float, 1.5, "how strong"),
    ]

    @task
    @takes_inputs(rows)
    def echo(**inputs: typing.Any) -> str:
        return f"{inputs['photo']}:{inputs['strength']}"

    @workflow
    @takes_inputs(rows)
    def echo_wf(**inputs: typing.Any) -> str:
        return echo(**inputs)

    assert echo_wf.python_interface.inputs == {"photo": str, "strength": float}
    assert echo_wf.interface.inputs["strength"].description == "how strong"
    assert echo_wf(photo="a") == "a:1.5"
    assert echo_wf(photo="b", strength=2.0) == "b:2.0"
