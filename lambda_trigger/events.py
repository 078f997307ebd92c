"""Thin typed views over the event shapes the trigger accepts, flattened into one list of upload records.

Accepted shapes (each field's meaning is documented once, on the view that reads it):

* S3 event notifications invoking the function directly: ``{"Records": [{"eventSource": "aws:s3", "s3": ...}]}``.
* SQS batches whose message bodies hold an S3 notification, an ``s3:TestEvent``, an SNS envelope around either,
  or an S3 EventBridge event (an EventBridge rule targeting the queue).
* EventBridge events from S3: ``{"source": "aws.s3", "detail-type": "Object Created", "detail": ...}``.

Object keys: S3 event *notifications* carry keys form-URL-encoded (``red flower.jpg`` arrives as
``red+flower.jpg``, a literal ``+`` as ``%2B``), so every notification record is decoded with
``urllib.parse.unquote_plus``. EventBridge events carry the key as stored, not encoded, so those keys are used
verbatim: decoding them would turn a literal ``+`` into a space (see README.md, "Object keys").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

from lambda_trigger.settings import BUCKET_NAME

Source = Literal["s3", "sqs", "eventbridge"]

TEST_EVENT = "s3:TestEvent"
EVENTBRIDGE_CREATED = "Object Created"
#: S3's limit on key length, in bytes of UTF-8: a longer key cannot name an object, so its event is forged.
MAX_KEY_BYTES = 1024


class UnsupportedEvent(ValueError):
    """The invocation payload is none of the accepted shapes; nothing in it can be handled."""


class MalformedRecord(ValueError):
    """One record or message lacks a field the trigger needs; the others are still handled."""


@dataclass(frozen=True)
class UploadRecord:
    """One S3 object event, whatever shape delivered it."""

    bucket: str
    key: str  #: decoded: exactly the object's key in S3
    size: int | None
    etag: str | None
    version_id: str | None
    sequencer: str | None
    event_name: str  #: ``ObjectCreated:Put``, ``Object Created``, ``s3:TestEvent``, ...
    message_id: str | None = None  #: the SQS message that carried it, if any

    @property
    def is_test_event(self) -> bool:
        return self.event_name == TEST_EVENT

    @property
    def is_object_created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:") or self.event_name == EVENTBRIDGE_CREATED

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Unreadable:
    """A record or SQS message that could not be read; it becomes a failed item."""

    error: str
    message_id: str | None = None


@dataclass(frozen=True)
class Batch:
    """What one invocation delivered: readable records in order, plus the parts that could not be read."""

    source: Source
    records: list[UploadRecord] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


class _View:
    """Read-only access to one JSON object, with errors that say which field was missing or of the wrong kind.

    Events are data from outside: every field is checked for its type before use, so a number where a string
    belongs (or a list, or ``Infinity``) fails this record with the field named instead of surfacing later as an
    exception somewhere else.
    """

    def __init__(self, raw: Mapping[str, Any], what: str) -> None:
        if not isinstance(raw, Mapping):
            raise MalformedRecord(f"{what} is not a JSON object")
        self._raw = raw
        self._what = what

    def _get(self, *path: str, required: bool = True) -> Any:
        node: Any = self._raw
        for name in path:
            if not isinstance(node, Mapping) or name not in node or node[name] is None:
                if required:
                    raise MalformedRecord(f"{self._what} has no {'.'.join(path)}")
                return None
            node = node[name]
        return node

    def _text(self, *path: str, required: bool = True) -> str | None:
        """A string field, valid Unicode (S3 keys and names are UTF-8; a lone surrogate cannot be one)."""
        value = self._get(*path, required=required)
        if value is None:
            return None
        field = ".".join(path)
        if not isinstance(value, str):
            raise MalformedRecord(f"{self._what} has a non-string {field}: {shown(value)}")
        position = _invalid_unicode_at(value)
        if position is not None:
            raise MalformedRecord(
                f"{self._what} has a {field} that is not valid Unicode (lone surrogate at character {position}): "
                f"{shown(value)}"
            )
        return value

    def _required_text(self, *path: str) -> str:
        value = self._text(*path)
        assert value is not None  # required=True raised otherwise
        return value

    def _size(self, *path: str) -> int | None:
        """A size in bytes: a non-negative integer (not a float, not a boolean, not ``Infinity``)."""
        value = self._get(*path, required=False)
        if value is None:
            return None
        field = ".".join(path)
        if isinstance(value, str) and value.isdigit() and value.isascii():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedRecord(f"{self._what} has a non-integer {field}: {shown(value)}")
        if value < 0:
            raise MalformedRecord(f"{self._what} has a negative {field}: {value}")
        return value

    def _bucket(self, *path: str) -> str:
        value = self._required_text(*path)
        if not BUCKET_NAME.match(value):
            raise MalformedRecord(f"{self._what} has a {'.'.join(path)} that is not an S3 bucket name: {shown(value)}")
        return value

    def _key(self, *path: str, url_encoded: bool) -> str:
        """The object key, decoded if the shape URL-encodes it; S3 keys are at most 1024 bytes of UTF-8."""
        value = self._required_text(*path)
        key = unquote_plus(value) if url_encoded else value
        field = ".".join(path)
        position = _invalid_unicode_at(key)
        if position is not None:
            raise MalformedRecord(
                f"{self._what} has a {field} that is not valid Unicode once decoded (lone surrogate at character "
                f"{position}): {shown(key)}"
            )
        size = len(key.encode("utf-8"))
        if size > MAX_KEY_BYTES:
            raise MalformedRecord(
                f"{self._what} has a {field} of {size:,} bytes; S3 keys are at most {MAX_KEY_BYTES} bytes, so the "
                f"event is forged or corrupt: {shown(key)}"
            )
        return key


def shown(value: Any, limit: int = 80) -> str:
    """A short, one-line, printable rendering of a field value for an error message."""
    if isinstance(value, (Mapping, list)):
        return f"a JSON {'object' if isinstance(value, Mapping) else 'array'}"  # never repr: it may nest deeply
    text = repr(value)  # escapes control characters and lone surrogates
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" ({len(text):,} characters)"


def _invalid_unicode_at(text: str) -> int | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


@dataclass(frozen=True)
class ObjectEventShape:
    """Where one shape of S3 object event keeps each field of an :class:`UploadRecord` (a path of JSON keys)."""

    event_name: tuple[str, ...]
    bucket: tuple[str, ...]
    key: tuple[str, ...]
    key_url_encoded: bool
    size: tuple[str, ...]
    etag: tuple[str, ...]
    version_id: tuple[str, ...]
    sequencer: tuple[str, ...]


#: One element of ``Records`` in an S3 event notification (event structure version 2.x). ``eventName`` is
#: ``ObjectCreated:Put``, ``ObjectCreated:CompleteMultipartUpload``, ``ObjectRemoved:Delete``, ...; the key is
#: form-URL-encoded (space as '+', '+' as '%2B'); the size is absent from removal events; ``versionId`` is there
#: only when the bucket has versioning enabled; ``sequencer`` is a hex string ordering the events of one key (a
#: new PUT of the key gets a greater one).
S3_NOTIFICATION = ObjectEventShape(
    event_name=("eventName",),
    bucket=("s3", "bucket", "name"),
    key=("s3", "object", "key"),
    key_url_encoded=True,
    size=("s3", "object", "size"),
    etag=("s3", "object", "eTag"),
    version_id=("s3", "object", "versionId"),
    sequencer=("s3", "object", "sequencer"),
)
#: An S3 event delivered by EventBridge (``source`` ``aws.s3``): ``detail-type`` is ``Object Created``, ``Object
#: Deleted``, ``Object Restore Completed``, ...; the key is as stored (EventBridge does not URL-encode it).
S3_EVENTBRIDGE = ObjectEventShape(
    event_name=("detail-type",),
    bucket=("detail", "bucket", "name"),
    key=("detail", "object", "key"),
    key_url_encoded=False,
    size=("detail", "object", "size"),
    etag=("detail", "object", "etag"),
    version_id=("detail", "object", "version-id"),
    sequencer=("detail", "object", "sequencer"),
)


class ObjectEvent(_View):
    """One S3 object event of a known :class:`ObjectEventShape`, read field by field with its checks."""

    def __init__(self, raw: Mapping[str, Any], what: str, shape: ObjectEventShape) -> None:
        super().__init__(raw, what)
        self._shape = shape

    def to_upload(self, message_id: str | None) -> UploadRecord:
        shape = self._shape
        return UploadRecord(
            bucket=self._bucket(*shape.bucket),
            key=self._key(*shape.key, url_encoded=shape.key_url_encoded),
            size=self._size(*shape.size),
            etag=self._text(*shape.etag, required=False),
            version_id=self._text(*shape.version_id, required=False),
            sequencer=self._text(*shape.sequencer, required=False),
            event_name=self._required_text(*shape.event_name),
            message_id=message_id,
        )


class S3TestEvent(_View):
    """What S3 sends once to a destination when a notification configuration is saved."""

    @property
    def bucket(self) -> str:
        return self._text("Bucket", required=False) or ""

    def to_upload(self, message_id: str | None) -> UploadRecord:
        return UploadRecord(self.bucket, "", None, None, None, None, TEST_EVENT, message_id)


class SqsMessage(_View):
    """One element of ``Records`` in an SQS event source mapping batch."""

    @property
    def message_id(self) -> str:
        """What ``batchItemFailures`` names to have this message redelivered."""
        return self._required_text("messageId")

    @property
    def body(self) -> str:
        return self._required_text("body")


def parse_event(event: Mapping[str, Any]) -> Batch:
    """Flatten one invocation payload into records; raise :class:`UnsupportedEvent` for unknown shapes."""
    if not isinstance(event, Mapping):
        raise UnsupportedEvent(f"unsupported event: expected a JSON object, got {type(event).__name__}")
    records = event.get("Records")
    if isinstance(records, list):
        if records and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records):
            return _collect("sqs", _sqs_parts(records))
        return _collect("s3", _notification_records(records, message_id=None))
    if _is_eventbridge(event):
        return _collect(
            "eventbridge", _single(lambda: ObjectEvent(event, "EventBridge event", S3_EVENTBRIDGE).to_upload(None))
        )
    if event.get("Event") == TEST_EVENT:
        return _collect("s3", _single(lambda: S3TestEvent(event, "test event").to_upload(None)))
    raise UnsupportedEvent(
        "unsupported event: expected an S3 notification (Records[].s3), an SQS batch (Records[].body) "
        f"or an S3 EventBridge event (source aws.s3); got keys {_shown_keys(event)}"
    )


def _sqs_parts(messages: list[Mapping[str, Any]]) -> Iterator[UploadRecord | Unreadable]:
    """Each message's records; a message whose body cannot be read at all is one Unreadable.

    Any exception while reading a message (not only the ones foreseen: a RecursionError from JSON nested 100,000
    deep, say) fails that message alone; it never escapes to cost the rest of the batch its launch.
    """
    for index, raw in enumerate(messages):
        raw_id = raw.get("messageId") if isinstance(raw, Mapping) else None
        message_id = raw_id if isinstance(raw_id, str) and _invalid_unicode_at(raw_id) is None else None
        try:
            message = SqsMessage(raw, f"SQS message {index}")
            message_id = message.message_id
            parts = list(_body_records(message.body, message_id))
        except MalformedRecord as exc:
            yield Unreadable(str(exc), message_id)
            continue
        except Exception as exc:  # hostile input must not escape: fail this message only
            yield Unreadable(f"SQS message {message_id or index}: cannot be read ({_describe(exc)})", message_id)
            continue
        yield from parts


def _body_records(body: str, message_id: str, unwrapped_sns: bool = False) -> Iterator[UploadRecord | Unreadable]:
    """The records in one SQS message body; raises MalformedRecord when the body is not an S3 event."""
    try:
        payload = json.loads(body, parse_constant=_not_json)
    except ValueError as exc:
        raise MalformedRecord(f"SQS message {message_id}: body is not JSON ({exc})") from None
    if not isinstance(payload, Mapping):
        raise MalformedRecord(f"SQS message {message_id}: body is not a JSON object")
    if not unwrapped_sns and payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        yield from _body_records(payload["Message"], message_id, unwrapped_sns=True)
    elif isinstance(payload.get("Records"), list):
        yield from _notification_records(payload["Records"], message_id)
    elif payload.get("Event") == TEST_EVENT:
        yield S3TestEvent(payload, f"SQS message {message_id}").to_upload(message_id)
    elif _is_eventbridge(payload):
        yield ObjectEvent(payload, f"SQS message {message_id}", S3_EVENTBRIDGE).to_upload(message_id)
    else:
        raise MalformedRecord(
            f"SQS message {message_id}: body is not an S3 event notification (keys {_shown_keys(payload)})"
        )


def _notification_records(records: list[Any], message_id: str | None) -> Iterator[UploadRecord | Unreadable]:
    where = f"SQS message {message_id}: " if message_id else ""
    for index, raw in enumerate(records):
        try:
            yield ObjectEvent(raw, f"{where}S3 record {index}", S3_NOTIFICATION).to_upload(message_id)
        except MalformedRecord as exc:
            yield Unreadable(str(exc), message_id)
        except Exception as exc:  # hostile input must not escape: fail this record only
            yield Unreadable(f"{where}S3 record {index}: cannot be read ({_describe(exc)})", message_id)


def _not_json(name: str) -> Any:
    """Python's json accepts NaN and Infinity; JSON (and so S3) has neither."""
    raise ValueError(f"{name} is not JSON")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {shown(str(exc), 200)[1:-1]}"


def _shown_keys(payload: Mapping[str, Any]) -> str:
    return "[" + ", ".join(shown(key, 40) for key in sorted(map(str, payload))[:10]) + "]"


def _is_eventbridge(payload: Mapping[str, Any]) -> bool:
    return payload.get("source") == "aws.s3" and "detail-type" in payload


def _single(read: Callable[[], UploadRecord]) -> Iterator[UploadRecord | Unreadable]:
    try:
        yield read()
    except MalformedRecord as exc:
        yield Unreadable(str(exc))
    except Exception as exc:  # hostile input must not escape
        yield Unreadable(f"event cannot be read ({_describe(exc)})")


def _collect(source: Source, parts: Iterator[UploadRecord | Unreadable]) -> Batch:
    batch = Batch(source)
    for part in parts:
        if isinstance(part, UploadRecord):
            batch.records.append(part)
        else:
            batch.unreadable.append(part)
    return batch
