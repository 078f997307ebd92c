"""Per-upload options from S3 user metadata (``x-amz-meta-nst-*``): the parsing rule, its agreement with the
workflow's own checks, and the whole path through moto's S3 server and the real FlyteRemote to the fake flyteadmin.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from flyteidl.admin import execution_pb2
from hypothesis import given
from hypothesis import strategies as st

from lambda_trigger import options
from lambda_trigger.options import CONTROLS, KEYS, MetadataError, UploadOptions, parse_metadata
from lambda_trigger.settings import Settings
from tests.fakes import BUCKET, StatusServer, load_event

SETTINGS = Settings(allowed_buckets=(BUCKET, "nst-shared"))
DEFAULT_STYLE = f"s3://{BUCKET}/styles/default.jpg"


def parsed(**metadata: str) -> UploadOptions:
    return parse_metadata({key.replace("_", "-"): value for key, value in metadata.items()}, SETTINGS)


# --------------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("key", "value", "inputs"),
    [
        ("nst-preserve-colors", "none", {"preserve_colors": "none"}),
        ("nst-preserve-colors", "Luminance", {"preserve_colors": "luminance"}),
        ("nst-preserve-colors", " histogram ", {"preserve_colors": "histogram"}),
        ("nst-mode", "Preview", {"mode": "preview"}),
        ("nst-style-scale", "0.25", {"style_scale": 0.25}),
        ("nst-style-scale", "1.5", {"style_scale": 1.5}),
        ("nst-style-scale", "4", {"style_scale": 4.0}),
        ("nst-style-strength", "0", {"style_strength": 0.0}),
        ("nst-style-strength", "2.5", {"style_strength": 2.5}),
        ("nst-seed", "0", {"seed": 0}),
        ("nst-seed", "7", {"seed": 7}),
        ("nst-seed", str(2**63 - 1), {"seed": 2**63 - 1}),
        ("nst-init-image", "content", {"init_image": "content"}),
        ("nst-init-image", "NOISE", {"init_image": "noise"}),
        ("nst-init-image", f"s3://{BUCKET}/starts/a b.png", {"init_image": f"s3://{BUCKET}/starts/a b.png"}),
        ("nst-init-image", "s3://nst-shared/x.jpg", {"init_image": "s3://nst-shared/x.jpg"}),
        ("nst-style-masks", f" s3://{BUCKET}/masks/sky.png ", {"style_masks": [f"s3://{BUCKET}/masks/sky.png"]}),
        ("nst-preserve-mask", f"s3://{BUCKET}/masks/face.png", {"preserve_mask": f"s3://{BUCKET}/masks/face.png"}),
        ("nst-preserve-strength", "25", {"preserve_strength": 25.0}),
        ("nst-output-format", "TIFF16", {"output_format": "tiff16"}),
        ("nst-jpeg-quality", "75", {"jpeg_quality": 75}),
        ("nst-keep-gps", "True", {"keep_gps": True}),
        ("nst-keep-gps", "false", {"keep_gps": False}),
    ],
)
def test_each_key_sets_its_workflow_input(key: str, value: str, inputs: dict[str, Any]) -> None:
    assert parse_metadata({key: value}, SETTINGS) == UploadOptions(inputs=inputs)


@pytest.mark.parametrize(
    ("value", "styles", "weights"),
    [
        ("monet", ("monet",), None),
        ("monet,hokusai", ("monet", "hokusai"), None),
        ("monet:0.7,hokusai:0.3", ("monet", "hokusai"), [0.7, 0.3]),
        (" monet : 2 , Nuit étoilée+1 : 0 ", ("monet", "Nuit étoilée+1"), [2.0, 0.0]),
        ("monet:1", ("monet",), [1.0]),
    ],
)
def test_nst_styles_names_the_styles_in_order_with_their_weights(value, styles, weights) -> None:
    result = parse_metadata({"nst-styles": value}, SETTINGS)
    assert result.styles == styles
    assert result.inputs == ({"style_blend_weights": weights} if weights else {})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("nst-preserve-colors", "vivid", "must be one of none, luminance, histogram"),
        ("nst-style-scale", "0.2", "must be between 0.25 and 4"),
        ("nst-style-scale", "4.01", "must be between 0.25 and 4"),
        ("nst-style-scale", "nan", "must be a finite number"),
        ("nst-style-scale", "big", "is not a number"),
        ("nst-style-strength", "-1", "must be between 0 and 100"),
        ("nst-style-strength", "1e300", "must be between 0 and 100"),
        ("nst-style-strength", "inf", "must be a finite number"),
        ("nst-seed", "-1", "must be a whole number from 0 to 9223372036854775807"),
        ("nst-seed", "1.5", "must be a whole number from 0 to"),
        ("nst-seed", "\uff17", "must be a whole number from 0 to"),  # a fullwidth 7: a digit, not ASCII
        ("nst-seed", str(2**63), "must be a whole number from 0 to"),
        ("nst-seed", str(2**64), "must be a whole number from 0 to 9223372036854775807"),
        (
            "nst-init-image",
            "https://example.com/x.png",
            "must be content, noise, preview or an s3:// URI in NST_ALLOWED",
        ),
        ("nst-init-image", "s3://someone-else/x.png", "bucket 'someone-else' is not in NST_ALLOWED_BUCKETS"),
        ("nst-init-image", f"s3://{BUCKET}/", "names a bucket or folder, not an object"),
        ("nst-styles", "monet:abc", "weight 'abc' is not a number"),
        ("nst-styles", "monet:-1,hokusai:2", "weight '-1' must be a number between 0 and 1e+06"),
        ("nst-styles", "monet:nan", "weight 'nan' must be a number between 0 and 1e+06"),
        ("nst-styles", "monet:1e308,hokusai:1e308", "weight '1e308' must be a number between 0 and 1e+06"),
        ("nst-styles", "monet:0.5,hokusai", "give a weight to every style or to none"),
        ("nst-styles", "monet:0,hokusai:0", "at least one weight must be above 0"),
        ("nst-styles", "impressionists/monet", "style name 'impressionists/monet' must be a single folder name"),
        ("nst-styles", "..", "style name '..' must be a single folder name"),
        ("nst-styles", "monet,monet", "style 'monet' is named twice"),
        ("nst-styles", "monet,,hokusai", "a style name is empty"),
        ("nst-styles", ",".join(f"s{index}" for index in range(9)), "names 9 styles; at most 8"),
        ("nst-seed", "  ", "is empty"),
        ("nst-style-masks", "s3://someone-else/m.png", "bucket 'someone-else' is not in NST_ALLOWED_BUCKETS"),
        ("nst-style-masks", f"https://{BUCKET}/m.png", "must be an s3:// URI in NST_ALLOWED_BUCKETS"),
        ("nst-style-masks", f"s3://{BUCKET}/m.png,s3://{BUCKET}/", "names a bucket or folder, not an object"),
        ("nst-style-masks", f"s3://{BUCKET}/a.png,s3://{BUCKET}/b.png", "gives 2 mask(s) and the upload's folder"),
        ("nst-preserve-mask", "file:///etc/passwd", "must be an s3:// URI in NST_ALLOWED_BUCKETS"),
        ("nst-preserve-strength", "0.5", "must be between 1 and 1000"),
        ("nst-output-format", "webp", "must be one of png8, png16, tiff16, jpeg"),
        ("nst-jpeg-quality", "49", "must be a whole number from 50 to 100"),
        ("nst-jpeg-quality", "90.5", "must be a whole number from 50 to 100"),
        ("nst-keep-gps", "yes", "must be true or false"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_and_the_value(key: str, value: str, reason: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata({key: value}, SETTINGS)
    message = str(caught.value)
    assert message.startswith(f"metadata {key}={value!r}: ") and reason in message
    assert message.endswith(f"(x-amz-meta-{key})") and message.isprintable()


def test_style_masks_come_one_per_named_style_and_replace_the_blend_weights() -> None:
    masks = f"s3://{BUCKET}/m/left.png,s3://{BUCKET}/m/right.png"
    both = parse_metadata({"nst-styles": "monet,hokusai", "nst-style-masks": masks}, SETTINGS)
    assert both.styles == ("monet", "hokusai")
    assert both.inputs == {"style_masks": [f"s3://{BUCKET}/m/left.png", f"s3://{BUCKET}/m/right.png"]}
    with pytest.raises(MetadataError, match=r"gives 2 mask\(s\) and nst-styles names 3 style\(s\)"):
        parse_metadata({"nst-styles": "monet,hokusai,klimt", "nst-style-masks": masks}, SETTINGS)
    with pytest.raises(MetadataError, match="each style has its own region: leave the weights out of nst-styles"):
        parse_metadata({"nst-styles": "monet:0.7,hokusai:0.3", "nst-style-masks": masks}, SETTINGS)


def test_a_value_with_a_line_break_stays_on_one_line() -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata({"nst-preserve-colors": "lumi\nnance"}, SETTINGS)
    assert "\n" not in str(caught.value) and "'lumi\\nnance'" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("nst-epochs", ""),  # a deployment setting (NST_EPOCHS), not an uploader's
        ("nst_seed", "did you mean nst-seed? "),
        ("nst-style-scales", "did you mean nst-style-scale? "),
        ("nst-preserve-colours", "did you mean nst-preserve-colors? "),
    ],
)
def test_an_unknown_nst_key_fails_naming_it_and_the_known_keys(key: str, hint: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata({key: "5"}, SETTINGS)
    assert str(caught.value) == (
        f"unknown metadata key {key} (value '5'): {hint}the nst- keys are nst-styles, nst-preserve-colors, "
        "nst-style-scale, nst-style-strength, nst-seed, nst-init-image, nst-mode, nst-network, nst-style-masks, "
        "nst-preserve-mask, nst-preserve-strength, nst-output-format, nst-jpeg-quality, nst-keep-gps, nst-max-dim"
    )


def test_keys_are_compared_in_lower_case_and_other_metadata_is_ignored() -> None:
    """S3 stores user metadata keys in lower case; other stores may not, so the trigger lowers them itself."""
    result = parse_metadata({"NST-Seed": "7", "Nst-Styles": "Monet", "owner": "x", "nstx": "y"}, SETTINGS)
    assert result == UploadOptions(styles=("Monet",), inputs={"seed": 7})  # style names keep their case
    with pytest.raises(MetadataError, match="metadata nst-seed='2': given twice \\(also '1'\\)"):
        parse_metadata({"nst-seed": "1", "NST-SEED": "2"}, SETTINGS)
    assert parse_metadata({}, SETTINGS) == UploadOptions()


# --------------------------------------------------------------------------------------------------- one source


def test_the_bounds_are_the_workflows() -> None:
    """The Lambda package cannot import workflows/ (no TensorFlow there); this is what keeps its copy honest."""
    from workflows.engine import options as workflow

    assert options.PRESERVE_COLORS == workflow.PRESERVE_COLORS
    assert options.INIT_IMAGES == workflow.INIT_IMAGES
    assert options.MODES == workflow.MODES
    assert options.NETWORKS == workflow.NETWORKS
    assert options.STYLE_SCALE_RANGE == workflow.STYLE_SCALE_RANGE
    assert options.BLEND_WEIGHT_RANGE == workflow.BLEND_WEIGHT_RANGE
    # every number an upload may set has the workflow's range, and no numeric control goes without one
    assert {name: workflow.NUMERIC_RANGES[name] for name in options.RANGES} == options.RANGES
    numeric = {
        control.input for control in CONTROLS.values() if options.WORKFLOW_INPUTS[control.input] in ("int", "float")
    }
    assert numeric == set(options.RANGES)
    fields = {field.name for field in dataclasses.fields(workflow.StyleOptions)}
    images = {name for name, kind in options.WORKFLOW_INPUTS.items() if kind in ("file", "optional file", "files")}
    assert {control.input for control in CONTROLS.values()} - images | {"style_blend_weights"} <= fields


def test_nst_max_dim_only_lowers_the_deployments_ceiling() -> None:
    """max_dim sets what a run costs: an upload may ask for less than the deployment's NST_MAX_DIM (unset: the
    workflow's default), never more, and never below the workflow's lower bound."""
    from workflows.engine.options import MAX_DIM_RANGE, StyleOptions

    assert StyleOptions().max_dim == options.DEFAULT_MAX_DIM
    assert options.MAX_DIM_RANGE == MAX_DIM_RANGE
    low = MAX_DIM_RANGE[0]
    capped = dataclasses.replace(SETTINGS, max_dim=256)
    for settings, ceiling in ((SETTINGS, options.DEFAULT_MAX_DIM), (capped, 256)):
        for value in (str(low), " 100 ", str(ceiling)):
            max_dim = parse_metadata({"nst-max-dim": value}, settings).inputs["max_dim"]
            assert max_dim == int(value) and StyleOptions(max_dim=max_dim).max_dim == max_dim
        for value in (str(low - 1), str(ceiling + 1), "4096", "0", "-64", "64.0", "1e3", "abc", "\uff11\uff10\uff10"):
            with pytest.raises(MetadataError) as refused:
                parse_metadata({"nst-max-dim": value}, settings)
            assert f"metadata nst-max-dim={value!r}" in str(refused.value).replace('"', "'")
            assert f"from {low} to {ceiling}" in str(refused.value)


def test_nst_max_dim_is_sent_instead_of_the_deployments_max_dim(remote, flyteadmin, s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/monet/beach.jpg", Body=b"7", Metadata={"nst-max-dim": "64"})
    remote(NST_MAX_DIM="128")(load_event("s3_put.json"))
    (request,) = flyteadmin.servicer.create_requests
    assert sent_inputs(request)["max_dim"] == 64


#: Values around every bound, for every key: the trigger accepts exactly what the workflow accepts (what the
#: workflow refuses fails at the trigger, naming the key, not in a task later; nothing it takes is refused early).
PROBES = {
    "nst-preserve-colors": ["none", "luminance", "histogram", "vivid", "None "],
    "nst-mode": ["full", "preview", "Preview", "quick"],
    "nst-style-scale": ["0.25", "0.2499", "4", "4.0001", "1", "nan", "-inf", "0"],
    "nst-style-strength": ["0", "-0.0001", "100", "100.0001", "1e300", "1e308", "inf", "nan", "3"],
    "nst-seed": ["0", "1", "-1", "123456789", str(2**63 - 1), str(2**63), str(2**64)],
    "nst-init-image": ["content", "noise", "preview", f"s3://{BUCKET}/x.png", " "],
    "nst-preserve-strength": ["1", "0.9999", "1000", "1000.0001", "10", "nan"],
    "nst-output-format": ["png8", "png16", "tiff16", "jpeg", "JPEG", "webp", "png"],
    "nst-jpeg-quality": ["50", "49", "100", "101", "92", "0"],
    "nst-styles": [
        "a:1,b:0",
        "a:0,b:0",
        "a:-1,b:2",
        "a:inf",
        "a:1e-300,b:1e-300",
        "a:1e6,b:1e6",
        "a:1000000.1",
        "a:1e308,b:1e308",
    ],  # fmt: skip
}


def workflow_value(key: str, value: str) -> Any:
    """The raw metadata value as the workflow input's Python type (what a pyflyte run would hand StyleOptions)."""
    if key == "nst-styles":
        return tuple(float(part.partition(":")[2]) for part in value.split(","))
    if key in ("nst-seed", "nst-jpeg-quality"):
        return int(value)
    if key in ("nst-style-scale", "nst-style-strength", "nst-preserve-strength"):
        return float(value)
    return value.strip().lower()  # the choices: the trigger reads them in any case and spacing


