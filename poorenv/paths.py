"""File names, where poorenv keeps its caches, and the environment its subprocesses run with.

Imported on the no-op fast path: it imports os and sys only (pathlib and the TOML parser when
a function needs them).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs the no-op path ~8 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from poorenv.errors import PoorenvError

CONFIG_NAME = "poorenv.toml"
DEFAULT_ENV_PATH = ".poorenv"
STATE_DIR = ".poorenv"  # inside an env: poorenv's own files
MARKER = "marker.json"  # in STATE_DIR: this directory is an env poorenv made
STATE = "state.json"  # in STATE_DIR: what the last complete sync left, and its stamp
UNFINISHED = "unfinished.json"  # in STATE_DIR: packages a sync began to change, until it ends


def loads_toml(text: str) -> dict[str, Any]:
    """Parse TOML. Anything that is not a TOML document is a ValueError: a syntax error
    (tomllib.TOMLDecodeError), and arrays or tables nested too deeply for Python's stack."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None


def loads_json(text: str | bytes) -> Any:
    """Parse JSON. Anything that is not a JSON document is a ValueError: a syntax error, bytes
    that are not UTF-8, and arrays or objects nested too deeply for Python's stack.

    A UTF-8 document is parsed by the C scanner json.loads itself uses, without importing the
    json package (whose decoder and encoder compile regular expressions at import: ~7 ms of
    the no-op path, which reads state.json). Anything else, and every error, is json.loads's."""
    try:
        value = _scan(text)
        if value is not _NOTHING:
            return value
        import json

        return json.loads(text)
    except RecursionError:
        raise ValueError(_TOO_DEEP) from None


_TOO_DEEP = "nested too deeply"
_NOTHING = object()
_JSON_SPACE = " \t\n\r"


_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _ScanContext:
    """What _json.make_scanner reads: the settings of json.loads's default decoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


try:
    from _json import make_scanner
except ImportError:  # pragma: no cover - PyPy: json.loads only
    _SCANNER: Any = None
else:
    _SCANNER = make_scanner(_ScanContext())  # type: ignore[arg-type]  # any object with these


def _scan(text: str | bytes) -> Any:
    """`text` parsed by _json's scanner, or _NOTHING: not plain UTF-8, no C scanner (PyPy), or
    not a valid document (json.loads then says why)."""
    if _SCANNER is None:  # pragma: no cover - CPython has one
        return _NOTHING
    if isinstance(text, bytes):
        if text[:3] == b"\xef\xbb\xbf" or b"\x00" in text[:4]:
            return _NOTHING  # a BOM, or UTF-16/32: json.loads detects the encoding
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return _NOTHING
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    try:
        value, end = _SCANNER(text, start)
    except (StopIteration, ValueError):
        return _NOTHING
    return value if not text[end:].strip(_JSON_SPACE) else _NOTHING


def resolve(path: Path) -> Path:
    """`path` made absolute with every link followed; a symlink loop is an OSError (ELOOP) on
    every Python (3.9 to 3.12 raise RuntimeError, 3.13 hands back the loop unresolved)."""
    import errno

    try:
        real = path.resolve()
        os.stat(real)
    except RuntimeError:
        pass
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            return real
    else:
        return real
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))


# Variables that would make a Python started by poorenv look somewhere else than its own prefix.
_PYTHON_VARIABLES = (
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
)


def cache_dir() -> Path:
    """Where poorenv's cache is configured to be (POORENV_CACHE_DIR, XDG_CACHE_HOME, ~/.cache);
    like pip's cache, never inside an env. `poorenv.cache.root()` decides whether it is used."""
    from pathlib import Path

    explicit = os.environ.get("POORENV_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "poorenv"


def unusable_cache(exc: OSError, what: str) -> PoorenvError:
    """The error for a cache directory that cannot be made or written (a file in its place,
    HOME=/nonexistent, another user's directory): it names the cache and what poorenv needed."""
    from poorenv.errors import EnvError

    return EnvError(
        f"poorenv's cache {cache_dir()}: cannot keep {what} there: {exc.strerror}",
        hint="set POORENV_CACHE_DIR (or XDG_CACHE_HOME) to a directory you can write",
    )


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without the variables that redirect an interpreter, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _PYTHON_VARIABLES}
    env.update(extra)
    return env


def lock_timeout() -> float | None:
    """Seconds to wait for another sync of the same env: POORENV_LOCK_TIMEOUT, else forever."""
    text = os.environ.get("POORENV_LOCK_TIMEOUT", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        from poorenv.errors import EnvError

        raise EnvError(f"POORENV_LOCK_TIMEOUT={text!r}: not a number of seconds") from None
    return None if value < 0 else value
