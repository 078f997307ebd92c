"""The client secret, in every encoding it travels in, appears in no log line, result or error, even at DEBUG.

Every logger is put at DEBUG (as Lambda's log-level control can do), botocore and flytekit included, and every
record any of them emits is captured, as is everything written to stdout and stderr. The whole client-credentials
flow runs for real: Secrets Manager on moto, flytekit's token request to the fake token endpoint, the bearer token
checked by the fake flyteadmin. Then the token endpoint turns into one that echoes the request (its Basic header,
base64 of ``id:secret``) in its error, as some identity providers and proxies do.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import grpc
import pytest

from lambda_trigger.redaction import MASK, redact, register_secret, scrub_exception
from lambda_trigger.report import TriggerFailed
from tests.fakes import BUCKET, TokenEndpoint, load_event

SECRET = "s3cr3t+/=&~Zq9 never-log-me"  # URL-special characters: each encoding differs
CLIENT_ID = "nst-trigger"
STYLE = f"s3://{BUCKET}/styles/default.jpg"


def encodings(secret: str, client_id: str) -> dict[str, str]:
    """Every form in which the secret reaches a request, a log or an error."""
    forms = {"plain": secret, "quote_plus": quote_plus(secret), "quote": quote(secret, safe="")}
    for name, spelling in (("plain", secret), ("quote_plus", quote_plus(secret))):
        raw = f"{client_id}:{spelling}".encode()
        forms[f"base64(id:{name})"] = base64.b64encode(raw).decode()
        forms[f"urlsafe_base64(id:{name})"] = base64.urlsafe_b64encode(raw).decode()
    return forms


class Everything(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_logger_at_debug(monkeypatch: pytest.MonkeyPatch) -> Iterator[Everything]:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    capture = Everything()
    touched: list[tuple[logging.Logger, int]] = []

    def attach() -> None:
        """Loggers are created as libraries import: call again after the first invocation."""
        for logger in [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]:
            if not any(logger is seen for seen, _ in touched):
                touched.append((logger, logger.level))
                logger.setLevel(logging.DEBUG)
                if not logger.propagate or logger is logging.getLogger():
                    logger.addHandler(capture)

    capture.attach = attach  # type: ignore[attr-defined]
    yield capture  # the test attaches once its own setup (creating the secret in moto) is done
    for logger, level in touched:
        logger.setLevel(level)
        logger.removeHandler(capture)


def assert_no_form_of_the_secret_in(text: str) -> None:
    found = [name for name, form in encodings(SECRET, CLIENT_ID).items() if form in text]
    assert not found, f"the secret leaked as {found}"


def test_at_debug_the_secret_appears_nowhere_through_success_failure_and_an_echoing_token_endpoint(
    handler, s3, flyteadmin, flyte_env, every_logger_at_debug, capfd
) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")
    arn = boto3.client("secretsmanager").create_secret(
        Name="nst/flyte", SecretString=json.dumps({"client_secret": SECRET})
    )["ARN"]
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.required_token = TokenEndpoint.ACCESS_TOKEN
    every_logger_at_debug.attach()
    handle = handler(NST_STYLE_URI=STYLE, NST_FLYTE_CLIENT_SECRET_ARN=arn, FLYTE_CREDENTIALS_CLIENT_ID=CLIENT_ID)
    every_logger_at_debug.attach()

    launched = handle(load_event("s3_put.json"))  # Secrets Manager -> token -> bearer -> CreateExecution
    assert launched["launched"][0]["duplicate"] is False
    assert flyteadmin.tokens.secrets_seen == [SECRET]  # the real secret was used, through flytekit's own flow

    flyteadmin.servicer.fail_with = grpc.StatusCode.UNAVAILABLE  # a failure is logged too
    with pytest.raises(TriggerFailed) as unavailable:
        handle(load_event("s3_reupload.json"))

    # A new container whose token endpoint echoes the request, Basic header included, in its 401 error.
    flyteadmin.servicer.fail_with = None
    flyteadmin.tokens.echo_request_in_error = True
    echoing = handler(NST_STYLE_URI=STYLE, NST_FLYTE_CLIENT_SECRET_ARN=arn, FLYTE_CREDENTIALS_CLIENT_ID=CLIENT_ID)
    every_logger_at_debug.attach()
    with pytest.raises(TriggerFailed) as echoed:
        echoing(load_event("s3_put_versioned.json"))
    assert "Status Code (401) received from IDP" in str(echoed.value) and MASK in str(echoed.value)

    captured = capfd.readouterr()
    lines = every_logger_at_debug.lines
    assert any(line.startswith("botocore") for line in lines) and any("flytekit" in line for line in lines)
    everything: list[Any] = [
        *lines,
        handle.raw_logs(),
        echoing.raw_logs(),
        json.dumps(launched),
        str(unavailable.value),
        str(echoed.value),
        captured.out,
        captured.err,
    ]
    assert_no_form_of_the_secret_in("\n".join(map(str, everything)))


def test_redact_masks_every_encoding() -> None:
    register_secret("an0ther secret+/=", "client-id")
    for form in encodings("an0ther secret+/=", "client-id").values():
        assert redact(f"before {form} after") == f"before {MASK} after"
    assert redact("nothing to hide") == "nothing to hide"


def test_a_caught_error_and_everything_it_chains_lose_the_secret() -> None:
    """A chained exception is printed whole by any traceback, logging's own error report included."""
    register_secret("chained-s3cret", "client-id")
    try:
        try:
            raise KeyError("echoed: chained-s3cret")
        except KeyError as inner:
            raise RuntimeError("IdP said", "chained-s3cret", 401) from inner
    except RuntimeError as outer:
        scrub_exception(outer)
        assert outer.args == ("IdP said", MASK, 401)
        assert outer.__cause__ is not None and outer.__cause__.args == (f"echoed: {MASK}",)


def test_at_debug_a_secret_from_flytekits_own_variable_appears_nowhere_either(
    handler, s3, flyteadmin, flyte_env, every_logger_at_debug, capfd
) -> None:
    s3.put_object(Bucket=BUCKET, Key="styles/monet.jpg", Body=b"style")
    flyte_env(flyteadmin.endpoint)
    flyteadmin.servicer.required_token = TokenEndpoint.ACCESS_TOKEN
    every_logger_at_debug.attach()
    handle = handler(NST_STYLE_URI=STYLE, FLYTE_CREDENTIALS_CLIENT_ID=CLIENT_ID, FLYTE_CREDENTIALS_CLIENT_SECRET=SECRET)
    every_logger_at_debug.attach()
    launched = handle(load_event("s3_put.json"))
    assert flyteadmin.tokens.secrets_seen == [SECRET] and launched["launched"]
    flyteadmin.tokens.echo_request_in_error = True
    echoing = handler(
        NST_STYLE_URI=STYLE, FLYTE_CREDENTIALS_CLIENT_ID=CLIENT_ID, FLYTE_CREDENTIALS_CLIENT_SECRET=SECRET
    )
    with pytest.raises(TriggerFailed) as echoed:
        echoing(load_event("s3_reupload.json"))
    captured = capfd.readouterr()
    everything = [*every_logger_at_debug.lines, handle.raw_logs(), echoing.raw_logs(), str(echoed.value)]
    assert_no_form_of_the_secret_in("\n".join([*everything, json.dumps(launched), captured.out, captured.err]))
