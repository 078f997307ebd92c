"""The fakes the trigger's tests, benchmarks and local-stack tests share: real servers on loopback, no mocks.

* :class:`FakeFlyteAdmin` and :func:`start_admin`: an in-process gRPC server implementing the AdminService RPCs
  FlyteRemote uses to fetch a launch plan (ListLaunchPlans for "latest", GetLaunchPlan, GetWorkflow) and the
  CreateExecution the trigger sends. Its launch plan and workflow are serialized by flytekit from
  ``tests/trigger/stub_workflow.py`` (the real workflow's signature). Beside it run AuthMetadataService and an
  OAuth2 token endpoint (:class:`TokenEndpoint`), so the client-secret flow runs for real when a test makes the
  admin demand a bearer token.
* :class:`BlackHole`: a loopback TCP server that accepts every connection and never answers; :class:`StatusServer`:
  an HTTP server that answers every request with one status (an S3 that forbids, or fails, everything).
* :class:`LambdaContextStub`: the attributes of Lambda's context object that the handler and Powertools read.
* :func:`load_event`: the fixture events of ``tests/trigger/events/``, all naming :data:`BUCKET`;
  :func:`stage_uploads` puts the uploads an event names into S3 (the trigger reads each one's metadata).
* :func:`flytekit_env_names`: every environment variable flytekit's configuration reads.

The pytest fixtures that wrap them are in ``tests/trigger/conftest.py``.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import socket
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin import common_pb2, execution_pb2, launch_plan_pb2, workflow_pb2
from flyteidl.core import compiler_pb2, identifier_pb2
from flyteidl.service import admin_pb2_grpc, auth_pb2, auth_pb2_grpc


def flytekit_env_names() -> set[str]:
    """Every environment variable flytekit's configuration reads (``FLYTE_PLATFORM_URL``, ...)."""
    from flytekit.configuration import internal as flytekit_settings

    names = set()
    for _, section in inspect.getmembers(flytekit_settings, inspect.isclass):
        for _, entry in inspect.getmembers(section):
            legacy = getattr(entry, "legacy", None)
            if legacy is not None and hasattr(legacy, "get_env_name"):
                names.add(legacy.get_env_name())
    return names


EVENTS = Path(__file__).parent / "trigger" / "events"
BUCKET = "nst-demo-uploads"  # the bucket named by every fixture event
PROJECT, DOMAIN = "flytesnacks", "development"
LAUNCH_PLAN = "workflows.neural_style_transfer.neural_style_transfer_wf"
VERSIONS = ("v1", "v2")  # registered in this order; "latest" is v2


