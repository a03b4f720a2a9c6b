"""Where poorenv keeps its caches, and the environment its subprocesses run with."""

from __future__ import annotations

import os
from pathlib import Path

# Variables that would make a Python started by poorenv look somewhere else than its own prefix.
_PYTHON_VARIABLES = (
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONEXECUTABLE",
)


def cache_dir() -> Path:
    """poorenv's own cache (probe answers, seed wheels); like pip's cache, never inside an env."""
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
