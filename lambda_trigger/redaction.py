"""The Flyte client secret never reaches a log line, a result or an error, in any encoding it travels in.

Lambda's log-level control can put every logger at DEBUG, botocore and flytekit included, and an identity provider
or proxy may echo the request (with its ``Authorization: Basic base64(id:secret)`` header) in an error that flytekit
logs and raises. So this is enforced where every log record is born, not by each caller being careful:

* :func:`register_secret` learns the secret as soon as it is read, and every form it is sent in: plain, URL-encoded
  (``quote_plus``, as flytekit puts it into the Basic header, and ``quote``), JSON- and repr-escaped, and base64 of
  ``id:secret`` (standard and URL-safe alphabets, with and without padding) for both spellings of the secret.
* A log record factory replaces each of them in every record's message (and in a traceback that holds one) with
  ``<redacted>``; :func:`redact` does the same for the error strings the trigger puts into results and exceptions.
* :func:`scrub_exception` masks them in the messages of an exception and of every exception it chains, where the
  trigger catches flytekit's errors: a chained exception is printed whole by any traceback (logging's own error
  report included), so the error objects must not hold the secret either.
* botocore logs each response body at DEBUG, and Secrets Manager's body *is* the secret, before the trigger can know
  it: those lines are withheld at their source (``botocore.parsers``).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

E = TypeVar("E", bound=BaseException)

MASK = "<redacted>"
#: Forms shorter than this are not masked: they would mask ordinary text, and cannot be a real secret's encoding.
_MIN_FORM = 6

_forms: list[str] = []  # longest first, so a longer encoding is masked before a shorter one inside it
_lock = threading.Lock()
_installed = False


def register_secret(secret: str, client_id: str | None = None) -> None:
    """Mask ``secret`` (and the encodings it is sent in, with ``client_id`` in the Basic header) from now on."""
    if not secret:
        return
    spellings = {secret, quote_plus(secret), quote(secret, safe="")}
    forms = set(spellings) | {json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    for user in {client_id or "", quote_plus(client_id or "")}:
        for spelling in spellings:
            raw = f"{user}:{spelling}".encode()
            for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                text = encoded.decode("ascii")
                forms |= {text, text.rstrip("=")}
    with _lock:
        _forms[:] = sorted(set(_forms) | {form for form in forms if len(form) >= _MIN_FORM}, key=len, reverse=True)
    install()


def redact(text: str) -> str:
    """``text`` with every registered form of the secret masked."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def scrub_exception(exc: E) -> E:
    """Mask the secret in ``exc``'s message and in every exception it chains (``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending and _forms:
        current = pending.pop()
        if current is None or id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        if any(isinstance(arg, str) and redact(arg) != arg for arg in current.args):
            current.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in current.args)
        pending += [current.__cause__, current.__context__]
    return exc


def install() -> None:
    """Put the record factory and the botocore filter in place (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _forms:
            _scrub(record)
        return record

    logging.setLogRecordFactory(make_record)
    logging.getLogger("botocore.parsers").addFilter(_withhold_response_bodies)


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return
    masked = redact(message)
    if record.exc_info and record.exc_info[1] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        if redact(trace) != trace:  # the secret is in the traceback: keep the traceback, as text, masked
            masked = f"{masked}\n{redact(trace)}"
            record.exc_info = None
            record.exc_text = None
    if masked != message:
        record.msg, record.args = masked, ()


def _withhold_response_bodies(record: logging.LogRecord) -> bool:
    if isinstance(record.msg, str) and record.msg.startswith("Response body"):
        record.msg, record.args = "Response body: <withheld by the trigger: it may hold a secret>", ()
    return True
