"""Time: every invocation ends inside the Lambda timeout, and a dependency found down is not waited on again.

Each invocation gets a :class:`Budget` from ``context.get_remaining_time_in_millis()``, less a reserve for writing
the result. The rule is simple and checked before every outbound call: a call is started only if its worst case
(every attempt timing out, as the settings bound it) fits in the time left. A record whose call does not fit fails
at once with :class:`NotAttempted` and a reason that says so, and goes back to SQS as an item failure, instead of
the Lambda being killed mid-batch with no result at all.

The budget also remembers, for the rest of the invocation, each dependency (S3, flyteadmin) that was found down, so
that later records fail at once rather than each waiting out the same timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

#: Kept at the end of every invocation to log every record and return the result.
RESULT_RESERVE_S = 1.0


class NotAttempted(Exception):
    """A call was not started; the message (one line, starting ``not attempted:``) says why."""


class Budget:
    """The time left to one invocation, and the dependencies found down during it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline = clock() + seconds
        self._down: dict[str, str] = {}

    @classmethod
    def from_context(cls, context: Any) -> Budget:
        """What Lambda says is left, less :data:`RESULT_RESERVE_S`; unlimited for a context without a clock."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return cls(math.inf)
        return cls(remaining() / 1000.0 - RESULT_RESERVE_S)

    def left(self) -> float:
        return max(0.0, self._deadline - self._clock())

    def require(self, worst_case_s: float, what: str) -> None:
        """Raise :class:`NotAttempted` unless ``what``, taking at most ``worst_case_s``, fits in the time left."""
        left = self.left()
        if left < worst_case_s:
            raise NotAttempted(
                f"not attempted: {what} may take up to {worst_case_s:g} s and {left:.1f} s are left of this "
                "invocation (the Lambda timeout); it goes back to be retried"
            )

    def cap(self, seconds: float) -> float:
        """``seconds``, or less if less time is left (never zero: a zero timeout means 'no timeout' to some clients)."""
        return max(0.001, min(seconds, self.left()))

    def mark_down(self, dependency: str, error: str) -> None:
        """Remember, for the rest of the invocation, that ``dependency`` failed with ``error``."""
        self._down.setdefault(dependency, error)

    def check_up(self, dependency: str) -> None:
        """Raise :class:`NotAttempted` if ``dependency`` was found down earlier in this invocation."""
        error = self._down.get(dependency)
        if error is not None:
            raise NotAttempted(f"not attempted: {error}")


_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("nst_trigger_budget", default=None)


def current() -> Budget:
    """The running invocation's budget; outside an invocation (a direct call in a script), an unlimited one."""
    return _CURRENT.get() or Budget(math.inf)


@contextlib.contextmanager
def invocation(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` the current one for the code inside (the per-record loop of one invocation)."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)
