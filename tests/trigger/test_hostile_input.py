"""Hostile input never costs another record anything, in every event shape; fields are checked; keys are safe.

Property tests build batches of good uploads mixed with poison (any JSON where a field belongs, ``Infinity``,
lone surrogates, text that is not JSON) for every shape the trigger accepts: direct S3 notifications, SQS, SNS in
SQS, EventBridge in SQS and direct EventBridge. Whatever the poison, every good upload launches, every record and
message has exactly one outcome, the failed SQS messages are exactly the item failures, and every log line is one
line of valid JSON that can be written as UTF-8.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_trigger.events import MAX_KEY_BYTES, parse_event
from lambda_trigger.report import Report, TriggerFailed, outcomes_of, printable
from tests.fakes import BUCKET

STYLE = f"s3://{BUCKET}/styles/default.jpg"

# Any JSON value, including what Python's json makes of Infinity/NaN and text with lone surrogates.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(), max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
S3_FIELDS = [
    ("eventName",),
    ("eventTime",),
    ("s3",),
    ("s3", "bucket"),
    ("s3", "bucket", "name"),
    ("s3", "object"),
    ("s3", "object", "key"),
    ("s3", "object", "size"),
    ("s3", "object", "eTag"),
    ("s3", "object", "versionId"),
    ("s3", "object", "sequencer"),
]
EVENTBRIDGE_FIELDS = [
    ("detail-type",),
    ("time",),
    ("detail",),
    ("detail", "bucket", "name"),
    ("detail", "object", "key"),
    ("detail", "object", "size"),
    ("detail", "object", "etag"),
    ("detail", "object", "version-id"),
    ("detail", "object", "sequencer"),
]


def s3_record(index: int, **object_fields: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2024-05-14T09:21:36.512Z",
        "s3": {
            "bucket": {"name": BUCKET},
            "object": {"key": f"uploads/good+{index}.jpg", "size": 1000, "eTag": "e1", "sequencer": f"{index:X}"}
            | object_fields,
        },
    }


def eventbridge_event(index: int) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "time": "2024-05-14T09:21:36Z",
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {"key": f"uploads/good {index}.jpg", "size": 1000, "etag": "e1", "sequencer": f"{index:X}"},
        },
    }


def sqs_message(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "body": body, "eventSource": "aws:sqs", "receiptHandle": "r"}


def sns_body(inner: str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "sns-1", "Message": inner})


def mutated(record: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    poisoned = copy.deepcopy(record)
    node = poisoned
    for name in path[:-1]:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[path[-1]] = value
    return poisoned


@st.composite
def poison_s3_records(draw: st.DrawFn, index: int) -> dict[str, Any]:
    return mutated(s3_record(index), draw(st.sampled_from(S3_FIELDS)), draw(json_values))


@st.composite
def poison_bodies(draw: st.DrawFn, index: int) -> str:
    """An SQS body that is any of: not JSON, any JSON, or an S3 / SNS / EventBridge event with one field poisoned."""
    kind = draw(st.sampled_from(["text", "json", "s3", "sns", "eventbridge"]))
    if kind == "text":
        return draw(st.text(max_size=30))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "eventbridge":
        field = draw(st.sampled_from(EVENTBRIDGE_FIELDS))
        return json.dumps(mutated(eventbridge_event(index), field, draw(json_values)))
    records = json.dumps({"Records": [draw(poison_s3_records(index))]})
    return sns_body(records) if kind == "sns" else records


def good_body(index: int, shape: str) -> str:
    if shape == "eventbridge":
        return json.dumps(eventbridge_event(index))
    records = json.dumps({"Records": [s3_record(index)]})
    return sns_body(records) if shape == "sns" else records


def assert_log_lines_are_single_json_lines(handle: Any, start: int) -> list[dict[str, Any]]:
    """Every line logged since ``start``: one line, valid JSON, writable as UTF-8 (what stdout will do with it)."""
    lines = []
    for record in handle._records[start:]:
        text = handle._formatter.format(record)
        assert "\n" not in text and "\r" not in text and "\u2028" not in text
        text.encode("utf-8")  # a lone surrogate here would make the whole write fail: the line would be lost
        lines.append(json.loads(text))
    return lines


HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(data=st.data(), goods=st.integers(1, 4), poisons=st.integers(1, 4))
def test_poison_in_an_sqs_batch_fails_only_its_own_message(handler, data: st.DataObject, goods: int, poisons: int):
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    start = len(handle._records)
    shape = data.draw(st.sampled_from(["s3", "sns", "eventbridge"]))
    messages = [sqs_message(f"good-{i}", good_body(i, shape)) for i in range(goods)]
    messages += [sqs_message(f"poison-{i}", data.draw(poison_bodies(100 + i))) for i in range(poisons)]
    random.Random(data.draw(st.integers(0, 2**32))).shuffle(messages)

    result = handle({"Records": messages})  # never raises for SQS

    launched = {item["message_id"] for item in result["launched"]}
    assert {f"good-{i}" for i in range(goods)} <= launched  # every good upload launched, whatever the poison
    outcomes = [item["message_id"] for kind in ("launched", "skipped", "failed") for item in result[kind]]
    assert sorted(outcomes) == sorted(message["messageId"] for message in messages)  # one outcome each
    failed = {item["message_id"] for item in result["failed"]}
    assert {entry["itemIdentifier"] for entry in result["batchItemFailures"]} == failed
    assert all(message_id.startswith("poison-") for message_id in failed)
    lines = assert_log_lines_are_single_json_lines(handle, start)
    assert len([line for line in lines if line.get("outcome")]) == len(messages)


@HYPOTHESIS
@given(data=st.data(), goods=st.integers(1, 4), poisons=st.integers(1, 4))
def test_poison_in_a_direct_s3_event_fails_only_its_record_then_raises(
    handler, data: st.DataObject, goods: int, poisons: int
) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    start = len(handle._records)
    records = [s3_record(i) for i in range(goods)] + [data.draw(poison_s3_records(100 + i)) for i in range(poisons)]
    random.Random(data.draw(st.integers(0, 2**32))).shuffle(records)

    try:
        handle({"Records": records})
        raised = None
    except TriggerFailed as exc:
        raised = str(exc)

    lines = assert_log_lines_are_single_json_lines(handle, start)
    outcomes = [line for line in lines if line.get("outcome")]
    assert len(outcomes) == len(records)  # every record handled, the poison too, before any raise
    launched = {line["key"] for line in outcomes if line["outcome"] == "launched"}
    assert {f"uploads/good {i}.jpg" for i in range(goods)} <= launched
    failures = [line for line in outcomes if line["outcome"] == "failed"]
    assert (raised is not None) == bool(failures)
    if raised is not None:
        assert raised.isprintable() and raised.startswith(f"{len(failures)} of {len(records)} records failed")


@HYPOTHESIS
@given(field=st.sampled_from(EVENTBRIDGE_FIELDS), value=json_values)
def test_poison_in_a_direct_eventbridge_event_is_a_failed_record_not_an_escape(handler, field, value) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    start = len(handle._records)
    try:
        result = handle(mutated(eventbridge_event(1), field, value))
        assert len(result["launched"]) + len(result["skipped"]) == 1 and not result["failed"]
    except TriggerFailed as exc:
        assert str(exc).startswith("1 of 1 records failed") and str(exc).isprintable()
    assert len([line for line in assert_log_lines_are_single_json_lines(handle, start) if line.get("outcome")]) == 1


def test_infinity_and_json_nested_100000_deep_fail_only_their_messages(handler, flyteadmin, flyte_env, s3) -> None:
    """Through the real FlyteRemote: 9 good uploads and 2 poison messages; the 9 are created, the 2 come back."""
    flyte_env(flyteadmin.endpoint)
    good = [sqs_message(f"good-{i}", good_body(i, "s3")) for i in range(9)]
    infinity = '{"Records": [' + json.dumps(s3_record(50)).replace('"size": 1000', '"size": Infinity') + "]}"
    deep = "[" * 100_000 + "]" * 100_000
    messages = [*good[:4], sqs_message("infinity", infinity), *good[4:], sqs_message("deep", deep)]

    result = handler(NST_STYLE_URI=STYLE)({"Records": messages})

    assert result["batchItemFailures"] == [{"itemIdentifier": "infinity"}, {"itemIdentifier": "deep"}]
    assert len(result["launched"]) == 9 and len(flyteadmin.servicer.executions) == 9
    errors = {item["message_id"]: item["error"] for item in result["failed"]}
    assert "body is not JSON (Infinity is not JSON)" in errors["infinity"]
    assert errors["deep"].startswith("SQS message deep: ") and "RecursionError" in errors["deep"]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("s3", "object", "eTag"), 8675309, "S3 record 0 has a non-string s3.object.eTag: 8675309"),
        (("s3", "object", "versionId"), ["v1"], "S3 record 0 has a non-string s3.object.versionId: a JSON array"),
        (("s3", "object", "sequencer"), {"x": 1}, "non-string s3.object.sequencer: a JSON object"),
        (("s3", "object", "size"), -5, "S3 record 0 has a negative s3.object.size: -5"),
        (("s3", "object", "size"), float("inf"), "S3 record 0 has a non-integer s3.object.size: inf"),
        (("s3", "object", "size"), True, "S3 record 0 has a non-integer s3.object.size: True"),
        (("s3", "object", "size"), 2.5, "non-integer s3.object.size: 2.5"),
        (("s3", "bucket", "name"), "", "s3.bucket.name that is not an S3 bucket name: ''"),
        (("s3", "bucket", "name"), 12345, "S3 record 0 has a non-string s3.bucket.name: 12345"),
        (("s3", "bucket", "name"), "a/b", "s3.bucket.name that is not an S3 bucket name: 'a/b'"),
        (("s3", "bucket", "name"), "Upper_Case", "s3.bucket.name that is not an S3 bucket name: 'Upper_Case'"),
        (("s3", "object", "key"), 42, "S3 record 0 has a non-string s3.object.key: 42"),
        (("eventName",), None, "S3 record 0 has no eventName"),
    ],
)
def test_a_field_of_the_wrong_kind_fails_its_record_naming_the_field(path, value, message) -> None:
    batch = parse_event({"Records": [mutated(s3_record(0), path, value), s3_record(1)]})
    assert [record.key for record in batch.records] == ["uploads/good 1.jpg"]
    (unreadable,) = batch.unreadable
    assert message in unreadable.error


# ----------------------------------------------------------------------------------------------- buckets


def test_a_bucket_outside_the_allow_list_is_skipped_with_the_reason(handler) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE, NST_ALLOWED_BUCKETS="")  # default: style's
    foreign = mutated(s3_record(1), ("s3", "bucket", "name"), "someone-elses-bucket")
    result = handle({"Records": [s3_record(0), foreign]})
    assert [item["key"] for item in result["launched"]] == ["uploads/good 0.jpg"]
    assert result["skipped"] == [
        {
            "bucket": "someone-elses-bucket",
            "key": "uploads/good 1.jpg",
            "reason": f"bucket 'someone-elses-bucket' is not in NST_ALLOWED_BUCKETS ({BUCKET})",
        }
    ]


def test_an_explicit_allow_list_replaces_the_style_bucket(handler) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE, NST_ALLOWED_BUCKETS="nst-other, nst-more")
    result = handle({"Records": [s3_record(0), mutated(s3_record(1), ("s3", "bucket", "name"), "nst-more")]})
    assert [item["bucket"] for item in result["launched"]] == ["nst-more"]
    assert "is not in NST_ALLOWED_BUCKETS (nst-other, nst-more)" in result["skipped"][0]["reason"]


# ----------------------------------------------------------------------------------------------- keys


def test_a_key_longer_than_s3_allows_is_refused_as_forged(handler) -> None:
    long_key = "uploads/" + "é" * 510 + ".jpg"  # 1,032 bytes of UTF-8 in 518 characters
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    with pytest.raises(TriggerFailed) as caught:
        handle({"Records": [s3_record(0), s3_record(1, key=long_key)]})
    message = str(caught.value)
    assert message.startswith("1 of 2 records failed (1 launched, 0 skipped): record: S3 record 1 has a ")
    assert f"s3.object.key of 1,032 bytes; S3 keys are at most {MAX_KEY_BYTES} bytes, so the event is forged" in message


def test_an_upload_whose_output_key_would_be_too_long_fails_before_any_work(handler, flyteadmin, flyte_env, s3) -> None:
    flyte_env(flyteadmin.endpoint)
    stem = "x" * (MAX_KEY_BYTES - len("uploads/") - len(".jpg"))
    key = f"uploads/{stem}.jpg"  # exactly 1024 bytes: a valid S3 key; its '.progress.json' would be 1043
    result = handler(NST_STYLE_URI=STYLE)({"Records": [s3_record(0, key=key), s3_record(1)]})
    (refused,) = result["refused"]  # permanent: reported once, the invocation does not raise to be retried
    # 1,044: the record beside a ".tiff" output, the longest an upload's nst-output-format may name
    expected = "side file '.progress.json' key would be 1,044 bytes under 'stylized/'; S3 keys are at most 1024 bytes"
    assert expected in refused["error"]
    names = [request.name for request in flyteadmin.servicer.create_requests]
    assert len(names) == 1  # only the good upload was launched: nothing was started for the long one


@pytest.mark.parametrize(
    "key", ["uploads/a/../../secret.jpg", "uploads/../x.jpg", "uploads/./x.jpg", "uploads/monet/../x.jpg"]
)
def test_dot_segments_are_refused(handler, key: str) -> None:
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    (refused,) = handle({"Records": [s3_record(0, key=key)]})["refused"]
    assert "key has a '.' or '..' path segment; refused so no output can land outside 'stylized/'" in refused["error"]


def test_dots_inside_names_are_not_segments(handler) -> None:
    result = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)(
        {"Records": [s3_record(0, key="uploads/..hidden/a..b.jpg"), s3_record(1, key="uploads/.x.jpg")]}
    )
    assert len(result["launched"]) == 2


def test_control_characters_never_break_a_log_line_or_the_summary(handler) -> None:
    """A key may hold any character S3 allows: newlines, NUL, U+2028. Logs and the summary stay one line each."""
    handle = handler(NST_LAUNCH_MODE="dry-run")  # no NST_STYLE_URI: an upload in no style folder is refused
    start = len(handle._records)
    evil = "evil\nINFO forged line\x00\u2028\r"
    records = [s3_record(0, key=f"uploads/{evil}.jpg"), s3_record(1, key=f"uploads/{evil}/x.jpg")]
    result = handle({"Records": records})
    report = Report("s3", refused=outcomes_of(result)[1:])  # the refusal, summarised as a failure would be
    summary = report.summary()
    assert summary.startswith("0 of 1 records failed (0 launched, 0 skipped, 1 refused): ")
    assert printable(result["refused"][0]["error"]).isprintable()
    assert "evil\\nINFO forged line\\x00\\u2028\\r.jpg" in printable(result["refused"][0]["error"])
    lines = assert_log_lines_are_single_json_lines(handle, start)
    by_outcome = [(line["outcome"], line["key"]) for line in lines if line.get("outcome")]
    # the real keys, carried exactly inside the JSON
    assert by_outcome == [("refused", f"uploads/{evil}.jpg"), ("launched", f"uploads/{evil}/x.jpg")]


@pytest.mark.parametrize("shape", ["s3", "eventbridge"])
def test_keys_that_are_not_valid_unicode_still_get_their_json_log_line(handler, shape: str) -> None:
    """JSON can spell a lone surrogate ("\\ud800"); no S3 key holds one, and UTF-8 cannot write one."""
    handle = handler(NST_LAUNCH_MODE="dry-run", NST_STYLE_URI=STYLE)
    start = len(handle._records)
    if shape == "s3":
        bad = json.dumps({"Records": [s3_record(0, key="uploads/\ud800bad.jpg")]})
        good = json.dumps({"Records": [s3_record(1)]})
    else:
        bad = json.dumps(mutated(eventbridge_event(0), ("detail", "object", "key"), "uploads/\udfffbad.jpg"))
        good = json.dumps(eventbridge_event(1))
    result = handle({"Records": [sqs_message("bad", bad), sqs_message("good", good)]})
    assert result["batchItemFailures"] == [{"itemIdentifier": "bad"}]
    assert "that is not valid Unicode" in result["failed"][0]["error"] and len(result["launched"]) == 1
    lines = [line for line in assert_log_lines_are_single_json_lines(handle, start) if line.get("outcome")]
    assert [line["outcome"] for line in lines] == ["failed", "launched"]
