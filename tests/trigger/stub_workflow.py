"""A stand-in with the neural-style-transfer workflow's input signature, built with flytekit's own decorators.

The fake flyteadmin serves its serialized interface, and the local-launcher tests run it for real with flytekit's
local execution. Its one task reads no image: it writes the inputs it received to a JSON file and returns that
file, so a test can see exactly what reached the workflow. Its inputs are every one the trigger may send
(``lambda_trigger.options.WORKFLOW_INPUTS``) and the other weights, with the real defaults (``DEFAULTS``);
``test_workflow_contract.py`` checks it against the real workflow.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from flytekit import task, workflow
from flytekit.types.file import FlyteFile

from workflows.engine.options import DEFAULTS, Mode, PreserveColors  # plain data, no TensorFlow: the one source


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
    preserve_colors: PreserveColors,
    style_scale: float,
    more_styles: list[FlyteFile],
    style_blend_weights: list[float],
    init_image: str,
    seed: int,
    style_strength: float,
    mode: Mode,
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
        "preserve_colors": preserve_colors.value,
        "style_scale": style_scale,
        "more_styles": [_uri(image) for image in more_styles],
        "style_blend_weights": list(style_blend_weights),
        "init_image": init_image,
        "seed": seed,
        "mode": mode.value,
        "style_strength": style_strength,
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
    preserve_colors: PreserveColors = PreserveColors(DEFAULTS.preserve_colors),
    style_scale: float = DEFAULTS.style_scale,
    more_styles: list[FlyteFile] = [],  # noqa: B006  (as the real workflow: flytekit keeps it as a literal)
    style_blend_weights: list[float] = [],  # noqa: B006
    init_image: str = DEFAULTS.init_image,
    seed: int = DEFAULTS.seed,
    style_strength: float = DEFAULTS.style_strength,
    mode: Mode = Mode(DEFAULTS.mode),
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
        preserve_colors=preserve_colors,
        style_scale=style_scale,
        more_styles=more_styles,
        style_blend_weights=style_blend_weights,
        init_image=init_image,
        seed=seed,
        style_strength=style_strength,
        mode=mode,
    )
