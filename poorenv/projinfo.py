"""What `poorenv info` and `poorenv cache-key` tell of a project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from poorenv import cache
from poorenv.lock.inputs import stale_reason
from poorenv.lock.lockfile import Lock, read_lock
from poorenv.state import fastpath
from poorenv.state.record import BaseFingerprint

if TYPE_CHECKING:
    from poorenv.project import Project


def cache_key(project: Project, lock: Lock) -> str:
    """A key for CI caches of the env: the lock, the base, the platform, poorenv's version.

    The base's mtime is left out, so that identical installs on CI machines agree.
    """
    import hashlib
    import json

    from poorenv import __version__

    base, project_dir = project.base, project.config.project_dir
    identity = {
        "lock": lock.content_hash,
        "base": {k: v for k, v in base.fingerprint.items() if k != "mtime_ns"},
        "abi": base.abi,
        "platform": base.platform,
        "poorenv": __version__,
        "env": str(project.env.relative_to(project_dir))
        if project.env.is_relative_to(project_dir)
        else str(project.env),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"poorenv-{__version__}-{base.platform}-{base.implementation}{base.xy}-{digest[:32]}"


def info(project: Project) -> dict[str, Any]:
    """What `poorenv info` shows: the project, its env, base and lock."""
    from poorenv.ownership import is_env

    config, base = project.config, project.base
    lock = read_lock(project.lock_path)
    return {
        "project": str(config.project_dir),
        "config": str(config.file),
        "env": {
            "path": str(project.env),
            "exists": is_env(project.env),
            "synced": fastpath.quick_check(str(config.project_dir)) is not None,
        },
        "base": {**vars(BaseFingerprint.of(base)), "abi": base.abi},
        "lock": {
            "path": str(project.lock_path),
            "exists": lock is not None,
            "content_hash": lock.content_hash if lock else None,
            "packages": len((lock.select(base) or lock).packages) if lock else 0,
            "pythons": [r.interpreter.python for r in lock.resolutions] if lock else [],
            "problem": stale_reason(lock, config, base),
        },
        "resolver": config.resolver,
        "installer": config.installer,
        "cache_dir": str(cache.root()),
        "cache_key": cache_key(project, lock) if lock else None,
    }