def load_event(name: str) -> dict[str, Any]:
    """A fixture event from tests/trigger/events/."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@dataclass
class LambdaContextStub:
    """The attributes of Lambda's context object that the handler and powertools read."""

    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name: str = "nst-trigger"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:nst-trigger"
    memory_limit_in_mb: int = 512
    log_group_name: str = "/aws/lambda/nst-trigger"
    log_stream_name: str = "2024/01/01/[$LATEST]abcdef"
    #: the invocation's time, as Lambda's clock counts it down from the first call of get_remaining_time_in_millis
    timeout_s: float = 60.0
    _started: float | None = field(default=None, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        if self._started is None:
            self._started = time.monotonic()
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def _serialized_entities(version: str) -> tuple[launch_plan_pb2.LaunchPlan, workflow_pb2.Workflow]:
    """The admin LaunchPlan and Workflow for the stub workflow, serialized by flytekit as registration would."""
    from flytekit import LaunchPlan
    from flytekit.configuration import ImageConfig, SerializationSettings
    from flytekit.models.task import TaskSpec
    from flytekit.tools.translator import get_serializable

    from tests.trigger import stub_workflow

    settings = SerializationSettings(
        image_config=ImageConfig.auto_default_image(), project=PROJECT, domain=DOMAIN, version=version
    )
    entities: OrderedDict = OrderedDict()
    workflow_spec = get_serializable(entities, settings, stub_workflow.neural_style_transfer_wf)
    launch_plan = LaunchPlan.get_or_create(stub_workflow.neural_style_transfer_wf, name=LAUNCH_PLAN)
    launch_plan_model = get_serializable(entities, settings, launch_plan)
    tasks = [spec.template.to_flyte_idl() for spec in entities.values() if isinstance(spec, TaskSpec)]
    workflow_template = workflow_spec.template.to_flyte_idl()
    workflow = workflow_pb2.Workflow(
        id=workflow_template.id,
        closure=workflow_pb2.WorkflowClosure(
            compiled_workflow=compiler_pb2.CompiledWorkflowClosure(
                primary=compiler_pb2.CompiledWorkflow(template=workflow_template),
                tasks=[compiler_pb2.CompiledTask(template=template) for template in tasks],
            )
        ),
    )
    spec = launch_plan_model.spec.to_flyte_idl()
    admin_launch_plan = launch_plan_pb2.LaunchPlan(
        id=launch_plan_model.id.to_flyte_idl(),
        spec=spec,
        closure=launch_plan_pb2.LaunchPlanClosure(
            state=launch_plan_pb2.ACTIVE,
            expected_inputs=spec.default_inputs,
            expected_outputs=workflow_template.interface.outputs,
        ),
    )
    return admin_launch_plan, workflow


def _key(identifier: identifier_pb2.Identifier) -> tuple[str, str, str, str]:
    return (identifier.project, identifier.domain, identifier.name, identifier.version)


class FakeFlyteAdmin(admin_pb2_grpc.AdminServiceServicer):
    """flyteadmin's behaviour for the RPCs the trigger causes, recording every request.

    Like the real service it answers NOT_FOUND for unknown entities, INVALID_ARGUMENT for inputs the launch plan
    does not declare (or required ones missing), and ALREADY_EXISTS for a second execution with a used name.
    Setting ``fail_with`` makes every RPC fail with that status (e.g. UNAVAILABLE); setting ``required_token``
    makes every RPC without ``authorization: Bearer <token>`` fail with UNAUTHENTICATED.
    """

    def __init__(self) -> None:
        self.launch_plans: list[launch_plan_pb2.LaunchPlan] = []  # in registration order
        self.workflows: dict[tuple[str, str, str, str], workflow_pb2.Workflow] = {}
        for version in VERSIONS:
            launch_plan, workflow = _serialized_entities(version)
            self.launch_plans.append(launch_plan)
            self.workflows[_key(workflow.id)] = workflow
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: list[str] = []
            self.create_requests: list[execution_pb2.ExecutionCreateRequest] = []
            self.executions: dict[tuple[str, str, str], execution_pb2.ExecutionCreateRequest] = {}
            self.fail_with: grpc.StatusCode | None = None
            self.required_token: str | None = None
            #: consumed one per CreateExecution: (code, committed); committed=True stores the execution first, as
            #: a flyteadmin whose reply is lost on the way back
            self.create_faults: list[tuple[grpc.StatusCode, bool] | None] = []  # None: no fault for that call
            #: seconds every RPC waits before answering (a slow flyteadmin)
            self.delay_s: float = 0.0
            #: return a message to reject one CreateExecution with INVALID_ARGUMENT, as admin's validation does
            self.validate: Callable[[execution_pb2.ExecutionCreateRequest], str | None] = lambda request: None

    def _enter(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append(method)
            failure = self.fail_with
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure is not None:
            context.abort(failure, f"fake flyteadmin: {method} fails with {failure.name}")
        if self.required_token is not None:
            metadata = dict(context.invocation_metadata())
            if metadata.get("authorization") != f"Bearer {self.required_token}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "fake flyteadmin: bearer token required")

    def ListLaunchPlans(self, request: common_pb2.ResourceListRequest, context: grpc.ServicerContext) -> Any:
        self._enter("ListLaunchPlans", context)
        wanted = (request.id.project, request.id.domain, request.id.name)
        matching = [lp for lp in reversed(self.launch_plans) if _key(lp.id)[:3] == wanted]  # newest first
        return launch_plan_pb2.LaunchPlanList(launch_plans=matching[: request.limit or 100])

    def GetLaunchPlan(self, request: common_pb2.ObjectGetRequest, context: grpc.ServicerContext) -> Any:
        self._enter("GetLaunchPlan", context)
        for launch_plan in self.launch_plans:
            if _key(launch_plan.id) == _key(request.id):
                return launch_plan
        context.abort(grpc.StatusCode.NOT_FOUND, f"missing entity of type LAUNCH_PLAN with identifier {request.id}")

    def GetWorkflow(self, request: common_pb2.ObjectGetRequest, context: grpc.ServicerContext) -> Any:
        self._enter("GetWorkflow", context)
        workflow = self.workflows.get(_key(request.id))
        if workflow is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"missing entity of type WORKFLOW with identifier {request.id}")
        return workflow

    def CreateExecution(self, request: execution_pb2.ExecutionCreateRequest, context: grpc.ServicerContext) -> Any:
        self._enter("CreateExecution", context)
        launch_plan = next((lp for lp in self.launch_plans if _key(lp.id) == _key(request.spec.launch_plan)), None)
        if launch_plan is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"launch plan {request.spec.launch_plan} not found")
        parameters = launch_plan.spec.default_inputs.parameters
        unknown = set(request.inputs.literals) - set(parameters)
        missing = {name for name, p in parameters.items() if p.required and name not in request.inputs.literals}
        if unknown or missing:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown inputs {unknown}, missing inputs {missing}")
        problem = self.validate(request)
        if problem:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        key = (request.project, request.domain, request.name)
        with self._lock:
            self.create_requests.append(request)
            fault = self.create_faults.pop(0) if self.create_faults else None
            if fault is not None and not fault[1]:
                context.abort(fault[0], f"fake flyteadmin: CreateExecution fails with {fault[0].name}")
            if key in self.executions:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"execution {request.name} already exists")
            self.executions[key] = request
            if fault is not None:
                context.abort(fault[0], f"fake flyteadmin: CreateExecution committed, reply lost ({fault[0].name})")
        identifier = identifier_pb2.WorkflowExecutionIdentifier(
            project=request.project, domain=request.domain, name=request.name
        )
        return execution_pb2.ExecutionCreateResponse(id=identifier)


