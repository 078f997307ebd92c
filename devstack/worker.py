"""Lambda's SQS event-source mapping in miniature: long-poll the queue and hand each batch to the real handler.

It behaves like the mapping with ``ReportBatchItemFailures``: messages that succeeded are deleted, the ones the
handler names in ``batchItemFailures`` come back after ``--retry-delay`` seconds, and the queue's redrive policy
moves a message that keeps failing to the dead-letter queue. As on AWS, a launch returns at once and the message is
then done: each run goes in a process of its own (:class:`~devstack.launcher.ProcessPerRunLauncher`), at most
``--max-runs`` at a time (default: the cores), while the worker goes on polling. So a skip or a refusal is reported
the moment it is decided, not after the runs ahead of it; a run that fails on the upload is a finished record,
reported once; only a failure to launch is retried.

Every outcome is printed as one line a person can read, as soon as it is known (``started`` when a run is
launched, ``done`` or ``failed`` when it ends), and appended as JSON to ``--outcomes`` (what ``make dev`` and the
tests follow). The trigger's own JSON log lines go to ``--log``.

    python -m devstack.worker --queue-url URL --queue-arn ARN --outcomes OUTCOMES.jsonl --log TRIGGER.log --decks DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from devstack.launcher import ProcessPerRunLauncher
from devstack.processes import terminate_on_sigterm
from devstack.provision import REGION, client
from devstack.stack import describe_decks
from lambda_trigger.pipeline import Trigger
from lambda_trigger.report import Failed, Launched, Outcome, Refused, Report, Skipped, outcomes_of

#: SQS's largest batch: a launch returns at once here as on AWS, so a batch holds nothing back.
MESSAGES_PER_INVOCATION = 10


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that the handler and Powertools read."""

    function_name: str = "nst-trigger-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:000000000000:function:nst-trigger-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/nst-trigger-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def outcome_lines(result: dict[str, Any], attempts: dict[str, int], max_receives: int) -> list[tuple[str, dict]]:
    """(human line, JSON record) for every outcome of a handler result, read back as the trigger's typed outcomes."""
    return [
        outcome_line(outcome, attempts.get(outcome.message_id or "", 1), max_receives)
        for outcome in outcomes_of(result)
    ]


def outcome_line(outcome: Outcome, attempt: int, max_receives: int) -> tuple[str, dict]:
    """(human line, JSON record) for one outcome, its record's ``attempt``-th delivery."""
    if isinstance(outcome, Launched) and outcome.detail.get("execution_error"):
        # the workflow ran and failed on this upload: finished, never retried
        failed_task = outcome.detail.get("failed_task")
        in_task = f" in {failed_task}" if failed_task else ""
        text = f"failed   {_where(outcome)}: {outcome.detail['execution_error']} (the workflow failed{in_task}; not retried)"
        return text, {"outcome": "failed", "attempt": attempt, "final": True, **_brief(outcome)}
    if isinstance(outcome, Launched) and outcome.detail.get("running"):
        # launched; its run goes in a process of its own, and its own line follows when it ends
        note = " (duplicate delivery, already running)" if outcome.duplicate else ""
        text = f"started  {_where(outcome)} as {outcome.execution_name}{note}"
        return text, {"outcome": "started", **_brief(outcome)}
    if isinstance(outcome, Launched):
        note = " (duplicate delivery, already done)" if outcome.duplicate else ""
        decks = outcome.detail.get("decks")
        shown = f"\n         Decks: {describe_decks(decks)}" if decks else ""
        output = outcome.inputs.get("output_uri", "")
        return f"done     {_where(outcome)} -> {output}{note}{shown}", {"outcome": "launched", **_brief(outcome)}
    if isinstance(outcome, Skipped):
        return f"skipped  {_where(outcome)}: {outcome.reason}", {"outcome": "skipped", **_brief(outcome)}
    if isinstance(outcome, Refused):  # a permanent error: the message is deleted, never redelivered
        text = f"refused  {_where(outcome)}: {outcome.error} (a permanent error: reported once, not retried)"
        return text, {"outcome": "refused", "final": True, "error": outcome.error, **_brief(outcome)}
    final = attempt >= max_receives
    fate = "moving to the dead-letter queue" if final else "will retry"
    text = f"failed   {_where(outcome)}: {outcome.error} (attempt {attempt} of {max_receives}, {fate})"
    return text, {"outcome": "failed", "attempt": attempt, "final": final, **_brief(outcome)}


def serve(
    queue_url: str,
    queue_arn: str,
    outcomes: Path,
    log: Path,
    decks: Path,
    max_receives: int,
    retry_delay_s: int,
    max_runs: int,
    wait_s: int = 2,
) -> None:
    """Poll forever (until SIGTERM or Ctrl-C); every run's process is stopped when this returns."""
    from lambda_trigger import lambda_function  # reads and validates the NST_ settings now

    # One readable line per outcome on the terminal; the trigger's JSON line for the same record goes to the log.
    handler = lambda_function.logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(log.open("a", encoding="utf-8", buffering=1))
    # The workflow runs here, locally: the trigger is given this launcher (the Lambda package has none such).
    launcher = ProcessPerRunLauncher(
        lambda_function.SETTINGS.launch_plan, decks, max_runs, cache_dir=Path(tempfile.gettempdir())
    )
    lambda_function.TRIGGER = Trigger.from_settings(lambda_function.SETTINGS, lambda_function.logger, launcher)
    journal = Journal(outcomes)
    try:
        _poll(queue_url, queue_arn, journal, launcher, max_receives, retry_delay_s, wait_s)
    finally:
        launcher.close()


