"""The trigger's configuration: read once from the environment when the container starts.

A bad value raises :class:`ConfigError` at import time, so the Lambda init phase fails with a message that names the
variable, instead of every invocation failing later in a less obvious way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``remote`` creates executions on flyteadmin; ``dry-run`` makes no network call at all. (The local stack runs the
#: workflow in-process by handing the trigger its own launcher: ``devstack/launcher.py``, never configured here.)
LAUNCH_MODES = ("remote", "dry-run")
DEFAULT_LAUNCH_PLAN = "workflows.neural_style_transfer.neural_style_transfer_wf"
#: ``docker build -f lambda_trigger/Dockerfile .`` copies flyte.config next to the package, as in the repository.
DEFAULT_FLYTE_CONFIG = Path(__file__).resolve().parent.parent / "flyte.config"
#: The workflow inputs a deployment may set; unset ones are not sent, so the launch plan's defaults apply.
WORKFLOW_INT_SETTINGS = {
    "epochs": "NST_EPOCHS",
    "steps_per_epoch": "NST_STEPS_PER_EPOCH",
    "max_dim": "NST_MAX_DIM",
}
#: Attempts of one AWS call, and the longest pause botocore's standard retry mode makes before the second.
HTTP_ATTEMPTS = 2
HTTP_BACKOFF_MAX_S = 1.0
#: What S3 accepts as a bucket name today: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending
#: with a letter or digit. Event fields and NST_ALLOWED_BUCKETS are both checked against it.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Variable:
    """One environment variable the trigger's own code reads (flytekit, boto3 and Powertools read theirs too)."""

    name: str
    #: the SAM template sets it (deploy/template.yaml); False: its default needs no tuning per deployment
    deployed: bool = True


