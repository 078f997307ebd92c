"""An upload's state for the page, from its status record (``<output>.progress.json``, README "Web page").

The record is written by others (the trigger, then the run) and read here as data from outside: whatever it holds,
the answer is one of :data:`STATES` and a few typed fields, never an exception. Records written before the
``state`` field existed are read too: ``done: true`` is done, an ``epoch`` is running, anything else the preview.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from lambda_trigger.status_records import DONE, FAILED, PREVIEW, QUEUED, REFUSED, RUNNING, SKIPPED

#: A record this API cannot read (another tool's, a newer format): the page's own state beside the record's.
UNKNOWN = "unknown"
#: What the page may be told.
STATES = (QUEUED, PREVIEW, RUNNING, DONE, SKIPPED, REFUSED, FAILED, UNKNOWN)
#: States that end an upload: the page stops polling.
FINAL = (DONE, SKIPPED, REFUSED, FAILED)
#: The numbers a record may carry, and the kinds each must be (a bool is an int to Python, not to JSON).
NUMBERS: dict[str, tuple[type, ...]] = {
    "epoch": (int,),
    "epochs": (int,),
    "steps": (int,),
    "loss": (int, float),
    "seconds": (int, float),
}
#: The longest reason passed on: one line a page can show.
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Status:
    state: str
    reason: str | None = None
    retrying: bool = False
    numbers: dict[str, float] = field(default_factory=dict)  #: the record's epoch, epochs, steps, loss, seconds

    @property
    def final(self) -> bool:
        """Nothing more will happen (a failure SQS delivers again is not final)."""
        return self.state in FINAL and not self.retrying

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"state": self.state, "final": self.final, **self.numbers}
        if self.reason is not None:
            answer["reason"] = self.reason
        if self.retrying:
            answer["retrying"] = True
        return answer


def read_status(body: bytes | None, result_exists: bool) -> Status:
    """The state from the record's bytes (None: no record yet) and whether the result is at the output key.

    The result's presence decides ``done``: a run writes its last record before the PNG is finished, and a
    record of an older format never says ``done`` for a preview-only run."""
    if body is None:
        return Status(DONE) if result_exists else Status(QUEUED)
    try:
        record = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Status(UNKNOWN, reason="the status record is not JSON")
    if not isinstance(record, dict):
        return Status(UNKNOWN, reason="the status record is not a JSON object")
    numbers: dict[str, float] = {}
    for name, kinds in NUMBERS.items():
        value = record.get(name)
        # NaN and infinities are not JSON: a record may hold them (Python writes them), the answer may not
        if isinstance(value, bool) or not isinstance(value, kinds):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            numbers[name] = value
    state = record.get("state", _legacy_state(record))
    if state in (SKIPPED, REFUSED, FAILED):
        reason = record.get("reason")
        line = " ".join(str(reason).split())[:MAX_REASON_CHARS] if reason is not None else "no reason given"
        return Status(state, reason=line, retrying=record.get("retrying") is True, numbers=numbers)
    if result_exists:
        return Status(DONE, numbers=numbers)
    if state == DONE:  # the last epoch is written; the PNG is still being made
        return Status(RUNNING, numbers=numbers)
    if state in (QUEUED, PREVIEW, RUNNING):
        return Status(state, numbers=numbers)
    return Status(UNKNOWN, reason=f"the status record's state {str(state)[:40]!r} is not one this page knows")


def _legacy_state(record: dict[str, Any]) -> str:
    if record.get("done") is True:
        return DONE
    return RUNNING if "epoch" in record else PREVIEW
