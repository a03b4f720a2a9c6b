"""The grammar of every field of poorenv.lock: what a value may be, checked when it is read.

A lock arrives in pull requests, so it is read as data, never as text to pass on: each field is
parsed by its grammar (a PEP 508 name in normal form, a PEP 440 version that reads back as
itself, markers as `packaging` prints them, hashes as an algorithm and hex of its length, the
interpreter's facts as real interpreters report them) and refused otherwise. The requirement
lines an installer gets are then built from these values alone (`LockedPackage.requirement`).
The patterns are the same as in schemas/poorenv-lock.schema.json.

Each check returns None for a good value or the problem, one line without the value's text
(`shown` quotes a value safely for an error line).
"""

from __future__ import annotations

import re
import unicodedata

HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HASH = re.compile("|".join(f"{name}:[0-9a-f]{{{n}}}" for name, n in HASH_LENGTHS.items()))
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PEP508_NAME = re.compile(r"[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)
# Markers hold printable ASCII (PEP 508's own alphabet) but none of the characters that mean
# something else on a line pip reads: "#" (a comment), "$" (${VAR}), "\" (a continuation).
_MARKER_CHARS = re.compile(r'[ -"%-\[\]-~]+')
# The interpreter's facts: sys.implementation.name; X.Y; X.Y.Z; SOABI or its fallback
# ("cpython-312-x86_64-linux-gnu", "cp313-win_amd64"); sysconfig.get_platform()
# ("linux-x86_64", "macosx-11.0-arm64", "freebsd-14.0-RELEASE-amd64", "win-amd64").
INTERPRETER_PATTERNS = {
    "implementation": re.compile(r"[a-z][a-z0-9_]*"),
    "python": re.compile(r"[0-9]+\.[0-9]+"),
    "version": re.compile(r"[0-9]+\.[0-9]+\.[0-9]+"),
    "abi": re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"),
    "platform": re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"),
}


class FieldError(ValueError):
    """A value that its field's grammar refuses: which field, and why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def require(field: str, problem: str | None) -> None:
    """Raise FieldError for `field` if a check found a `problem`."""
    if problem is not None:
        raise FieldError(field, problem)


def shown(value: object, limit: int = 60) -> str:
    """`value` quoted for an error line: escapes for every unprintable character, cut short."""
    text = str(value)
    if len(text) > limit:
        return repr(text[:limit]) + "..."
    return repr(text)


def name_problem(value: str) -> str | None:
    """A package name: PEP 508, stored in its normal form (PEP 503)."""
    if _NAME.fullmatch(value):
        return None
    if _PEP508_NAME.fullmatch(value):
        from packaging.utils import canonicalize_name

        return f"{shown(value)} is not in normal form (expected {shown(canonicalize_name(value))})"
    return f"not a package name: {shown(value)}"


def version_problem(value: str) -> str | None:
    """A PEP 440 version, written as `packaging` writes it, so `name==version` means it."""
    from packaging.version import InvalidVersion, Version

    try:
        normal = str(Version(value))
    except InvalidVersion:
        return f"not a PEP 440 version: {shown(value)}"
    if normal != value:
        return f"{shown(value)} is not in normal form (expected {shown(normal)})"
    return None


def markers_problem(value: str) -> str | None:
    """PEP 508 environment markers, written as `packaging` writes them."""
    from packaging.markers import InvalidMarker, Marker

    if not _MARKER_CHARS.fullmatch(value):
        return (
            f"{shown(value)}: markers hold printable ASCII without '#', '$' or '\\'"
            if value
            else "empty"
        )
    try:
        normal = str(Marker(value))
    except InvalidMarker as exc:
        return f"not PEP 508 markers: {shown(value)} ({str(exc).splitlines()[0]})"
    if normal != value:
        return f"{shown(value)} is not in normal form (expected {shown(normal)})"
    return None


def hash_problem(value: str) -> str | None:
    """An artifact hash: `sha256:`, `sha384:` or `sha512:` and lowercase hex of its length."""
    if _HASH.fullmatch(value):
        return None
    algorithm = value.partition(":")[0]
    if algorithm not in HASH_LENGTHS:
        return f"not a sha256, sha384 or sha512 hash: {shown(value)}"
    digits = HASH_LENGTHS[algorithm]
    return f"not a {algorithm} hash ({digits} lowercase hex digits): {shown(value)}"


def sha256_problem(value: str) -> str | None:
    """`input-hash` and `content-hash`: `sha256:` and 64 lowercase hex digits."""
    return None if _SHA256.fullmatch(value) else f"not sha256 and 64 hex digits: {shown(value)}"


def interpreter_problem(field: str, value: str) -> str | None:
    """One of [interpreter]'s facts, as a real interpreter reports it."""
    if INTERPRETER_PATTERNS[field].fullmatch(value):
        return None
    return f"does not look like an interpreter's {field}: {shown(value)}"


def text_problem(value: str) -> str | None:
    """Free text (`created-by`): no control characters and no line breaks."""
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        return f"holds a control character: {shown(value)}"
    return None
