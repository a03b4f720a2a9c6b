"""The pipeline a command runs: config -> base interpreter -> layout -> state -> plan -> apply."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poorenv.config import Config
from poorenv.discover.find import find_interpreter, is_path_request
from poorenv.discover.interpreter import Interpreter
from poorenv.envdir import check_env_path
from poorenv.errors import EnvError, LockError
from poorenv.lock.lockfile import (
    Lock,
    index_arguments,
    lock_path,
    read_lock,
    require_lock,
    stale_reason,
    write_lock,
)
from poorenv.paths import cache_dir, lock_timeout
from poorenv.plan import planner
from poorenv.plan.actions import Action, Plan
from poorenv.plan.layout import STATE, Layout, build_layout, state_dir
from poorenv.report import Reporter
from poorenv.state import fastpath
from poorenv.state.env import library_files, read_env, read_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Project:
    config: Config
    base: Interpreter
    layout: Layout

    @classmethod
    def load(cls, config: Config) -> Project:
        check_env_path(config.env_path, config.project_dir)
        base = find_interpreter(config.python, config.project_dir)
        files = library_files(base.libdir, base.ldlibrary) if base.origin_rpath else ()
        return cls(config, base, build_layout(config.env_path, base, files))

    @property
    def env(self) -> Path:
        return self.config.env_path

    @property
    def lock_path(self) -> Path:
        return lock_path(self.config)

    def plan(self, lock: Lock | None = None, frozen: bool = False) -> Plan:
        """The plan against `lock` (default: poorenv.lock as it is on disk).

        A lock that is missing or stale leaves packages out of the plan and is reported in
        `Plan.lock_problem`; with `frozen` a stale input hash is accepted.
        """
        if lock is None:
            lock = read_lock(self.lock_path)
        problem = stale_reason(lock, self.config, self.base)
        if frozen and lock is not None and not lock.interpreter.mismatch(self.base):
            problem = None
        state = read_env(self.layout, planner.text_file_paths(self.layout))
        usable = lock if problem is None else None
        return planner.plan(self.layout, self.base, state, usable, problem)

    def lock(
        self, upgrade: bool = False, upgrade_packages: tuple[str, ...] = ()
    ) -> tuple[Lock | None, Lock]:
        """Resolve and write poorenv.lock; returns the old lock (if any) and the new one.

        A damaged old lock is not an obstacle here: `poorenv lock` is how one is mended.
        """
        with env_lock(self.env):
            try:
                old = read_lock(self.lock_path)
            except LockError as exc:
                log.warning("ignoring the old lock: %s", exc.message)
                old = None
            return self._relock(upgrade, upgrade_packages, old)

    def _relock(
        self, upgrade: bool, upgrade_packages: tuple[str, ...], old: Lock | None
    ) -> tuple[Lock | None, Lock]:
        from poorenv.lock.resolver import resolve

        new = resolve(self.config, self.base, old, upgrade, upgrade_packages)
        write_lock(self.lock_path, new)
        return old, new

    def sync(
        self,
        mode: str = "auto",
        upgrade: bool = False,
        upgrade_packages: tuple[str, ...] = (),
        progress: Callable[[Action], None] | None = None,
        waiting: Callable[[], None] | None = None,
        relocked: Callable[[Lock | None, Lock], None] | None = None,
        installer: str | None = None,
        step: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> SyncResult:
        """Make the env match. `mode`: "auto" locks when needed, "locked" refuses a missing or
        stale lock, "frozen" installs the lock as it is."""
        from poorenv.apply.applier import Applier
        from poorenv.apply.installers import make_installer
        from poorenv.envdir import EnvDir

        index_args = tuple(index_arguments(self.config.index, self.config.project_dir))
        # Made now, so that a missing uv fails before anything changes.
        tool = make_installer(
            installer or self.config.installer, self.layout.exe, self.base, index_args
        )
        with env_lock(self.env, waiting):
            lock = require_lock(self.lock_path) if mode == "frozen" else read_lock(self.lock_path)
            problem = stale_reason(lock, self.config, self.base)
            old: Lock | None = lock
            if mode == "frozen":
                mismatch = lock.interpreter.mismatch(self.base) if lock else None
                if mismatch:
                    raise LockError(f"{self.lock_path}: {mismatch}", hint="run `poorenv lock`")
            elif problem or upgrade or upgrade_packages:
                if mode == "locked":
                    raise LockError(
                        f"{problem or 'an upgrade needs a new lock'} (--locked)",
                        hint="run `poorenv lock` and commit poorenv.lock",
                    )
                with step("resolving with pip-compile") if step else contextlib.nullcontext():
                    old, lock = self._relock(upgrade, upgrade_packages, lock)
                if relocked:
                    relocked(old, lock)
            if lock is None:  # pragma: no cover - a missing lock is always a problem above
                raise LockError(f"{self.lock_path}: missing")
            current = self.plan(lock, frozen=True)
            fresh = stale_reason(lock, self.config, self.base) is None
            paths = self.base.env_paths(self.env)
            targets = [Path(paths[k]) for k in ("purelib", "platlib", "scripts", "include")]
            reporter = _Callbacks(progress, step)
            applier = Applier(EnvDir(self.env), tool, reporter, lambda: self._stamp(fresh), targets)
            done = applier.apply(current)
            if current.is_empty():
                state = read_json(state_dir(self.env) / STATE) or {}
                stamp = state.get("stamp")
                if not fastpath.matches(stamp, self.config.python, self._config_text()):
                    applier.refresh_stamp({k: v for k, v in state.items() if k != "stamp"})
        return SyncResult(current, done, old, lock)

    def cache_key(self, lock: Lock) -> str:
        """A key for CI caches of the env: the lock, the base, the platform, poorenv's version.

        The base's mtime is left out, so that identical installs on CI machines agree.
        """
        import hashlib
        import json

        from poorenv import __version__

        base, project_dir = self.base, self.config.project_dir
        identity = {
            "lock": lock.content_hash,
            "base": {k: v for k, v in base.fingerprint.items() if k != "mtime_ns"},
            "abi": base.abi,
            "platform": base.platform,
            "poorenv": __version__,
            "env": str(self.env.relative_to(project_dir))
            if self.env.is_relative_to(project_dir)
            else str(self.env),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"poorenv-{__version__}-{base.platform}-{base.implementation}{base.xy}-{digest[:32]}"

    def _config_text(self) -> str:
        return self.config.file.read_bytes().decode("utf-8")

    def _stamp(self, lock_fresh: bool) -> dict[str, Any]:
        config = self.config
        files = [config.file, self.lock_path, *config.requirement_files, *config.constraint_files]
        files.append(Path(self.base.executable))
        if is_path_request(config.python):
            files.append(config.project_dir / Path(config.python).expanduser())
        return fastpath.take(
            (str(f) for f in files), self.env, config.python, lock_fresh, self._config_text()
        )


@dataclass(frozen=True)
class SyncResult:
    plan: Plan
    done: list[Action]
    old_lock: Lock | None
    lock: Lock


class _Callbacks(Reporter):
    """The Reporter made of `sync`'s callbacks."""

    def __init__(
        self,
        progress: Callable[[Action], None] | None,
        step: Callable[[str], AbstractContextManager[None]] | None,
    ) -> None:
        self._progress = progress
        self._step = step

    def action(self, action: Action) -> None:
        if self._progress:
            self._progress(action)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        with self._step(text) if self._step else contextlib.nullcontext():
            yield


@contextlib.contextmanager
def env_lock(env: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the env's lock; call `waiting` once if another process holds it.

    The lock is an OS file lock: a process killed while holding it releases it, so a lock left
    by a killed poorenv never blocks the next one.
    """
    import hashlib

    from filelock import FileLock, Timeout

    # The lock file lives in poorenv's cache, so that taking it writes nothing in the project,
    # even for an env that does not exist yet or a sync that is then refused.
    directory = cache_dir() / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(env).encode()).hexdigest()[:24]
    lock = FileLock(str(directory / f"{key}.lock"))
    timeout = lock_timeout()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if waiting:
            waiting()
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise EnvError(
                f"{env}: another poorenv is still working on this env (waited {timeout:g} s)",
                hint="try again later, or raise POORENV_LOCK_TIMEOUT",
            ) from None
    try:
        yield
    finally:
        lock.release()