@pytest.mark.parametrize(("key", "value"), [(key, value) for key, values in PROBES.items() for value in values])
def test_the_trigger_and_the_workflow_agree_on_every_bound(key: str, value: str) -> None:
    from workflows.engine.options import OptionError as WorkflowOptionError
    from workflows.engine.options import StyleOptions

    name = "style_blend_weights" if key == "nst-styles" else CONTROLS[key].input
    try:
        StyleOptions(**{name: workflow_value(key, value)})
        workflow_accepts = True
    except WorkflowOptionError:
        workflow_accepts = False
    try:
        sent = parse_metadata({key: value}, SETTINGS).inputs.get(name)
        trigger_accepts = True
    except MetadataError:
        trigger_accepts = False
    assert trigger_accepts == workflow_accepts, (
        f"the trigger {'accepts' if trigger_accepts else 'refuses'} {key}={value!r}; the workflow "
        f"{'accepts' if workflow_accepts else 'refuses'} {name}={workflow_value(key, value)!r}"
    )
    if trigger_accepts and sent is not None:  # and what it sends is what the workflow accepts
        StyleOptions(**{name: tuple(sent) if isinstance(sent, list) else sent})


#: Any number, as Python writes it: ints of any size, floats from subnormal to 1e308, infinities and NaN.
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.floats(0, 2e6))


