"""Every invocation ends inside the Lambda timeout, whatever its dependencies do; retries are for transient codes.

Each dependency is replaced in turn by a black hole (a loopback TCP server that accepts and never answers):
Secrets Manager, the OAuth2 token endpoint, S3 and flyteadmin. Each test asserts the observable outcome: the
invocation returned before the context's deadline (not a speed target: the deadline is the Lambda timeout the
context reports), every record has its failure with a reason, every failed SQS message is an item failure, and the
dependency was not waited on again after it was found down.

Deadlines are short and come from the settings, so the suite stays fast.
"""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest

from lambda_trigger.report import TriggerFailed
from tests.fakes import BUCKET, FakeFlyteAdmin, LambdaContextStub, start_admin

STYLE = f"s3://{BUCKET}/styles/default.jpg"
#: the deadlines every test here runs under
FAST = {
    "NST_CONNECT_TIMEOUT_S": "0.2",
    "NST_READ_TIMEOUT_S": "0.3",
    "NST_FLYTE_RPC_TIMEOUT_S": "0.6",
    "NST_FLYTE_RPC_RETRIES": "1",
    "NST_STYLE_URI": STYLE,
}
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nst-flyte-AbCdEf"


def sqs_batch(keys: list[str]) -> dict[str, Any]:
    """One SQS message per upload, as the event source mapping delivers them."""
    messages = []
    for index, key in enumerate(keys):
        record = {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": BUCKET},
                "object": {"key": key, "size": 1000, "eTag": f"e{index}", "sequencer": f"{index + 1:X}"},
            },
        }
        body = json.dumps({"Records": [record]})
        messages.append({"messageId": f"m{index}", "body": body, "eventSource": "aws:sqs", "receiptHandle": "r"})
    return {"Records": messages}


def uploads(count: int, folder: str = "") -> list[str]:
    return [f"uploads/{folder}photo {index}.jpg" for index in range(count)]


def run(handle: Any, event: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], float]:
    """Invoke with a context whose Lambda timeout is ``timeout_s``; return the result and the seconds it took."""
    context = LambdaContextStub(timeout_s=timeout_s)
    started = time.monotonic()
    result = handle(event, context)
    return result, time.monotonic() - started


def assert_nothing_lost(result: dict[str, Any], count: int) -> None:
    outcomes = [item["message_id"] for kind in ("launched", "skipped", "failed") for item in result[kind]]
    assert sorted(outcomes) == sorted(f"m{index}" for index in range(count))
    failed = [item["message_id"] for item in result["failed"]]
    assert [entry["itemIdentifier"] for entry in result["batchItemFailures"]] == failed


