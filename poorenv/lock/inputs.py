"""What a lock is made from, and when it is stale: the input hash of poorenv.toml and the
requirements files, and `stale_reason`. The index settings the tools get are `index.py`'s."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv.lock.lockfile import LOCK_NAME, Lock
from poorenv.redact import redact

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.discover.interpreter import Interpreter


def input_hash(config: Config) -> str:
    """What the lock was made from: requirements, constraints, index, seed, interpreter request,
    and the project's requirements, extras and groups (its pyproject.toml: lock/pyproject.py).

    File contents count, not their modification times, and so do the files they include.
    Credentials in index URLs do not count, so rotating a password does not make the lock
    stale. A requirements line poorenv cannot lock is a ConfigError here (reqfile.py).
    """
    from poorenv.lock.pyproject import read_project
    from poorenv.lock.reqfile import read_inputs

    read = read_inputs(config.file, config.requirement_files, config.constraint_files)
    digests = {(os.path.realpath(f.path), f.constraint): f.content for f in read}

    def entry(path: Path, constraint: bool) -> list[str]:
        content = digests[(os.path.realpath(path), constraint)]
        return [os.path.relpath(path, config.project_dir), hashlib.sha256(content).hexdigest()]

    index = config.index
    inputs: dict[str, Any] = {
        "python": config.python,
        "seed": sorted(config.seed),
        "packages": list(config.packages),
        "files": [entry(path, False) for path in config.requirement_files],
        "constraints": [entry(path, True) for path in config.constraint_files],
        "index": {
            "url": redact(index.url or ""),
            "extra-urls": [redact(u) for u in index.extra_urls],
            "find-links": [redact(u) for u in index.find_links],
            "no-index": index.no_index,
        },
    }
    if config.lock_pythons:  # one lock for several X.Y: which of them the env uses is no input
        del inputs["python"]
        inputs["pythons"] = sorted(config.lock_pythons, key=lambda xy: int(xy.split(".")[1]))
    project = read_project(config)
    if project is not None:  # only then: locks of projects without one keep their hash
        inputs["project"] = {
            **project.hash_inputs(config.project_dir),
            "extras": list(config.extras),
            "groups": list(config.groups),
        }
    included = [entry(f.path, f.constraint) for f in read if not f.listed]
    if included:  # only then: locks of projects without includes keep their hash
        inputs["included"] = included
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def missing_python(lock: Lock, base: Interpreter) -> str:
    """ "it holds cpython 3.11, 3.12; the env's base is cpython 3.10 (cpython-310-...)" """
    held = ", ".join(
        f"{r.interpreter.implementation} {r.interpreter.python}" for r in lock.resolutions
    )
    return f"it holds {held}; the env's base is {base.implementation} {base.xy} ({base.abi})"


def stale_reason(lock: Lock | None, config: Config, base: Interpreter) -> str | None:
    """Why `lock` cannot be used as it is for `config` on `base`; None when it can."""
    if lock is None:
        from poorenv.lock.pyproject import read_project

        read_project(config)  # a project that cannot be locked says why now, not at sync
        return f"{LOCK_NAME} is missing"
    if len(lock.resolutions) > 1 and lock.select(base) is None:
        return f"{LOCK_NAME} has no resolution for the env's Python: {missing_python(lock, base)}"
    mismatch = lock.interpreter.mismatch(base)
    if mismatch and len(lock.resolutions) == 1:
        return f"{LOCK_NAME} is for another interpreter: {mismatch}"
    mismatch = project_mismatch(lock, config)
    if mismatch:
        return f"{LOCK_NAME} is stale: {mismatch}"
    if lock.input_hash != input_hash(config):
        what = "poorenv.toml or a requirements file"
        if config.project is not None:
            what = "poorenv.toml, a requirements file or the project's pyproject.toml"
        return f"{LOCK_NAME} is stale: {what} changed since it was made"
    return None


def project_mismatch(lock: Lock, config: Config) -> str | None:
    """Whether the lock's project is not the one poorenv.toml names (checked even with
    --frozen: sync installs the lock's project directory and runs its build backend)."""
    want = None
    if config.project is not None:
        want = Path(os.path.relpath(config.project, config.project_dir)).as_posix()
    have = lock.project.path if lock.project is not None else None
    if have == want:
        return None
    return (
        f"{LOCK_NAME} names the project {have!r}, poorenv.toml names {want!r}"
        if have and want
        else f"{LOCK_NAME} names the project {have!r}, poorenv.toml names none"
        if have
        else f"{LOCK_NAME} has no project, poorenv.toml names {want!r}"
    )
