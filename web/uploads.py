"""Upload ids and keys: the server chooses every key, so nobody picks one and no two uploads share one.

An upload's key is ``<upload prefix><style>/[<owner>/]<token>/<file name>``:

* ``style``: the style folder (``lambda_trigger/rules.py``: the first folder below the upload prefix is the style).
  The API always chooses one, so the random part never lands in the style position.
* ``owner``: with a JWT authorizer, ``u-`` and 32 hex characters of the SHA-256 of the token's subject: each user's
  uploads and results under a folder of their own. Without one, no such folder.
* ``token``: 16 random bytes (128 bits), URL-safe base64, 22 characters: unguessable, and never repeated in practice.
* ``file name``: the browser's name, reduced to ASCII letters, digits, ``.``, ``_`` and ``-`` (a name is not a path).

The upload id is ``<token>.<style>``: it names the key's folder without a database. An id is checked against
:data:`UPLOAD_ID` before use, so it can only ever name a folder of that shape, under the caller's own owner folder.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import secrets
import unicodedata
from dataclasses import dataclass

#: A style name the page offers: one folder name, letters, digits, '.', '_' and '-', not starting with '.'.
STYLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOKEN_BYTES = 16
TOKEN_CHARS = 22  #: ceil(16 * 8 / 6), no padding
UPLOAD_ID = re.compile(rf"(?P<token>[A-Za-z0-9_-]{{{TOKEN_CHARS}}})\.(?P<style>{STYLE_NAME.pattern})")
#: What is kept of a file name's characters; anything else becomes '-'.
_DOTS = re.compile(r"\.{2,}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: A file name's stem when nothing of it is left.
FALLBACK_STEM = "photo"


class BadUploadId(ValueError):
    """Not an upload id this API hands out."""


@dataclass(frozen=True)
class UploadId:
    """Which upload an id names: its random token and its style folder."""

    token: str
    style: str

    @classmethod
    def new(cls, style: str) -> UploadId:
        if not STYLE_NAME.fullmatch(style):
            raise ValueError(f"style {style!r} is not a style name")
        return cls(secrets.token_urlsafe(TOKEN_BYTES), style)

    @classmethod
    def parse(cls, text: str) -> UploadId:
        match = UPLOAD_ID.fullmatch(text)
        if match is None:
            raise BadUploadId(f"{text[:80]!r} is not an upload id")
        return cls(match["token"], match["style"])

    def __str__(self) -> str:
        return f"{self.token}.{self.style}"

    def folder(self, upload_prefix: str, owner: str | None) -> str:
        """The key prefix (ending in '/') that holds this upload's one object."""
        return f"{upload_prefix}{self.style}/{owner + '/' if owner else ''}{self.token}/"


def owner_folder(subject: str | None) -> str | None:
    """The per-user folder of a JWT subject; None without one."""
    if not subject:
        return None
    return "u-" + hashlib.sha256(subject.encode("utf-8")).hexdigest()[:32]


def safe_file_name(file_name: str) -> str:
    """The last path segment of ``file_name`` (browsers may send ``C:\\fakepath\\x.jpg``), accents dropped, every
    other character outside ``[A-Za-z0-9._-]`` made '-', runs of dots made one (no ``..`` anywhere, which a client
    normalising paths might read as a step up), the extension in lower case."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_only = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, extension = posixpath.splitext(ascii_only)
    stem = _DOTS.sub(".", _UNSAFE.sub("-", stem)).strip("-.") or FALLBACK_STEM
    return stem + _UNSAFE.sub("-", extension.lower())
