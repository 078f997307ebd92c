"""Progress as it happens, read from the bucket: the ``<output>.progress.json`` records the workflow overwrites
after the preview and after every epoch (README, "The tasks"), so ``make demo`` and ``make dev`` show what anything
watching the bucket could show, without Flyte access."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SUFFIX = ".progress.json"


class ProgressWatcher:
    """Polls the output prefix; each record that changed since the last poll becomes one line."""

    def __init__(self, s3: Any, bucket: str, prefix: str, say: Callable[[str], None]) -> None:
        self.s3, self.bucket, self.prefix, self.say = s3, bucket, prefix, say
        self._seen: dict[str, str] = {}

    def poll(self) -> None:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith(SUFFIX) or self._seen.get(key) == item["ETag"]:
                    continue
                self._seen[key] = item["ETag"]
                try:
                    record = json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
                except (ValueError, KeyError):
                    continue  # overwritten while read: the next poll sees the new one
                self.say(describe(key.removesuffix(SUFFIX), record))


def describe(output_key: str, record: dict[str, Any]) -> str:
    """One line for a progress record: the preview, or an epoch with its steps, loss and seconds."""
    if record.get("stage") == "preview":
        return f"progress {output_key}: preview ready ({output_key}.preview.png) in {record.get('seconds', 0):.1f} s"
    loss = record.get("loss")
    shown = f", loss {loss:.4g}" if isinstance(loss, (int, float)) else ""
    done = " (last epoch)" if record.get("done") else ""
    return (
        f"progress {output_key}: epoch {record.get('epoch')}/{record.get('epochs')}, {record.get('steps')} steps"
        f"{shown}, {record.get('seconds', 0):.0f} s of optimisation{done}; preview: {output_key}.preview.png"
    )
