"""The result shape and the failure summary."""

from __future__ import annotations

from lambda_trigger.report import Report


def failed(n: int, message_id: str | None = None) -> dict:
    item = {"bucket": "b", "key": f"uploads/{n}.jpg", "error": f"problem {n}"}
    return {**item, "message_id": message_id} if message_id else item


def test_direct_results_have_no_batch_item_failures_and_raise_only_on_failure() -> None:
    report = Report("s3", launched=[{"bucket": "b", "key": "k"}])
    assert report.as_dict() == {"launched": [{"bucket": "b", "key": "k"}], "skipped": [], "failed": []}
    assert not report.must_raise
    report.failed.append(failed(1))
    assert report.must_raise and Report("eventbridge", failed=[failed(1)]).must_raise


def test_sqs_names_each_failed_message_once_and_never_raises() -> None:
    report = Report("sqs", failed=[failed(1, "m1"), failed(2, "m2"), failed(3, "m1")])
    assert report.as_dict()["batchItemFailures"] == [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    assert not report.must_raise
    assert Report("sqs").as_dict()["batchItemFailures"] == []


def test_the_summary_counts_and_shows_the_first_five_errors() -> None:
    report = Report("s3", failed=[failed(n) for n in range(7)], skipped=[{}], launched=[{}, {}])
    summary = report.summary()
    assert summary.startswith("7 of 10 records failed (2 launched, 1 skipped): s3://b/uploads/0.jpg: problem 0; ")
    assert "problem 4" in summary and "problem 5" not in summary and summary.endswith("; and 2 more")
    unreadable = Report("sqs", failed=[{"bucket": None, "key": None, "message_id": "m9", "error": "body is not JSON"}])
    assert unreadable.summary().endswith("message m9: body is not JSON")
