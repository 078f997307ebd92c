"""Lambda's SQS event-source mapping in miniature: long-poll the queue and hand each batch to the real handler.

It behaves like the mapping with ``ReportBatchItemFailures``: messages that succeeded are deleted, the ones the
handler names in ``batchItemFailures`` come back after ``--retry-delay`` seconds, and the queue's redrive policy
moves a message that keeps failing to the dead-letter queue. The workflow runs in this process
(:class:`~devstack.launcher.InProcessLauncher`): a run that fails on the upload is a finished record, reported
once; only a failure to launch is retried.

Every outcome is printed as one line a person can read, as soon as its record is handled, and appended as JSON to
``--outcomes`` (what ``make dev`` and the tests follow). The trigger's own JSON log lines go to ``--log``.

    python -m devstack.worker --queue-url URL --queue-arn ARN --outcomes OUTCOMES.jsonl --log TRIGGER.log --decks DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from devstack.launcher import InProcessLauncher
from devstack.processes import terminate_on_sigterm
from devstack.provision import REGION, client
from devstack.stack import describe_decks

#: One message per invocation. On AWS a launch takes milliseconds; here it runs the whole workflow, so a batch of
#: ten would hold back every outcome (and the deletion of every finished message) until the tenth run ends.
MESSAGES_PER_INVOCATION = 1


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
    """(human line, JSON record) for every launched, skipped and failed item of a handler result."""
    lines = []
    for item in result.get("launched", []):
        if item.get("execution_error"):  # the workflow ran and failed on this upload: finished, never retried
            in_task = f" in {item['failed_task']}" if item.get("failed_task") else ""
            attempt = attempts.get(item.get("message_id", ""), 1)
            lines.append(
                (
                    f"failed   {_where(item)}: {item['execution_error']} (the workflow failed{in_task}; not retried)",
                    {"outcome": "failed", "attempt": attempt, "final": True, **_brief(item)},
                )
            )
            continue
        output = item.get("inputs", {}).get("output_uri", "")
        note = " (duplicate delivery, already done)" if item.get("duplicate") else ""
        decks = f"\n         Decks: {describe_decks(item['decks'])}" if item.get("decks") else ""
        lines.append((f"done     {_where(item)} -> {output}{note}{decks}", {"outcome": "launched", **_brief(item)}))
    for item in result.get("skipped", []):
        lines.append((f"skipped  {_where(item)}: {item['reason']}", {"outcome": "skipped", **_brief(item)}))
    for item in result.get("failed", []):
        attempt = attempts.get(item.get("message_id", ""), 1)
        fate = "moving to the dead-letter queue" if attempt >= max_receives else "will retry"
        lines.append(
            (
                f"failed   {_where(item)}: {item['error']} (attempt {attempt} of {max_receives}, {fate})",
                {"outcome": "failed", "attempt": attempt, "final": attempt >= max_receives, **_brief(item)},
            )
        )
    return lines


def serve(
    queue_url: str,
    queue_arn: str,
    outcomes: Path,
    log: Path,
    decks: Path,
    max_receives: int,
    retry_delay_s: int,
    wait_s: int = 2,
) -> None:
    """Poll forever (until SIGTERM or Ctrl-C)."""
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from lambda_trigger import lambda_function  # reads and validates the NST_ settings now

    _keep_local_cache_in(Path(tempfile.gettempdir()))
    # One readable line per outcome on the terminal; the trigger's JSON line for the same record goes to the log.
    handler = lambda_function.logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(log.open("a", encoding="utf-8", buffering=1))
    lambda_function.TRIGGER.launcher = InProcessLauncher(lambda_function.SETTINGS.launch_plan, decks)
    sqs = client("sqs", os.environ["AWS_ENDPOINT_URL"])
    _append(outcomes, {"outcome": "ready", "pid": os.getpid()})
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
            result = {
                "failed": [{"message_id": m["MessageId"], "error": f"{type(exc).__name__}: {exc}"} for m in messages]
            }
            result["batchItemFailures"] = [{"itemIdentifier": m["MessageId"]} for m in messages]
        for text, record in outcome_lines(result, attempts, max_receives):
            for line in text.splitlines():
                print(f"[trigger] {line}", flush=True)
            _append(outcomes, record)
        failed = {entry["itemIdentifier"] for entry in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=retry_delay_s
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _keep_local_cache_in(folder: Path) -> None:
    """flytekit's local cache records paths of files in the stack's temporary folder, which is removed when the
    stack stops: kept in ~/.flyte, its entries would point at deleted files in the next run (a cache hit that
    fails with "File not found"). Imported only after the trigger has prepared flytekit's environment."""
    from flytekit.core import local_cache

    local_cache.CACHE_LOCATION = str(folder / "flyte-local-cache")


def _where(item: dict[str, Any]) -> str:
    if item.get("bucket") and item.get("key"):
        return f"s3://{item['bucket']}/{item['key']}"
    return "(event without an object)"


def _brief(item: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "bucket",
        "key",
        "execution_name",
        "reason",
        "error",
        "failed_task",
        "duplicate",
        "output",
        "decks",
        "message_id",
    )
    brief = {k: item[k] for k in keys if k in item}
    if item.get("execution_error"):
        brief["error"] = item["execution_error"]
    if "inputs" in item:
        brief["output_uri"] = item["inputs"].get("output_uri")
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
    args = parser.parse_args(argv)
    terminate_on_sigterm()
    try:
        serve(args.queue_url, args.queue_arn, args.outcomes, args.log, args.decks, args.max_receives, args.retry_delay)
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
