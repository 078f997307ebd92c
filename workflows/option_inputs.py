"""The workflow's flat inputs, derived from one table: ``StyleOptions``' fields and the run's own inputs.

``pyflyte run --style_weight 0.1`` and the trigger keep sending flat, named inputs, but nothing here spells them
out by hand. :data:`STYLE_TRANSFER_INPUTS` lists every input of ``neural_style_transfer_wf`` (name, type,
default, meaning): the optimisation options come from ``fields(StyleOptions)`` (an option with a fixed set of
values becomes its enum, so ``pyflyte run`` lists and checks them; a tuple becomes a list), the others are
declared once below. :func:`takes_inputs` gives a ``**inputs`` function that signature and a docstring with one
``:param:`` per input, which flytekit reads into the interface's descriptions: ``pyflyte run ... --help`` then
explains every input. The README's table of inputs is :func:`markdown_table` (a test keeps them equal).

Adding an option: a field in ``StyleOptions`` (with its meaning and bounds), the code where it takes effect, and,
if uploads may set it, its row in the trigger's metadata table (``lambda_trigger/options.py``).
"""

from __future__ import annotations

import enum
import inspect
import sys
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from flytekit.types.file import FlyteFile

from workflows.engine.options import DEFAULTS, StyleOptions

FunctionT = typing.TypeVar("FunctionT", bound=Callable[..., typing.Any])

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class FlatInput:
    """One input of a workflow or task: its name, the Python type flytekit sees, its default, its meaning."""

    name: str
    annotation: typing.Any
    default: typing.Any
    meaning: str

    @property
    def shown_default(self) -> str:
        """The default as the README's table shows it."""
        if self.default is REQUIRED:
            return "required"
        value = self.default.value if isinstance(self.default, enum.Enum) else self.default
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        if isinstance(value, str):
            return f'`"{value}"`'
        if isinstance(value, float) and value and not 1e-3 <= abs(value) < 1e3:
            return f"`{value:.0e}`".replace("e-0", "e-").replace("e+0", "e")
        return f"`{value!r}`"


def option_inputs() -> list[FlatInput]:
    """The ``StyleOptions`` fields the workflow takes, each as a flat input with the field's default."""
    hints = typing.get_type_hints(StyleOptions)
    inputs = []
    for option in fields(StyleOptions):
        if not option.metadata["workflow_input"]:
            continue
        annotation, default = hints[option.name], getattr(DEFAULTS, option.name)
        choices = option.metadata["choices"]
        if choices is not None:
            annotation, default = choices, choices(default)
        elif typing.get_origin(annotation) is tuple:
            annotation, default = list[typing.get_args(annotation)[0]], []  # type: ignore[misc]
        inputs.append(FlatInput(option.name, annotation, default, option.metadata["meaning"]))
    return inputs


def options_from_inputs(inputs: Mapping[str, typing.Any]) -> StyleOptions:
    """The ``StyleOptions`` that flat inputs name (an enum gives its value, a list becomes a tuple); inputs that
    are not options are ignored, and options not given keep their defaults. Bad values raise ``OptionError``."""
    names = {option.name for option in fields(StyleOptions)}
    values: dict[str, typing.Any] = {}
    for name, value in inputs.items():
        if name not in names:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return StyleOptions(**values)


