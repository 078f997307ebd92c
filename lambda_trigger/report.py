"""The outcome of one invocation: what was launched, skipped and failed, and what Lambda should do about it.

Failure semantics:

* A **refused** record is a permanent error: the upload itself can never be launched as it is (metadata that
  does not parse, a style that does not exist, a key the naming rule refuses). It is reported once, logged at
  WARNING, and never redelivered: retrying cannot help, and the person who uploaded it is told at once.
* A **failed** record is a transient error (S3 or flyteadmin unreachable, no time left in the invocation, an
  unexpected bug): a retry may succeed.
* SQS: the result carries ``batchItemFailures`` naming only the messages with a failed record (or an unreadable
  body), so SQS redelivers just those; one bad message never fails the batch. A redelivered message may repeat
  records that had launched: their deterministic names make flyteadmin answer ALREADY_EXISTS (``duplicate``).
* Direct S3 and EventBridge invocations: after every record is handled, any failure raises
  :class:`TriggerFailed`, so Lambda's retries and on-failure destination keep the event; refusals do not raise.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from lambda_trigger.events import Source, UploadRecord

_ERRORS_IN_SUMMARY = 5


class TriggerFailed(RuntimeError):
    """Raised after a direct (S3 or EventBridge) invocation in which at least one record failed."""


@dataclass(frozen=True)
class _Outcome:
    """What happened to one record: the fields every outcome has. ``sequencer`` and ``event_name`` go to the log
    line only (they are not in the result item, so an outcome read back from a result has None there)."""

    kind: ClassVar[str]
    bucket: str | None
    key: str | None
    message_id: str | None = None
    sequencer: str | None = None
    event_name: str | None = None
    #: Where the upload's result goes, once its output format is known (its metadata read): its status record goes
    #: beside it. Not in the result item or the log line.
    output_key: str | None = None

    @property
    def where(self) -> str:
        if self.bucket and self.key:
            return f"s3://{self.bucket}/{self.key}"
        return f"message {self.message_id}" if self.message_id else "record"

    def _item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"bucket": self.bucket, "key": self.key}
        if self.message_id:
            item["message_id"] = self.message_id
        return item

    def _log(self) -> dict[str, Any]:
        return {
            "outcome": self.kind,
            "bucket": self.bucket,
            "key": self.key,
            "sequencer": self.sequencer,
            "event_name": self.event_name,
            "message_id": self.message_id,
        }


def _about(record: UploadRecord | None, message_id: str | None = None) -> dict[str, Any]:
    if record is None:
        return {"bucket": None, "key": None, "message_id": message_id}
    return {
        "bucket": record.bucket,
        "key": record.key,
        "message_id": record.message_id,
        "sequencer": record.sequencer,
        "event_name": record.event_name,
    }


@dataclass(frozen=True)
class Launched(_Outcome):
    """An execution was started (or already existed: ``duplicate``). ``detail`` is the launcher's: ``launch_plan``,
    ``attempts`` (remote), ``output``, ``decks``, ``execution_error``, ``failed_task`` (the local stack's)."""

    kind: ClassVar[str] = "launched"
    execution_name: str = ""
    duplicate: bool = False
    mode: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, record: UploadRecord, **fields: Any) -> Launched:
        return cls(**_about(record), **fields)

    def item(self) -> dict[str, Any]:
        return {
            **self._item(),
            "execution_name": self.execution_name,
            "duplicate": self.duplicate,
            "mode": self.mode,
            **self.detail,
            "inputs": dict(self.inputs),
        }

    def log_fields(self) -> dict[str, Any]:
        options = {name: value for name, value in self.inputs.items() if name not in _LOGGED_APART}
        return {
            **self._log(),
            "execution_name": self.execution_name,
            "duplicate": self.duplicate,
            "mode": self.mode,
            "style_img": self.inputs.get("style_img"),
            "output_uri": self.inputs.get("output_uri"),
            "options": options,
        }


#: Inputs a launched log line shows as fields of their own, or not at all (the content image is the record's key).
_LOGGED_APART = {"content_img", "style_img", "output_uri"}


