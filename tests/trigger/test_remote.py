"""Remote mode when things go wrong, flytekit configuration, and the client secret (used, never logged)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import boto3
import grpc
import pytest

from lambda_trigger.admin_calls import ConnectionFailed
from lambda_trigger.client_secret import read_client_secret
from lambda_trigger.flyte_config import load_flyte_config
from lambda_trigger.report import TriggerFailed
from lambda_trigger.settings import DEFAULT_FLYTE_CONFIG, Settings
from tests.fakes import BUCKET, FakeFlyteAdmin, TokenEndpoint, load_event, start_admin

STYLE = f"s3://{BUCKET}/styles/default.jpg"
SETTINGS = Settings(allowed_buckets=(BUCKET,))


@pytest.fixture
def monet(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")


def test_flyteadmin_answering_unavailable_fails_the_record_and_raises_quickly(handler, flyteadmin, flyte_env, monet):
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE
    handle = handler(NST_STYLE_URI=STYLE)
    started = time.monotonic()
    with pytest.raises(TriggerFailed) as caught:
        handle(load_event("s3_put_encoded_keys.json"))
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith("4 of 4 records failed (0 launched, 0 skipped): ")
    assert "cannot fetch launch plan workflows.neural_style_transfer.neural_style_transfer_wf:latest" in message
    assert f"from flyteadmin at {flyteadmin.endpoint}: FlyteSystemUnavailableException" in message
    assert "UNAVAILABLE: fake flyteadmin: ListLaunchPlans fails with UNAVAILABLE" in message
    errors = [line["error"] for line in handle.record_logs()]
    assert all(error.startswith("not attempted: cannot fetch launch plan") for error in errors[1:])
    # one connection attempt (flytekit's own retries included), not one per record
    assert set(flyteadmin.servicer.calls) == {"ListLaunchPlans"} and len(flyteadmin.servicer.calls) <= 4


def test_flyteadmin_unavailable_in_an_sqs_batch_fails_only_the_launching_messages(
    handler, flyteadmin, flyte_env, monet
) -> None:
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE
    result = handler(NST_STYLE_URI=STYLE)(load_event("sqs_batch.json"))  # no raise for SQS
    assert [item["itemIdentifier"][:8] for item in result["batchItemFailures"]] == [
        "5b1f6c6e",  # unparseable body
        "059f36b4",  # would have launched
        "7f6b1d2c",  # one launchable record, one skipped
        "a3c1e5f7",
    ]
    assert [item["key"] for item in result["skipped"]] == ["", "stylized/photo.png"]
    assert "2e1424d4" not in json.dumps(result["batchItemFailures"])  # the test event message succeeded


def test_a_connection_failure_is_not_cached(handler, flyte_env, monet) -> None:
    first = start_admin(FakeFlyteAdmin())  # find a port this process can bind, then leave it empty
    first.stop()
    flyte_env(first.endpoint)
    handle = handler(NST_STYLE_URI=STYLE, NST_FLYTE_RPC_TIMEOUT_S="2")
    started = time.monotonic()
    with pytest.raises(TriggerFailed, match=f"cannot fetch launch plan .* from flyteadmin at {first.endpoint}"):
        handle(load_event("s3_put.json"))  # nothing listens there now
    assert time.monotonic() - started < 5
    admin = start_admin(FakeFlyteAdmin(), port=int(first.endpoint.rpartition(":")[2]))
    try:
        result = handle(load_event("s3_put.json"))  # same container: it connects now
    finally:
        admin.stop()
    assert result["launched"][0]["duplicate"] is False and len(admin.servicer.executions) == 1


def test_flyteadmin_going_away_after_connecting(handler, flyte_env, monet) -> None:
    admin = start_admin(FakeFlyteAdmin())
    flyte_env(admin.endpoint)
    handle = handler(NST_STYLE_URI=STYLE)
    try:
        assert handle(load_event("s3_put.json"))["launched"]
    finally:
        admin.stop()
    started = time.monotonic()
    with pytest.raises(TriggerFailed) as caught:
        handle(load_event("s3_put_encoded_keys.json"))
    assert time.monotonic() - started < 5
    errors = [line["error"] for line in handle.record_logs() if line["outcome"] == "failed"]
    assert errors[0].startswith(f"flyteadmin at {admin.endpoint} unavailable: FlyteSystemUnavailableException")
    assert all(error.startswith("not attempted: flyteadmin at") for error in errors[1:]) and len(errors) == 4
    assert "4 of 4 records failed" in str(caught.value)


def test_an_unknown_launch_plan_is_named_in_the_error(handler, flyteadmin, flyte_env, monet) -> None:
    flyte_env(flyteadmin.endpoint)
    with pytest.raises(TriggerFailed) as caught:
        handler(NST_LAUNCH_PLAN="workflows.other.wf", NST_LAUNCH_PLAN_VERSION="v9")(load_event("s3_put.json"))
    assert "cannot fetch launch plan workflows.other.wf:v9 in flytesnacks/development" in str(caught.value)
    assert "FlyteEntityNotExistException" in str(caught.value)


def test_a_rejected_execution_fails_only_its_record(handler, flyteadmin, flyte_env, monet) -> None:
    """INVALID_ARGUMENT (say, a launch plan changed under the container) fails that record, not the rest."""
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.validate = lambda request: (
        "input content_img: type mismatch" if "100%" in request.inputs.literals["content_img"].scalar.blob.uri else None
    )
    with pytest.raises(TriggerFailed) as caught:
        handler(NST_STYLE_URI=STYLE)(load_event("s3_put_encoded_keys.json"))
    message = str(caught.value)
    assert message.startswith(f"1 of 4 records failed (3 launched, 0 skipped): s3://{BUCKET}/uploads/100% real.png: ")
    assert "CreateExecution nst-" in message and "INVALID_ARGUMENT: input content_img: type mismatch" in message
    assert len(flyteadmin.servicer.executions) == 3


# ----------------------------------------------------------------------------------------------- configuration


def test_flyte_config_yaml_without_a_yaml_extension_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FLYTE_PLATFORM_URL", raising=False)
    config = tmp_path / "flyte.config"
    config.write_text("admin:\n  endpoint: dns:///flyte.example.com:443\n  insecure: false\n")
    platform = load_flyte_config(Settings(flyte_config_file=str(config), allowed_buckets=(BUCKET,))).platform
    # flytekit's own retries are off: the trigger retries transient codes only, with backoff
    assert (platform.endpoint, platform.insecure, platform.rpc_retries) == ("flyte.example.com:443", False, 0)


def test_the_repository_flyte_config_reaches_the_demo_cluster(monkeypatch) -> None:
    if not DEFAULT_FLYTE_CONFIG.is_file():
        pytest.skip("flyte.config is not in the repository yet")
    platform = load_flyte_config(Settings.from_env({"NST_ALLOWED_BUCKETS": BUCKET})).platform
    assert (platform.endpoint, platform.insecure) == ("localhost:30080", True)


def test_environment_overrides_the_file_entry_by_entry(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "flyte.config"
    config.write_text("admin:\n  endpoint: dns:///localhost:30080\n  insecure: true\n  clientId: from-file\n")
    monkeypatch.setenv("FLYTE_PLATFORM_URL", "flyte.example.com:443")
    monkeypatch.setenv("FLYTE_PLATFORM_INSECURE", "false")
    settings = dataclasses.replace(Settings(flyte_config_file=str(config), allowed_buckets=(BUCKET,)), rpc_retries=0)
    platform = load_flyte_config(settings).platform
    assert (platform.endpoint, platform.insecure, platform.client_id) == ("flyte.example.com:443", False, "from-file")
    assert platform.rpc_retries == 0


def test_an_ini_flyte_config_is_still_read_as_ini(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "flyte.config"
    config.write_text("# legacy\n[platform]\nurl = flyte.internal:81\ninsecure = True\n")
    platform = load_flyte_config(Settings(flyte_config_file=str(config), allowed_buckets=(BUCKET,))).platform
    assert (platform.endpoint, platform.insecure) == ("flyte.internal:81", True)


def test_a_broken_config_file_is_a_connection_failure_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "flyte.config"
    config.write_text("[platform\nurl: nowhere\n")
    with pytest.raises(ConnectionFailed, match=f"cannot read Flyte configuration {config}"):
        load_flyte_config(Settings(flyte_config_file=str(config), allowed_buckets=(BUCKET,)))


# ----------------------------------------------------------------------------------------------- client secret

SECRET = "s3cr3t-Zq9+/=never-log-me"
ENV_SECRET = "env-s3cr3t-also-never-logged"


def test_secret_from_secrets_manager_plain_or_json(aws) -> None:
    client = boto3.client("secretsmanager")
    plain = client.create_secret(Name="flyte-plain", SecretString=f"{SECRET}\n")["ARN"]
    as_json = client.create_secret(Name="flyte-json", SecretString=json.dumps({"client_secret": SECRET}))["ARN"]
    wrong = client.create_secret(Name="flyte-wrong", SecretString=json.dumps({"password": SECRET}))["ARN"]
    assert read_client_secret(plain, SETTINGS) == SECRET and read_client_secret(as_json, SETTINGS) == SECRET
    with pytest.raises(ConnectionFailed) as caught:
        read_client_secret(wrong, SETTINGS)
    assert "JSON secret has no 'client_secret' string" in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(ConnectionFailed, match="ResourceNotFoundException"):
        read_client_secret(plain.replace("flyte-plain", "flyte-missing"), SETTINGS)


def test_a_secret_implies_client_credentials_unless_a_mode_is_set(monkeypatch) -> None:
    platform = load_flyte_config(Settings(allowed_buckets=(BUCKET,)), client_secret=SECRET).platform
    # flytekit's client-credentials flow, registered with deadlines on the token request and the metadata RPCs
    assert platform.client_credentials_secret == SECRET and platform.auth_mode == "nst-trigger-client-credentials"
    monkeypatch.setenv("FLYTE_CREDENTIALS_AUTH_MODE", "DeviceFlow")
    assert (
        load_flyte_config(Settings(allowed_buckets=(BUCKET,)), client_secret=SECRET).platform.auth_mode == "DeviceFlow"
    )


def test_without_a_secret_an_auth_demanding_flyteadmin_fails_fast_instead_of_waiting_for_a_browser(
    handler, flyteadmin, flyte_env, monet
) -> None:
    """flyte.config says Pkce (fine on a laptop); here flytekit would wait forever for a browser callback."""
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.required_token = TokenEndpoint.ACCESS_TOKEN
    started = time.monotonic()
    with pytest.raises(TriggerFailed) as caught:
        handler(NST_STYLE_URI=STYLE)(load_event("s3_put.json"))
    assert time.monotonic() - started < 5
    assert f"flyteadmin at {flyteadmin.endpoint} requires authentication" in str(caught.value)
    assert "FLYTE_CREDENTIALS_CLIENT_ID" in str(caught.value) and not flyteadmin.servicer.executions


def test_an_explicit_auth_mode_is_respected(monkeypatch) -> None:
    monkeypatch.setenv("FLYTE_CREDENTIALS_AUTH_MODE", "Pkce")
    assert load_flyte_config(Settings(allowed_buckets=(BUCKET,))).platform.auth_mode == "Pkce"
    monkeypatch.delenv("FLYTE_CREDENTIALS_AUTH_MODE")
    assert load_flyte_config(Settings(allowed_buckets=(BUCKET,))).platform.auth_mode == "nst-trigger-no-login"


def test_the_client_secret_authenticates_and_is_never_logged(handler, flyteadmin, flyte_env, monet, capsys) -> None:
    """Secrets Manager -> client-credentials token -> bearer on every RPC; logs and results never hold it."""
    arn = boto3.client("secretsmanager").create_secret(Name="nst/flyte-client", SecretString=SECRET)["ARN"]
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.required_token = TokenEndpoint.ACCESS_TOKEN
    handle = handler(
        NST_STYLE_URI=STYLE,
        NST_FLYTE_CLIENT_SECRET_ARN=arn,
        FLYTE_CREDENTIALS_CLIENT_ID="nst-trigger",
        FLYTE_CREDENTIALS_CLIENT_SECRET=ENV_SECRET,  # the ARN wins over flytekit's own variable
    )
    result = handle(load_event("s3_put.json"))
    assert result["launched"][0]["duplicate"] is False
    assert flyteadmin.tokens.secrets_seen == [SECRET]  # the secret from Secrets Manager is the one used

    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE  # failures are logged too: still no secret
    with pytest.raises(TriggerFailed) as caught:
        handle(load_event("s3_reupload.json"))

    captured = capsys.readouterr()
    everything = "\n".join([handle.raw_logs(), json.dumps(result), str(caught.value), captured.out, captured.err])
    for secret in (SECRET, ENV_SECRET):
        assert secret not in everything
    assert len(handle.record_logs()) == 2
