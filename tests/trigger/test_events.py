"""Reading the three accepted event shapes into upload records, with keys decoded per record."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_trigger.events import UnsupportedEvent, UploadRecord, parse_event
from tests.fakes import BUCKET, load_event

# Object keys as S3 allows them: any Unicode text but surrogates and NUL, at most 1024 UTF-8 bytes.
keys = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=200)


def test_s3_notification_record_fields() -> None:
    batch = parse_event(load_event("s3_put.json"))
    assert batch.source == "s3" and batch.unreadable == []
    assert batch.records == [
        UploadRecord(
            bucket=BUCKET,
            key="uploads/monet/beach.jpg",
            size=245760,
            etag="8f14e45fceea167a5a36dedd4bea2543",
            version_id=None,
            sequencer="0065A1B2C3D4E5F601",
            event_name="ObjectCreated:Put",
        )
    ]
    assert batch.records[0].is_object_created and not batch.records[0].is_test_event


def test_every_record_key_is_decoded_not_only_the_first() -> None:
    keys = [record.key for record in parse_event(load_event("s3_put_encoded_keys.json")).records]
    assert keys == [
        "uploads/a b+c dé.jpg",
        "uploads/monet/summer holiday/東京 tower.JPG",
        "uploads/100% real.png",
        "uploads/monet/café=noir&lait.webp",
    ]


def test_versioned_bucket_record_carries_the_version_id() -> None:
    (record,) = parse_event(load_event("s3_put_versioned.json")).records
    assert record.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"


def test_direct_test_event_is_one_test_record() -> None:
    batch = parse_event(load_event("s3_test_event.json"))
    assert batch.source == "s3"
    (record,) = batch.records
    assert record.is_test_event and not record.is_object_created and record.bucket == BUCKET


def test_eventbridge_object_created_keeps_the_key_verbatim() -> None:
    batch = parse_event(load_event("eventbridge_object_created.json"))
    assert batch.source == "eventbridge"
    (record,) = batch.records
    assert record.key == "uploads/monet/a b+c dé.jpg"  # '+' stays '+': EventBridge does not URL-encode keys
    assert (record.size, record.etag, record.version_id) == (
        245760,
        "b1946ac92492d2347c6235b4d2611184",
        "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    )
    assert record.sequencer == "617f08299329d189" and record.event_name == "Object Created"
    assert record.is_object_created


def test_eventbridge_object_deleted_is_not_a_creation() -> None:
    (record,) = parse_event(load_event("eventbridge_object_deleted.json")).records
    assert record.event_name == "Object Deleted" and not record.is_object_created and record.size is None


def test_sqs_batch_reads_every_body_shape_and_keeps_message_ids() -> None:
    batch = parse_event(load_event("sqs_batch.json"))
    assert batch.source == "sqs"
    seen = [(record.message_id[:8], record.key, record.event_name) for record in batch.records]
    assert seen == [
        ("059f36b4", "uploads/monet/beach.jpg", "ObjectCreated:Put"),
        ("2e1424d4", "", "s3:TestEvent"),
        ("7f6b1d2c", "uploads/photo.jpg", "ObjectCreated:Put"),  # SNS envelope, two records
        ("7f6b1d2c", "stylized/photo.png", "ObjectCreated:Put"),
        ("a3c1e5f7", "uploads/monet/a b+c dé.jpg", "Object Created"),  # an EventBridge rule targeting the queue
        ("c4d2e6a8", "uploads/vangogh/field.jpg", "ObjectCreated:Put"),
    ]
    (unreadable,) = batch.unreadable
    assert unreadable.message_id == "5b1f6c6e-4a8f-4d6a-9d38-3c4a7f0e2b11"
    assert "body is not JSON" in unreadable.error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[1, 2]", "body is not a JSON object"),
        ('{"hello": "world"}', "body is not an S3 event notification (keys ['hello'])"),
        ('{"Type": "Notification", "Message": "nope"}', "body is not JSON"),
        (
            '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "nst-b"}}}]}',
            "has no s3.object.key",
        ),
    ],
)
def test_unusable_sqs_bodies_become_unreadable_items(body: str, expected: str) -> None:
    message = {"messageId": "m-1", "body": body, "eventSource": "aws:sqs"}
    batch = parse_event({"Records": [message]})
    assert batch.records == []
    (unreadable,) = batch.unreadable
    assert unreadable.message_id == "m-1" and expected in unreadable.error


def test_a_malformed_direct_record_does_not_hide_the_others() -> None:
    event = load_event("s3_put.json")
    broken = json.loads(json.dumps(event["Records"][0]))
    del broken["s3"]["object"]["key"]
    event["Records"].insert(0, broken)
    batch = parse_event(event)
    assert [record.key for record in batch.records] == ["uploads/monet/beach.jpg"]
    assert [item.error for item in batch.unreadable] == ["S3 record 0 has no s3.object.key"]


def test_a_non_integer_size_names_the_record() -> None:
    event = load_event("s3_put.json")
    event["Records"][0]["s3"]["object"]["size"] = "big"
    (unreadable,) = parse_event(event).unreadable
    assert unreadable.error == "S3 record 0 has a non-integer s3.object.size: 'big'"


@pytest.mark.parametrize("event", [{}, {"detail-type": "Object Created", "source": "aws.ec2"}, {"foo": 1}, []])
def test_unknown_shapes_are_refused_with_the_keys_seen(event: object) -> None:
    with pytest.raises(UnsupportedEvent, match="unsupported event"):
        parse_event(event)  # type: ignore[arg-type]


def _s3_event(encoded_key: str) -> dict:
    event = load_event("s3_put.json")
    event["Records"][0]["s3"]["object"]["key"] = encoded_key
    return event


@settings(max_examples=300, deadline=None)
@given(key=keys)
def test_notification_keys_round_trip(key: str) -> None:
    """Whatever S3's exact escaping ('/' kept or not, '%20' or '+'), decoding gives the key back."""
    for encoded in (quote_plus(key), quote_plus(key, safe="/"), quote(key, safe="/")):
        (record,) = parse_event(_s3_event(encoded)).records
        assert record.key == key


@settings(max_examples=100, deadline=None)
@given(key=keys)
def test_notification_keys_round_trip_through_sqs(key: str) -> None:
    body = json.dumps(_s3_event(quote_plus(key, safe="/")))
    (record,) = parse_event({"Records": [{"messageId": "m", "body": body, "eventSource": "aws:sqs"}]}).records
    assert record.key == key


@settings(max_examples=100, deadline=None)
@given(key=keys)
def test_eventbridge_keys_are_taken_as_stored(key: str) -> None:
    event = load_event("eventbridge_object_created.json")
    event["detail"]["object"]["key"] = key
    (record,) = parse_event(event).records
    assert record.key == key
