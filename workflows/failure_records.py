"""The run's last word when it fails: ``{"state": "failed", "reason": ...}`` in ``<output_uri>.progress.json``.

``neural_style_transfer_wf`` names :func:`record_failure` as its ``on_failure`` handler. Flyte runs the handler when
any node fails, on a cluster (a failure node, after the workflow's own nodes stopped) and in a local execution
(``flytekit/core/workflow.py``, ``WorkflowBase.__call__``: called from inside the ``except`` around the workflow, the
error then raised again unchanged). A failure handler must take every input of its workflow, plus an optional
``err: FlyteError`` that Flyte fills with the failure: the inputs come from the workflow's own table.

The reason is the user error's own line when the failure is one (an :class:`~workflows.errors.InputError`: an
option out of range, a file that is not an image, ...), else a short generic line; never a traceback. On a cluster
``err.message`` is flytekit's error document for the failed task (``flytekit/bin/entrypoint.py``,
``get_traceback_str``: a trace, then ``Message:`` and ``<ExceptionType>: <text>``), so the type is read from it. In
a local execution the message is only ``str(exception)``, but the handler runs inside flytekit's ``except`` block,
so the exception itself is the one being handled (``sys.exc_info``).

Writing the record is never fatal (``write_beside`` logs a failure): the handler must not replace the workflow's
own error with one of its own.
"""

from __future__ import annotations

import json
import re
import sys
import typing

from flytekit import Resources, task
from flytekit.types.error import FlyteError

from workflows.engine.progress_view import failure_record
from workflows.errors import InputError
from workflows.option_inputs import STYLE_TRANSFER_INPUTS, FlatInput, shown_summary, takes_inputs
from workflows.output_files import write_beside
from workflows.progress_records import PROGRESS_SUFFIX
from workflows.task_log import log

#: The longest reason kept: one line a page can show.
MAX_REASON_CHARS = 300
#: The summary line of flytekit's error document: ``Message:``, a blank line, then ``<Type>: <text>``, indented.
_MESSAGE_LINE = re.compile(r"Message:\s*\n\s*([A-Za-z_][\w.]*): ([^\n]*)")

FAILURE_INPUTS: list[FlatInput] = [
    *STYLE_TRANSFER_INPUTS,
    FlatInput("err", typing.Optional[FlyteError], None, "the failure, as Flyte reports it"),  # noqa: UP045
]


def generic_reason(error_type: str) -> str:
    return f"the run failed ({error_type}); the execution's logs say why"


def user_error_types() -> set[str]:
    """The names of every user error class: InputError and its subclasses (the modules that define them are
    imported by the workflow, so every one is registered by the time a run fails)."""
    found, pending = set(), [InputError]
    while pending:
        kind = pending.pop()
        found.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return found


def one_line(text: str) -> str:
    """``text``'s first line, at most :data:`MAX_REASON_CHARS` characters."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."


def failure_reason(message: str | None, handled: BaseException | None = None) -> str:
    """The reason a failed run's record gives: the user error's line, or a generic line naming the error's type.

    ``message`` is Flyte's error message (the error document on a cluster); ``handled``, the exception being
    handled, is used only when ``message`` is exactly its text: then it is the failure itself (a local execution)."""
    if handled is not None and message == str(handled):
        if isinstance(handled, InputError):
            return one_line(str(handled)) or generic_reason(type(handled).__name__)
        return generic_reason(type(handled).__name__)
    summaries = _MESSAGE_LINE.findall(message or "")
    if not summaries:
        return generic_reason("no error message")
    qualified, text = summaries[-1]  # the failed task's own summary, after any nested trace
    error_type = qualified.rsplit(".", 1)[-1]
    if error_type in user_error_types() and text.strip():
        return one_line(text)
    return generic_reason(error_type)


@task(requests=Resources(cpu="100m", mem="128Mi"), limits=Resources(cpu="250m", mem="256Mi"), retries=2)
@takes_inputs(FAILURE_INPUTS)
def record_failure(**inputs: typing.Any) -> None:
    """Write ``{"state": "failed", "reason": ...}`` beside ``output_uri`` (nothing without one)."""
    err: FlyteError | None = inputs["err"]
    handled = sys.exc_info()[1]
    reason = failure_reason(err.message if err is not None else None, handled)
    log.info("failed: %s", reason)
    output_uri = inputs["output_uri"]
    if output_uri:
        write_beside(output_uri, PROGRESS_SUFFIX, json.dumps(failure_record(reason)).encode())


shown_summary(record_failure)