class Journal:
    """The terminal's lines and the outcome journal, written whole from the poll loop and the runs' threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, text: str, record: dict[str, Any]) -> None:
        with self._lock:
            for line in text.splitlines():
                print(f"[trigger] {line}", flush=True)
            _append(self.path, record)


def _poll(
    queue_url: str,
    queue_arn: str,
    journal: Journal,
    launcher: ProcessPerRunLauncher,
    max_receives: int,
    retry_delay_s: int,
    wait_s: int,
) -> None:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from lambda_trigger import lambda_function

    sqs = client("sqs", os.environ["AWS_ENDPOINT_URL"])
    journal.write("", {"outcome": "ready", "pid": os.getpid(), "max_runs": launcher.max_runs})
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=MESSAGES_PER_INVOCATION,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        attempts = {m["MessageId"]: int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) for m in messages}
        try:
            result = lambda_function.lambda_handler(sqs_event(messages, queue_arn), cast(LambdaContext, LocalContext()))
        except Exception as exc:  # the whole invocation failed: Lambda returns every message to the queue
            report = Report(
                "sqs", failed=[Failed.of(None, f"{type(exc).__name__}: {exc}", m["MessageId"]) for m in messages]
            )
            result = report.as_dict()
        for text, record in outcome_lines(result, attempts, max_receives):
            journal.write(text, record)
        for outcome in outcomes_of(result):
            if isinstance(outcome, Launched) and outcome.detail.get("running") and not outcome.duplicate:
                launcher.run_of(outcome.execution_name).when_finished(_reporter(outcome, journal, max_receives))
        failed = {entry["itemIdentifier"] for entry in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=retry_delay_s
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _reporter(launched: Launched, journal: Journal, max_receives: int) -> Callable[[dict[str, Any]], None]:
    """What prints a run's own line (done, or failed) when its process has finished."""

    def report(detail: dict[str, Any]) -> None:
        journal.write(*outcome_line(dataclasses.replace(launched, detail=detail), 1, max_receives))

    return report


def _where(outcome: Outcome) -> str:
    if outcome.bucket and outcome.key:
        return f"s3://{outcome.bucket}/{outcome.key}"
    return "(event without an object)"


def _brief(outcome: Outcome) -> dict[str, Any]:
    """The outcome journal's fields (what make demo, make dev and the tests follow)."""
    brief: dict[str, Any] = {"bucket": outcome.bucket, "key": outcome.key}
    if outcome.message_id:
        brief["message_id"] = outcome.message_id
    if isinstance(outcome, Launched):
        detail = outcome.detail
        brief.update(execution_name=outcome.execution_name, duplicate=outcome.duplicate)
        brief.update({name: detail[name] for name in ("failed_task", "output", "decks") if name in detail})
        if detail.get("execution_error"):
            brief["error"] = detail["execution_error"]
        brief["output_uri"] = outcome.inputs.get("output_uri")
    elif isinstance(outcome, Skipped):
        brief["reason"] = outcome.reason
    else:
        brief["error"] = outcome.error
        if outcome.execution_name:
            brief["execution_name"] = outcome.execution_name
    return brief


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps({"time": time.time(), **record}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--queue-arn", required=True)
    parser.add_argument("--outcomes", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path, help="where the trigger's JSON log lines go")
    parser.add_argument("--decks", required=True, type=Path, help="each run's Decks are copied to DECKS/<execution>/")
    parser.add_argument("--max-receives", type=int, default=3)
    parser.add_argument("--retry-delay", type=int, default=5, help="seconds before a failed message is retried")
    parser.add_argument(
        "--max-runs", type=int, default=os.cpu_count() or 1, help="runs at a time, each in its own process (the cores)"
    )
    args = parser.parse_args(argv)
    if args.max_runs < 1:
        parser.error(f"--max-runs: at least 1, got {args.max_runs}")
    terminate_on_sigterm()
    try:
        serve(
            args.queue_url,
            args.queue_arn,
            args.outcomes,
            args.log,
            args.decks,
            args.max_receives,
            args.retry_delay,
            args.max_runs,
        )
    except (KeyboardInterrupt, SystemExit):
        return 0
    except Exception as exc:
        print(f"[trigger] worker stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        _append(args.outcomes, {"outcome": "worker-error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        # flytekit's S3 session is reported as unclosed during interpreter shutdown, through a logger that is
        # already half torn down: a screen of noise and nothing to act on.
        logging.getLogger("flytekit").disabled = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
