"""AWS Lambda entry point: S3 upload events in, Flyte executions out.

Each step lives in its own module:

1. ``settings``  - configuration, read once here at import (a bad value fails the init phase, naming the variable)
2. ``events``    - the S3 / SQS / EventBridge payload flattened into upload records (keys decoded)
3. ``rules``     - per record: launch or skip (with a reason); style folder and output key
4. ``naming``    - the deterministic execution name that makes redeliveries harmless
5. ``options``   - the upload's own choices, from its ``x-amz-meta-nst-*`` metadata (one HeadObject)
6. ``styles``    - the style images: NST_STYLE_URI or ``styles/<name>.<ext>`` found with S3 HeadObject (``s3``)
7. ``launchers`` - remote (flyteadmin) or dry-run
8. ``pipeline`` and ``report`` - the per-record loop and its wiring, typed outcomes, logs, the result or the raise
9. ``budget`` and ``redaction`` - each invocation ends in time; the client secret never reaches a log or a result
10. ``status_records`` - each upload's ``<output>.progress.json``: queued, skipped, refused or failed, for the page
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_trigger.budget import Budget
from lambda_trigger.events import parse_event
from lambda_trigger.pipeline import Trigger
from lambda_trigger.report import TriggerFailed, json_line
from lambda_trigger.settings import Settings

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "nst-trigger", json_serializer=json_line)
SETTINGS = Settings.from_env()
#: The container's trigger. A host that runs the workflow itself (the local stack's worker) replaces it with one
#: built by ``Trigger.from_settings(SETTINGS, logger, launcher=...)`` before the first invocation.
TRIGGER = Trigger.from_settings(SETTINGS, logger)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Handle every record; return the outcomes, or raise TriggerFailed after a direct invocation with failures.

    The invocation's time is what Lambda says is left (``budget.py``): every record ends with an outcome in time.
    """
    budget = Budget.from_context(context)
    batch = parse_event(event)
    report = TRIGGER.handle(batch, budget)
    if report.must_raise:
        raise TriggerFailed(report.summary())
    return report.as_dict()
