"""The local stack's launchers: the workflow runs with flytekit's local execution, each run in a process of its
own (:class:`ProcessPerRunLauncher`, what the worker uses) or in the calling process (:class:`InProcessLauncher`,
which that process runs, and the tests' direct one).

On AWS a launch is one CreateExecution, and what the workflow does afterwards (succeed, or fail on a photo that is
not an image) is the execution's business, not the trigger's: the SQS message is done either way. Here a launch
runs the whole workflow, so the two are told apart explicitly:

* the workflow cannot be started (not importable, an input it does not take): :class:`LaunchError`, the record
  fails and SQS retries it, then dead-letters it, as on AWS;
* the workflow ran and failed: the launch succeeded and the record is finished, reported once with the
  reason (``execution_error`` and ``failed_task`` in the receipt). Retrying would only fail the same way three times.

The Decks the run wrote (flytekit writes them to random folders of its local sandbox) are copied to
``<decks>/<execution name>/``, so they survive the removal of the stack's temporary folder.

On AWS every upload gets its own invocation and its own execution, and a launch returns in milliseconds. The
worker's launcher does the same: :meth:`ProcessPerRunLauncher.launch` checks the request and returns at once; the
run goes in a fresh process (``spawn``: no TensorFlow state shared, and everything it held is released when it
ends), at most ``max_runs`` at a time, the others waiting in the order launched. A skip or a refusal is decided
while runs go, so it is reported the moment it is decided.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_trigger.launchers import LaunchError, LauncherUnavailable, LaunchReceipt, LaunchRequest
from lambda_trigger.options import WORKFLOW_INPUTS

#: The stack's network for uploads that name none: set by ``devstack/weights.py`` when it chooses the stand-in.
LOCAL_NETWORK_ENV = "NST_LOCAL_NETWORK"


def import_workflow(qualified_name: str) -> Any:
    """``pkg.module.attr`` -> the object; a launch plan's default name is its workflow's qualified name."""
    module_name, _, attribute = qualified_name.rpartition(".")
    if not module_name:
        raise ValueError(f"{qualified_name!r} is not a dotted module.attribute path")
    return getattr(importlib.import_module(module_name), attribute)


def local_defaults() -> dict[str, Any]:
    """Inputs the local stack adds where an upload names none: offline, ``network=vgg16`` (the trained stand-in,
    ``devstack/weights.py``), so a run paints instead of failing on VGG19's unreachable weights."""
    network = os.environ.get(LOCAL_NETWORK_ENV, "").strip()
    return {"network": network} if network else {}


def workflow_kwargs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The trigger's inputs as a local call takes them, after the stack's :func:`local_defaults`: file URIs (one,
    or a list) as FlyteFiles."""
    from flytekit.types.file import FlyteFile

    def value_for(name: str, value: Any) -> Any:
        kind = WORKFLOW_INPUTS.get(name)
        if kind == "file":
            return FlyteFile(str(value))
        if kind == "files":
            return [FlyteFile(str(uri)) for uri in value]
        return value

    return {name: value_for(name, value) for name, value in {**local_defaults(), **inputs}.items()}


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
        workflow = self.check(request)
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

    def check(self, request: LaunchRequest) -> Any:
        """The workflow, if it can be started with ``request``'s inputs; :class:`LaunchError` (retried) if not."""
        workflow = self._get_workflow()
        unknown = sorted(set(request.inputs) - set(workflow.python_interface.inputs))
        if unknown:
            raise LaunchError(f"workflow {self._launch_plan} has no input(s) {', '.join(unknown)}")
        return workflow

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


