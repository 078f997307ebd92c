"""The outcome of one invocation: what was launched, skipped and failed, and what Lambda should do about it.

Failure semantics:

* SQS: the result carries ``batchItemFailures`` naming only the messages with a failed record (or an unreadable
  body), so SQS redelivers just those; one bad message never fails the batch. A redelivered message may repeat
  records that had launched: their deterministic names make flyteadmin answer ALREADY_EXISTS (``duplicate``).
* Direct S3 and EventBridge invocations: after every record is handled, any failure raises
  :class:`TriggerFailed`, so Lambda's retries and on-failure destination keep the event.
"""

from __future__ import annotations

import json
import unicodedata
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
        return printable(
            f"{len(self.failed)} of {total} records failed ({len(self.launched)} launched, "
            f"{len(self.skipped)} skipped): " + "; ".join(errors) + tail
        )


def _where(item: dict[str, Any]) -> str:
    if item.get("bucket") and item.get("key"):
        return f"s3://{item['bucket']}/{item['key']}"
    return f"message {item['message_id']}" if item.get("message_id") else "record"


#: Characters that end or break a line somewhere (terminals, CloudWatch, log shippers), beyond the C0/C1 controls.
_LINE_BREAKERS = {"\u2028", "\u2029", "\x85"}


def printable(text: str) -> str:
    """``text`` on one line: control and line-breaking characters, and lone surrogates, as backslash escapes."""
    if text.isprintable():
        return text
    return "".join(_escaped(char) if _breaks_lines(char) else char for char in text)


def _breaks_lines(char: str) -> bool:
    return char in _LINE_BREAKERS or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def _escaped(char: str) -> str:
    if unicodedata.category(char) == "Cs":  # a lone surrogate: unicode_escape cannot encode it
        return f"\\u{ord(char):04x}"
    return char.encode("unicode_escape").decode("ascii")


def json_line(value: dict[str, Any]) -> str:
    """One log line of JSON, whatever the text in it: what powertools writes, made safe for any field.

    Non-ASCII stays readable (as powertools writes it), but the characters some readers take as line ends
    (U+2028, U+2029, U+0085) are escaped, and a lone surrogate (which UTF-8 cannot encode, so the write of the
    whole line would fail) becomes its JSON escape. Both only ever occur inside JSON strings, so the escapes are
    exactly what ``ensure_ascii`` would have written there.
    """
    text = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
    for char in _LINE_BREAKERS:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
