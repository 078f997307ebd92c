"""Settings: defaults, validation with the variable named, and failure at init (import) time."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_trigger.settings import DEFAULT_FLYTE_CONFIG, ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
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
        }
    )
    assert settings.launch_mode == "dry-run"
    assert (settings.upload_prefix, settings.style_prefix, settings.output_prefix) == ("in/", "looks/", "out/")
    assert settings.workflow_overrides() == {"epochs": 2, "max_dim": 256}
    assert (settings.flyte_project, settings.flyte_domain, settings.launch_plan_version) == ("art", "production", "v7")
    assert (settings.rpc_timeout_s, settings.style_cache_s) == (2.5, 0.0)


def test_empty_upload_prefix_means_the_whole_bucket() -> None:
    assert Settings.from_env({"NST_UPLOAD_PREFIX": ""}).upload_prefix == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NST_LAUNCH_MODE": "cloud"}, "NST_LAUNCH_MODE='cloud' is not one of remote, dry-run, local"),
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
        ({"NST_FLYTE_RPC_TIMEOUT_S": "0"}, "NST_FLYTE_RPC_TIMEOUT_S=0 must be positive"),
        ({"NST_STYLE_CACHE_S": "nan"}, "NST_STYLE_CACHE_S='nan' must not be negative"),
        ({"FLYTECTL_CONFIG": "/nonexistent/flyte.yaml"}, "FLYTECTL_CONFIG='/nonexistent/flyte.yaml' is not a file"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value)


def test_flytectl_config_overrides_the_default_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///flyte.example.com\n")
    assert Settings.from_env({"FLYTECTL_CONFIG": str(config)}).flyte_config_file == str(config)


def test_a_bad_mode_fails_the_lambda_init_phase(handler) -> None:
    """Lambda imports the handler module during init: the error surfaces there, naming the variable."""
    with pytest.raises(ConfigError, match="NST_LAUNCH_MODE='sometimes'"):
        handler(NST_LAUNCH_MODE="sometimes")


def test_rpc_retries_default_to_flytekits_and_accept_zero() -> None:
    assert Settings.from_env({}).rpc_retries == 3
    assert Settings.from_env({"NST_FLYTE_RPC_RETRIES": "0"}).rpc_retries == 0
    with pytest.raises(ConfigError, match="NST_FLYTE_RPC_RETRIES='-1' is not a whole number"):
        Settings.from_env({"NST_FLYTE_RPC_RETRIES": "-1"})