#: The run's inputs that are not optimisation options. The resource defaults are the optimisation task's
#: (``workflows/task_resources.py`` declares the same values for the task itself).
_IMAGES = [
    FlatInput(
        "content_img",
        FlyteFile,
        REQUIRED,
        'the photo (`FlyteFile`: `s3://`, `https://` where enabled, or a local path in a local run: see "Input URIs")',
    ),
    FlatInput("style_img", FlyteFile, REQUIRED, "the style image"),
]
_RUN = [
    FlatInput("output_uri", str, "", "also write the PNG exactly here (`s3://…` or a local path)"),
    FlatInput(
        "more_styles",
        list[FlyteFile],
        [],
        "further style images (`FlyteFile`s) blended with `style_img` by mixing their Gram targets",
    ),
    FlatInput(
        "style_masks",
        list[FlyteFile],
        [],
        "one greyscale mask per style (`style_img`, then each of `more_styles`), white where that style goes, "
        "soft edges for soft transitions, of the photo's aspect ratio; pixels no mask covers keep the photo "
        '(see "Masks")',
    ),
    FlatInput(
        "preserve_mask",
        FlyteFile | None,
        None,
        "a greyscale mask of regions (faces, say) kept close to the photo: no style there, and the content term "
        "`preserve_strength` times stronger",
    ),
    FlatInput(
        "tile_concurrency",
        int,
        0,
        'for results too big for one task (see "Big images"): how many tile tasks run at once; `0` = no limit',
    ),
    FlatInput("optimize_cpu", str, "2", "CPU request and limit of each optimisation task"),
    FlatInput(
        "optimize_mem",
        str,
        "auto",
        "memory request and limit of each optimisation task: `auto` sizes each task for its pixels from the "
        'measured memory model (`workflows/engine/memory.py`), or a Kubernetes quantity such as `"6Gi"`',
    ),
    FlatInput("optimize_gpu", str, "0", 'GPUs per optimisation task (`"1"` to use one)'),
    FlatInput("gpu_accelerator", str, "", "GPU type, e.g. `nvidia-tesla-t4`, `nvidia-l4` (needs `optimize_gpu`)"),
]

#: Every input of ``neural_style_transfer_wf``, in the order ``pyflyte run --help`` lists them.
STYLE_TRANSFER_INPUTS: list[FlatInput] = [*_IMAGES, *option_inputs(), *_RUN]


def inputs_named(names: Iterable[str], table: Sequence[FlatInput] = STYLE_TRANSFER_INPUTS) -> list[FlatInput]:
    """The rows of ``table`` for ``names``, in the table's order; a name it lacks is an error."""
    wanted = set(names)
    unknown = wanted - {row.name for row in table}
    if unknown:
        raise KeyError(f"no such input: {', '.join(sorted(unknown))}")
    return [row for row in table if row.name in wanted]


def takes_inputs(inputs: Sequence[FlatInput]) -> Callable[[FunctionT], FunctionT]:
    """Give a ``def f(**inputs)`` the signature of ``inputs`` (required ones first) and append one ``:param:``
    line per input to its docstring: what flytekit's ``@task`` and ``@workflow`` read for the interface."""
    ordered = [row for row in inputs if row.default is REQUIRED] + [
        row for row in inputs if row.default is not REQUIRED
    ]

    def apply(function: FunctionT) -> FunctionT:
        parameters = [
            inspect.Parameter(
                row.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=row.default, annotation=row.annotation
            )
            for row in ordered
        ]
        returns = typing.get_type_hints(function).get("return", inspect.Signature.empty)
        function.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
        function.__annotations__ = {**{row.name: row.annotation for row in ordered}, "return": returns}
        lines = [f":param {row.name}: {' '.join(row.meaning.split())}" for row in ordered]
        function.__doc__ = inspect.cleandoc(function.__doc__ or "") + "\n\n" + "\n".join(lines) + "\n"
        return function

    return apply


def shown_summary(entity: typing.Any) -> typing.Any:
    """Give a flytekit entity made from a :func:`takes_inputs` function its docstring without the ``:param:``
    lines: flytekit has read them into the interface, and ``pyflyte run --help`` prints the entity's docstring
    above the inputs, which list the same descriptions."""
    entity.__doc__ = (entity.__doc__ or "").split("\n\n:param ", 1)[0]
    return entity


def markdown_table(inputs: Sequence[FlatInput] = STYLE_TRANSFER_INPUTS) -> str:
    """The README's table of the workflow's inputs."""
    rows = ["| input | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{row.name}` | {row.shown_default} | {row.meaning} |" for row in inputs]
    return "\n".join(rows)


def rewrite_readme_table(readme: Path) -> None:
    """Replace the table of inputs in ``readme`` (from its header row to the blank line after it)."""
    text = readme.read_text()
    start = text.index("| input | default | meaning |")
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + markdown_table() + text[end:])


if __name__ == "__main__":  # python -m workflows.option_inputs [README.md]: print the table, or rewrite it there
    if len(sys.argv) > 1:
        rewrite_readme_table(Path(sys.argv[1]))
    else:
        print(markdown_table())
