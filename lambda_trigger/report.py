"""The outcome of one invocation: what was launched, skipped and failed, and what Lambda should do about it.

Failure semantics:

* SQS: the result carries ``batchItemFailures`` naming only the messages with a failed record (or an unreadable
  body), so SQS redelivers just those; one bad message never fails the batch. A redelivered message may repeat
  records that had launched: their deterministic names make flyteadmin answer ALREADY_EXISTS (``duplicate``).
* Direct S3 and EventBridge invocations: after every record is handled, any failure raises
  :class:`TriggerFailed`, so Lambda's retries and on-failure destination keep the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lambda_trigger.events import Source

_ERRORS_IN_SUMMARY = 5


class TriggerFailed(RuntimeError):
    """Raised after a direct (S3 or EventBridge) invocation in which at least one record failed."""


@dataclass
class Report:
    """Outcomes in event order; items are plain dicts, ready for the JSON result."""

    source: Source
    launched: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def must_raise(self) -> bool:
        """Direct invocations signal failure by raising; SQS by batchItemFailures."""
        return self.source != "sqs" and bool(self.failed)

    def batch_item_failures(self) -> list[dict[str, str]]:
        """Each SQS message with a failed record, once, in order."""
        ids = dict.fromkeys(item["message_id"] for item in self.failed if item.get("message_id"))
        return [{"itemIdentifier": message_id} for message_id in ids]

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"launched": self.launched, "skipped": self.skipped, "failed": self.failed}
        if self.source == "sqs":
            result["batchItemFailures"] = self.batch_item_failures()
        return result

    def summary(self) -> str:
        """One line: the counts, then the first few errors."""
        total = len(self.launched) + len(self.skipped) + len(self.failed)
        errors = [f"{_where(item)}: {item['error']}" for item in self.failed[:_ERRORS_IN_SUMMARY]]
        more = len(self.failed) - len(errors)
        tail = f"; and {more} more" if more > 0 else ""
        return (
            f"{len(self.failed)} of {total} records failed ({len(self.launched)} launched, "
            f"{len(self.skipped)} skipped): " + "; ".join(errors) + tail
        )


def _where(item: dict[str, Any]) -> str:
    if item.get("bucket") and item.get("key"):
        return f"s3://{item['bucket']}/{item['key']}"
    return f"message {item['message_id']}" if item.get("message_id") else "record"
