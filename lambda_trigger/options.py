"""Per-upload creative controls, chosen with S3 user metadata (``x-amz-meta-nst-<name>``), and the workflow inputs
the trigger may send.

The rule (README.md, "Per-upload options"):

* Each upload is read with exactly one HeadObject, in the invocation's budget (``s3.py``). Its user metadata keys
  that start with ``nst-`` are the options; every other key is ignored. Keys are compared in lower case (S3 stores
  them so). An unknown ``nst-`` key or a bad value fails the record with one line naming the key and the value.
* ``nst-styles: monet:0.7,hokusai:0.3`` names the styles, each resolved like a style folder (``styles/<name>.<ext>``),
  the first becoming ``style_img`` and the others ``more_styles``, the numbers ``style_blend_weights`` (all given
  or none: none means equal weights). It takes precedence over the style folder and NST_STYLE_URI: it is the
  more specific choice, made for this one object. The output key still mirrors the upload's path.
* ``nst-init-image`` is ``content``, ``noise``, ``preview`` or an ``s3://`` URI in one of NST_ALLOWED_BUCKETS: the
  workflow downloads it with the task's role, so an uploader must not be able to point that role at any object it
  can read, nor at an https URL of their choosing.
* ``nst-style-masks`` (one per style, in the styles' order) and ``nst-preserve-mask`` are ``s3://`` URIs in
  NST_ALLOWED_BUCKETS for the same reason; masks beside ``nst-styles`` weights, or a count that is not one per style,
  fail the record here, before any launch.
* ``nst-output-format`` also chooses the output key's extension (``rules.in_format``): ``.tiff`` or ``.jpg`` for a
  TIFF or JPEG result.
* Options not given are not sent, so the launch plan's defaults apply. ``epochs`` and ``steps_per_epoch`` stay
  deployment settings (NST_EPOCHS, ...): they set what a run costs, which is the deployment's call, not each
  uploader's. ``nst-max-dim`` may only lower ``max_dim``: the deployment's NST_MAX_DIM (unset: the workflow's
  default) stays the ceiling, for the same reason.

The bounds are the workflow's (``workflows/engine/options.py``, ``StyleOptions``), restated here because the
Lambda package ships without ``workflows``; ``tests/trigger/test_upload_options.py`` imports both and checks, value
by value around every bound, that the trigger sends only what the workflow accepts and refuses all it refuses. Metadata is part of the object: changing it needs a new PUT (or copy),
which has a new ETag or version and sequencer, hence a new execution name.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lambda_trigger.events import UploadRecord, shown
from lambda_trigger.s3 import ObjectStore
from lambda_trigger.settings import WORKFLOW_INT_BOUNDS, Settings

#: Every workflow input the trigger may send, and its kind: ``file`` (a FlyteFile, sent as a URI), ``optional file``
#: (one the workflow may go without), ``files`` (a list of them), ``str``, ``bool``, ``choice`` (a string from
#: :data:`CHOICES`; the workflow may declare it as an Enum of those values, which flytekit fills from the string),
#: ``int``, ``float`` or ``floats`` (a list).
#: ``test_workflow_contract.py`` checks each against the real workflow's interface.
InputKind = Literal["file", "optional file", "files", "str", "bool", "choice", "int", "float", "floats"]
WORKFLOW_INPUTS: dict[str, InputKind] = {
    "content_img": "file",
    "style_img": "file",
    "output_uri": "str",
    "epochs": "int",
    "steps_per_epoch": "int",
    "max_dim": "int",
    "preserve_colors": "choice",
    "style_scale": "float",
    "more_styles": "files",
    "style_blend_weights": "floats",
    "init_image": "str",
    "seed": "int",
    "style_strength": "float",
    "mode": "choice",
    "network": "choice",
    "style_masks": "files",
    "preserve_mask": "optional file",
    "preserve_strength": "float",
    "output_format": "choice",
    "jpeg_quality": "int",
    "keep_gps": "bool",
}

#: The workflow's bounds (StyleOptions' choices and NUMERIC_RANGES), restated for the inputs an upload may set; a
#: test checks them against workflows.engine.options.
PRESERVE_COLORS = ("none", "luminance", "histogram")
INIT_IMAGES = ("content", "noise", "preview")
STYLE_SCALE_RANGE = (0.25, 4.0)
STYLE_STRENGTH_RANGE = (0.0, 100.0)
PRESERVE_STRENGTH_RANGE = (1.0, 1000.0)
JPEG_QUALITY_RANGE = (50, 100)
#: A Flyte integer literal is 64-bit.
SEED_RANGE = (0, 2**63 - 1)
#: Each weight of nst-styles (the workflow's style_blend_weights).
BLEND_WEIGHT_RANGE = (0.0, 1e6)
#: The workflow's range of ``max_dim``; an upload's ``nst-max-dim`` is further capped by :func:`max_dim_ceiling`.
MAX_DIM_RANGE = WORKFLOW_INT_BOUNDS["max_dim"]
#: The workflow's default ``max_dim`` (StyleOptions), the ceiling of ``nst-max-dim`` when NST_MAX_DIM is unset.
DEFAULT_MAX_DIM = 512
#: The range of every number an upload may set, by workflow input.
RANGES = {
    "style_scale": STYLE_SCALE_RANGE,
    "style_strength": STYLE_STRENGTH_RANGE,
    "preserve_strength": PRESERVE_STRENGTH_RANGE,
    "jpeg_quality": JPEG_QUALITY_RANGE,
    "seed": SEED_RANGE,
    "max_dim": MAX_DIM_RANGE,
}
#: The values of each ``choice`` input.
MODES = ("full", "preview")
NETWORKS = ("vgg19", "vgg16")
#: The result's file formats, and the extension each gives the output key (the naming rule, ``rules.py``).
OUTPUT_FORMATS = ("png8", "png16", "tiff16", "jpeg")
CHOICES = {"preserve_colors": PRESERVE_COLORS, "mode": MODES, "network": NETWORKS, "output_format": OUTPUT_FORMATS}
#: Each style costs up to four HeadObjects (one per extension) of the invocation's time.
MAX_STYLES = 8

PREFIX = "nst-"


class MetadataError(ValueError):
    """An ``nst-`` metadata key is unknown or its value is bad; the message is one line naming both."""


@dataclass(frozen=True)
class UploadOptions:
    """What an upload's metadata asks for: styles by name (empty: the folder rule) and workflow inputs."""

    styles: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)  #: preserve_colors, style_scale, ..., style_blend_weights


