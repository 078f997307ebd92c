"""The one kind of error a user can fix by changing an input: a bad option or an unusable image.

It is a ``click.ClickException`` as well as a ``ValueError``: flytekit's ``pyflyte run`` re-raises click's own
exceptions, so click prints just the one-line reason ("Error: content image photo.txt: not an image ...") instead
of a 50-line traceback with the reason last (``flytekit/clis/sdk_in_container/utils.py``, ``pretty_print_exception``).
Everywhere else it behaves as the ``ValueError`` it is, and its ``str`` is the reason alone, even after flytekit's
local execution prefixes the exception's arguments with the task's name.
"""

from __future__ import annotations

import click


class InputError(click.ClickException, ValueError):
    """A user-supplied input cannot be used; the message is one line, names the input and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