def test_a_silent_secrets_manager_costs_one_bounded_call_and_every_record_fails_in_time(
    handler, aws, flyteadmin, flyte_env, black_hole, monkeypatch
) -> None:
    flyte_env(flyteadmin.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", black_hole.url)
    handle = handler(**FAST, NST_FLYTE_CLIENT_SECRET_ARN=SECRET_ARN, FLYTE_CREDENTIALS_CLIENT_ID="nst")
    result, took = run(handle, sqs_batch(uploads(10)), timeout_s=6)
    assert took < 6  # the Lambda would have ended with a result, not been killed
    assert_nothing_lost(result, 10) and len(result["failed"]) == 10
    first, *rest = [item["error"] for item in result["failed"]]
    assert first.startswith(f"cannot read NST_FLYTE_CLIENT_SECRET_ARN={SECRET_ARN}: ReadTimeoutError")
    assert all(error.startswith("not attempted: cannot read NST_FLYTE_CLIENT_SECRET_ARN") for error in rest)
    assert black_hole.accepted <= 2  # one call and its one retry: the rest of the batch did not wait on it again
    assert not flyteadmin.servicer.executions


def test_a_silent_token_endpoint_is_bounded_too(handler, aws, flyte_env, black_hole) -> None:
    admin = start_admin(FakeFlyteAdmin(), token_url=f"{black_hole.url}/oauth2/token")
    admin.servicer.required_token = "token"
    flyte_env(admin.endpoint)
    try:
        handle = handler(**FAST, FLYTE_CREDENTIALS_CLIENT_ID="nst", FLYTE_CREDENTIALS_CLIENT_SECRET="s3cr3t-value")
        result, took = run(handle, sqs_batch(uploads(10)), timeout_s=6)
    finally:
        admin.stop()
    assert took < 6
    assert_nothing_lost(result, 10) and len(result["failed"]) == 10
    first, *rest = [item["error"] for item in result["failed"]]
    assert "cannot fetch launch plan" in first and "ReadTimeout" in first
    assert all(error.startswith("not attempted: ") for error in rest)
    assert 1 <= black_hole.accepted <= 2 and not admin.servicer.executions


def test_a_silent_s3_is_found_down_by_the_first_metadata_read_and_nothing_waits_on_it_again(
    handler, s3, flyteadmin, flyte_env, black_hole, monkeypatch
) -> None:
    """Every upload needs one HeadObject (its nst- options) before it can launch: with S3 silent, the first one
    times out (two attempts), and every other record fails at once, nothing launched with options it never read."""
    flyte_env(flyteadmin.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", black_hole.url)
    keys = [key for pair in zip(uploads(5, "monet/"), uploads(5)) for key in pair]  # named, default, named, ...
    result, took = run(handler(**FAST), sqs_batch(keys), timeout_s=6)
    assert took < 6
    assert_nothing_lost(result, 10) and not result["launched"]
    first, *rest = [item["error"] for item in result["failed"]]
    where = f"s3://{BUCKET}/uploads/monet/photo 0.jpg"
    assert first.startswith(f"reading the upload's metadata (HeadObject) failed at {where}: Read timeout")
    assert rest == [f"not attempted: S3 did not answer earlier in this invocation (ReadTimeoutError at {where})"] * 9
    assert black_hole.accepted <= 2 and not flyteadmin.servicer.executions


def test_a_silent_flyteadmin_is_found_down_once(handler, aws, flyte_env, black_hole) -> None:
    flyte_env(black_hole.endpoint)
    result, took = run(handler(**FAST), sqs_batch(uploads(10)), timeout_s=6)
    assert took < 6
    assert_nothing_lost(result, 10) and len(result["failed"]) == 10
    first, *rest = [item["error"] for item in result["failed"]]
    assert "cannot fetch launch plan" in first and "DEADLINE_EXCEEDED" in first
    assert all(error.startswith("not attempted: cannot fetch launch plan") for error in rest)
    assert black_hole.accepted >= 1  # gRPC did reach it


def test_records_that_cannot_be_attempted_in_the_time_left_fail_at_once(handler, aws, flyteadmin, flyte_env) -> None:
    """A slow flyteadmin (0.25 s an RPC): the invocation launches what fits, and hands the rest back in time."""
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.delay_s = 0.25
    env = {**FAST, "NST_FLYTE_RPC_TIMEOUT_S": "1"}  # a CreateExecution may take 1 s + a token request (0.5 s)
    result, took = run(handler(**env), sqs_batch(uploads(12)), timeout_s=5.5)
    assert took < 5.5
    assert_nothing_lost(result, 12)
    launched, failed = result["launched"], result["failed"]
    assert 0 < len(launched) < 12 and len(launched) == len(flyteadmin.servicer.executions)
    for item in failed:  # the next call that did not fit: its upload's HeadObject (2 s) or CreateExecution (1.5 s)
        where = f"s3://{BUCKET}/{item['key']}"
        assert item["error"].startswith(
            (
                f"not attempted: reading the upload's metadata (HeadObject) at {where} may take up to 2 s",
                f"not attempted: CreateExecution {item['execution_name']} may take up to 1.5 s",
            )
        )
        assert "s are left of this invocation (the Lambda timeout)" in item["error"]
    assert {item["message_id"] for item in failed} == {f"m{index}" for index in range(len(launched), 12)}


def test_no_time_at_all_means_nothing_is_started(handler, aws, flyteadmin, flyte_env) -> None:
    flyte_env(flyteadmin.endpoint)
    result, took = run(handler(**FAST), sqs_batch(uploads(3)), timeout_s=1.2)  # 0.2 s once the reserve is kept
    assert took < 1.2 and flyteadmin.servicer.calls == []
    assert [item["error"].split(" may take")[0] for item in result["failed"]] == [
        f"not attempted: reading the upload's metadata (HeadObject) at s3://{BUCKET}/{key}" for key in uploads(3)
    ]
    assert_nothing_lost(result, 3)


# ----------------------------------------------------------------------------------------------- retries


@pytest.fixture
def remote(handler, aws, flyteadmin, flyte_env):
    flyte_env(flyteadmin.endpoint)
    return handler(**FAST)


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT])
def test_a_non_transient_code_fails_its_record_at_once_and_the_others_launch(remote, flyteadmin, code) -> None:
    flyteadmin.servicer.create_faults = [(code, False)]
    with pytest.raises(TriggerFailed) as caught:
        remote({"Records": [json.loads(m["body"])["Records"][0] for m in sqs_batch(uploads(3))["Records"]]})
    assert str(caught.value).startswith("1 of 3 records failed (2 launched, 0 skipped): ")
    assert f"{code.name}: fake flyteadmin: CreateExecution fails with {code.name}" in str(caught.value)
    assert flyteadmin.servicer.calls.count("CreateExecution") == 3  # one each: the failed one was not retried


