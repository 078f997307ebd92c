"""The ``[nst]`` log of the Flyte tasks: one logger whose INFO lines reach the console under ``pyflyte run``
and the pod's log on a cluster alike."""

from __future__ import annotations

import logging
import sys


def _console_log() -> logging.Logger:
    logger = logging.getLogger("nst")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[nst] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


log = _console_log()
