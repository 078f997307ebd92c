"""One invocation's work: every record is decided, named, given a style and launched, or skipped, or failed.

Each record is independent: a failure (or a bug) on one never stops the others, and each gets exactly one
structured log line. The invocation's :class:`~lambda_trigger.budget.Budget` bounds its time: a record whose next
call cannot finish in the time left fails at once (``not attempted: ...``), and once the launcher reports that
nothing can launch (flyteadmin down) or S3 stops answering, the remaining records fail at once with that error
rather than each waiting out its own timeout. Every error is passed through the secret redaction before it is
logged or reported.

Why not powertools' BatchProcessor for SQS: its unit is the SQS message and it learns of a failure only from an
exception raised by the per-message handler. Here the unit is the S3 record (one message may carry several), and
every record's outcome belongs in the result, so the outcomes would have to travel out of band while exceptions
were raised only to rebuild ``batchItemFailures``, a list :class:`~lambda_trigger.report.Report` derives directly.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambda_trigger import budget as budgets
from lambda_trigger import naming, rules
from lambda_trigger.budget import Budget, NotAttempted
from lambda_trigger.events import Batch, UploadRecord
from lambda_trigger.launchers import Launcher, LaunchError, LauncherUnavailable, LaunchRequest
from lambda_trigger.redaction import redact, scrub_exception
from lambda_trigger.report import Report
from lambda_trigger.settings import Settings
from lambda_trigger.styles import StyleError, StyleResolver

#: The budget's name for the launcher's dependency (flyteadmin, or the local workflow).
FLYTEADMIN = "flyteadmin"


class Trigger:
    """Holds what lives for the container (settings, style cache, launcher) and handles one batch at a time."""

    def __init__(self, settings: Settings, styles: StyleResolver, launcher: Launcher, logger: Logger) -> None:
        self.settings = settings
        self.styles = styles
        self.launcher = launcher
        self.logger = logger

    def handle(self, batch: Batch, budget: Budget | None = None) -> Report:
        """Handle every record of the batch within ``budget``; unreadable messages and records are failed first."""
        report = Report(batch.source)
        for unreadable in batch.unreadable:
            self._fail(report, None, unreadable.error, message_id=unreadable.message_id)
        with budgets.invocation(budget or budgets.current()):
            for record in batch.records:
                try:
                    self._handle(record, report)
                except Exception as exc:  # a bug on one record must not cost the others their launch
                    scrub_exception(exc)
                    self.logger.exception("unexpected error", extra=_record_fields(record))
                    self._fail(report, record, f"unexpected {type(exc).__name__}: {exc}")
        self.logger.info(
            "invocation done",
            extra={
                "source": batch.source,
                "launched": len(report.launched),
                "skipped": len(report.skipped),
                "failed": len(report.failed),
            },
        )
        return report

    def _handle(self, record: UploadRecord, report: Report) -> None:
        """One record: decided, named, given a style and launched; or skipped; or failed."""
        decision = rules.decide(record, self.settings)
        if isinstance(decision, rules.Skip):
            self._skip(report, record, decision.reason)
            return
        if isinstance(decision, rules.Refuse):
            self._fail(report, record, f"{decision.error} ({record.uri})")
            return
        try:
            name = naming.execution_name(record.bucket, record.key, record.version_id, record.etag, record.sequencer)
        except naming.NamingError as exc:
            self._fail(report, record, f"{exc} ({record.uri})")
            return
        budget = budgets.current()
        try:
            style_uri = self.styles.resolve(record.bucket, decision.style_name, record.uri)
        except (StyleError, NotAttempted) as exc:
            self._fail(report, record, str(exc), execution_name=name)
            return
        inputs: dict[str, str | int] = {
            "content_img": record.uri,
            "style_img": style_uri,
            "output_uri": f"s3://{record.bucket}/{decision.output_key}",
            **self.settings.workflow_overrides(),
        }
        try:
            budget.check_up(FLYTEADMIN)
            receipt = self.launcher.launch(LaunchRequest(name, inputs))
        except NotAttempted as exc:
            self._fail(report, record, str(exc), execution_name=name)
            return
        except LauncherUnavailable as exc:
            budget.mark_down(FLYTEADMIN, redact(str(exc)))
            self._fail(report, record, str(exc), execution_name=name)
            return
        except LaunchError as exc:
            self._fail(report, record, str(exc), execution_name=name)
            return
        item = {
            **_item(record),
            "execution_name": receipt.execution_name,
            "duplicate": receipt.duplicate,
            "mode": self.launcher.mode,
            **receipt.detail,
            "inputs": inputs,
        }
        report.launched.append(item)
        self.logger.info(
            "launched",
            extra={
                **_record_fields(record),
                "outcome": "launched",
                "execution_name": name,
                "duplicate": receipt.duplicate,
                "mode": self.launcher.mode,
                "style_img": style_uri,
                "output_uri": inputs["output_uri"],
            },
        )

    def _skip(self, report: Report, record: UploadRecord, reason: str) -> None:
        report.skipped.append({**_item(record), "reason": reason})
        self.logger.info("skipped", extra={**_record_fields(record), "outcome": "skipped", "reason": reason})

    def _fail(
        self,
        report: Report,
        record: UploadRecord | None,
        error: str,
        message_id: str | None = None,
        execution_name: str | None = None,
    ) -> None:
        item: dict[str, Any] = _item(record) if record else {"bucket": None, "key": None}
        message_id = record.message_id if record else message_id
        if message_id:
            item["message_id"] = message_id
        if execution_name:
            item["execution_name"] = execution_name
        error = redact(error)
        item["error"] = error
        report.failed.append(item)
        fields = _record_fields(record) if record else {"message_id": message_id}
        self.logger.error(
            "failed", extra={**fields, "outcome": "failed", "execution_name": execution_name, "error": error}
        )


def _item(record: UploadRecord) -> dict[str, Any]:
    item: dict[str, Any] = {"bucket": record.bucket, "key": record.key}
    if record.message_id:
        item["message_id"] = record.message_id
    return item


def _record_fields(record: UploadRecord) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "key": record.key,
        "sequencer": record.sequencer,
        "event_name": record.event_name,
        "message_id": record.message_id,
    }
