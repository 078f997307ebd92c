"""The trigger's S3 calls, all HeadObject: does a style image exist, and what metadata does an upload carry.

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
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3CallFailed(Exception):
    """A HeadObject failed for a reason other than "no such key"; the message is one line naming the object."""


@dataclass(frozen=True)
class Head:
    """What HeadObject says about an object that exists."""

    metadata: dict[str, str] = field(default_factory=dict)  #: user metadata, ``x-amz-meta-`` stripped


class ObjectStore:
    """HeadObject with deadlines, the budget and one error vocabulary, for every S3 call the trigger makes."""

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
        from botocore.exceptions import BotoCoreError, ClientError

        budget = budgets.current()
        budget.check_up(S3)
        where = f"s3://{bucket}/{key}"
        budget.require(self._settings.http_call_worst_s, f"{what} at {where}")
        if self._client is None:
            self._client = self._client_factory()
        try:
            response = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                return None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            hint = f" ({forbidden_hint})" if status == 403 else ""
            if isinstance(status, int) and status >= 500:
                budget.mark_down(S3, f"S3 failed earlier in this invocation: {code or status} at {where}")
            raise S3CallFailed(f"{what} failed at {where}: {code or status}{hint}{suffix}") from None
        except BotoCoreError as exc:
            # Timeouts and connection failures: S3 is away, so the rest of the invocation does not wait on it.
            budget.mark_down(S3, f"S3 did not answer earlier in this invocation ({type(exc).__name__} at {where})")
            raise S3CallFailed(f"{what} failed at {where}: {exc}{suffix}") from None
        metadata = response.get("Metadata") or {}
        return Head(metadata={str(name): str(value) for name, value in metadata.items()})


def _s3_client(settings: Settings) -> Any:
    """An S3 client with the settings' deadlines; boto3 honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 (local stacks)."""
    import boto3

    return boto3.client("s3", config=settings.aws_client_config())
