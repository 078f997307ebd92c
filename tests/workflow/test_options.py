"""One options object, one set of defaults: the workflow, the engine, the trigger's contract stub and the README
agree; every option is checked with a one-line reason; the stage plan and the memory model behind it."""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import typing
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.trigger import stub_workflow
from workflows.engine import memory, stages
from workflows.engine.options import (
    BLEND_WEIGHT_RANGE,
    DEFAULTS,
    NUMERIC_RANGES,
    OptionError,
    StyleOptions,
    range_text,
)
from workflows.engine.transfer import StyleTransfer
from workflows.neural_style_transfer import neural_style_transfer_wf
from workflows.option_inputs import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
WORKFLOW_DEFAULTS = neural_style_transfer_wf.python_interface.default_inputs_as_kwargs
OPTION_INPUTS = [f.name for f in dataclasses.fields(StyleOptions) if f.name in WORKFLOW_DEFAULTS]


def test_every_workflow_option_input_takes_its_default_from_the_options_object() -> None:
    assert set(OPTION_INPUTS) == {f.name for f in dataclasses.fields(StyleOptions)} - {"lbfgs_history"}
    for name in OPTION_INPUTS:
        assert _plain(WORKFLOW_DEFAULTS[name]) == _as_input(getattr(DEFAULTS, name)), name


def _as_input(value: object) -> object:
    """A tuple option is a list input (Flyte has no tuples)."""
    return list(value) if isinstance(value, tuple) else value


def _plain(value: object) -> object:
    """An enum input's default as the option's plain string."""
    return value.value if isinstance(value, enum.Enum) else value


def test_the_engine_defaults_are_the_workflow_defaults() -> None:
    assert StyleTransfer.__init__.__defaults__[0] is DEFAULTS, "a bare engine optimises as the workflow does"
    assert DEFAULTS.optimizer == "lbfgs" and DEFAULTS.precision == "auto"


def test_the_trigger_contract_stub_has_the_same_defaults() -> None:
    stub = stub_workflow.neural_style_transfer_wf.python_interface.default_inputs_as_kwargs
    for name, value in stub.items():
        if name in OPTION_INPUTS:
            assert _plain(value) == _as_input(getattr(DEFAULTS, name)), name
        else:
            assert value == WORKFLOW_DEFAULTS[name], name


def test_the_readme_table_is_the_input_table() -> None:
    """The README's table of inputs is generated from the one table (``markdown_table``), defaults and meanings."""
    assert markdown_table() in README.read_text(), "regenerate it: python -m workflows.option_inputs README.md"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs=0: must be an integer from 1 to 1000000"),
        ({"epochs": True}, "epochs=True: must be an integer from 1 to 1000000"),
        ({"steps_per_epoch": -3}, "steps_per_epoch=-3: must be an integer from 1 to 1000000"),
        ({"epochs_per_task": -1}, "epochs_per_task=-1: must be an integer from 0 to 1000000"),
        ({"lbfgs_history": 0}, "lbfgs_history=0: must be an integer from 1 to 1000"),
        ({"max_dim": 8}, "max_dim=8: must be an integer from 32 to 4096"),
        ({"max_dim": 5000}, "max_dim=5000: must be an integer from 32 to 4096"),
        ({"style_weight": math.nan}, "style_weight=nan: must be a number from 0 to 1000"),
        ({"content_weight": math.inf}, "content_weight=inf: must be a number from 0 to 1e10"),
        ({"total_variation_weight": -1.0}, "total_variation_weight=-1.0: must be a number from 0 to 1e10"),
        # the three: each failed later, naming nothing (int64 overflow, an inf sum, an inf loss)
        ({"seed": 2**64}, "seed=18446744073709551616: must be an integer from 0 to 9223372036854775807"),
        ({"seed": 1.0}, "seed=1.0: must be an integer from 0 to 9223372036854775807"),
        (
            {"style_blend_weights": (1e308, 1e308)},
            r"style_blend_weights=\[1e\+308, 1e\+308\]: every weight must be a number from 0 to 1e6",
        ),
        ({"style_strength": 1e300}, r"style_strength=1e\+300: must be a number from 0 to 100"),
        ({"optimizer": "sgd"}, "optimizer='sgd': must be one of lbfgs, adam"),
        ({"precision": "float16"}, "precision='float16': must be one of auto, float32, bfloat16"),
        ({"optimizer": "adam", "ema": 1.0}, r"ema=1.0: must be in \[0, 1\)"),
        ({"optimizer": "adam", "ema": math.nan}, r"ema=nan: must be in \[0, 1\)"),
        ({"ema": 0.9}, "ema=0.9: iterate averaging applies to optimizer='adam' only"),
    ],
)
def test_a_bad_option_is_refused_in_one_line_naming_the_input(changes: dict, message: str) -> None:
    with pytest.raises(OptionError, match=f"^{message}$"):
        dataclasses.replace(DEFAULTS, **changes)


