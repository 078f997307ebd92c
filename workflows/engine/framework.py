"""TensorFlow and Keras as the engine imports them: once per process, and out of the cyclic collector's way.

Importing the two creates about 250,000 Python objects (modules, classes, functions, op wrappers) that live as long
as the process. Python's cyclic collector cannot know that: it ran three full collections over them while they were
being created, freeing almost nothing (67 objects in all), a fourth while the network was built, and one more at
interpreter exit. Importing them with the collector paused, then freezing every object that exists (``gc.freeze``:
moved to a permanent generation that no later collection visits), took a fresh process's import and exit of the
engine from 2.74 s to 1.55 s on 2 cores, paid once per pod. The collector is left as the caller had it, and
everything created afterwards (networks, traced graphs, tensors) is collected as before.

Every engine module takes ``tf`` and ``keras`` from here, so whichever of them a task imports first pays the
import this way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_collecting = gc.isenabled()
gc.disable()
try:
    import keras
    import tensorflow as tf
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

__all__ = ["keras", "release_memory", "tf"]


def release_memory() -> None:
    """Give back to the operating system what a finished task's engine freed. A pod's process ends with its task,
    but a local run (``pyflyte run``, the local stack's worker) runs every task in one process, where glibc keeps
    freed heap pages in its per-thread arenas: each task then grows the process from where the last one left it,
    and a run's peak becomes the sum of its tasks' rather than its largest's. Collecting the cycles the engines
    form (traced functions hold their engine) and trimming every arena hands the pages back; the network itself
    stays cached for the next task."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_libc_name = ctypes.util.find_library("c")
try:
    _LIBC = ctypes.CDLL(_libc_name) if _libc_name else None
    if _LIBC is not None and not hasattr(_LIBC, "malloc_trim"):  # musl, macOS: nothing to trim
        _LIBC = None
except OSError:
    _LIBC = None
