"""Deterministic execution names: the same object event always maps to the same Flyte execution name.

S3 delivers notifications at least once, and Lambda retries failed invocations; flyteadmin refuses a second
execution with an existing name (ALREADY_EXISTS), so a deterministic name makes every redelivery harmless.

The name hashes the bucket, the key and the object's identity:

* the version id when the bucket is versioned, otherwise the ETag: a new upload with new content is a new object;
* the sequencer: S3 gives every PUT of a key a new, greater sequencer, and repeats it when it redelivers the same
  event. It separates a re-upload of identical bytes to an unversioned bucket (same ETag) from a redelivery, so a
  deliberate re-upload runs again. It is normalised (case, leading zeros) because S3 notifications and EventBridge
  spell the same value differently.

Format: ``nst-`` and 16 lowercase base32 characters (80 bits) of a SHA-256, 20 characters in all, matching
``^[a-z][a-z0-9-]*$`` as flyteadmin requires.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

PREFIX = "nst-"
MAX_LENGTH = 20
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
_DIGEST_CHARS = MAX_LENGTH - len(PREFIX)


class NamingError(ValueError):
    """The event carries nothing that identifies the object's content, so no idempotent name exists."""


def execution_name(bucket: str, key: str, version_id: str | None, etag: str | None, sequencer: str | None) -> str:
    """The execution name for one object event; see the module docstring for what it depends on."""
    identity = _clean(version_id) or _normalise_etag(etag)
    order = _normalise_sequencer(sequencer)
    if identity is None and order is None:
        raise NamingError("cannot name the execution idempotently: the event has no versionId, eTag or sequencer")
    material = json.dumps([bucket, key, identity, order], ensure_ascii=False).encode("utf-8")
    digest = base64.b32encode(hashlib.sha256(material).digest()).decode("ascii").lower()
    return PREFIX + digest[:_DIGEST_CHARS]


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _normalise_etag(etag: str | None) -> str | None:
    value = _clean(etag)
    return value.strip('"').lower() if value else None


def _normalise_sequencer(sequencer: str | None) -> str | None:
    value = _clean(sequencer)
    return (value.upper().lstrip("0") or "0") if value else None
