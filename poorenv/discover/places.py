"""Where interpreter discovery looks: the one list of places, for discovery and the fast path.

`find.py` enumerates executables from exactly these directories; the no-op fast path
(`state/fastpath.py`) stamps exactly these directories, so that a new or removed interpreter in
any of them sends the next sync back to discovery. This module runs on that fast path: it
imports os (and poorenv.paths, which imports os and sys) and nothing else.
"""

from __future__ import annotations

import os

from poorenv.ownership import is_env

# Searched after PATH, in this order. Tests point it at a fake root.
SYSTEM_DIRS = ("/usr/local/bin", "/usr/bin", "/opt/python/bin")


def is_path_request(request: str) -> bool:
    """`python = "./py"`, "~/py", "/usr/bin/python3": a path, not a version to search for."""
    return "/" in request or request.startswith(("~", "."))


def pyenv_root() -> str:
    return os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")


def pyenv_versions() -> str:
    """pyenv's versions dir: one `X.Y.Z/bin/python3` per installed version."""
    return os.path.normpath(os.path.join(pyenv_root(), "versions"))


def search_dirs(request: str) -> list[str]:
    """The directories a request searches, in search order, each once.

    A path request searches nothing. A version request searches pyenv's versions dir, then the
    PATH entries, then SYSTEM_DIRS; left out are pyenv's shims (scripts that would run whatever
    version pyenv selects) and the bin of a poorenv env (on PATH once activated: never a base).
    """
    if is_path_request(request.strip()):
        return []
    shims = os.path.normpath(os.path.join(pyenv_root(), "shims"))
    dirs = [pyenv_versions()]
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry:
            continue
        directory = os.path.normpath(entry)
        if directory == shims or is_env(os.path.join(directory, os.pardir)):
            continue
        dirs.append(directory)
    dirs += [os.path.normpath(d) for d in SYSTEM_DIRS]
    return list(dict.fromkeys(dirs))
