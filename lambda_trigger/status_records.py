"""The trigger's part of an upload's status record, ``<output key>.progress.json`` (``rules.progress_key``).

One record per upload, a JSON object whose ``state`` says where it is (``workflows/engine/progress_view.py`` names
the states for the workflow package; they are restated here, as the Lambda ships without ``workflows``, and a test
compares the two). The trigger writes:

* ``{"state": "queued", "execution": name}`` after a launch (a duplicate included);
* ``{"state": "skipped" | "refused", "reason": line, "execution": name}`` for an upload it skips or refuses;
* ``{"state": "failed", "reason": line, "retrying": true, "execution": name}`` for a transient failure, which SQS
  (or Lambda's retries) delivers again.

``execution`` is the upload's deterministic execution name (``naming.py``; null when the event has none): every
record the trigger writes has it, and no record a run writes does. Only real uploads get a record: a key under the
upload prefix whose output key the naming rule gives (``rules.decide`` says so); never a result, a style image,
another bucket's object, a test event or a folder marker. Every record lives under the output prefix, which the
trigger always skips without writing anything, so a record never starts anything.

**The rule that keeps a run's record.** The run overwrites the record as it goes (preview, each epoch, done or
failed) and is the upload's last word; a redelivered event may be handled while the run goes, and must not put the
record back to "queued" or "failed". So the trigger writes only with S3's conditional writes:

1. ``PutObject`` with ``If-None-Match: *``: written only if there is no record yet;
2. if there is one, it is read, and replaced only if the trigger wrote it (it has ``execution``) and either it is a
   ``retrying`` failure or it belongs to another upload of the same key (another ``execution``: the key was
   uploaded again). The replacing ``PutObject`` carries ``If-Match: <the ETag read>``.

Either condition fails (HTTP 412, or 409 for a concurrent conditional write) when anything else wrote the record
in between, and then the trigger leaves that record alone: a run's write always wins, whichever comes first. A
retry that launches replaces its own ``retrying`` record with ``queued``; a redelivery that fails again while the
run goes changes nothing. The limit: a record a run wrote for an earlier upload of the same key stays until the new
run writes its own (a re-upload that is refused or skipped is then only in the trigger's log); the web page's keys
are unique per upload, so it never meets this.

The writes are in the invocation's budget and deadlines (``s3.py``, ``budget.py``). A write that fails (S3 down,
403, no time left) is logged at WARNING and changes nothing else: the record's outcome, and so whether SQS
delivers it again, is decided before the write, and a write that finds S3 away marks only the later writes down
(``S3_STATUS_RECORDS``), never the reads a launch needs. Its time does come out of the invocation's budget, as
every call's does: a record whose launch no longer fits fails and is delivered again, never lost.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lambda_trigger import rules
from lambda_trigger.budget import NotAttempted
from lambda_trigger.events import UploadRecord
from lambda_trigger.report import Launched, Outcome, Refused, Skipped, printable
from lambda_trigger.s3 import S3_STATUS_RECORDS, ObjectStore, S3CallFailed

if TYPE_CHECKING:  # the web API reads the state names here, and its image has no Powertools
    from aws_lambda_powertools import Logger

#: The record's states, as ``workflows/engine/progress_view.py`` names them (a test compares).
QUEUED, SKIPPED, REFUSED, FAILED = "queued", "skipped", "refused", "failed"
PREVIEW, RUNNING, DONE = "preview", "running", "done"
STATES = (QUEUED, SKIPPED, REFUSED, FAILED, PREVIEW, RUNNING, DONE)
#: The suffix of the record's key, as ``workflows/progress_records.py`` names it (a test compares).
PROGRESS_SUFFIX = rules.SIDE_SUFFIXES[0]
#: The longest reason written: one line a page can show.
MAX_REASON_CHARS = 500

_FORBIDDEN_HINT = "the trigger's role needs s3:PutObject and s3:GetObject on the output prefix's *.progress.json"


def record_of(outcome: Outcome, execution: str | None) -> dict[str, Any]:
    """The status record for one outcome of an upload."""
    if isinstance(outcome, Launched):
        return {"state": QUEUED, "execution": outcome.execution_name}
    if isinstance(outcome, Skipped):
        return {"state": SKIPPED, "reason": _one_line(outcome.reason), "execution": execution}
    if isinstance(outcome, Refused):  # before Failed: a refusal is a Failed that is never retried
        return {"state": REFUSED, "reason": _one_line(outcome.error), "execution": execution}
    return {"state": FAILED, "reason": _one_line(outcome.error), "retrying": True, "execution": execution}


def _one_line(text: str) -> str:
    line = printable(text)
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."


def replaceable(current: Any, execution: str | None) -> bool:
    """Whether the trigger may replace ``current`` (the parsed record there now) with its record for ``execution``:
    only a record the trigger wrote (it has ``execution``) that is a retrying failure or another upload's."""
    if not isinstance(current, dict) or "execution" not in current:
        return False  # a run's record (or anything else): the run has the last word
    return current.get("retrying") is True or current["execution"] != execution


class StatusRecords:
    """Writes the trigger's status records through the container's S3 store (``s3.py``), by the rule above."""

    def __init__(self, store: ObjectStore, logger: Logger) -> None:
        self._store = store
        self._logger = logger

    def write(self, upload: UploadRecord, output_key: str, outcome: Outcome, execution: str | None) -> str:
        """Write the record for ``outcome``; returns what happened (``written``, ``replaced``, ``kept``), or
        ``failed``, logged. Never raises for S3's sake."""
        key = rules.progress_key(output_key)
        record = record_of(outcome, execution)
        fields = {"bucket": upload.bucket, "key": upload.key, "record_key": key, "state": record["state"]}
        try:
            result = self._write(upload.bucket, key, record)
        except (S3CallFailed, NotAttempted) as exc:
            self._logger.warning("status record not written", extra={**fields, "error": str(exc)})
            return "failed"
        self._logger.info("status record " + result, extra=fields)
        return result

    def _write(self, bucket: str, key: str, record: dict[str, Any]) -> str:
        body = json.dumps(record).encode("utf-8")
        what = f"writing the status record ({record['state']})"
        if self._store.put_if(bucket, key, body, what, _FORBIDDEN_HINT, replacing=None, dependency=S3_STATUS_RECORDS):
            return "written"
        current = self._store.get(bucket, key, "reading the status record", _FORBIDDEN_HINT, S3_STATUS_RECORDS)
        if current is None:
            return "kept"  # gone again since: whoever deleted it decides; the next outcome may write
        try:
            parsed = json.loads(current.body)
        except (ValueError, RecursionError):  # not JSON (or absurdly nested): not the trigger's, so kept
            parsed = None
        if not replaceable(parsed, record.get("execution")):
            return "kept"
        if self._store.put_if(
            bucket, key, body, what, _FORBIDDEN_HINT, replacing=current.etag, dependency=S3_STATUS_RECORDS
        ):
            return "replaced"
        return "kept"