def _error(key: str, value: str, reason: str) -> MetadataError:
    return MetadataError(f"metadata {key}={shown(value)}: {reason} (x-amz-meta-{key})")


def _choice(allowed: tuple[str, ...]) -> Callable[[str, str, Settings], str]:
    def parse(key: str, value: str, settings: Settings) -> str:
        chosen = value.strip().lower()
        if chosen not in allowed:
            raise _error(key, value, f"must be one of {', '.join(allowed)}")
        return chosen

    return parse


def _number(key: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise _error(key, value, "is not a number") from None
    if not math.isfinite(number):
        raise _error(key, value, "must be a finite number")
    return number


def _in_range(bounds: tuple[float, float]) -> Callable[[str, str, Settings], float]:
    """A number within the workflow's closed range for its input."""
    low, high = bounds

    def parse(key: str, value: str, settings: Settings) -> float:
        number = _number(key, value)
        if not low <= number <= high:
            raise _error(key, value, f"must be between {low:g} and {high:g}")
        return number

    return parse


def _whole_number(bounds: tuple[int, int]) -> Callable[[str, str, Settings], int]:
    """A whole number within the workflow's closed range for its input."""
    low, high = bounds

    def parse(key: str, value: str, settings: Settings) -> int:
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise _error(key, value, f"must be a whole number from {low} to {high}")
        return int(text)

    return parse


def _yes_or_no(key: str, value: str, settings: Settings) -> bool:
    chosen = value.strip().lower()
    if chosen not in ("true", "false"):
        raise _error(key, value, "must be true or false")
    return chosen == "true"


def max_dim_ceiling(settings: Settings) -> int:
    """The largest ``nst-max-dim`` an upload may ask for: the deployment's NST_MAX_DIM, else the workflow's default
    (what a run costs is the deployment's call: an upload may make its run smaller, never bigger)."""
    return settings.max_dim or DEFAULT_MAX_DIM


def _max_dim(key: str, value: str, settings: Settings) -> int:
    text = value.strip()
    low, high = MAX_DIM_RANGE[0], max_dim_ceiling(settings)
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        ceiling = "NST_MAX_DIM" if settings.max_dim else "the workflow's default"
        raise _error(key, value, f"must be a whole number of pixels from {low} to {high} ({ceiling})")
    return int(text)


def _init_image(key: str, value: str, settings: Settings) -> str:
    text = value.strip()
    if text.lower() in INIT_IMAGES:
        return text.lower()
    return _allowed_object(key, value, text, settings, f"must be {', '.join(INIT_IMAGES)} or ")


def _allowed_object(key: str, value: str, uri: str, settings: Settings, expected: str = "must be ") -> str:
    """An ``s3://`` URI of an object in NST_ALLOWED_BUCKETS: the workflow downloads it with the task's role, so an
    uploader must not be able to point that role at any object it can read, nor at an https URL."""
    if not uri.startswith("s3://"):
        raise _error(key, value, f"{expected}an s3:// URI in NST_ALLOWED_BUCKETS")
    bucket, _, object_key = uri[len("s3://") :].partition("/")
    if bucket not in settings.allowed_buckets:
        raise _error(
            key, value, f"bucket {shown(bucket)} is not in NST_ALLOWED_BUCKETS ({', '.join(settings.allowed_buckets)})"
        )
    if not object_key or object_key.endswith("/"):
        raise _error(key, value, f"{shown(uri)} names a bucket or folder, not an object")
    return uri


def _preserve_mask(key: str, value: str, settings: Settings) -> str:
    return _allowed_object(key, value, value.strip(), settings)


def _style_masks(key: str, value: str, settings: Settings) -> list[str]:
    """``s3://bucket/a.png,s3://bucket/b.png``: one mask per style, in the styles' order."""
    uris = [_allowed_object(key, value, part.strip(), settings) for part in value.split(",")]
    if len(uris) > MAX_STYLES:
        raise _error(key, value, f"names {len(uris)} masks; at most {MAX_STYLES}, one per style")
    return uris


@dataclass(frozen=True)
class Control:
    """One ``nst-`` metadata key: the workflow input it sets and how its value is read."""

    key: str
    input: str
    parse: Callable[[str, str, Settings], Any]  #: (key, value, settings) -> the input's value; raises MetadataError
    help: str  #: what the value may be, for the README and ``make dev``'s help


#: The per-upload controls. ``nst-styles`` is read by :func:`_styles` (it sets three inputs and names styles).
CONTROLS: dict[str, Control] = {
    control.key: control
    for control in (
        Control("nst-preserve-colors", "preserve_colors", _choice(PRESERVE_COLORS), " | ".join(PRESERVE_COLORS)),
        Control(
            "nst-style-scale",
            "style_scale",
            _in_range(STYLE_SCALE_RANGE),
            "a number from {:g} to {:g} (bigger: bigger brush strokes)".format(*STYLE_SCALE_RANGE),
        ),
        Control(
            "nst-style-strength",
            "style_strength",
            _in_range(STYLE_STRENGTH_RANGE),
            "a number from {:g} to {:g} (a multiplier on the style weight)".format(*STYLE_STRENGTH_RANGE),
        ),
        Control("nst-seed", "seed", _whole_number(SEED_RANGE), "a whole number from {} to {}".format(*SEED_RANGE)),
        Control(
            "nst-init-image",
            "init_image",
            _init_image,
            "content | noise | preview | s3://<allowed bucket>/key",
        ),
        Control("nst-mode", "mode", _choice(MODES), "full | preview (preview: the instant feed-forward result only)"),
        Control("nst-network", "network", _choice(NETWORKS), "vgg19 | vgg16 (the feature network of the loss)"),
        Control(
            "nst-style-masks",
            "style_masks",
            _style_masks,
            "s3://<allowed bucket>/mask,...: one greyscale mask per style, in nst-styles' order (white: that style)",
        ),
        Control(
            "nst-preserve-mask",
            "preserve_mask",
            _preserve_mask,
            "s3://<allowed bucket>/mask: regions (faces, say) kept close to the photo",
        ),
        Control(
            "nst-preserve-strength",
            "preserve_strength",
            _in_range(PRESERVE_STRENGTH_RANGE),
            "a number from {:g} to {:g} (how strongly the preserve mask's regions hold the photo)".format(
                *PRESERVE_STRENGTH_RANGE
            ),
        ),
        Control(
            "nst-output-format",
            "output_format",
            _choice(OUTPUT_FORMATS),
            " | ".join(OUTPUT_FORMATS) + " (the result's file; tiff16 and jpeg name it .tiff / .jpg)",
        ),
        Control(
            "nst-jpeg-quality",
            "jpeg_quality",
            _whole_number(JPEG_QUALITY_RANGE),
            "a whole number from {} to {} (nst-output-format=jpeg only)".format(*JPEG_QUALITY_RANGE),
        ),
        Control("nst-keep-gps", "keep_gps", _yes_or_no, "true | false (keep the photo's GPS position in the EXIF)"),
        Control(
            "nst-max-dim",
            "max_dim",
            _max_dim,
            f"pixels of the long side, from {MAX_DIM_RANGE[0]} to NST_MAX_DIM (at most: the deployment's ceiling)",
        ),
    )
}
STYLES_KEY = "nst-styles"
KEYS = (STYLES_KEY, *CONTROLS)
#: One line per key, for ``make dev``'s help.
HELP = {
    STYLES_KEY: "name[:weight],...: styles/<name>.<ext>, the first the main one (wins over the folder)",
    **{key: control.help for key, control in CONTROLS.items()},
}


def parse_metadata(metadata: Mapping[str, str], settings: Settings) -> UploadOptions:
    """The options in an upload's user metadata (``x-amz-meta-`` already stripped, as boto3 returns it)."""
    seen: dict[str, str] = {}
    for raw_key, value in metadata.items():
        key = raw_key.strip().lower()
        if not key.startswith((PREFIX, "nst_")):
            continue  # another tool's metadata
        if key not in KEYS:
            raise MetadataError(_unknown(key, value))
        if key in seen:
            raise _error(key, value, f"given twice (also {shown(seen[key])})")
        seen[key] = value
    inputs: dict[str, Any] = {}
    styles: tuple[str, ...] = ()
    for key, value in seen.items():
        if not value.strip():
            raise _error(key, value, "is empty")
        if key == STYLES_KEY:
            styles, weights = _styles(value)
            if weights:
                inputs["style_blend_weights"] = list(weights)
        else:
            control = CONTROLS[key]
            inputs[control.input] = control.parse(key, value, settings)
    _check_masks_fit_the_styles(seen, styles, inputs)
    return UploadOptions(styles=styles, inputs=inputs)


def _check_masks_fit_the_styles(seen: dict[str, str], styles: tuple[str, ...], inputs: dict[str, Any]) -> None:
    """One style mask per style (nst-styles', or the one the folder names), and no blend weights beside them: the
    workflow refuses both, and an upload refused here is not launched at all."""
    masks = inputs.get("style_masks")
    if masks is None:
        return
    key = "nst-style-masks"
    count = len(styles) or 1
    if len(masks) != count:
        named = f"nst-styles names {count}" if styles else "the upload's folder names 1"
        raise _error(key, seen[key], f"gives {len(masks)} mask(s) and {named} style(s): give one mask per style")
    if "style_blend_weights" in inputs:
        raise _error(key, seen[key], "each style has its own region: leave the weights out of nst-styles")


def _unknown(key: str, value: str) -> str:
    guess = difflib.get_close_matches(key.replace("_", "-"), KEYS, n=1, cutoff=0.75)
    hint = f"did you mean {guess[0]}? " if guess else ""
    return f"unknown metadata key {key} (value {shown(value)}): {hint}the nst- keys are {', '.join(KEYS)}"


def _styles(value: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``name[:weight],...``: the names, and their weights (all or none)."""
    key = STYLES_KEY
    names: list[str] = []
    weights: list[float] = []
    for part in value.split(","):
        name, colon, weight = part.strip().rpartition(":")
        if not colon:
            name, weight = weight, ""
        name = name.strip()
        if not name:
            raise _error(key, value, "a style name is empty (the form is name:weight,name:weight or name,name)")
        if "/" in name or name in (".", ".."):
            raise _error(key, value, f"style name {shown(name)} must be a single folder name (no '/', '.' or '..')")
        if name in names:
            raise _error(key, value, f"style {shown(name)} is named twice")
        names.append(name)
        if colon:
            weights.append(_weight(key, value, weight))
    if weights and len(weights) != len(names):
        raise _error(key, value, "give a weight to every style or to none (none: equal weights)")
    if weights and not any(weights):
        raise _error(key, value, "at least one weight must be above 0")
    if len(names) > MAX_STYLES:
        raise _error(key, value, f"names {len(names)} styles; at most {MAX_STYLES}")
    return tuple(names), tuple(weights)


def _weight(key: str, value: str, weight: str) -> float:
    try:
        number = float(weight.strip())
    except ValueError:
        raise _error(key, value, f"weight {shown(weight)} is not a number") from None
    low, high = BLEND_WEIGHT_RANGE
    if not (math.isfinite(number) and low <= number <= high):
        raise _error(key, value, f"weight {shown(weight)} must be a number between {low:g} and {high:g}")
    return number


# --------------------------------------------------------------------------------------------------- reading


class UploadGone(Exception):
    """The upload no longer exists when its record is handled; the message is one line."""


class MetadataReader(Protocol):
    def read(self, record: UploadRecord) -> dict[str, str] | None:
        """The upload's user metadata; None when it is not read (dry-run). Raises S3CallFailed, UploadGone or
        NotAttempted."""
        ...


class S3Metadata:
    """One HeadObject per upload, through the container's S3 store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def read(self, record: UploadRecord) -> dict[str, str] | None:
        # No VersionId: the workflow reads the photo by its plain URI, so its options come from the same (current)
        # object as its pixels.
        head = self._store.head(
            record.bucket,
            record.key,
            "reading the upload's metadata (HeadObject)",
            forbidden_hint="the trigger's role needs s3:GetObject on the upload prefix",
        )
        if head is None:
            raise UploadGone(f"upload {record.uri} no longer exists (deleted after its event?)")
        return head.metadata


class UnreadMetadata:
    """Dry-run: no network call, so no metadata; the options are the deployment's."""

    def read(self, record: UploadRecord) -> dict[str, str] | None:
        return None