class TokenEndpoint:
    """An OAuth2 token endpoint (client-credentials grant) that records the client secrets it was shown."""

    ACCESS_TOKEN = "fake-access-token"

    def __init__(self) -> None:
        self.secrets_seen: list[str] = []
        #: answer 401 with the whole request (headers and body) echoed in the error, as some proxies and IdPs do
        self.echo_request_in_error = False
        endpoint = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
                if scheme == "Basic":
                    _, _, secret = base64.b64decode(encoded).decode().partition(":")
                    endpoint.secrets_seen.append(urllib.parse.unquote_plus(secret))
                if endpoint.echo_request_in_error:
                    echoed = f"{self.requestline}\n{self.headers}\n{request_body.decode()}"
                    body = json.dumps({"error": "invalid_client", "error_description": f"rejected: {echoed}"})
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(body.encode())
                    return
                body = json.dumps({"access_token": endpoint.ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth2/token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeAuthMetadata(auth_pb2_grpc.AuthMetadataServiceServicer):
    """Where flytekit's client-credentials flow learns the token endpoint, as from a real flyteadmin."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url

    def GetOAuth2Metadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return auth_pb2.OAuth2MetadataResponse(
            issuer="http://127.0.0.1", token_endpoint=self.token_url, grant_types_supported=["client_credentials"]
        )

    def GetPublicClientConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        return auth_pb2.PublicClientAuthConfigResponse(
            client_id="flytectl", authorization_metadata_key="authorization", scopes=["all"]
        )


@dataclass
class AdminServer:
    """A running fake flyteadmin: its servicer (for assertions) and its address."""

    servicer: FakeFlyteAdmin
    endpoint: str
    server: grpc.Server = field(repr=False)
    tokens: TokenEndpoint | None = field(default=None, repr=False)

    def stop(self) -> None:
        self.server.stop(grace=None).wait()
        if self.tokens is not None:
            self.tokens.stop()


def start_admin(servicer: FakeFlyteAdmin, port: int = 0, token_url: str | None = None) -> AdminServer:
    """Serve ``servicer`` (and the auth metadata) on a loopback port; 0 picks a free one.

    The auth metadata names this server's own token endpoint, or ``token_url`` (say, a black hole's).
    """
    tokens = TokenEndpoint()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
    auth_pb2_grpc.add_AuthMetadataServiceServicer_to_server(FakeAuthMetadata(token_url or tokens.url), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return AdminServer(servicer=servicer, endpoint=f"127.0.0.1:{bound}", server=server, tokens=tokens)


class BlackHole:
    """A TCP server on loopback that accepts every connection and never answers: the worst a dependency can do."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.endpoint}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(connection)  # read nothing, answer nothing, keep it open

    def stop(self) -> None:
        self._stopped.set()
        for connection in self._held:
            connection.close()
        self._listener.close()


def uploads_named_by(event: Any) -> list[tuple[str, str]]:
    """(bucket, key) of every object-created record in an event of any accepted shape (SQS, SNS, EventBridge
    included); parts that cannot be read are left out (the trigger reports those itself)."""
    found: list[tuple[str, str]] = []

    def visit(payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        if payload.get("source") == "aws.s3" and payload.get("detail-type") == "Object Created":
            detail = payload.get("detail") or {}
            found.append((str(detail["bucket"]["name"]), str(detail["object"]["key"])))
        records = payload.get("Records")
        for record in records if isinstance(records, list) else []:
            with contextlib.suppress(Exception):  # hostile test input: whatever can be read is staged
                if record.get("eventSource") == "aws:sqs":
                    visit(json.loads(record["body"]))
                elif str(record.get("eventName", "")).startswith("ObjectCreated:"):
                    s3 = record["s3"]
                    found.append((str(s3["bucket"]["name"]), urllib.parse.unquote_plus(str(s3["object"]["key"]))))
        if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
            visit(json.loads(payload["Message"]))

    with contextlib.suppress(Exception):
        visit(event)
    return found


def stage_uploads(s3: Any, event: Any, body: bytes = b"photo") -> None:
    """Put every upload ``event`` names that S3 does not hold yet, as on AWS, where the event follows the PUT (the
    trigger reads each upload's metadata with HeadObject). Objects a test put itself are left as they are."""
    for bucket, key in uploads_named_by(event):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            continue
        except Exception:
            pass
        with contextlib.suppress(Exception):  # it exists already, or the name is one S3 refuses
            s3.create_bucket(Bucket=bucket)
        with contextlib.suppress(Exception):  # a key S3 refuses (the trigger refuses it too)
            s3.put_object(Bucket=bucket, Key=key, Body=body)


class StatusServer:
    """An HTTP server on loopback that answers every request with one status and no body (an S3 that forbids
    everything with 403, or fails with 500), as boto3 sees a real one."""

    def __init__(self, status: int) -> None:
        self.requests = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.requests += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET = do_PUT = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
