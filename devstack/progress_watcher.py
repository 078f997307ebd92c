"""Progress as it happens, read from the bucket: the ``<output>.progress.json`` records the workflow overwrites
after the preview and after every epoch (README, "The tasks"), so ``make demo`` and ``make dev`` show what anything
watching the bucket could show, without Flyte access."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_trigger.rules import preview_key
from lambda_trigger.status_records import FAILED, PROGRESS_SUFFIX, QUEUED, REFUSED, SKIPPED

SUFFIX = PROGRESS_SUFFIX
#: The fields a line shows: the Python types a record must give them (any may be missing), and their JSON name.
FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "epoch": ((int,), "an integer"),
    "epochs": ((int,), "an integer"),
    "steps": ((int,), "an integer"),
    "seconds": ((int, float), "a number"),
    "loss": ((int, float, type(None)), "a number or null"),
    "done": ((bool,), "true or false"),
    "stage": ((str,), "a string"),
    "state": ((str,), "a string"),
    "reason": ((str,), "a string"),
    "execution": ((str, type(None)), "a string or null"),
}


class ProgressWatcher:
    """Polls the output prefix; each record that changed since the last poll becomes one line.

    Anything under the prefix may be there (another tool's file, a hand-made test, a half-migrated format): a record
    that is not a progress record is one ``ignored`` line, once per key and version (ETag), and the watcher goes on.
    A failed S3 call is tried again at the next poll."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        say: Callable[[str], None],
        on_preview: Callable[[str], None] | None = None,
    ) -> None:
        """``on_preview(output_key)`` runs when a run's record first says its instant preview is ready: the
        preview file beside the output is then the feed-forward picture, before the epochs overwrite it."""
        self.s3, self.bucket, self.prefix, self.say = s3, bucket, prefix, say
        self.on_preview = on_preview
        self._seen: dict[str, str] = {}

    def poll(self) -> None:
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith(SUFFIX) and self._seen.get(key) != item["ETag"]:
                        self._show(key, item["ETag"])
        except (BotoCoreError, ClientError):
            return  # the store did not answer: the next poll asks again

    def _show(self, key: str, etag: str) -> None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"].read()
        except ClientError:
            return  # deleted or replaced since the listing: the next poll sees what is there then
        self._seen[key] = etag
        output_key = key.removesuffix(SUFFIX)
        try:
            record = parse_record(body)
        except ValueError as exc:
            self.say(f"progress {output_key}: ignored {key}, not a progress record ({exc})")
            return
        self.say(describe(output_key, record))
        if record.get("stage") == "preview" and self.on_preview is not None:
            self.on_preview(output_key)


def parse_record(body: bytes) -> dict[str, Any]:
    """A progress record from its bytes; ``ValueError`` saying what is wrong with anything else."""
    try:
        record = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    for name, (types, expected) in FIELD_TYPES.items():
        value = record.get(name)
        wrong_kind = isinstance(value, bool) and bool not in types  # a bool is an int to Python, not to JSON
        if name in record and (wrong_kind or not isinstance(value, types)):
            raise ValueError(f"{name} is {json.dumps(value)[:40]}, not {expected}")
    return record


def describe(output_key: str, record: dict[str, Any]) -> str:
    """One line for a status record (:func:`parse_record`'s): the trigger's (queued, or skipped, refused or failed
    with the reason), the preview, or an epoch with its steps, loss and seconds."""
    state = record.get("state")
    if state == QUEUED:
        return f"progress {output_key}: queued as {record.get('execution')}"
    if state in (SKIPPED, REFUSED, FAILED):
        retrying = " (delivered again)" if record.get("retrying") is True else ""
        return f"progress {output_key}: {state}{retrying}: {record.get('reason', 'no reason given')}"
    if record.get("stage") == "preview":
        return f"progress {output_key}: preview ready ({preview_key(output_key)}) in {record.get('seconds', 0):.1f} s"
    loss = record.get("loss")
    shown = f", loss {loss:.4g}" if isinstance(loss, (int, float)) else ""
    done = " (last epoch)" if record.get("done") else ""
    return (
        f"progress {output_key}: epoch {record.get('epoch')}/{record.get('epochs')}, {record.get('steps')} steps"
        f"{shown}, {record.get('seconds', 0):.0f} s of optimisation{done}; preview: {preview_key(output_key)}"
    )
