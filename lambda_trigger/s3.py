"""The trigger's S3 calls: HeadObject (does a style image exist, what metadata does an upload carry), and the
GetObject and conditional PutObject of an upload's status record (``status_records.py``).

Every call starts only if its worst case fits in the invocation's time left (``budget.py``) and runs with the
settings' connect and read deadlines (two attempts). A timeout, a refused connection or a 5xx marks S3 down for the
rest of the invocation, so the records after it fail at once (``not attempted: ...``) instead of each waiting out
the same timeout. One client per container, built on the first call (dry-run never builds one).

HeadObject on a missing key answers 404 only to a caller allowed to list the bucket (``s3:ListBucket``); without it
S3 answers 403, reported as a failed call with the permission named, never as "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_trigger import budget as budgets
from lambda_trigger.settings import Settings

#: The budget's name for S3.
S3 = "S3"
#: The budget's name for S3 as the status records' writes found it: a write that fails stops the later writes of
#: the invocation, never the reads an upload's launch needs (those find S3 down, or not, for themselves).
S3_STATUS_RECORDS = "S3 (status records)"
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
#: S3's answers to a conditional write that lost: 412 PreconditionFailed, 409 ConditionalRequestConflict.
_CONDITION_CODES = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


class S3CallFailed(Exception):
    """An S3 call failed for a reason other than "no such key" (or a conditional write's condition); the message is
    one line naming the object."""


@dataclass(frozen=True)
class Head:
    """What HeadObject says about an object that exists."""

    metadata: dict[str, str] = field(default_factory=dict)  #: user metadata, ``x-amz-meta-`` stripped


@dataclass(frozen=True)
class Stored:
    """What GetObject returned."""

    body: bytes
    etag: str


class ObjectStore:
    """HeadObject, GetObject and conditional PutObject with deadlines, the budget and one error vocabulary, for
    every S3 call the trigger makes."""

    def __init__(self, settings: Settings, client_factory: Callable[[], Any] | None = None) -> None:
        self._settings = settings
        self._client_factory = client_factory or (lambda: _s3_client(settings))
        self._client: Any = None

    def head(self, bucket: str, key: str, what: str, forbidden_hint: str, suffix: str = "") -> Head | None:
        """The object's head, or None if it does not exist.

        Raises :class:`S3CallFailed` (``<what> failed at s3://bucket/key: <reason><suffix>``) for any other
        failure, and :class:`~lambda_trigger.budget.NotAttempted` when S3 was found down earlier in this invocation
        or the call's worst case does not fit in the time left. ``forbidden_hint`` says which permission a 403
        points to.
        """
        try:
            response = self._call("head_object", bucket, key, what, forbidden_hint, suffix)
        except _Missing:
            return None
        metadata = response.get("Metadata") or {}
        return Head(metadata={str(name): str(value) for name, value in metadata.items()})

    def get(self, bucket: str, key: str, what: str, forbidden_hint: str, dependency: str = S3) -> Stored | None:
        """The object's bytes and ETag, or None if it does not exist; errors as :meth:`head`'s, ``dependency``
        being the budget's name for what is found down."""
        try:
            response = self._call("get_object", bucket, key, what, forbidden_hint, dependency=dependency)
        except _Missing:
            return None
        with response["Body"] as body:  # read within the client's read deadline
            return Stored(body=body.read(), etag=str(response.get("ETag", "")))

    def put_if(
        self,
        bucket: str,
        key: str,
        body: bytes,
        what: str,
        forbidden_hint: str,
        *,
        replacing: str | None,
        dependency: str = S3,
    ) -> bool:
        """PutObject, conditional: with ``replacing=None`` only if no object exists (``If-None-Match: *``), else only
        if the object's ETag is still ``replacing`` (``If-Match``). False when the condition failed (someone wrote
        first, or the object went); errors as :meth:`get`'s."""
        condition = {"IfNoneMatch": "*"} if replacing is None else {"IfMatch": replacing}
        try:
            self._call(
                "put_object",
                bucket,
                key,
                what,
                forbidden_hint,
                dependency=dependency,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except (_Missing, _ConditionFailed):
            return False
        return True

    def _call(
        self,
        operation: str,
        bucket: str,
        key: str,
        what: str,
        forbidden_hint: str,
        suffix: str = "",
        dependency: str = S3,
        **arguments: Any,
    ) -> Any:
        """One call within the budget and the deadlines, with one error vocabulary (see :meth:`head`); a failure
        that shows S3 away marks ``dependency`` down."""
        from botocore.exceptions import BotoCoreError, ClientError

        budget = budgets.current()
        budget.check_up(S3)
        budget.check_up(dependency)
        where = f"s3://{bucket}/{key}"
        budget.require(self._settings.http_call_worst_s, f"{what} at {where}")
        if self._client is None:
            self._client = self._client_factory()
        try:
            return getattr(self._client, operation)(Bucket=bucket, Key=key, **arguments)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _MISSING_CODES:
                raise _Missing from None
            if code in _CONDITION_CODES or status == 412:
                raise _ConditionFailed from None
            hint = f" ({forbidden_hint})" if status == 403 else ""
            if isinstance(status, int) and status >= 500:
                budget.mark_down(dependency, f"S3 failed earlier in this invocation: {code or status} at {where}")
            raise S3CallFailed(f"{what} failed at {where}: {code or status}{hint}{suffix}") from None
        except BotoCoreError as exc:
            # Timeouts and connection failures: S3 is away, so the rest of the invocation does not wait on it.
            budget.mark_down(
                dependency, f"S3 did not answer earlier in this invocation ({type(exc).__name__} at {where})"
            )
            raise S3CallFailed(f"{what} failed at {where}: {exc}{suffix}") from None


class _Missing(Exception):
    """No such key (404)."""


class _ConditionFailed(Exception):
    """A conditional write's precondition did not hold (412), or a concurrent conditional write won (409)."""


def _s3_client(settings: Settings) -> Any:
    """An S3 client with the settings' deadlines; boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 (local stacks)."""
    import boto3

    return boto3.client("s3", config=settings.aws_client_config())