def test_permission_denied_is_not_retried_and_the_rest_of_the_batch_does_not_try(remote, flyteadmin) -> None:
    flyteadmin.servicer.create_faults = [(grpc.StatusCode.PERMISSION_DENIED, False)]
    result = remote(sqs_batch(uploads(3)))
    errors = [item["error"] for item in result["failed"]]
    assert errors[0].startswith("flyteadmin at ") and "refuses the trigger" in errors[0]
    assert "PERMISSION_DENIED" in errors[0]
    assert all(error.startswith("not attempted: flyteadmin at ") for error in errors[1:]) and len(errors) == 3
    assert flyteadmin.servicer.calls.count("CreateExecution") == 1
    assert_nothing_lost(result, 3)


def test_a_transient_failure_is_retried_with_backoff(remote, flyteadmin) -> None:
    flyteadmin.servicer.create_faults = [(grpc.StatusCode.UNAVAILABLE, False)]
    result = remote(sqs_batch(uploads(1)))
    (item,) = result["launched"]
    assert (item["duplicate"], item["attempts"]) == (False, 2)
    assert flyteadmin.servicer.calls.count("CreateExecution") == 2 and len(flyteadmin.servicer.executions) == 1


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_a_committed_create_whose_reply_was_lost_is_reported_as_launched(remote, flyteadmin, code) -> None:
    flyteadmin.servicer.create_faults = [(code, True)]  # stored, then the reply lost
    result = remote(sqs_batch(uploads(1)))
    (item,) = result["launched"]
    assert (item["duplicate"], item["attempts"]) == (False, 2)  # ALREADY_EXISTS on the retry: ours, not a redelivery
    assert len(flyteadmin.servicer.executions) == 1 and not result["failed"]


def test_a_redelivery_is_still_a_duplicate(remote, flyteadmin) -> None:
    remote(sqs_batch(uploads(1)))
    (item,) = remote(sqs_batch(uploads(1)))["launched"]
    assert (item["duplicate"], item["attempts"]) == (True, 1)


def test_unknown_is_reported_as_unknown_not_as_an_authentication_problem(remote, flyteadmin) -> None:
    flyteadmin.servicer.fail_with = grpc.StatusCode.UNKNOWN
    result = remote(sqs_batch(uploads(2)))
    first = result["failed"][0]["error"]
    assert "UNKNOWN: fake flyteadmin: ListLaunchPlans fails with UNKNOWN" in first
    assert "authentication" not in first
    assert_nothing_lost(result, 2)


def test_unauthenticated_without_credentials_says_what_to_configure(remote, flyteadmin) -> None:
    flyteadmin.servicer.required_token = "token"
    result = remote(sqs_batch(uploads(2)))
    assert result["failed"][0]["error"].startswith(f"flyteadmin at {flyteadmin.endpoint} requires authentication")
    assert result["failed"][1]["error"].startswith("not attempted: flyteadmin at")


def test_a_silent_flyteadmin_is_bounded_with_client_credentials_too(handler, aws, flyte_env, black_hole) -> None:
    """With a client secret, flytekit asks flyteadmin's auth metadata first, on a channel without any deadline."""
    flyte_env(black_hole.endpoint)
    handle = handler(**FAST, FLYTE_CREDENTIALS_CLIENT_ID="nst", FLYTE_CREDENTIALS_CLIENT_SECRET="s3cr3t-value")
    result, took = run(handle, sqs_batch(uploads(5)), timeout_s=6)
    assert took < 6
    assert_nothing_lost(result, 5) and len(result["failed"]) == 5
    assert "cannot fetch launch plan" in result["failed"][0]["error"]
    assert "DEADLINE_EXCEEDED" in result["failed"][0]["error"]
