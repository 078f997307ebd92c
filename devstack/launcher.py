"""The local stack's launcher: the workflow runs in the worker process, with flytekit's local execution.

On AWS a launch is one CreateExecution, and what the workflow does afterwards (succeed, or fail on a photo that is
not an image) is the execution's business, not the trigger's: the SQS message is done either way. Here a launch
runs the whole workflow, so the two are told apart explicitly:

* the workflow cannot be started (not importable, an input it does not take): :class:`LaunchError`, the record
  fails and SQS retries it, then dead-letters it, as on AWS;
* the workflow ran and failed: the launch succeeded and the record is finished, reported once with the
  reason (``execution_error`` and ``failed_task`` in the receipt). Retrying would only fail the same way three times.

The Decks the run wrote (flytekit writes them to random folders of its local sandbox) are copied to
``<decks>/<execution name>/``, so they survive the removal of the stack's temporary folder.
"""

from __future__ import annotations

import importlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambda_trigger.launchers import LaunchError, LauncherUnavailable, LaunchReceipt, LaunchRequest
from lambda_trigger.options import WORKFLOW_INPUTS


def import_workflow(qualified_name: str) -> Any:
    """``pkg.module.attr`` -> the object; a launch plan's default name is its workflow's qualified name."""
    module_name, _, attribute = qualified_name.rpartition(".")
    if not module_name:
        raise ValueError(f"{qualified_name!r} is not a dotted module.attribute path")
    return getattr(importlib.import_module(module_name), attribute)


def workflow_kwargs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The trigger's inputs as a local call takes them: file URIs (one, or a list) as FlyteFiles."""
    from flytekit.types.file import FlyteFile

    def value_for(name: str, value: Any) -> Any:
        kind = WORKFLOW_INPUTS.get(name)
        if kind == "file":
            return FlyteFile(str(value))
        if kind == "files":
            return [FlyteFile(str(uri)) for uri in value]
        return value

    return {name: value_for(name, value) for name, value in inputs.items()}


class InProcessLauncher:
    """Implements the trigger's ``Launcher`` protocol; blocks until the workflow finishes.

    There is no flyteadmin to refuse duplicates, so names this process has already run count as duplicates and
    get the first run's detail again.
    """

    mode = "local"

    def __init__(self, launch_plan: str, decks: Path, load: Callable[[str], Any] = import_workflow) -> None:
        self._launch_plan = launch_plan
        self._decks = decks
        self._load = load
        self._workflow: Any = None
        self._finished: dict[str, dict[str, Any]] = {}

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        from flytekit.core.context_manager import FlyteContextManager

        if request.execution_name in self._finished:
            return LaunchReceipt(request.execution_name, duplicate=True, detail=self._finished[request.execution_name])
        workflow = self._get_workflow()
        unknown = sorted(set(request.inputs) - set(workflow.python_interface.inputs))
        if unknown:
            raise LaunchError(f"workflow {self._launch_plan} has no input(s) {', '.join(unknown)}")
        kwargs = workflow_kwargs(request.inputs)
        sandbox = Path(FlyteContextManager.current_context().file_access.local_sandbox_dir)
        decks_before = set(sandbox.rglob("deck.html"))
        detail: dict[str, Any] = {"launch_plan": "local"}
        try:
            result = workflow(**kwargs)
        except Exception as exc:  # the execution ran and failed: finished, with its reason
            detail["execution_error"], detail["failed_task"] = failure_reason(exc)
        else:
            detail["output"] = str(getattr(result, "remote_source", None) or getattr(result, "path", None) or result)
        decks = self._keep_decks(request.execution_name, set(sandbox.rglob("deck.html")) - decks_before)
        if decks:
            detail["decks"] = [str(path) for path in decks]
        self._finished[request.execution_name] = detail
        return LaunchReceipt(request.execution_name, duplicate=False, detail=detail)

    def _get_workflow(self) -> Any:
        if self._workflow is None:
            try:
                self._workflow = self._load(self._launch_plan)
            except Exception as exc:
                raise LauncherUnavailable(
                    f"cannot import workflow {self._launch_plan!r} (is the repository root importable?): "
                    f"{type(exc).__name__}: {failure_reason(exc)[0]}"
                ) from exc
        return self._workflow

    def _keep_decks(self, execution_name: str, written: set[Path]) -> list[Path]:
        """Copy this run's Decks, in the order written, to ``<decks>/<execution name>/deck-N.html``.

        A task writes its Deck at every ``Deck.publish()`` and once more when it ends, usually unchanged since the
        last publish: a copy identical to the one before it is left out.
        """
        folder = self._decks / execution_name
        shutil.rmtree(folder, ignore_errors=True)  # the same upload run again: its Decks replace the old ones
        kept: list[Path] = []
        previous = b""
        for source in sorted(written, key=lambda path: path.stat().st_mtime_ns):
            html = source.read_bytes()
            if html == previous:
                continue
            previous = html
            target = folder / f"deck-{len(kept) + 1}.html"
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(html)
            kept.append(target.resolve())
        return kept


#: How flytekit's local execution prefixes a task's exception (once per enclosing task, e.g. a @dynamic).
_FLYTEKIT_TASK_PREFIX = re.compile(r"Error encountered while executing '(?P<task>[^']+)':\s*")


def failure_reason(exc: Exception) -> tuple[str, str | None]:
    """The task's own message on one line, and the (innermost) task it came from, if flytekit says.

    flytekit puts its task prefix into ``exc.args``; an exception whose ``str`` is not its args (click's, which the
    workflow's user errors are, so ``pyflyte run`` prints them in one line) shows it only there.
    """
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    text, task = " ".join((first if _FLYTEKIT_TASK_PREFIX.match(first) else str(exc)).split()), None
    while match := _FLYTEKIT_TASK_PREFIX.match(text):
        text, task = text[match.end() :], match["task"].rsplit(".", 1)[-1]
    return text or type(exc).__name__, task