def agree(key: str, text: str, name: str, value: Any) -> None:
    """The trigger accepts ``key=text`` exactly when StyleOptions accepts ``name=value``, and sends ``value``."""
    from workflows.engine.options import OptionError as WorkflowOptionError
    from workflows.engine.options import StyleOptions

    try:
        StyleOptions(**{name: value})
        workflow_accepts = True
    except WorkflowOptionError:
        workflow_accepts = False
    try:
        sent = parse_metadata({key: text}, SETTINGS).inputs.get(name)
    except MetadataError:
        assert not workflow_accepts, f"the trigger refuses {key}={text!r}; the workflow accepts {name}={value!r}"
        return
    assert workflow_accepts, f"the trigger accepts {key}={text!r}; the workflow refuses {name}={value!r}"
    assert sent == (list(value) if isinstance(value, tuple) else value)


@given(st.sampled_from(["nst-style-scale", "nst-style-strength", "nst-seed"]), NUMBERS)
def test_any_number_the_trigger_accepts_the_workflow_accepts_and_the_reverse(key: str, number: float) -> None:
    """What pyflyte would hand StyleOptions: a float for a float input; the number itself for seed (a float is
    refused there, by both)."""
    name = CONTROLS[key].input
    value = number if options.WORKFLOW_INPUTS[name] == "int" else float(number)
    agree(key, repr(number), name, value)


