"""Settings: defaults, validation with the variable named, and failure at init (import) time."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_trigger.settings import DEFAULT_FLYTE_CONFIG, VARIABLES, WORKFLOW_INT_SETTINGS, ConfigError, Settings

#: The least a deployment must say: which buckets may start executions.
ALLOWED = {"NST_ALLOWED_BUCKETS": "nst-uploads"}


def test_defaults() -> None:
    settings = Settings.from_env(ALLOWED)
    assert (settings.launch_mode, settings.upload_prefix, settings.style_prefix, settings.output_prefix) == (
        "remote",
        "uploads/",
        "styles/",
        "stylized/",
    )
    assert (settings.flyte_project, settings.flyte_domain) == ("flytesnacks", "development")
    assert settings.launch_plan == "workflows.neural_style_transfer.neural_style_transfer_wf"
    assert settings.launch_plan_version is None and settings.style_uri is None
    assert settings.workflow_overrides() == {}
    assert settings.allowed_buckets == ("nst-uploads",)
    assert (settings.connect_timeout_s, settings.read_timeout_s, settings.rpc_timeout_s) == (2.0, 5.0, 10.0)
    expected_config = str(DEFAULT_FLYTE_CONFIG) if DEFAULT_FLYTE_CONFIG.is_file() else None
    assert settings.flyte_config_file == expected_config


def test_everything_set() -> None:
    settings = Settings.from_env(
        {
            "NST_LAUNCH_MODE": " DRY-RUN ",
            "NST_UPLOAD_PREFIX": "in",
            "NST_STYLE_PREFIX": "looks/",
            "NST_OUTPUT_PREFIX": "out",
            "NST_STYLE_URI": "https://example.com/starry.jpg",
            "NST_EPOCHS": "2",
            "NST_MAX_DIM": "256",
            "NST_FLYTE_PROJECT": "art",
            "NST_FLYTE_DOMAIN": "production",
            "NST_LAUNCH_PLAN": "nst.lp",
            "NST_LAUNCH_PLAN_VERSION": "v7",
            "NST_FLYTE_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:flyte-AbCdEf",
            "NST_FLYTE_RPC_TIMEOUT_S": "2.5",
            "NST_STYLE_CACHE_S": "0",
            "NST_ALLOWED_BUCKETS": " nst-a, nst-b.example ,nst-a,",
            "NST_CONNECT_TIMEOUT_S": "0.5",
            "NST_READ_TIMEOUT_S": "1.5",
        }
    )
    assert settings.allowed_buckets == ("nst-a", "nst-b.example")
    assert (settings.connect_timeout_s, settings.read_timeout_s) == (0.5, 1.5)
    assert settings.launch_mode == "dry-run"
    assert (settings.upload_prefix, settings.style_prefix, settings.output_prefix) == ("in/", "looks/", "out/")
    assert settings.workflow_overrides() == {"epochs": 2, "max_dim": 256}
    assert (settings.flyte_project, settings.flyte_domain, settings.launch_plan_version) == ("art", "production", "v7")
    assert (settings.rpc_timeout_s, settings.style_cache_s) == (2.5, 0.0)


def test_empty_upload_prefix_means_the_whole_bucket() -> None:
    assert Settings.from_env({"NST_UPLOAD_PREFIX": "", **ALLOWED}).upload_prefix == ""


def test_the_allow_list_defaults_to_the_bucket_of_the_style_uri() -> None:
    assert Settings.from_env({"NST_STYLE_URI": "s3://nst-art/styles/a.jpg"}).allowed_buckets == ("nst-art",)
    given = {"NST_STYLE_URI": "s3://nst-art/styles/a.jpg", "NST_ALLOWED_BUCKETS": "nst-photos"}
    assert Settings.from_env(given).allowed_buckets == ("nst-photos",)  # given: exactly that list


@pytest.mark.parametrize("env", [{}, {"NST_STYLE_URI": "https://example.com/starry.jpg"}, {"NST_ALLOWED_BUCKETS": ","}])
def test_no_allowed_bucket_at_all_refuses_to_start_naming_both_variables(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert "NST_ALLOWED_BUCKETS" in str(caught.value) and "NST_STYLE_URI" in str(caught.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NST_LAUNCH_MODE": "cloud"}, "NST_LAUNCH_MODE='cloud' is not one of remote, dry-run"),
        ({"NST_LAUNCH_MODE": "local"}, "not one of remote, dry-run (in-process runs are the local stack's"),
        ({"NST_OUTPUT_PREFIX": ""}, "NST_OUTPUT_PREFIX must not be empty"),
        ({"NST_STYLE_PREFIX": " "}, "NST_STYLE_PREFIX must not be empty"),
        ({"NST_UPLOAD_PREFIX": "/uploads/"}, "NST_UPLOAD_PREFIX='/uploads/': S3 keys have no leading '/'"),
        ({"NST_UPLOAD_PREFIX": "stylized/in/"}, "NST_UPLOAD_PREFIX='stylized/in/' lies inside NST_OUTPUT_PREFIX"),
        ({"NST_UPLOAD_PREFIX": "styles"}, "NST_UPLOAD_PREFIX='styles/' lies inside NST_STYLE_PREFIX"),
        ({"NST_STYLE_PREFIX": "stylized/styles/"}, "NST_STYLE_PREFIX='stylized/styles/' and NST_OUTPUT_PREFIX"),
        ({"NST_STYLE_URI": "monet.jpg"}, "NST_STYLE_URI='monet.jpg' must be an s3:// URI or an https:// URL"),
        ({"NST_STYLE_URI": "s3://bucket/"}, "NST_STYLE_URI='s3://bucket/' names a bucket but no object"),
        ({"NST_EPOCHS": "five"}, "NST_EPOCHS='five' is not an integer"),
        ({"NST_STEPS_PER_EPOCH": "0"}, "NST_STEPS_PER_EPOCH='0' must be at least 1"),
        ({"NST_MAX_DIM": "-3"}, "NST_MAX_DIM='-3' must be at least 1"),
        ({"NST_MAX_DIM": "8192"}, "NST_MAX_DIM=8192 is outside the workflow's 32 to 4096"),
        ({"NST_MAX_DIM": "16"}, "NST_MAX_DIM=16 is outside the workflow's 32 to 4096"),
        ({"NST_FLYTE_RPC_TIMEOUT_S": "0"}, "NST_FLYTE_RPC_TIMEOUT_S=0 must be positive"),
        ({"NST_STYLE_CACHE_S": "nan"}, "NST_STYLE_CACHE_S='nan' must not be negative"),
        ({"FLYTECTL_CONFIG": "/nonexistent/flyte.yaml"}, "FLYTECTL_CONFIG='/nonexistent/flyte.yaml' is not a file"),
        ({"NST_ALLOWED_BUCKETS": "good-one,Bad_Bucket"}, "NST_ALLOWED_BUCKETS: 'Bad_Bucket' is not a valid S3 bucket"),
        ({"NST_CONNECT_TIMEOUT_S": "0"}, "NST_CONNECT_TIMEOUT_S=0 must be positive"),
        ({"NST_READ_TIMEOUT_S": "soon"}, "NST_READ_TIMEOUT_S='soon' is not a number"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**ALLOWED, **env})
    assert message in str(caught.value)


def test_flytectl_config_overrides_the_default_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///flyte.example.com\n")
    assert Settings.from_env({"FLYTECTL_CONFIG": str(config), **ALLOWED}).flyte_config_file == str(config)


def test_a_bad_mode_fails_the_lambda_init_phase(handler) -> None:
    """Lambda imports the handler module during init: the error surfaces there, naming the variable."""
    with pytest.raises(ConfigError, match="NST_LAUNCH_MODE='sometimes'"):
        handler(NST_LAUNCH_MODE="sometimes")


def test_rpc_retries_default_to_flytekits_and_accept_zero() -> None:
    assert Settings.from_env(ALLOWED).rpc_retries == 3
    assert Settings.from_env({"NST_FLYTE_RPC_RETRIES": "0", **ALLOWED}).rpc_retries == 0
    with pytest.raises(ConfigError, match="NST_FLYTE_RPC_RETRIES='-1' is not a whole number"):
        Settings.from_env({"NST_FLYTE_RPC_RETRIES": "-1", **ALLOWED})


class ReadRecorder(dict):
    """An environment that remembers every name it was asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, name, default=None):  # type: ignore[override]
        self.asked.add(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self.asked.add(name)
        return super().__getitem__(name)


def test_from_env_reads_exactly_the_registered_variables() -> None:
    """settings.VARIABLES is the one list of what the trigger reads (the SAM template test and the test conftest use
    it): a setting added to from_env but not to the registry, or a stale registry entry, fails here."""
    env = ReadRecorder(ALLOWED)
    Settings.from_env(env)
    read_elsewhere = {"POWERTOOLS_SERVICE_NAME"}  # lambda_function's Logger
    assert env.asked == {variable.name for variable in VARIABLES} - read_elsewhere


def test_the_integer_settings_bounds_are_the_workflows() -> None:
    """The Lambda package cannot import workflows/; this keeps its copy of the bounds honest."""
    from lambda_trigger.settings import WORKFLOW_INT_BOUNDS
    from workflows.engine.options import NUMERIC_RANGES

    assert {field: NUMERIC_RANGES[field] for field in WORKFLOW_INT_SETTINGS} == WORKFLOW_INT_BOUNDS
    with pytest.raises(ConfigError, match="^NST_EPOCHS=1000001 is outside the workflow's 1 to 1000000$"):
        Settings.from_env({**ALLOWED, "NST_EPOCHS": "1000001"})
    assert Settings.from_env({**ALLOWED, "NST_MAX_DIM": "4096"}).max_dim == 4096, "prints: the tiled path"
