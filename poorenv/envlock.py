"""The env's file lock: one sync, lock or apply at a time per env, across processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from poorenv import cache
from poorenv.errors import EnvError
from poorenv.paths import lock_timeout, unusable_cache
from poorenv.report import Reporter


@contextlib.contextmanager
def env_lock(env: Path, reporter: Reporter | None = None) -> Iterator[None]:
    """Hold the env's lock; tell `reporter` once if another process holds it.

    The lock is an OS file lock: a process killed while holding it releases it, so a lock left
    by a killed poorenv never blocks the next one.
    """
    import hashlib

    from filelock import FileLock, Timeout

    # The lock file lives in poorenv's cache, so that taking it writes nothing in the project,
    # even for an env that does not exist yet or a sync that is then refused.
    key = hashlib.sha256(os.fsencode(env)).hexdigest()[:24]
    path = cache.lock_dir() / f"{key}.lock"
    if not cache.trusted(path):  # another user's lock file: the temporary cache's instead
        path = cache.lock_dir() / f"{key}.lock"
    lock = FileLock(str(path), mode=0o600)
    timeout = lock_timeout()
    try:
        lock.acquire(timeout=0)
    except Timeout:  # first: filelock's Timeout is a TimeoutError, so an OSError too
        if reporter:
            reporter.waiting(env)
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise EnvError(
                f"{env}: another poorenv is still working on this env (waited {timeout:g} s)",
                hint="try again later, or raise POORENV_LOCK_TIMEOUT",
            ) from None
    except OSError as exc:
        raise unusable_cache(exc, "the env's lock") from None
    try:
        yield
    finally:
        lock.release()