@given(st.lists(NUMBERS, min_size=1, max_size=options.MAX_STYLES))
def test_any_blend_weights_the_trigger_accepts_the_workflow_accepts_and_the_reverse(weights: list[float]) -> None:
    text = ",".join(f"style{index}:{weight!r}" for index, weight in enumerate(weights))
    agree("nst-styles", text, "style_blend_weights", tuple(float(weight) for weight in weights))


def test_every_key_is_documented_in_the_readme_and_in_make_devs_help() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for key in KEYS:
        assert f"`{key}`" in readme, key
    from devstack.__main__ import METADATA_HELP

    assert all(key in METADATA_HELP for key in ("nst-styles", "nst-preserve-colors", "nst-seed"))


# --------------------------------------------------------------------------------------------------- end to end


def plain(literal: Any) -> Any:
    """A flyteidl literal as a plain value: blob URIs, strings, numbers, lists."""
    if literal.HasField("collection"):
        return [plain(item) for item in literal.collection.literals]
    scalar = literal.scalar
    if scalar.HasField("blob"):
        return scalar.blob.uri
    primitive = scalar.primitive
    return getattr(primitive, primitive.WhichOneof("value"))


def sent_inputs(request: execution_pb2.ExecutionCreateRequest) -> dict[str, Any]:
    return {name: plain(literal) for name, literal in request.inputs.literals.items()}