@dataclass
class Run:
    """One launched run: ``detail`` is the finished run's (as :class:`InProcessLauncher` reports it), None while
    it waits or goes; ``finished`` is set then."""

    execution_name: str
    detail: dict[str, Any] | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def when_finished(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(detail)`` once the run has finished: now, if it has."""
        with self._lock:
            if self.detail is None:
                self._callbacks.append(callback)
                return
        callback(self.detail)

    def finish(self, detail: dict[str, Any]) -> None:
        with self._lock:
            self.detail, callbacks = detail, list(self._callbacks)
            self._callbacks.clear()
        self.finished.set()
        for callback in callbacks:
            callback(detail)


class ProcessPerRunLauncher:
    """Implements the trigger's ``Launcher`` protocol without blocking: see the module docstring.

    A name launched before (running or finished) is a duplicate and gets that run's detail (``running: True``
    while it goes). :meth:`close` stops every run's process: nothing outlives the worker.
    """

    mode = "local"

    def __init__(self, launch_plan: str, decks: Path, max_runs: int, cache_dir: Path) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs: at least 1, got {max_runs}")
        self._launch_plan, self._decks, self._cache_dir = launch_plan, decks, cache_dir
        self._checker = InProcessLauncher(launch_plan, decks)
        self._slots = threading.BoundedSemaphore(max_runs)
        self._runs: dict[str, Run] = {}
        self._processes: set[multiprocessing.process.BaseProcess] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.max_runs = max_runs

    def launch(self, request: LaunchRequest) -> LaunchReceipt:
        with self._lock:
            known = self._runs.get(request.execution_name)
        if known is not None:
            return LaunchReceipt(request.execution_name, duplicate=True, detail=known.detail or {"running": True})
        self._checker.check(request)
        run = Run(request.execution_name)
        with self._lock:
            self._runs[request.execution_name] = run
        threading.Thread(target=self._go, args=(run, request), name=run.execution_name, daemon=True).start()
        return LaunchReceipt(request.execution_name, duplicate=False, detail={"launch_plan": "local", "running": True})

    def run_of(self, execution_name: str) -> Run:
        with self._lock:
            return self._runs[execution_name]

    def close(self) -> None:
        """Stop every run's process (SIGTERM, then SIGKILL after 5 s); runs still waiting never start."""
        with self._lock:
            self._closed, processes = True, list(self._processes)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()

    def _go(self, run: Run, request: LaunchRequest) -> None:
        """A thread per run: wait for a slot, run the workflow in a fresh process, report what it says."""
        context = multiprocessing.get_context("spawn")
        with self._slots:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=run_in_this_process,
                args=(self._launch_plan, self._decks, self._cache_dir, request, sender),
                name=f"run {run.execution_name}",
            )
            with self._lock:
                if self._closed:
                    return
                process.start()
                self._processes.add(process)
            sender.close()
            try:
                detail = receiver.recv()
            except EOFError:  # the process died without a word: killed (out of memory?) or crashed
                process.join()
                detail = {
                    "launch_plan": "local",
                    "execution_error": f"the run's process ended with exit code {process.exitcode} and no result",
                }
            process.join()
            with self._lock:
                self._processes.discard(process)
        run.finish(detail)


def run_in_this_process(launch_plan: str, decks: Path, cache_dir: Path, request: LaunchRequest, result: Any) -> None:
    """A run's process: the workflow, locally, and its detail sent back over ``result`` (a pipe's end)."""
    keep_local_cache_in(cache_dir)
    try:
        detail = InProcessLauncher(launch_plan, decks).launch(request).detail
    except Exception as exc:  # checked before launch, so only a workflow that changed on disk since
        detail = {"launch_plan": "local", "execution_error": failure_reason(exc)[0]}
    result.send(detail)
    result.close()


def keep_local_cache_in(folder: Path) -> None:
    """flytekit's local cache records paths of files in the stack's temporary folder, which is removed when the
    stack stops: kept in ~/.flyte, its entries would point at deleted files in the next run (a cache hit that
    fails with "File not found")."""
    from flytekit.core import local_cache

    local_cache.CACHE_LOCATION = str(folder / "flyte-local-cache")


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