@dataclass(frozen=True)
class Skipped(_Outcome):
    """Nothing to do for this record, and why (not an error)."""

    kind: ClassVar[str] = "skipped"
    reason: str = ""

    @classmethod
    def of(cls, record: UploadRecord, reason: str) -> Skipped:
        return cls(**_about(record), reason=reason)

    def item(self) -> dict[str, Any]:
        return {**self._item(), "reason": self.reason}

    def log_fields(self) -> dict[str, Any]:
        return {**self._log(), "reason": self.reason}


@dataclass(frozen=True)
class Failed(_Outcome):
    """This record (or unreadable message) failed; ``error`` is one line, already redacted."""

    kind: ClassVar[str] = "failed"
    error: str = ""
    execution_name: str | None = None

    @classmethod
    def of(
        cls,
        record: UploadRecord | None,
        error: str,
        message_id: str | None = None,
        execution_name: str | None = None,
        output_key: str | None = None,
    ) -> Self:
        return cls(**_about(record, message_id), error=error, execution_name=execution_name, output_key=output_key)

    def item(self) -> dict[str, Any]:
        item = self._item()
        if self.execution_name:
            item["execution_name"] = self.execution_name
        item["error"] = self.error
        return item

    def log_fields(self) -> dict[str, Any]:
        return {**self._log(), "execution_name": self.execution_name, "error": self.error}


@dataclass(frozen=True)
class Refused(Failed):
    """This record can never be launched as it is (a permanent error, see the module's docstring): reported once,
    not retried. ``error`` is one line, already redacted."""

    kind: ClassVar[str] = "refused"


Outcome = Launched | Skipped | Failed | Refused


def outcomes_of(result: Mapping[str, Any]) -> list[Outcome]:
    """The typed outcomes of a handler result (the inverse of :meth:`Report.as_dict`): what the local stack's
    worker reads, so no one else re-parses result items."""
    found: list[Outcome] = []
    for item in result.get("launched", []):
        item = dict(item)
        common = {name: item.pop(name, None) for name in ("bucket", "key", "message_id")}
        fixed = {name: item.pop(name) for name in ("execution_name", "duplicate", "mode", "inputs") if name in item}
        found.append(Launched(**common, **fixed, detail=item))
    for item in result.get("skipped", []):
        found.append(Skipped(item.get("bucket"), item.get("key"), item.get("message_id"), reason=item["reason"]))
    for kind, items in ((Failed, result.get("failed", [])), (Refused, result.get("refused", []))):
        for item in items:
            found.append(
                kind(
                    item.get("bucket"),
                    item.get("key"),
                    item.get("message_id"),
                    error=item["error"],
                    execution_name=item.get("execution_name"),
                )
            )
    return found


@dataclass
class Report:
    """Outcomes in event order, by kind."""

    source: Source
    launched: list[Launched] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        if isinstance(outcome, Launched):
            self.launched.append(outcome)
        elif isinstance(outcome, Skipped):
            self.skipped.append(outcome)
        elif isinstance(outcome, Refused):
            self.refused.append(outcome)
        else:
            self.failed.append(outcome)

    @property
    def must_raise(self) -> bool:
        """Direct invocations signal failure by raising; SQS by batchItemFailures."""
        return self.source != "sqs" and bool(self.failed)

    def batch_item_failures(self) -> list[dict[str, str]]:
        """Each SQS message with a failed record, once, in order."""
        ids = dict.fromkeys(outcome.message_id for outcome in self.failed if outcome.message_id)
        return [{"itemIdentifier": message_id} for message_id in ids]

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "launched": [outcome.item() for outcome in self.launched],
            "skipped": [outcome.item() for outcome in self.skipped],
            "failed": [outcome.item() for outcome in self.failed],
            "refused": [outcome.item() for outcome in self.refused],
        }
        if self.source == "sqs":
            result["batchItemFailures"] = self.batch_item_failures()
        return result

    def summary(self) -> str:
        """One line: the counts, then the first few errors."""
        total = len(self.launched) + len(self.skipped) + len(self.failed) + len(self.refused)
        errors = [f"{outcome.where}: {outcome.error}" for outcome in self.failed[:_ERRORS_IN_SUMMARY]]
        more = len(self.failed) - len(errors)
        tail = f"; and {more} more" if more > 0 else ""
        refused = f", {len(self.refused)} refused" if self.refused else ""
        return printable(
            f"{len(self.failed)} of {total} records failed ({len(self.launched)} launched, "
            f"{len(self.skipped)} skipped{refused}): " + "; ".join(errors) + tail
        )


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
