"""The whole product on one machine: moto's S3/SQS server, the bucket wiring, and the trigger worker.

``with LocalStack(...) as stack:`` starts them in order and stops them in reverse, whatever happens inside.

Everything the children write to the temporary directory (flytekit's sandbox: each run's intermediate arrays,
about 136 MB for the demo's 2 x 50 steps at 256 px; moto's spooled objects) goes to one folder,
``<workdir>/tmp``, which is removed when the stack stops (and, after a ``kill -9``, when it next starts). What a
person keeps is written elsewhere: the outcome journal and the logs in ``workdir``, each run's Decks in ``decks``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devstack.processes import Child, wait_until
from devstack.provision import CREDENTIALS, REGION, Resources, provision

REPO = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """The stack could not start or a part of it stopped; the message says which and why."""


@dataclass
class StackSettings:
    """What to start; ``workflow_env`` holds NST_* settings passed to the trigger and the workflow.

    ``decks`` receives a folder of Decks per run (default ``<workdir>/decks``).
    """

    workdir: Path
    decks: Path | None = None
    port: int | None = None
    bucket: str = "nst-local"
    default_style: Path | None = None
    workflow_env: dict[str, str] = field(default_factory=dict)
    max_receives: int = 3
    retry_delay_s: int = 5
    #: Runs at a time, each in a process of its own (None: the worker's default, the cores).
    max_runs: int | None = None
    worker_output: IO[str] | int | None = None
    #: Serve the web page and its API (``web/``) on this loopback port (0: a free one); None: no web server.
    web_port: int | None = None
    #: More style images put under the style prefix (the page offers them beside the default style).
    extra_styles: tuple[Path, ...] = ()


class LocalStack:
    """Server, provisioning and worker; see the module docstring."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self._resources: Resources | None = None
        self.outcomes_path = settings.workdir / "outcomes.jsonl"
        self.trigger_log = settings.workdir / "trigger.log"
        self.temp_dir = settings.workdir / "tmp"
        self.decks = settings.decks or settings.workdir / "decks"
        #: Bytes the temporary folder held when :meth:`stop` removed it (None until then).
        self.temp_bytes_removed: int | None = None
        self.web_log = settings.workdir / "web.log"
        self.server: Child | None = None
        self.worker: Child | None = None
        self.web: Child | None = None
        self._web_url: str | None = None

    @property
    def resources(self) -> Resources:
        """The provisioned bucket and queue; only while the stack runs."""
        if self._resources is None:
            raise RuntimeError("the local stack is not running: use it as a context manager")
        return self._resources

    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def web_url(self) -> str:
        """The page's address (``http://127.0.0.1:PORT/``); only while a stack with ``web_port`` runs."""
        if self._web_url is None:
            raise RuntimeError("the local stack serves no web page: give StackSettings a web_port")
        return self._web_url

    def stop(self) -> None:
        """The web server and the worker first (they talk to the server), then the server, then their temporary
        folder; all gone after."""
        for child in (self.web, self.worker, self.server):
            if child is not None:
                child.stop()
        if self.temp_dir.exists():
            self.temp_bytes_removed = disk_usage(self.temp_dir)
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    # --- while running ---------------------------------------------------------------------------------

    @property
    def max_runs(self) -> int:
        """Runs at a time (the worker's ``--max-runs``)."""
        return self.settings.max_runs or os.cpu_count() or 1

    @property
    def started(self) -> bool:
        """Whether any part of the stack was started (so there is something to stop and report)."""
        return self.server is not None

    def outcomes(self) -> list[dict[str, Any]]:
        """The worker's journal so far: one JSON record a line. A line the worker is still writing (no newline
        yet) is left for the next read, not parsed half-written."""
        if not self.outcomes_path.exists():
            return []
        return journal_records(self.outcomes_path.read_text(encoding="utf-8"))

    def wait_for_outcome(
        self, key: str, timeout_s: float, while_waiting: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """The trigger's final word on ``key``: launched (done), skipped, refused, or failed with no retry left.
        ``while_waiting`` runs at every poll (``make demo`` prints the run's progress records with it)."""
        found: list[dict[str, Any]] = []

        def settled() -> bool:
            self.check_alive()
            if while_waiting is not None:
                while_waiting()
            found[:] = [o for o in self.outcomes() if o.get("key") == key and is_final(o)]
            return bool(found)

        wait_until(settled, timeout_s, interval_s=0.25, what=f"the trigger to handle {key}")
        return found[0]

    def check_alive(self) -> None:
        for child in (self.server, self.worker, self.web):
            if child is not None and not child.running():
                raise StackError(f"the {child.name} stopped unexpectedly (exit code {child.returncode()}); see above")

    # --- start-up --------------------------------------------------------------------------------------

    def _start(self) -> None:
        settings = self.settings
        settings.workdir.mkdir(parents=True, exist_ok=True)
        self.outcomes_path.write_text("")
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # left by a stack that was killed
        self.temp_dir.mkdir()
        port = settings.port or _free_port()
        if not _port_is_free(port):
            raise StackError(f"port {port} on 127.0.0.1 is in use; choose another (PORT=... or --port)")
        endpoint = f"http://127.0.0.1:{port}"
        log = (settings.workdir / "moto-server.log").open("w")
        self.server = Child(
            "S3/SQS server",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, **self._temp_env()},
            stdout=log,
            stderr=log,
        )
        wait_until(
            lambda: _answers(f"{endpoint}/moto-api/", self.server, "moto's server", "moto-server.log"),
            60,
            what=f"moto's server on {endpoint}",
        )
        web_port = None if settings.web_port is None else settings.web_port or _free_port()
        if web_port is not None and not _port_is_free(web_port):
            raise StackError(f"port {web_port} on 127.0.0.1 is in use; choose another (WEB_PORT=... or --web-port)")
        page_origin = None if web_port is None else f"http://127.0.0.1:{web_port}"
        self._resources = provision(
            endpoint, bucket=settings.bucket, max_receives=settings.max_receives, page_origin=page_origin
        )
        style_uri = self._upload_default_style()
        for style in settings.extra_styles:
            self.resources.s3().upload_file(
                str(style), self.resources.bucket, f"{self.resources.style_prefix}{style.name}"
            )
        self.worker = Child(
            "trigger worker",
            [
                sys.executable,
                "-m",
                "devstack.worker",
                "--queue-url",
                self.resources.queue_url,
                "--queue-arn",
                self.resources.queue_arn,
                "--outcomes",
                str(self.outcomes_path),
                "--log",
                str(self.trigger_log),
                "--decks",
                str(self.decks),
                "--max-receives",
                str(settings.max_receives),
                "--retry-delay",
                str(settings.retry_delay_s),
                *(["--max-runs", str(settings.max_runs)] if settings.max_runs else []),
            ],
            env=self._worker_env(style_uri),
            stdout=settings.worker_output,
            stderr=settings.worker_output,
        )
        wait_until(self._worker_ready, 120, what="the trigger worker to start")
        if web_port is not None:
            self._start_web(web_port, style_uri)

    def _start_web(self, port: int, style_uri: str | None) -> None:
        """uvicorn serving ``web.api:app`` (the page and its API) with the trigger's settings, so the page offers
        exactly what the worker accepts; its log goes to ``web.log``."""
        log = self.web_log.open("w")
        self.web = Child(
            "web server",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "web.api:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],  # fmt: skip
            env=self._worker_env(style_uri),
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}/"
        wait_until(
            lambda: _answers(f"{url}config.json", self.web, "the web server", "web.log"),
            60,
            what=f"the web page on {url}",
        )
        self._web_url = url

    def _upload_default_style(self) -> str | None:
        style = self.settings.default_style
        if style is None:
            return None
        if not style.is_file():
            raise StackError(f"style image {style} does not exist")
        key = f"{self.resources.style_prefix}{style.name}"
        self.resources.s3().upload_file(str(style), self.resources.bucket, key)
        return f"s3://{self.resources.bucket}/{key}"

    def _worker_env(self, style_uri: str | None) -> dict[str, str]:
        endpoint = self.resources.endpoint
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
                "PYTHONUNBUFFERED": "1",
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                "AWS_DEFAULT_REGION": REGION,
                "FLYTE_AWS_ENDPOINT": endpoint,
                "FLYTE_AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "FLYTE_AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                # No NST_LAUNCH_MODE: the worker hands the trigger its in-process launcher (devstack/launcher.py).
                # The stack's own bucket is the one allowed: also when no default style names it.
                "NST_ALLOWED_BUCKETS": self.resources.bucket,
                # flytekit's Deck files are in the temp dir removed at stop; the stack prints its copies instead.
                "NST_PRINT_LOCAL_DECK": "0",
                "POWERTOOLS_LOG_LEVEL": env.get("POWERTOOLS_LOG_LEVEL", "INFO"),  # to trigger.log, not the screen
                **self._temp_env(),
                **self.settings.workflow_env,
            }
        )
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        if style_uri:
            env["NST_STYLE_URI"] = style_uri
        return env

    def _temp_env(self) -> dict[str, str]:
        """Python's tempfile, which flytekit and moto use, reads TMPDIR."""
        return {"TMPDIR": str(self.temp_dir.resolve())}

    def _worker_ready(self) -> bool:
        self.check_alive()
        return any(o.get("outcome") == "ready" for o in self.outcomes())


def journal_records(text: str) -> list[dict[str, Any]]:
    """The complete lines of a journal's ``text``, parsed: the last is complete only once its newline is there."""
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line]


def is_final(outcome: dict[str, Any]) -> bool:
    return outcome["outcome"] in ("launched", "skipped", "refused") or (
        outcome["outcome"] == "failed" and bool(outcome.get("final"))
    )


def describe_decks(decks: list[str]) -> str:
    """The latest Deck of a run (its final state), and how many its folder holds."""
    more = f" (the latest of {len(decks)} in that folder, in the order written)" if len(decks) > 1 else ""
    return f"{decks[-1]}{more}"


def disk_usage(folder: Path) -> int:
    """Bytes allocated to the files under ``folder``, as ``du`` counts them."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed while we walk
                continue
    return total


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _answers(url: str, child: Child | None, what: str, log: str) -> bool:
    """Whether ``child``'s server answers ``url`` yet; StackError (naming its log) if the process has exited."""
    if child is None or not child.running():
        code = None if child is None else child.returncode()
        raise StackError(f"{what} exited with code {code} (see {log})")
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        time.sleep(0.1)
        return False
