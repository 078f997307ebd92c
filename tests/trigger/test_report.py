"""The result shape, the failure summary, and the typed outcomes both are made from."""

from __future__ import annotations

from lambda_trigger.report import Failed, Launched, Refused, Report, Skipped, outcomes_of


def failed(n: int, message_id: str | None = None) -> Failed:
    return Failed("b", f"uploads/{n}.jpg", message_id, error=f"problem {n}")


def test_direct_results_have_no_batch_item_failures_and_raise_only_on_failure() -> None:
    report = Report("s3", launched=[Launched("b", "k", execution_name="nst-a", mode="remote")])
    assert report.as_dict() == {
        "launched": [
            {"bucket": "b", "key": "k", "execution_name": "nst-a", "duplicate": False, "mode": "remote", "inputs": {}}
        ],
        "skipped": [],
        "failed": [],
        "refused": [],
    }
    assert not report.must_raise
    report.add(failed(1))
    assert report.must_raise and Report("eventbridge", failed=[failed(1)]).must_raise


def test_a_refusal_is_reported_once_never_redelivered_and_never_raises() -> None:
    """Permanent errors: in the result's "refused", in no batchItemFailures, and a direct invocation returns."""
    refusal = Refused("b", "uploads/x.jpg", "m1", error="metadata nst-sead='1': unknown")
    sqs = Report("sqs")
    sqs.add(refusal)
    sqs.add(failed(2, "m2"))
    assert sqs.as_dict()["batchItemFailures"] == [{"itemIdentifier": "m2"}]
    assert sqs.as_dict()["refused"] == [
        {"bucket": "b", "key": "uploads/x.jpg", "message_id": "m1", "error": "metadata nst-sead='1': unknown"}
    ]
    direct = Report("s3")
    direct.add(refusal)
    assert not direct.must_raise and direct.refused == [refusal] and direct.failed == []
    assert outcomes_of(sqs.as_dict()) == [failed(2, "m2"), refusal], "read back as the same typed outcomes"


def test_sqs_names_each_failed_message_once_and_never_raises() -> None:
    report = Report("sqs", failed=[failed(1, "m1"), failed(2, "m2"), failed(3, "m1")])
    assert report.as_dict()["batchItemFailures"] == [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    assert not report.must_raise
    assert Report("sqs").as_dict()["batchItemFailures"] == []


def test_the_summary_counts_and_shows_the_first_five_errors() -> None:
    report = Report(
        "s3",
        failed=[failed(n) for n in range(7)],
        skipped=[Skipped("b", "x", reason="r")],
        launched=[Launched("b", "y")] * 2,
    )
    summary = report.summary()
    assert summary.startswith("7 of 10 records failed (2 launched, 1 skipped): s3://b/uploads/0.jpg: problem 0; ")
    assert "problem 4" in summary and "problem 5" not in summary and summary.endswith("; and 2 more")
    unreadable = Report("sqs", failed=[Failed(None, None, "m9", error="body is not JSON")])
    assert unreadable.summary().endswith("message m9: body is not JSON")


def test_outcomes_read_back_from_a_result_are_the_outcomes_that_made_it() -> None:
    """The one serialisation (a Lambda result) and its one reader (what the local stack's worker uses)."""
    made = [
        Launched(
            "b",
            "uploads/a.jpg",
            "m1",
            execution_name="nst-a",
            duplicate=True,
            mode="local",
            inputs={"content_img": "s3://b/uploads/a.jpg", "seed": 7, "more_styles": ["s3://b/styles/x.png"]},
            detail={"launch_plan": "local", "decks": ["/d/deck-1.html"], "execution_error": "bad", "failed_task": "t"},
        ),
        Skipped("b", "stylized/a.png", "m2", reason="under the output prefix"),
        Failed("b", "uploads/c.jpg", "m3", error="style 'x' not found", execution_name="nst-c"),
        Failed(None, None, "m4", error="body is not JSON"),
    ]
    report = Report("sqs")
    for outcome in made:
        report.add(outcome)
    assert outcomes_of(report.as_dict()) == made
