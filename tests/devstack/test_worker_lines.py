"""The local worker's lines for the trigger's outcomes: a permanent error is one final line, never a retry."""

from __future__ import annotations

from devstack.worker import outcome_lines
from lambda_trigger.report import Failed, Refused, Report


def test_a_refusal_is_one_final_line_and_a_transient_failure_says_it_will_retry() -> None:
    report = Report("sqs")
    report.add(Refused("b", "uploads/typo.jpg", "m1", error="unknown metadata key nst-sead (value '1')"))
    report.add(Failed("b", "uploads/photo.jpg", "m2", error="flyteadmin is unavailable"))
    lines = outcome_lines(report.as_dict(), attempts={"m1": 1, "m2": 1}, max_receives=3)
    by_outcome = {record["outcome"]: (text, record) for text, record in lines}
    (refused_text, refused), (failed_text, failed) = by_outcome["refused"], by_outcome["failed"]
    assert refused_text == (
        "refused  s3://b/uploads/typo.jpg: unknown metadata key nst-sead (value '1') "
        "(a permanent error: reported once, not retried)"
    )
    assert refused["outcome"] == "refused" and refused["final"] is True
    assert failed_text.endswith("(attempt 1 of 3, will retry)") and failed["final"] is False
    assert report.as_dict()["batchItemFailures"] == [{"itemIdentifier": "m2"}], "only the transient one returns"


def test_a_journal_line_still_being_written_is_left_for_the_next_read() -> None:
    from devstack.stack import journal_records

    done = '{"outcome": "ready"}\n{"outcome": "launched", "key": "uploads/a.jpg"}\n'
    assert journal_records(done + '{"outcome": "skip') == journal_records(done)
    assert [record["outcome"] for record in journal_records(done)] == ["ready", "launched"]
    assert journal_records("") == [] and journal_records('{"outcome": "rea') == []
