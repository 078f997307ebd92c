"""Starting an execution (NST_LAUNCH_MODE):

* ``remote`` (default): CreateExecution on flyteadmin for the registered launch plan, via flytekit's FlyteRemote.
* ``dry-run``: no network call at all; reports the execution it would start.

A host may hand the trigger a launcher of its own (``Trigger.from_settings(..., launcher=...)``): the local stack
runs the workflow in-process (``devstack/launcher.py``), which this package, built without TensorFlow, never can.
Every launcher returns the same receipt, so results and logs look alike whichever ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambda_trigger.admin_calls import (
    ConnectionFailed,
    authentication_required,
    call_flyteadmin,
    describe_flyte_error,
    grpc_code,
)
from lambda_trigger.budget import NotAttempted
from lambda_trigger.flyte_connection import Connection, connect
from lambda_trigger.redaction import scrub_exception
from lambda_trigger.settings import Settings

REQUIRED_INPUTS = ("content_img", "style_img", "output_uri")


class LaunchError(Exception):
    """This execution could not be started; the message is one line."""


class LauncherUnavailable(LaunchError):
    """Nothing can be launched right now (flyteadmin unreachable, launch plan missing, workflow not importable).

    The pipeline fails the rest of the invocation's records with this error instead of waiting for each in turn.
    """


@dataclass(frozen=True)
class LaunchRequest:
    """One execution to start: its deterministic name and its workflow inputs (plain values; files as URIs, their
    kinds in ``options.WORKFLOW_INPUTS``)."""

    execution_name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class LaunchReceipt:
    """What happened: ``duplicate`` means an execution of that name already existed (a redelivered event)."""

    execution_name: str
    duplicate: bool
    detail: dict[str, Any] = field(default_factory=dict)


class Launcher(Protocol):
    mode: str

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        """Start the execution; raises :class:`LaunchError` (or :class:`LauncherUnavailable`)."""
        ...


class DryRunLauncher:
    """Reports what would be launched; touches nothing."""

    mode = "dry-run"

    def __init__(self, settings: Settings) -> None:
        self._launch_plan = f"{settings.launch_plan}:{settings.launch_plan_version or 'latest'}"

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        return LaunchReceipt(request.execution_name, duplicate=False, detail={"launch_plan": self._launch_plan})


class RemoteLauncher:
    """Creates executions on flyteadmin. FlyteRemote and the launch plan are fetched once per container.

    A failed connection is not cached, so the next record or invocation tries again. Executions are created with
    the client's CreateExecution rather than ``FlyteRemote.execute``: ``execute`` swallows ALREADY_EXISTS and
    follows every launch with a GetExecution, while the trigger needs to know about duplicates and wants one round
    trip per record. Inputs are converted exactly as ``execute`` does, with flytekit's TypeEngine against the
    launch plan's interface.
    """

    mode = "remote"

    def __init__(self, settings: Settings, connector: Callable[[Settings], Connection] = connect) -> None:
        self._settings = settings
        self._connector = connector
        self._connection: Connection | None = None

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        from flytekit.exceptions.user import FlyteEntityAlreadyExistsException

        connection = self._connect()
        spec, literals = self._execution(connection, request)
        settings = self._settings
        name = request.execution_name

        def create(attempt: int) -> LaunchReceipt:
            detail = {"launch_plan": connection.launch_plan_ref, "attempts": attempt + 1}
            try:
                connection.remote.client.create_execution(
                    settings.flyte_project, settings.flyte_domain, name, spec, literals
                )
            except FlyteEntityAlreadyExistsException:
                # On a retry, the execution is most likely this invocation's own earlier attempt, committed by
                # flyteadmin but with its reply lost: launched, not a duplicate delivery.
                return LaunchReceipt(name, duplicate=attempt == 0, detail=detail)
            return LaunchReceipt(name, duplicate=False, detail=detail)

        try:
            return call_flyteadmin(settings, f"CreateExecution {name}", create)
        except NotAttempted:
            raise
        except Exception as exc:
            raise _launch_failure(connection.endpoint, name, scrub_exception(exc)) from exc

    def _connect(self) -> Connection:
        if self._connection is None:
            try:
                connection = self._connector(self._settings)
            except ConnectionFailed as exc:
                raise LauncherUnavailable(str(exc)) from exc
            _check_interface(connection)
            self._connection = connection
        return self._connection

    @staticmethod
    def _execution(connection: Connection, request: LaunchRequest) -> tuple[Any, Any]:
        """The ExecutionSpec and input LiteralMap, as FlyteRemote.execute would build them."""
        from flytekit.core.type_engine import TypeEngine
        from flytekit.models.execution import ExecutionMetadata, ExecutionSpec, NotificationList
        from flytekit.models.literals import LiteralMap

        variables = connection.launch_plan.interface.inputs
        literals = {}
        with connection.remote.remote_context() as ctx:
            for name, value in request.inputs.items():
                variable = variables.get(name)
                if variable is None:
                    raise LaunchError(f"launch plan {connection.launch_plan_ref} has no input {name!r}")
                python_type = TypeEngine.guess_python_type(variable.type)
                try:
                    literals[name] = TypeEngine.to_literal(ctx, value, python_type, variable.type)
                except Exception as exc:
                    raise LaunchError(
                        f"input {name}={value!r} does not fit launch plan {connection.launch_plan_ref}: {exc}"
                    ) from exc
        spec = ExecutionSpec(
            connection.launch_plan.id,
            # flyteadmin replaces the principal with the caller's identity when auth is on.
            ExecutionMetadata(ExecutionMetadata.ExecutionMode.MANUAL, "placeholder", 0),
            notifications=NotificationList([]),
        )
        return spec, LiteralMap(literals=literals)


#: Codes after which no record of this invocation can launch: flyteadmin is away, or refuses this caller.
_UNAVAILABLE_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
_REFUSES_CALLER_CODES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}


def _launch_failure(endpoint: str, name: str, exc: Exception) -> LaunchError:
    """The failure of one CreateExecution, classified by its gRPC code (UNKNOWN stays UNKNOWN)."""
    code = grpc_code(exc)
    described = describe_flyte_error(exc)
    if code in _UNAVAILABLE_CODES:
        return LauncherUnavailable(f"flyteadmin at {endpoint} unavailable: {described}")
    if code == "UNAUTHENTICATED":
        return LauncherUnavailable(f"{authentication_required(endpoint)} ({described})")
    if code in _REFUSES_CALLER_CODES:
        return LauncherUnavailable(f"flyteadmin at {endpoint} refuses the trigger: {described}")
    if code is None:
        # Not an RPC status: the token endpoint or the network below gRPC failed; no launch can succeed now.
        return LauncherUnavailable(f"flyteadmin at {endpoint} unreachable: {described}")
    return LaunchError(f"CreateExecution {name} failed: {described}")


def _check_interface(connection: Connection) -> None:
    """Fail fast, with the launch plan named, if it lacks an input the trigger always sends."""
    inputs = connection.launch_plan.interface.inputs
    missing = [name for name in REQUIRED_INPUTS if name not in inputs]
    if missing:
        raise LauncherUnavailable(
            f"launch plan {connection.launch_plan_ref} lacks input(s) {', '.join(missing)}; "
            f"it has {', '.join(sorted(inputs))}"
        )