@pytest.fixture
def remote(handler, flyteadmin, flyte_env, s3):
    flyte_env(flyteadmin.endpoint)
    for key in ("styles/monet.jpg", "styles/hokusai.png", "styles/default.jpg"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"style")

    def start(**env: str):
        return handler(**{"NST_STYLE_URI": DEFAULT_STYLE, **env})

    return start


def test_an_upload_with_metadata_becomes_an_execution_with_those_inputs(remote, flyteadmin, s3, tmp_path) -> None:
    """boto3's upload_file with ExtraArgs={"Metadata": ...}, as the README shows, through moto's S3 server."""
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(b"7")  # the fixture event's ETag is this body's MD5
    metadata = {
        "nst-preserve-colors": "luminance",
        "nst-style-scale": "1.5",
        "nst-styles": "monet:0.7,hokusai:0.3",
        "nst-seed": "7",
        "nst-style-strength": "0.5",
        "nst-init-image": "noise",
    }
    s3.upload_file(str(photo), BUCKET, "uploads/beach.jpg", ExtraArgs={"Metadata": metadata})
    event = load_event("s3_put.json")
    event["Records"][0]["s3"]["object"]["key"] = "uploads/beach.jpg"  # no style folder: nst-styles names them
    (launched,) = remote()(event)["launched"]
    (request,) = flyteadmin.servicer.create_requests
    expected = {
        "content_img": f"s3://{BUCKET}/uploads/beach.jpg",
        "style_img": f"s3://{BUCKET}/styles/monet.jpg",
        "more_styles": [f"s3://{BUCKET}/styles/hokusai.png"],
        "style_blend_weights": [0.7, 0.3],
        "output_uri": f"s3://{BUCKET}/stylized/beach.jpg.png",
        "preserve_colors": "luminance",
        "style_scale": 1.5,
        "seed": 7,
        "style_strength": 0.5,
        "init_image": "noise",
    }
    assert sent_inputs(request) == expected
    assert launched["inputs"] == expected


