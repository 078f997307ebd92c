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
from lambda_trigger.launchers import (
    DryRunLauncher,
    Launcher,
    LaunchError,
    LauncherUnavailable,
    LaunchRequest,
    RemoteLauncher,
)
from lambda_trigger.options import MetadataError, MetadataReader, S3Metadata, UnreadMetadata, UploadGone, parse_metadata
from lambda_trigger.redaction import redact, scrub_exception
from lambda_trigger.report import Failed, Launched, Outcome, Refused, Report, Skipped
from lambda_trigger.s3 import ObjectStore, S3CallFailed
from lambda_trigger.settings import Settings
from lambda_trigger.status_records import StatusRecords
from lambda_trigger.styles import S3StyleResolver, StyleError, StyleNotFound, StyleResolver, UncheckedStyleResolver

#: The budget's name for the launcher's dependency (flyteadmin, or the local workflow).
FLYTEADMIN = "flyteadmin"


class Trigger:
    """Holds what lives for the container (settings, S3 client and style cache, launcher) and handles one batch at
    a time. Build it with :meth:`from_settings`, the one place that wires the parts for the launch mode."""

    def __init__(
        self,
        settings: Settings,
        styles: StyleResolver,
        metadata: MetadataReader,
        launcher: Launcher,
        logger: Logger,
        status_records: StatusRecords | None = None,
    ) -> None:
        self.settings = settings
        self.styles = styles
        self.metadata = metadata
        self.launcher = launcher
        self.logger = logger
        self.status_records = status_records  #: None: no status records (dry-run)

    @classmethod
    def from_settings(cls, settings: Settings, logger: Logger, launcher: Launcher | None = None) -> Trigger:
        """The parts NST_LAUNCH_MODE asks for. ``dry-run``: no network call at all (styles shown as the pattern
        looked up, metadata not read, no status record written); otherwise S3 for styles, metadata and status
        records, and flyteadmin, unless the host hands in its own ``launcher`` (the local stack runs the workflow
        in-process: devstack/launcher.py)."""
        if settings.launch_mode == "dry-run":
            return cls(settings, UncheckedStyleResolver(settings), UnreadMetadata(), DryRunLauncher(settings), logger)
        from lambda_trigger.flyte_config import prepare_flytekit_environment

        prepare_flytekit_environment()  # before anything imports flytekit (the launcher, or the host's)
        store = ObjectStore(settings)  # one S3 client for style lookups, metadata and status records
        return cls(
            settings,
            S3StyleResolver(settings, store),
            S3Metadata(store),
            launcher or RemoteLauncher(settings),
            logger,
            StatusRecords(store, logger),
        )

    def handle(self, batch: Batch, budget: Budget | None = None) -> Report:
        """Handle every record of the batch within ``budget``; unreadable messages and records are failed first.

        The budget (the invocation's time, and the dependencies found down in it) is the current one for the
        records' code (``budget.invocation``): that is where an outage found on one record is seen by the next.
        """
        report = Report(batch.source)
        for unreadable in batch.unreadable:
            self._record(report, Failed.of(None, redact(unreadable.error), message_id=unreadable.message_id))
        with budgets.invocation(budget or budgets.current()):
            for record in batch.records:
                try:
                    outcome = self._handle(record)
                except Exception as exc:  # a bug on one record must not cost the others their launch
                    scrub_exception(exc)
                    self.logger.exception("unexpected error", extra=_record_fields(record))
                    outcome = Failed.of(record, redact(f"unexpected {type(exc).__name__}: {exc}"))
                self._record(report, outcome)
                self._write_status(record, outcome)
        self.logger.info(
            "invocation done",
            extra={
                "source": batch.source,
                "launched": len(report.launched),
                "skipped": len(report.skipped),
                "failed": len(report.failed),
                "refused": len(report.refused),
            },
        )
        return report

    def _handle(self, record: UploadRecord) -> Outcome:
        """One record: decided, named, its options read, given its styles and launched; or skipped; or failed."""
        decision = rules.decide(record, self.settings)
        if isinstance(decision, rules.Skip):
            return Skipped.of(record, decision.reason)
        if isinstance(decision, rules.Refuse):
            return _refused(record, f"{decision.error} ({record.uri})")
        try:
            name = naming.execution_name(record.bucket, record.key, record.version_id, record.etag, record.sequencer)
        except naming.NamingError as exc:
            return _refused(record, f"{exc} ({record.uri})")
        try:
            metadata = self.metadata.read(record)
            options = parse_metadata(metadata or {}, self.settings)
        except UploadGone as exc:  # deleted since its event: nothing to stylize, now or on any retry
            return Skipped.of(record, str(exc))
        except (S3CallFailed, NotAttempted) as exc:
            return _failed(record, str(exc), name)
        except MetadataError as exc:
            return _refused(record, f"{exc} ({record.uri})", name)
        output_key = rules.in_format(decision.output_key, options.inputs.get("output_format", "png8"))
        # nst-styles, when given, is this object's own choice: it takes precedence over the folder and NST_STYLE_URI.
        style_names = options.styles or (decision.style_name,)
        try:
            style_uris = [self.styles.resolve(record.bucket, style, record.uri) for style in style_names]
        except StyleNotFound as exc:
            return _refused(record, str(exc), name, output_key)
        except (StyleError, NotAttempted) as exc:
            return _failed(record, str(exc), name, output_key)
        inputs: dict[str, Any] = {
            "content_img": record.uri,
            "style_img": style_uris[0],
            "output_uri": f"s3://{record.bucket}/{output_key}",
            **self.settings.workflow_overrides(),
        }
        if style_uris[1:]:
            inputs["more_styles"] = style_uris[1:]
        inputs.update(options.inputs)
        budget = budgets.current()
        try:
            budget.check_up(FLYTEADMIN)
            receipt = self.launcher.launch(LaunchRequest(name, inputs))
        except NotAttempted as exc:
            return _failed(record, str(exc), name, output_key)
        except LauncherUnavailable as exc:
            budget.mark_down(FLYTEADMIN, redact(str(exc)))
            return _failed(record, str(exc), name, output_key)
        except LaunchError as exc:
            return _failed(record, str(exc), name, output_key)
        return Launched.of(
            record,
            execution_name=receipt.execution_name,
            duplicate=receipt.duplicate,
            mode=self.launcher.mode,
            inputs=inputs,
            detail=receipt.detail,
            output_key=output_key,
        )

    def _write_status(self, record: UploadRecord, outcome: Outcome) -> None:
        """The upload's status record (``status_records.py``), for a record that is an upload. Written after the
        outcome is decided and logged, so nothing here changes it: a failure is logged, and a bug too."""
        if self.status_records is None:
            return
        try:
            decision = rules.decide(record, self.settings)  # pure: the same decision _handle made
            output_key = decision.output_key if isinstance(decision, (rules.Launch, rules.Skip)) else None
            output_key = outcome.output_key or output_key  # in the upload's output format, once that was read
            if output_key is None:
                return  # nobody's upload (a result, a style, another bucket, ...), or no key to write beside
            try:
                execution: str | None = naming.execution_name(
                    record.bucket, record.key, record.version_id, record.etag, record.sequencer
                )
            except naming.NamingError:
                execution = None
            self.status_records.write(record, output_key, outcome, execution)
        except Exception as exc:  # the record is a courtesy to the uploader: it never costs the upload its outcome
            scrub_exception(exc)
            self.logger.exception("status record not written: unexpected error", extra=_record_fields(record))

    def _record(self, report: Report, outcome: Outcome) -> None:
        """The outcome into the result and its one log line: skips and launches at INFO, refusals at WARNING,
        failures at ERROR."""
        report.add(outcome)
        if isinstance(outcome, Refused):
            log = self.logger.warning
        elif isinstance(outcome, Failed):
            log = self.logger.error
        else:
            log = self.logger.info
        log(outcome.kind, extra=outcome.log_fields())


def _failed(
    record: UploadRecord, error: str, execution_name: str | None = None, output_key: str | None = None
) -> Failed:
    """Every error passes through the secret redaction before it is logged or reported."""
    return Failed.of(record, redact(error), execution_name=execution_name, output_key=output_key)


def _refused(
    record: UploadRecord, error: str, execution_name: str | None = None, output_key: str | None = None
) -> Refused:
    """A permanent error: reported once, never redelivered (``report.py``)."""
    return Refused.of(record, redact(error), execution_name=execution_name, output_key=output_key)


def _record_fields(record: UploadRecord) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "key": record.key,
        "sequencer": record.sequencer,
        "event_name": record.event_name,
        "message_id": record.message_id,
    }