#: Every variable the trigger reads, in one place: tests check that ``Settings.from_env`` reads exactly these, that
#: the SAM template sets only variables someone reads, and the trigger tests start each from a clean environment.
VARIABLES = (
    Variable("NST_LAUNCH_MODE"),
    Variable("NST_UPLOAD_PREFIX"),
    Variable("NST_STYLE_PREFIX"),
    Variable("NST_OUTPUT_PREFIX"),
    Variable("NST_STYLE_URI"),
    Variable("NST_ALLOWED_BUCKETS"),
    Variable("NST_EPOCHS"),
    Variable("NST_STEPS_PER_EPOCH"),
    Variable("NST_MAX_DIM"),
    Variable("NST_FLYTE_PROJECT"),
    Variable("NST_FLYTE_DOMAIN"),
    Variable("NST_LAUNCH_PLAN"),
    Variable("NST_LAUNCH_PLAN_VERSION"),
    Variable("NST_FLYTE_CLIENT_SECRET_ARN"),
    Variable("NST_FLYTE_RPC_TIMEOUT_S"),
    Variable("NST_FLYTE_RPC_RETRIES", deployed=False),
    Variable("NST_CONNECT_TIMEOUT_S", deployed=False),
    Variable("NST_READ_TIMEOUT_S", deployed=False),
    Variable("NST_STYLE_CACHE_S", deployed=False),
    #: flytekit's own, read here first to find the file (flyte_config.prepare_flytekit_environment)
    Variable("FLYTECTL_CONFIG", deployed=False),
    #: Powertools' own, read by lambda_function for the Logger's service name
    Variable("POWERTOOLS_SERVICE_NAME", deployed=False),
)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the trigger reads from its environment (see the settings table in README.md)."""

    launch_mode: str = "remote"
    upload_prefix: str = "uploads/"
    style_prefix: str = "styles/"
    output_prefix: str = "stylized/"
    style_uri: str | None = None
    #: buckets whose records are handled; others are skipped. Empty: the bucket of an s3:// style_uri.
    allowed_buckets: tuple[str, ...] = ()
    epochs: int | None = None
    steps_per_epoch: int | None = None
    max_dim: int | None = None
    flyte_project: str = "flytesnacks"
    flyte_domain: str = "development"
    launch_plan: str = DEFAULT_LAUNCH_PLAN
    launch_plan_version: str | None = None
    flyte_config_file: str | None = None
    client_secret_arn: str | None = None
    rpc_timeout_s: float = 10.0  #: deadline of each flyteadmin RPC
    rpc_retries: int = 3  #: retries of an RPC that failed with a transient status, with backoff
    connect_timeout_s: float = 2.0  #: TCP connect deadline of every HTTP call (S3, Secrets Manager, token endpoint)
    read_timeout_s: float = 5.0  #: read deadline of every HTTP call
    style_cache_s: float = 60.0

    def __post_init__(self) -> None:
        _check_layout(self.upload_prefix, self.style_prefix, self.output_prefix)
        object.__setattr__(self, "allowed_buckets", _allowed_buckets(self.allowed_buckets, self.style_uri))

    @property
    def http_attempts(self) -> int:
        """Attempts of one AWS call (S3, Secrets Manager): the first and one retry of a transient failure."""
        return HTTP_ATTEMPTS

    @property
    def http_call_worst_s(self) -> float:
        """The longest one AWS call may take, every attempt timing out, botocore's backoff between them included:
        what must be left of the invocation before starting one."""
        per_attempt = self.connect_timeout_s + self.read_timeout_s
        return self.http_attempts * per_attempt + (self.http_attempts - 1) * HTTP_BACKOFF_MAX_S

    def aws_client_config(self) -> Any:
        """botocore's configuration for every AWS client: these deadlines, HTTP_ATTEMPTS attempts (standard mode)."""
        from botocore.config import Config

        return Config(
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            retries={"total_max_attempts": self.http_attempts, "mode": "standard"},
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; ``env`` defaults to ``os.environ``."""
        env = os.environ if env is None else env
        mode = env.get("NST_LAUNCH_MODE", "remote").strip().lower() or "remote"
        if mode not in LAUNCH_MODES:
            hint = " (in-process runs are the local stack's: python -m devstack)" if mode == "local" else ""
            raise ConfigError(f"NST_LAUNCH_MODE={mode!r} is not one of {', '.join(LAUNCH_MODES)}{hint}")
        config_file = _optional(env, "FLYTECTL_CONFIG")
        if config_file is None and DEFAULT_FLYTE_CONFIG.is_file():
            config_file = str(DEFAULT_FLYTE_CONFIG)
        elif config_file is not None and not Path(config_file).is_file():
            raise ConfigError(f"FLYTECTL_CONFIG={config_file!r} is not a file")
        return cls(
            launch_mode=mode,
            upload_prefix=_prefix(env, "NST_UPLOAD_PREFIX", "uploads/", may_be_empty=True),
            style_prefix=_prefix(env, "NST_STYLE_PREFIX", "styles/"),
            output_prefix=_prefix(env, "NST_OUTPUT_PREFIX", "stylized/"),
            style_uri=_style_uri(env),
            allowed_buckets=_bucket_list(env, "NST_ALLOWED_BUCKETS"),
            **{field: _workflow_int(env, field, name) for field, name in WORKFLOW_INT_SETTINGS.items()},
            flyte_project=_optional(env, "NST_FLYTE_PROJECT") or "flytesnacks",
            flyte_domain=_optional(env, "NST_FLYTE_DOMAIN") or "development",
            launch_plan=_optional(env, "NST_LAUNCH_PLAN") or DEFAULT_LAUNCH_PLAN,
            launch_plan_version=_optional(env, "NST_LAUNCH_PLAN_VERSION"),
            flyte_config_file=config_file,
            client_secret_arn=_optional(env, "NST_FLYTE_CLIENT_SECRET_ARN"),
            rpc_timeout_s=_positive_float(env, "NST_FLYTE_RPC_TIMEOUT_S", 10.0),
            rpc_retries=_count(env, "NST_FLYTE_RPC_RETRIES", 3),
            connect_timeout_s=_positive_float(env, "NST_CONNECT_TIMEOUT_S", 2.0),
            read_timeout_s=_positive_float(env, "NST_READ_TIMEOUT_S", 5.0),
            style_cache_s=_non_negative_float(env, "NST_STYLE_CACHE_S", 60.0),
        )

    def workflow_overrides(self) -> dict[str, int]:
        """The integer workflow inputs this deployment sets explicitly (only those)."""
        values = {field: getattr(self, field) for field in WORKFLOW_INT_SETTINGS}
        return {field: value for field, value in values.items() if value is not None}


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _prefix(env: Mapping[str, str], name: str, default: str, may_be_empty: bool = False) -> str:
    """A key prefix, normalised to end in '/' so 'uploads' cannot also match 'uploads-old/...'."""
    value = env.get(name)
    value = default if value is None else value.strip()
    if not value:
        if may_be_empty:
            return ""
        raise ConfigError(f"{name} must not be empty")
    if value.startswith("/"):
        raise ConfigError(f"{name}={value!r}: S3 keys have no leading '/'")
    return value if value.endswith("/") else value + "/"


def _check_layout(upload: str, style: str, output: str) -> None:
    """Reject prefix combinations that would skip every upload or mix styles with results."""
    if not style or not output:
        raise ConfigError("NST_STYLE_PREFIX and NST_OUTPUT_PREFIX must not be empty")
    if style.startswith(output) or output.startswith(style):
        raise ConfigError(f"NST_STYLE_PREFIX={style!r} and NST_OUTPUT_PREFIX={output!r} overlap")
    for name, prefix in (("NST_OUTPUT_PREFIX", output), ("NST_STYLE_PREFIX", style)):
        if upload.startswith(prefix):
            raise ConfigError(
                f"NST_UPLOAD_PREFIX={upload!r} lies inside {name}={prefix!r}: every upload would be skipped"
            )


def _bucket_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of bucket names, each checked."""
    buckets = tuple(dict.fromkeys(part.strip() for part in env.get(name, "").split(",") if part.strip()))
    for bucket in buckets:
        if not BUCKET_NAME.match(bucket):
            raise ConfigError(f"{name}: {bucket!r} is not a valid S3 bucket name")
    return buckets


def _allowed_buckets(given: tuple[str, ...], style_uri: str | None) -> tuple[str, ...]:
    """The allow-list: as given, else the bucket of an s3:// NST_STYLE_URI; no bucket at all is a refusal to start."""
    if given:
        return tuple(given)
    if style_uri is not None and style_uri.startswith("s3://"):
        bucket = style_uri[len("s3://") :].partition("/")[0]
        if BUCKET_NAME.match(bucket):
            return (bucket,)
    raise ConfigError(
        "NST_ALLOWED_BUCKETS is unset and NST_STYLE_URI names no S3 bucket: set NST_ALLOWED_BUCKETS to the "
        "comma-separated buckets whose uploads may start executions"
    )


def _style_uri(env: Mapping[str, str]) -> str | None:
    value = _optional(env, "NST_STYLE_URI")
    if value is not None and not value.startswith(("s3://", "https://")):
        raise ConfigError(f"NST_STYLE_URI={value!r} must be an s3:// URI or an https:// URL")
    if value is not None and value.startswith("s3://") and "/" not in value[len("s3://") :].strip("/"):
        raise ConfigError(f"NST_STYLE_URI={value!r} names a bucket but no object")
    return value


#: The workflow's own bounds for the integer inputs the trigger may send (``workflows.engine.options``, restated:
#: the Lambda package has no ``workflows``; a test compares them). Out of bounds fails at start, not per upload.
WORKFLOW_INT_BOUNDS = {"epochs": (1, 1_000_000), "steps_per_epoch": (1, 1_000_000), "max_dim": (32, 4096)}


def _workflow_int(env: Mapping[str, str], field: str, name: str) -> int | None:
    number = _positive_int(env, name)
    low, high = WORKFLOW_INT_BOUNDS[field]
    if number is not None and not low <= number <= high:
        raise ConfigError(f"{name}={number} is outside the workflow's {low} to {high}")
    return number


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    value = _optional(env, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    if number < 1:
        raise ConfigError(f"{name}={value!r} must be at least 1")
    return number


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = _optional(env, name)
    if value is None:
        return default
    if not value.isdigit():
        raise ConfigError(f"{name}={value!r} is not a whole number")
    return int(value)


def _non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if not number >= 0:  # also rejects NaN
        raise ConfigError(f"{name}={value!r} must not be negative")
    return number


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    number = _non_negative_float(env, name, default)
    if number == 0:
        raise ConfigError(f"{name}=0 must be positive")
    return number
