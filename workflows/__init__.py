"""Neural style transfer on Flyte: the workflow module and the plain-TensorFlow engine beside it."""

import os

# Quiet TensorFlow's C++ start-up banner (oneDNN notices) before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
