"""The per-record loop on its own: isolation between records."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from lambda_trigger.events import parse_event
from lambda_trigger.launchers import DryRunLauncher, LaunchReceipt, LaunchRequest
from lambda_trigger.options import UnreadMetadata
from lambda_trigger.pipeline import Trigger
from lambda_trigger.settings import Settings
from lambda_trigger.styles import UncheckedStyleResolver
from tests.fakes import BUCKET, load_event

SETTINGS = Settings(launch_mode="dry-run", style_uri=f"s3://{BUCKET}/styles/default.jpg")


class BuggyLauncher(DryRunLauncher):
    """A launcher with a bug that bites on one particular upload."""

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        if "100%" in str(request.inputs["content_img"]):
            raise KeyError("oops")
        return super().launch(request)


def test_a_bug_on_one_record_does_not_cost_the_others_their_launch() -> None:
    trigger = Trigger(
        SETTINGS, UncheckedStyleResolver(SETTINGS), UnreadMetadata(), BuggyLauncher(SETTINGS), Logger(service="t")
    )
    report = trigger.handle(parse_event(load_event("s3_put_encoded_keys.json")))
    assert len(report.launched) == 3
    (failed,) = report.failed
    assert failed.key == "uploads/100% real.png" and failed.error == "unexpected KeyError: 'oops'"


def test_unreadable_parts_come_first_as_failures() -> None:
    trigger = Trigger(
        SETTINGS, UncheckedStyleResolver(SETTINGS), UnreadMetadata(), DryRunLauncher(SETTINGS), Logger(service="t")
    )
    report = trigger.handle(parse_event(load_event("sqs_batch.json")))
    assert report.failed[0].item() == {
        "bucket": None,
        "key": None,
        "message_id": "5b1f6c6e-4a8f-4d6a-9d38-3c4a7f0e2b11",
        "error": report.failed[0].error,
    }
    assert report.failed[0].error.startswith("SQS message 5b1f6c6e-4a8f-4d6a-9d38-3c4a7f0e2b11: body is not JSON")
