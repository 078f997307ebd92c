"""Fixtures for the trigger tests: thin wrappers around the fakes of ``tests/fakes.py`` (real servers on loopback).

* ``moto_endpoint``/``aws``/``s3``: moto's S3/Secrets Manager server (the session's ThreadedMotoServer) on loopback;
  boto3 reaches it through ``AWS_ENDPOINT_URL``, exactly as a local stack would.
* ``flyteadmin``: the session's :class:`~tests.fakes.FakeFlyteAdmin` (with its token endpoint), requests cleared.
* ``black_hole``: a :class:`~tests.fakes.BlackHole` for one test.
* ``handler``: imports ``lambda_trigger.lambda_function`` afresh under a given environment, as a new Lambda
  container would, and calls ``lambda_handler`` with a :class:`~tests.fakes.LambdaContextStub`.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_trigger.settings import VARIABLES
from tests.conftest import S3Server
from tests.fakes import (
    BUCKET,
    AdminServer,
    BlackHole,
    FakeFlyteAdmin,
    LambdaContextStub,
    flytekit_env_names,
    stage_uploads,
    start_admin,
)

# --------------------------------------------------------------------------------------------------- AWS (moto)


@pytest.fixture(scope="session")
def moto_endpoint(s3_server: S3Server) -> str:
    """The session's one moto server (tests/conftest.py); the ``aws`` fixture resets its state per test."""
    return s3_server.endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto state, and boto3 pointed at it through the environment (as the trigger's code sees it)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint


@pytest.fixture
def s3(aws: str) -> Any:
    """An S3 client on the moto server, with the fixtures' bucket created."""
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


# --------------------------------------------------------------------------------------------------- flyteadmin


@pytest.fixture(scope="session")
def admin_servicer() -> FakeFlyteAdmin:
    return FakeFlyteAdmin()


@pytest.fixture(scope="session")
def _admin_server(admin_servicer: FakeFlyteAdmin) -> Iterator[AdminServer]:
    running = start_admin(admin_servicer)
    yield running
    running.stop()


@pytest.fixture
def flyteadmin(_admin_server: AdminServer) -> AdminServer:
    """The shared fake flyteadmin, with its recorded requests cleared."""
    _admin_server.servicer.reset()
    if _admin_server.tokens is not None:
        _admin_server.tokens.secrets_seen.clear()
        _admin_server.tokens.echo_request_in_error = False
    return _admin_server


# --------------------------------------------------------------------------------------------------- black hole


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.stop()


# --------------------------------------------------------------------------------------------------- the handler


@pytest.fixture
def flyte_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], None]:
    """Point flytekit at an admin endpoint through FLYTE_* variables over a flytectl-style YAML flyte.config."""
    config = tmp_path / "flyte.config"
    config.write_text("admin:\n  endpoint: dns:///localhost:30080\n  insecure: false\n  authType: Pkce\n")

    def point_at(endpoint: str) -> None:
        monkeypatch.setenv("FLYTECTL_CONFIG", str(config))
        monkeypatch.setenv("FLYTE_PLATFORM_URL", endpoint)
        monkeypatch.setenv("FLYTE_PLATFORM_INSECURE", "true")

    return point_at


#: What a test's environment must not inherit from the developer's shell: every variable the trigger reads (the
#: registry in settings.py) and every one flytekit's configuration reads.
TRIGGER_VARIABLES = sorted({variable.name for variable in VARIABLES} | flytekit_env_names())


class Handler:
    """``lambda_trigger.lambda_function`` as one container imported it, plus the JSON log lines it wrote.

    With ``uploads_in`` (an S3 client on moto), every upload an event names is put there first if missing
    (:func:`tests.fakes.stage_uploads`): on AWS an event follows its PUT, and the trigger reads each upload's
    metadata with HeadObject.
    """

    def __init__(
        self, module: Any, records: list[logging.LogRecord], formatter: logging.Formatter, uploads_in: Any = None
    ) -> None:
        self.module = module
        self._records = records
        self._formatter = formatter
        self.uploads_in = uploads_in

    def __call__(self, event: dict[str, Any], context: LambdaContextStub | None = None) -> dict[str, Any]:
        if self.uploads_in is not None:
            stage_uploads(self.uploads_in, event)
        return self.module.lambda_handler(event, context or LambdaContextStub())

    def logs(self) -> list[dict[str, Any]]:
        """Every structured line logged so far, parsed."""
        return [json.loads(self._formatter.format(record)) for record in self._records]

    def record_logs(self) -> list[dict[str, Any]]:
        """Only the per-record lines (one per record: launched, skipped or failed)."""
        return [line for line in self.logs() if line.get("outcome")]

    def raw_logs(self) -> str:
        return "\n".join(self._formatter.format(record) for record in self._records)


@pytest.fixture(autouse=True)
def _clean_trigger_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the defaults, whatever the developer's shell exports."""
    for name in TRIGGER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> Iterator[Callable[..., Handler]]:
    """``handler(NST_LAUNCH_MODE="dry-run", ...)``: a fresh container whose environment adds these variables.

    The container is deployed for the fixtures' bucket (``NST_ALLOWED_BUCKETS``) unless the test says otherwise;
    ``NST_ALLOWED_BUCKETS=""`` leaves the variable unset. Outside dry-run, the uploads each event names are put in
    moto's S3 first unless ``stage_uploads=False`` (a test of a missing upload).
    """
    attached: list[tuple[logging.Logger, logging.Handler]] = []

    def start(stage_uploads: bool = True, **env: str) -> Handler:
        env.setdefault("NST_ALLOWED_BUCKETS", BUCKET)
        for name, value in env.items():
            if value == "" and name == "NST_ALLOWED_BUCKETS":
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        sys.modules.pop("lambda_trigger.lambda_function", None)
        module = importlib.import_module("lambda_trigger.lambda_function")
        records: list[logging.LogRecord] = []
        capture = _ListHandler(records)
        target = logging.getLogger(module.logger.name)
        target.addHandler(capture)
        attached.append((target, capture))
        staging = stage_uploads and env.get("NST_LAUNCH_MODE") != "dry-run"
        uploads_in = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1") if staging else None
        return Handler(module, records, module.logger.registered_formatter, uploads_in)

    yield start
    for target, capture in attached:
        target.removeHandler(capture)
    sys.modules.pop("lambda_trigger.lambda_function", None)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
