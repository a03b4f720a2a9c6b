"""Moved and copied envs: which scripts name the env's old path, and their text at the new one.

Pure: bytes in, bytes out. An installer writes the env's interpreter into each console script
it makes, in one of two forms (pip's and uv's, after distlib):

- `#!/env/bin/python3.12` on the first line;
- for a path with a space or longer than a kernel reads (127 bytes), a `/bin/sh` trampoline:
  `#!/bin/sh` and `'''exec' "/env/bin/python3.12" "$0" "$@"` on the second line.

`interpreter_of` reads either form; `moved` writes the script's interpreter at the env's new
path, in the form that path needs, and keeps the rest of the file byte for byte.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Mapping

HEAD_BYTES = 4096  # enough for both forms of the header
_SH = b"#!/bin/sh"
_TRAMPOLINE_START = b"'''exec' \""
_TRAMPOLINE_END = b'" "$0" "$@"'
_CLOSING = b"' '''"
_MAX_SHEBANG = 127


def interpreter_of(data: bytes) -> str | None:
    """The interpreter a script's header names (either form); None for anything else."""
    lines = data[:HEAD_BYTES].split(b"\n", 2)
    first = lines[0].rstrip(b"\r")
    if not first.startswith(b"#!"):
        return None
    if first == _SH and len(lines) > 1:
        second = lines[1].rstrip(b"\r")
        if second.startswith(_TRAMPOLINE_START) and second.endswith(_TRAMPOLINE_END):
            named = second[len(_TRAMPOLINE_START) : -len(_TRAMPOLINE_END)]
            return _text(named)
        return None
    named = first[2:].strip()
    if not named or b" " in named:  # `#!/usr/bin/env python3`: names no env
        return None
    return _text(named)


def names_env(interpreter: str | None, env: str) -> bool:
    """Whether `interpreter` is a file in `env`'s bin/ (or elsewhere below `env`)."""
    return interpreter is not None and interpreter.startswith(env.rstrip("/") + "/")


def moved(data: bytes, old: str, new: str) -> bytes | None:
    """The script `data` with its interpreter in `old` (an env path) named in `new` instead,
    in the header form the new path needs; None when its header names nothing in `old`."""
    interpreter = interpreter_of(data)
    if interpreter is None or not names_env(interpreter, old):
        return None
    target = new.rstrip("/") + interpreter[len(old.rstrip("/")) :]
    lines = data.split(b"\n", 3)
    if lines[0].rstrip(b"\r") == _SH:  # the trampoline: two lines, and its closing one
        if len(lines) > 2 and lines[2].rstrip(b"\r") == _CLOSING:
            body = lines[3] if len(lines) > 3 else b""
        else:
            body = b"\n".join(lines[2:])
    else:
        body = b"\n".join(lines[1:])
    return _header(target) + body


def script_header(interpreter: str) -> bytes:
    """The header an installer writes for `interpreter` (either form, as the path needs)."""
    return _header(interpreter)


def _header(interpreter: str) -> bytes:
    raw = interpreter.encode("utf-8")
    if b" " in raw or len(raw) + 2 > _MAX_SHEBANG:
        return b"\n".join((_SH, _TRAMPOLINE_START + raw + _TRAMPOLINE_END, _CLOSING, b""))
    return b"#!" + raw + b"\n"


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def record_hash(data: bytes) -> str:
    """A RECORD hash column for `data` (sha256, urlsafe base64 without padding)."""
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def rewrite_record(text: str, site: str, files: Mapping[str, bytes]) -> str | None:
    """RECORD `text` (its paths relative to `site`) with the hash and size of each listed file
    that is in `files` (normalised absolute path -> new content); None when it lists none."""
    import os

    rows = list(csv.reader(io.StringIO(text)))
    changed = False
    for row in rows:
        if len(row) < 3 or not row[0]:
            continue
        path = os.path.normpath(row[0] if row[0].startswith("/") else os.path.join(site, row[0]))
        data = files.get(path)
        if data is not None:
            row[1], row[2] = record_hash(data), str(len(data))
            changed = True
    if not changed:
        return None
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