def test_every_numeric_option_has_one_range_taken_at_its_ends_and_refused_beyond() -> None:
    """Every int and float field is bounded by ``NUMERIC_RANGES`` (ema is the half-open [0, 1)), and the refusal names the field, value and range."""
    hints = typing.get_type_hints(StyleOptions)
    numeric = {name for name, hint in hints.items() if hint in (int, float)}
    assert numeric - {"ema"} == set(NUMERIC_RANGES)
    for name, (low, high) in NUMERIC_RANGES.items():
        assert getattr(StyleOptions(**{name: low}), name) == low
        assert getattr(StyleOptions(**{name: high}), name) == high
        beyond = (
            (low - 1, high + 1)
            if hints[name] is int
            else (math.nextafter(low, -math.inf), math.nextafter(high, math.inf))
        )
        for value in beyond:
            with pytest.raises(
                OptionError, match=rf"^{name}={re.escape(repr(value))}: must be .* from {range_text((low, high))}$"
            ):
                StyleOptions(**{name: value})


def test_the_largest_blend_weights_normalise_to_finite_equal_shares() -> None:
    """Two weights of 1e308 summed to inf and normalised to 0: the run had no style. At the bound they cannot."""
    high = BLEND_WEIGHT_RANGE[1]
    shares = StyleOptions(style_blend_weights=(high,) * 64).blend_weights(64)
    assert len(set(shares)) == 1 and 0 < shares[0] < 1


def test_bad_options_fail_before_any_download(write_image) -> None:
    """check_inputs refuses them first, before the input policy or any download looks at the images."""
    unreachable = f"http://127.0.0.1:{free_port()}/photo.jpg"  # the policy would refuse it, and nothing listens there
    style = write_image("style.png", 32, 32, style=True)
    with pytest.raises(OptionError, match="total_variation_weight=-1.0: must be a number from 0 to 1e10$"):
        neural_style_transfer_wf(content_img=unreachable, style_img=str(style), total_variation_weight=-1.0)


def test_options_round_trip_through_flyte_unchanged() -> None:
    from flytekit.core.context_manager import FlyteContextManager
    from flytekit.core.type_engine import TypeEngine

    options = StyleOptions(epochs=3, optimizer="adam", ema=0.5, pyramid=True, epochs_per_task=2)
    context = FlyteContextManager.current_context()
    literal = TypeEngine.to_literal(context, options, StyleOptions, TypeEngine.to_literal_type(StyleOptions))
    assert TypeEngine.to_python_value(context, literal, StyleOptions) == options


# --- the stage plan and the memory model ---------------------------------------------------------------


def test_a_stage_is_one_task_unless_split() -> None:
    (only,) = stages.plan((384, 512), DEFAULTS).whole
    assert (only.first_epoch, only.stop_epoch, only.node_name) == (0, 5, "optimize-epochs-1-5-of-5")
    split = stages.plan((384, 512), dataclasses.replace(DEFAULTS, epochs_per_task=2)).whole
    assert [(t.first_epoch, t.stop_epoch) for t in split] == [(0, 2), (2, 4), (4, 5)]
    assert [t.node_name for t in split][-1] == "optimize-epoch-5-of-5"
    per_epoch = stages.plan((384, 512), dataclasses.replace(DEFAULTS, epochs_per_task=1)).whole
    assert len(per_epoch) == 5 and {t.memory for t in per_epoch} == {only.memory}
    assert stages.plan((384, 512), dataclasses.replace(DEFAULTS, epochs_per_task=9)).whole == [only]


def test_memory_requests_grow_with_pixels_and_history_and_hold_what_a_step_must() -> None:
    """Independently of the fitted model: a request holds at least the float32 arrays an optimiser keeps per
    pixel (the image, its gradient and, for L-BFGS, two images per curvature pair; for Adam two moments)."""
    sizes = [32 * 24, 512 * 384, 1024 * 768, 2048 * 1536, 4096 * 3072]
    images_kept = {"lbfgs": 2 + 2 * DEFAULTS.lbfgs_history, "adam": 2 + 2}
    for optimizer in ("lbfgs", "adam"):
        requests = [memory.request_bytes(p, optimizer, "auto") for p in sizes]
        assert requests == sorted(requests)
        for pixels, request in zip(sizes, requests):
            assert request >= images_kept[optimizer] * pixels * 3 * 4, (optimizer, pixels)
    assert memory.request_bytes(2048 * 1536, "lbfgs", "float32", lbfgs_history=40) > memory.request_bytes(
        2048 * 1536, "lbfgs", "float32", lbfgs_history=20
    )
    assert memory.quantity(3 * memory.GIB) == "3Gi" and memory.quantity(1280 * memory.MIB) == "1280Mi"


def test_inputs_with_a_fixed_set_of_values_are_enums_so_help_lists_them() -> None:
    inputs = neural_style_transfer_wf.python_interface.inputs
    assert [o.value for o in inputs["optimizer"]] == ["lbfgs", "adam"]
    assert [p.value for p in inputs["precision"]] == ["auto", "float32", "bfloat16"]
    assert [p.value for p in inputs["preserve_colors"]] == ["none", "luminance", "histogram"]
