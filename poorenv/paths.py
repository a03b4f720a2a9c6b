"""File names, where poorenv keeps its caches, and the environment its subprocesses run with.

Imported on the no-op fast path: it imports os and sys only (pathlib and the TOML parser when
a function needs them).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

CONFIG_NAME = "poorenv.toml"
DEFAULT_ENV_PATH = ".poorenv"
STATE_DIR = ".poorenv"  # inside an env: poorenv's own files
MARKER = "marker.json"  # in STATE_DIR: this directory is an env poorenv made
STATE = "state.json"  # in STATE_DIR: what the last complete sync left, and its stamp


def loads_toml(text: str) -> dict[str, Any]:
    """Parse TOML; a syntax error is a ValueError (tomllib.TOMLDecodeError)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    return tomllib.loads(text)


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


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without the variables that redirect an interpreter, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _PYTHON_VARIABLES}
    env.update(extra)
    return env


def lock_timeout() -> float | None:
    """Seconds to wait for another sync of the same env: POORENV_LOCK_TIMEOUT, else forever."""
    from poorenv.errors import EnvError

    text = os.environ.get("POORENV_LOCK_TIMEOUT", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise EnvError(f"POORENV_LOCK_TIMEOUT={text!r}: not a number of seconds") from None
    return None if value < 0 else value
