"""A stand-in with the neural-style-transfer workflow's input signature, built with flytekit's own decorators.

The fake flyteadmin serves its serialized interface, and local-mode tests run it for real with flytekit's local
execution. Its one task reads no image: it writes the inputs it received to a JSON file and returns that file,
so a test can see exactly what reached the workflow.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from flytekit import task, workflow
from flytekit.types.file import FlyteFile

from workflows.engine.options import DEFAULTS  # plain data, no TensorFlow: the one source of the defaults


def _uri(image: FlyteFile) -> str:
    return str(image.remote_source or image.path)


@task
def record_inputs(
    content_img: FlyteFile,
    style_img: FlyteFile,
    epochs: int,
    steps_per_epoch: int,
    max_dim: int,
    style_weight: float,
    content_weight: float,
    total_variation_weight: float,
    output_uri: str,
) -> FlyteFile:
    received = {
        "content_img": _uri(content_img),
        "style_img": _uri(style_img),
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "max_dim": max_dim,
        "style_weight": style_weight,
        "content_weight": content_weight,
        "total_variation_weight": total_variation_weight,
        "output_uri": output_uri,
    }
    path = Path(tempfile.mkdtemp(prefix="stub-wf-")) / "inputs.json"
    path.write_text(json.dumps(received))
    return FlyteFile(str(path))


@workflow
def neural_style_transfer_wf(
    content_img: FlyteFile,
    style_img: FlyteFile,
    epochs: int = DEFAULTS.epochs,
    steps_per_epoch: int = DEFAULTS.steps_per_epoch,
    max_dim: int = DEFAULTS.max_dim,
    style_weight: float = DEFAULTS.style_weight,
    content_weight: float = DEFAULTS.content_weight,
    total_variation_weight: float = DEFAULTS.total_variation_weight,
    output_uri: str = "",
) -> FlyteFile:
    return record_inputs(
        content_img=content_img,
        style_img=style_img,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        max_dim=max_dim,
        style_weight=style_weight,
        content_weight=content_weight,
        total_variation_weight=total_variation_weight,
        output_uri=output_uri,
    )