def test_the_launched_log_line_shows_the_options(remote, s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/monet/beach.jpg", Body=b"7", Metadata={"nst-seed": "3"})
    handle = remote()
    handle(load_event("s3_put.json"))
    (line,) = handle.record_logs()
    assert line["outcome"] == "launched" and line["options"] == {"seed": 3}
    assert line["style_img"] == f"s3://{BUCKET}/styles/monet.jpg"  # no nst-styles: the folder's style


def test_without_nst_metadata_nothing_extra_is_sent(remote, flyteadmin, s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/monet/beach.jpg", Body=b"7", Metadata={"camera": "x100"})
    remote()(load_event("s3_put.json"))
    (request,) = flyteadmin.servicer.create_requests
    assert set(request.inputs.literals) == {"content_img", "style_img", "output_uri"}  # the launch plan's defaults


def sqs_event(*uploads: tuple[str, str]) -> dict[str, Any]:
    """One SQS message per (message id, key)."""
    messages = []
    for index, (message_id, key) in enumerate(uploads):
        record = {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": BUCKET},
                "object": {"key": key, "size": 5, "eTag": f"e{index}", "sequencer": "1"},
            },
        }
        body = json.dumps({"Records": [record]})
        messages.append({"messageId": message_id, "body": body, "eventSource": "aws:sqs", "receiptHandle": "r"})
    return {"Records": messages}


def test_bad_metadata_fails_only_its_record_and_nothing_is_lost(remote, flyteadmin, s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/good.jpg", Body=b"a", Metadata={"nst-seed": "1"})
    s3.put_object(Bucket=BUCKET, Key="uploads/bad.jpg", Body=b"b", Metadata={"nst-style-scale": "9"})
    s3.put_object(Bucket=BUCKET, Key="uploads/typo.jpg", Body=b"c", Metadata={"nst-sead": "1"})
    s3.put_object(Bucket=BUCKET, Key="uploads/gone-style.jpg", Body=b"d", Metadata={"nst-styles": "monet,vangogh"})
    result = remote()(
        sqs_event(("m1", "uploads/good.jpg"), ("m2", "uploads/bad.jpg"), ("m3", "uploads/typo.jpg"), ("m4", "uploads/gone-style.jpg"))
    )  # fmt: skip
    assert [item["message_id"] for item in result["launched"]] == ["m1"]
    assert result["failed"] == []  # permanent errors: refused once, none redelivered
    errors = {item["message_id"]: item["error"] for item in result["refused"]}
    assert errors["m2"] == (
        f"metadata nst-style-scale='9': must be between 0.25 and 4 (x-amz-meta-nst-style-scale) "
        f"(s3://{BUCKET}/uploads/bad.jpg)"
    )
    assert errors["m3"].startswith("unknown metadata key nst-sead (value '1'): did you mean nst-seed? ")
    assert errors["m4"].startswith("style 'vangogh' not found: tried ")
    assert result["batchItemFailures"] == []
    assert len(flyteadmin.servicer.executions) == 1


# --------------------------------------------------------------------------------------------------- HeadObject


def test_a_missing_upload_is_skipped_with_the_reason(handler, flyteadmin, flyte_env, s3) -> None:
    """Deleted between its event and the trigger: nothing to stylize, now or on a retry, so a skip, not a failure."""
    flyte_env(flyteadmin.endpoint)
    result = handler(stage_uploads=False, NST_STYLE_URI=DEFAULT_STYLE)(sqs_event(("m1", "uploads/deleted.jpg")))
    (skipped,) = result["skipped"]
    assert skipped["reason"] == f"upload s3://{BUCKET}/uploads/deleted.jpg no longer exists (deleted after its event?)"
    assert result["batchItemFailures"] == [] and not flyteadmin.servicer.calls


def test_a_forbidden_head_object_names_the_permission_and_each_record_tries(
    handler, flyteadmin, flyte_env, aws, monkeypatch
) -> None:
    """403 is this object's answer, not an outage: it does not stop the other records' reads."""
    forbidding = StatusServer(403)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", forbidding.url)
    flyte_env(flyteadmin.endpoint)
    try:
        result = handler(stage_uploads=False, NST_STYLE_URI=DEFAULT_STYLE)(
            sqs_event(("m1", "uploads/a.jpg"), ("m2", "uploads/b.jpg"))
        )
    finally:
        forbidding.stop()
    assert [item["error"] for item in result["failed"]] == [
        f"reading the upload's metadata (HeadObject) failed at s3://{BUCKET}/uploads/{name}.jpg: 403 "
        "(the trigger's role needs s3:GetObject on the upload prefix)"
        for name in ("a", "b")
    ]
    # per record: its HeadObject, then its failed status record's PutObject (refused too: logged, outcome unchanged)
    assert forbidding.requests == 4 and not flyteadmin.servicer.calls


def test_a_failing_s3_is_found_down_once(handler, flyteadmin, flyte_env, aws, monkeypatch) -> None:
    failing = StatusServer(500)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", failing.url)
    flyte_env(flyteadmin.endpoint)
    try:
        result = handler(stage_uploads=False, NST_STYLE_URI=DEFAULT_STYLE, NST_CONNECT_TIMEOUT_S="0.5")(
            sqs_event(("m1", "uploads/a.jpg"), ("m2", "uploads/b.jpg"), ("m3", "uploads/c.jpg"))
        )
    finally:
        failing.stop()
    first, *rest = [item["error"] for item in result["failed"]]
    where = f"s3://{BUCKET}/uploads/a.jpg"
    assert first.startswith(f"reading the upload's metadata (HeadObject) failed at {where}: ")
    assert rest == [f"not attempted: S3 failed earlier in this invocation: 500 at {where}"] * 2
    assert failing.requests <= 2 and len(result["batchItemFailures"]) == 3  # one call and its one retry


def test_exactly_one_head_object_per_upload(remote, s3) -> None:
    """Counted on the trigger's own S3 client (botocore's event hook on the real calls to moto)."""
    s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="uploads/b.jpg", Body=b"b", Metadata={"nst-styles": "hokusai,monet"})
    handle = remote()
    heads: list[str] = []
    client = boto3.client("s3")  # in the store the trigger built, the one for metadata and style lookups
    client.meta.events.register(
        "before-parameter-build.s3.HeadObject", lambda params, **kwargs: heads.append(params["Key"])
    )
    handle.module.TRIGGER.metadata._store._client = client
    result = handle(sqs_event(("m1", "uploads/a.jpg"), ("m2", "uploads/b.jpg")))
    assert len(result["launched"]) == 2
    assert heads.count("uploads/a.jpg") == 1 and heads.count("uploads/b.jpg") == 1
    # the uploads once each; hokusai found at its third extension (.png), monet at its first
    assert heads == ["uploads/a.jpg", "uploads/b.jpg", "styles/hokusai.jpg", "styles/hokusai.jpeg",
                     "styles/hokusai.png", "styles/monet.jpg"]  # fmt: skip


@given(
    st.dictionaries(
        st.one_of(st.sampled_from([*KEYS, "nst-epochs", "NST-Seed", "owner"]), st.text(max_size=20)),
        st.one_of(st.text(max_size=40), st.from_regex(r"[a-z0-9.:, -]{0,30}", fullmatch=True)),
        max_size=6,
    )
)
def test_any_metadata_gives_options_or_one_line_naming_a_key(metadata: dict[str, str]) -> None:
    """Metadata is data from outside: whatever it holds, the result is options the workflow accepts, or an
    MetadataError of one printable line that names an nst- key; never another exception."""
    from workflows.engine.options import StyleOptions

    try:
        result = parse_metadata(metadata, SETTINGS)
    except MetadataError as exc:
        message = str(exc)
        assert message.isprintable() and (
            message.startswith("metadata nst-") or message.startswith("unknown metadata key")
        )
        return
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in result.inputs.items()}
    StyleOptions(**values)
    assert len(result.styles) <= options.MAX_STYLES
