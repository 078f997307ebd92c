"""Calling flyteadmin: every RPC under a deadline, retried with backoff on transient gRPC codes only and within
the invocation's time budget, and its failure told in one line."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lambda_trigger import budget as budgets
from lambda_trigger.redaction import redact
from lambda_trigger.settings import Settings

T = TypeVar("T")

#: gRPC codes worth another attempt: flyteadmin (or the way to it) may answer differently in a moment. Every
#: other code (PERMISSION_DENIED, INVALID_ARGUMENT, INTERNAL, UNKNOWN, ...) fails at once.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 2.0


class ConnectionFailed(Exception):
    """flyteadmin, the client secret or the launch plan cannot be reached; nothing can launch right now."""


def call_flyteadmin(settings: Settings, what: str, call: Callable[[int], T], rpcs: int = 1) -> T:
    """``call(attempt)`` under a deadline per RPC, retried with backoff on transient gRPC codes only, within budget.

    flytekit's own retries are off (``rpc_retries=0`` in the config): it retries every failure at once, whatever
    the code. Each attempt starts only if its worst case fits in the invocation's time left (see ``budget.py``).
    """
    budget = budgets.current()
    worst = rpc_worst_s(settings, rpcs)
    for attempt in range(settings.rpc_retries + 1):
        budget.require(worst, what)
        try:
            with _scoped_grpc_deadline(budget.cap(send_deadline_s(settings))):
                return call(attempt)
        except Exception as exc:
            if grpc_code(exc) not in TRANSIENT_CODES or attempt == settings.rpc_retries:
                raise
            pause = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt) * random.uniform(0.5, 1.0)
            if budget.left() < pause + worst:
                raise  # no time for another attempt: report what this one found
            time.sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")


def rpc_worst_s(settings: Settings, rpcs: int = 1) -> float:
    """The longest ``rpcs`` flyteadmin RPCs may take: each within NST_FLYTE_RPC_TIMEOUT_S (see ``send_deadline_s``),
    plus one token request (the first RPC of a container with a client secret fetches a token)."""
    return rpcs * settings.rpc_timeout_s + settings.connect_timeout_s + settings.read_timeout_s


def send_deadline_s(settings: Settings) -> float:
    """The deadline of each send of an RPC: half of NST_FLYTE_RPC_TIMEOUT_S, because flytekit sends an RPC a second
    time after UNAUTHENTICATED or UNKNOWN (with refreshed credentials), so that both sends fit in the RPC's deadline."""
    return settings.rpc_timeout_s / 2


def _scoped_grpc_deadline(seconds: float) -> Any:
    from flytekit.clients.grpc_utils.deadline_interceptor import scoped_grpc_deadline

    return scoped_grpc_deadline(seconds)


def grpc_code(exc: BaseException) -> str | None:
    """The gRPC status code name behind a flytekit exception (flytekit keeps the RpcError as ``__cause__``)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        code = getattr(seen, "code", None)
        if callable(code):
            try:
                value = code()
            except Exception:
                value = None
            name = getattr(value, "name", None)
            if isinstance(name, str):
                return name
        seen = seen.__cause__
    return None


def authentication_required(endpoint: str) -> str:
    return (
        f"flyteadmin at {endpoint} requires authentication: give the trigger a client id "
        "(FLYTE_CREDENTIALS_CLIENT_ID) and secret (NST_FLYTE_CLIENT_SECRET_ARN or "
        "FLYTE_CREDENTIALS_CLIENT_SECRET); interactive logins cannot run here"
    )


def describe_flyte_error(exc: BaseException) -> str:
    """One line for a flytekit/gRPC failure: the exception type, then the gRPC status and details it wraps."""
    cause = exc.__cause__
    details = getattr(cause, "details", None)
    if callable(details):
        code = cause.code() if callable(getattr(cause, "code", None)) else None  # type: ignore[union-attr]
        text = f"{type(exc).__name__} {getattr(code, 'name', code)}: {details()}"
    elif cause is not None:
        text = f"{type(exc).__name__} {type(cause).__name__}: {cause}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc).strip() else type(exc).__name__
    return redact(" ".join(text.split()))[:500]
