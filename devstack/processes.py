"""Child processes that cannot outlive the stack: stopped in order on exit, on Ctrl-C, and even if we are killed.

Each child gets its own process group (so one Ctrl-C at the terminal reaches only us, and we stop the children
in order) and, on Linux, a parent-death signal (so a ``kill -9`` of the stack still takes them down).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One supervised subprocess; :meth:`stop` makes sure it and everything it started are gone."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        stdout: IO[str] | int | None = None,
        stderr: IO[str] | int | None = None,
    ) -> None:
        self.name = name
        self._process = subprocess.Popen(
            list(argv),
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def returncode(self) -> int | None:
        return self._process.poll()

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the child's whole process group, then SIGKILL what is left after ``grace_s``."""
        if self._process.poll() is None:
            _signal_group(self._process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace_s)
        _signal_group(self._process.pid, signal.SIGKILL)  # stragglers the child itself started
        self._process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so ``finally`` blocks (and the children's ``stop``) run as on Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)
