"""TensorFlow and Keras as the engine imports them: once per process, and out of the cyclic collector's way.

Importing the two creates about 250,000 Python objects (modules, classes, functions, op wrappers) that live as
long as the process. Python's cyclic collector cannot know that. While they are being created it runs four full
collections that find nothing to free, and at interpreter exit it traverses them all once more: together about
1.5 s of every fresh task process on 2 cores (``benchmarks/bench_stages.py``, section "fixed cost"), paid once
per pod. Importing them with the collector paused, then freezing every object that exists (``gc.freeze``: moved
to a permanent generation that no later collection visits), removes both. The collector is left as the caller
had it, and everything created afterwards (networks, traced graphs, tensors) is collected as before.

Every engine module takes ``tf`` and ``keras`` from here, so whichever of them a task imports first pays the
import this way.
"""

from __future__ import annotations

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

__all__ = ["keras", "tf"]
