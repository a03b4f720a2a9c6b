"""The project itself as the lock names it: a local directory, installed editable, never hashed.

`[requirements] project = "."` in poorenv.toml puts the project's own dependencies in the lock
(hash-pinned, like every other package) and the project itself in `Lock.project`. The applier
installs it in a `--no-deps` step of its own after the hash-checked install, through its build
backend (PEP 660); a project without `[build-system]` is not installed, only its dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LockedProject:
    name: str  # canonical (packaging.utils.canonicalize_name)
    path: str  # the project directory relative to the lock's directory, POSIX: "." or "app"
    editable: bool = True
    build: bool = True  # it has a [build-system]: installed editable; else only its dependencies
