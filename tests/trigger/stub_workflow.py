"""A stand-in with the neural-style-transfer workflow's input signature, built with flytekit's own decorators.

The fake flyteadmin serves its serialized interface, and the local-launcher tests run it for real with flytekit's
local execution. Its one task reads no image: it writes the inputs it received to a JSON file and returns that
file, so a test can see exactly what reached the workflow. Its inputs are every one the trigger may send
(``lambda_trigger.options.WORKFLOW_INPUTS``) and the other weights, as the real workflow's own rows of its input table
(``workflows/option_inputs.py``), defaults included;
``test_workflow_contract.py`` checks it against the real workflow.
"""

from __future__ import annotations

import enum
import json
import tempfile
import typing
from pathlib import Path

from flytekit import task, workflow
from flytekit.types.file import FlyteFile

from lambda_trigger.options import WORKFLOW_INPUTS
from workflows.option_inputs import inputs_named, takes_inputs  # plain data and flytekit, no TensorFlow

#: What the trigger may send, and the loss weights a launch plan may fix: the real rows, defaults included.
STUB_INPUTS = inputs_named({*WORKFLOW_INPUTS, "style_weight", "content_weight", "total_variation_weight"})


def _received(value: typing.Any) -> typing.Any:
    """An input as the test reads it back: a file as its URI, a choice as its value."""
    if isinstance(value, FlyteFile):
        return str(value.remote_source or value.path)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_received(item) for item in value]
    return value


@task
@takes_inputs(STUB_INPUTS)
def record_inputs(**inputs: typing.Any) -> FlyteFile:
    path = Path(tempfile.mkdtemp(prefix="stub-wf-")) / "inputs.json"
    path.write_text(json.dumps({name: _received(value) for name, value in inputs.items()}))
    return FlyteFile(str(path))


@workflow
@takes_inputs(STUB_INPUTS)
def neural_style_transfer_wf(**inputs: typing.Any) -> FlyteFile:
    return record_inputs(**inputs)
