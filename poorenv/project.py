"""The pipeline a command runs: config -> base interpreter -> layout -> state -> plan -> apply.

`Project` ties the stages together; it decides nothing that a stage owns. It reads the lock
once per command and asks `stale_reason` once, and it speaks to its caller only through a
`Reporter`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv.config import Config
from poorenv.discover.find import find_interpreter, is_path_request
from poorenv.discover.interpreter import Interpreter
from poorenv.envlock import env_lock
from poorenv.errors import ConfigError, EnvError, LockError
from poorenv.lock.inputs import missing_python, project_mismatch, stale_reason
from poorenv.lock.lockfile import Lock, lock_path, read_lock, refuse_link, require_lock
from poorenv.plan.layout import Layout, build_layout
from poorenv.report import Reporter
from poorenv.state import fastpath
from poorenv.state.env import EnvState, library_files, read_env

if TYPE_CHECKING:
    from poorenv.apply.installers import Installer
    from poorenv.plan.actions import Action, Plan

log = logging.getLogger(__name__)


class LockMode(enum.Enum):
    """What `sync` does with a missing or stale poorenv.lock."""

    AUTO = "auto"  # resolve a new lock first
    LOCKED = "locked"  # refuse (CI): the committed lock must be right
    FROZEN = "frozen"  # install the lock as it is, unchecked against poorenv.toml


@dataclass(frozen=True)
class LockStatus:
    """poorenv.lock as read once for a command, and why it cannot be used as it is."""

    lock: Lock | None
    problem: str | None  # None: the lock matches poorenv.toml and the base


@dataclass(frozen=True)
class Preview:
    """What a sync would do: the plan against the lock it would use, and that lock.

    `new_lock` is `old_lock` when no resolution is needed; otherwise a resolution made in
    memory (poorenv.lock not written), and `plan.lock_problem` says why it was needed."""

    plan: Plan
    old_lock: Lock | None
    new_lock: Lock
    resolved: bool
    installed: dict[str, str]  # the env's distributions as found: name -> version


@dataclass(frozen=True)
class SyncResult:
    plan: Plan
    done: list[Action]
    old_lock: Lock | None
    lock: Lock


@dataclass(frozen=True)
class Project:
    config: Config
    base: Interpreter
    layout: Layout
    python_override: bool = False  # `sync --python`: the no-op stamp must not answer for it

    @classmethod
    def load(cls, config: Config, python: str | None = None) -> Project:
        """The project of `config`; `python` (`sync --python X.Y`) replaces `[env] python`."""
        from poorenv.ownership import check_env_path

        if python is not None:
            config = dataclasses.replace(config, python=python.strip())
        check_env_path(config.env_path, config.project_dir)
        base = find_interpreter(config.python, config.project_dir)
        files = library_files(base.libdir, base.ldlibrary) if base.origin_rpath else ()
        layout = build_layout(config.env_path, base, files, config.env_prompt)
        return cls(config, base, layout, python is not None)

    def at(self, env: Path) -> Project:
        """This project with its env at `env` (a generation of a deployed env): same base."""
        from dataclasses import replace

        files = (
            library_files(self.base.libdir, self.base.ldlibrary) if self.base.origin_rpath else ()
        )
        layout = build_layout(env, self.base, files, self.config.env_prompt)
        return Project(replace(self.config, env_path=env), self.base, layout)

    @property
    def env(self) -> Path:
        return self.config.env_path

    @property
    def lock_key(self) -> Path:
        """What the env's file lock is taken on: the env path as configured (with `[deploy]`,
        the link, so that a deploy and a `sync --in-place` exclude each other)."""
        return self.config.served_path

    @property
    def lock_path(self) -> Path:
        return lock_path(self.config)

    @property
    def resolving(self) -> str:
        """What the status line says while the lock is resolved."""
        return "resolving with uv" if self.config.resolver == "uv" else "resolving with pip-compile"

    def lock_status(self, frozen: bool = False) -> LockStatus:
        """Read poorenv.lock and judge it; `frozen` accepts a stale input hash (not another
        interpreter)."""
        lock = read_lock(self.lock_path)
        # A lock for several Pythons is used as the resolution for the env's (Lock.select).
        chosen = lock.select(self.base) if lock is not None else None
        if frozen and lock is not None:
            if chosen is not None:
                mismatch = project_mismatch(lock, self.config)
                return LockStatus(chosen, f"{self.lock_path}: {mismatch}" if mismatch else None)
            problem = lock.interpreter.mismatch(self.base)
            if len(lock.resolutions) > 1:
                problem = f"no resolution for the env's Python: {missing_python(lock, self.base)}"
            return LockStatus(lock, f"{self.lock_path}: {problem}")
        return LockStatus(chosen or lock, stale_reason(lock, self.config, self.base))

    def read_state(self) -> EnvState:
        from poorenv.plan import planner

        return read_env(self.layout, planner.text_file_paths(self.layout))

    def plan(self, status: LockStatus | None = None, state: EnvState | None = None) -> Plan:
        """The plan against poorenv.lock (or `status`). A lock that cannot be used leaves the
        packages out of the plan and is named in `Plan.lock_problem`."""
        status = status or self.lock_status()
        usable = status.lock if status.problem is None else None
        state = state or self.read_state()
        from poorenv.plan import planner

        return planner.plan(
            self.layout, self.base, state, usable, status.problem, self.config.project_dir
        )

    def lock_to_use(
        self, mode: LockMode, upgrade: bool, upgrade_packages: tuple[str, ...]
    ) -> tuple[LockStatus, bool]:
        """poorenv.lock as read, and whether `mode` has it resolved anew first; the refusals
        of --locked and --frozen. `sync` and `preview` both decide here, so they cannot differ."""
        if mode is LockMode.FROZEN:
            require_lock(self.lock_path)
        status = self.lock_status(frozen=mode is LockMode.FROZEN)
        if mode is LockMode.FROZEN and status.problem:
            raise LockError(status.problem, hint="run `poorenv lock`")
        needed = mode is not LockMode.FROZEN and bool(status.problem or upgrade or upgrade_packages)
        if needed and mode is LockMode.LOCKED:
            raise LockError(
                f"{status.problem or 'an upgrade needs a new lock'} (--locked)",
                hint="run `poorenv lock` and commit poorenv.lock",
            )
        return status, needed

    def preview(
        self,
        mode: LockMode = LockMode.AUTO,
        upgrade: bool = False,
        upgrade_packages: tuple[str, ...] = (),
        reporter: Reporter | None = None,
    ) -> Preview:
        """What `sync` with these options would do, resolving in memory when it would resolve:
        nothing is written, not even poorenv.lock."""
        status, needed = self.lock_to_use(mode, upgrade, upgrade_packages)
        old = status.lock
        if needed:
            with (reporter or Reporter()).step(self.resolving):
                new = self._resolve(upgrade, upgrade_packages, old, write=False)
        elif old is None:  # pragma: no cover - lock_to_use refused or resolves
            raise LockError(f"{self.lock_path}: missing")
        else:
            new = old
        state = self.read_state()
        from poorenv.plan import planner

        plan = planner.plan(
            self.layout, self.base, state, new, status.problem, self.config.project_dir
        )
        return Preview(plan, old, new, needed, state.distributions if state.exists else {})

    def lock(
        self, upgrade: bool = False, upgrade_packages: tuple[str, ...] = ()
    ) -> tuple[Lock | None, Lock]:
        """Resolve and write poorenv.lock; returns the old lock (if any) and the new one.

        A damaged old lock is not an obstacle here: `poorenv lock` is how one is mended.
        """
        refuse_link(self.lock_path)  # before resolving: the lock could not be written
        with env_lock(self.lock_key):
            try:
                old = read_lock(self.lock_path)
            except LockError as exc:
                log.warning("ignoring the old lock: %s", exc.message)
                old = None
            if old is not None:  # about the env's resolution, when it holds one
                old = old.select(self.base) or old
            return old, self._resolve(upgrade, upgrade_packages, old)

    def _resolve(
        self, upgrade: bool, upgrade_packages: tuple[str, ...], old: Lock | None, write: bool = True
    ) -> Lock:
        from poorenv.lock.lockfile import write_lock
        from poorenv.lock.resolver import resolve

        new = resolve(self.config, self.base, old, upgrade, upgrade_packages)
        if write:
            write_lock(self.lock_path, new)
        return new

    def sync(
        self,
        mode: LockMode = LockMode.AUTO,
        upgrade: bool = False,
        upgrade_packages: tuple[str, ...] = (),
        installer: str | None = None,
        reporter: Reporter | None = None,
    ) -> SyncResult:
        """Make the env match poorenv.lock, resolving it first as `mode` allows."""
        from poorenv.apply.installers import make_installer

        reporter = reporter or Reporter()
        chosen = make_installer(  # a missing uv fails here, before anything changes
            installer or self.config.installer, self.layout.exe, self.base, self.index_environ()
        )
        with env_lock(self.lock_key, reporter):
            old, lock, fresh = self.settle_lock(mode, upgrade, upgrade_packages, reporter)
            state = self.read_state()
            from poorenv.plan import planner

            current = planner.plan(
                self.layout, self.base, state, lock, None, self.config.project_dir
            )
            done = self.carry_out(current, state, chosen, reporter, fresh)
        return SyncResult(current, done, old, lock)

    def settle_lock(
        self,
        mode: LockMode,
        upgrade: bool,
        upgrade_packages: tuple[str, ...],
        reporter: Reporter,
    ) -> tuple[Lock | None, Lock, bool]:
        """Under the env's lock: the lock as read, the lock to install (resolved and written
        first when `mode` has it so), and whether it matches poorenv.toml (`fresh`)."""
        status, needed = self.lock_to_use(mode, upgrade, upgrade_packages)
        old = status.lock
        if needed:
            with reporter.step(self.resolving):
                new = self._resolve(upgrade, upgrade_packages, old)
            reporter.relocked(old, new)
            status = LockStatus(new, None)
        lock = status.lock
        if lock is None:  # pragma: no cover - refused or resolved above
            raise LockError(f"{self.lock_path}: missing")
        # With --frozen a stale input hash is accepted, but the no-op stamp does not take
        # it as proof (lock_fresh), so that the next plain sync looks again.
        fresh = mode is not LockMode.FROZEN or stale_reason(lock, self.config, self.base) is None
        return old, lock, fresh

    def carry_out(
        self, plan: Plan, state: EnvState, installer: Installer, reporter: Reporter, fresh: bool
    ) -> list[Action]:
        """Apply `plan` (made from `state`, under the env's lock) and keep the no-op stamp
        true; `fresh`: the lock matches poorenv.toml."""
        from poorenv.apply.applier import Applier
        from poorenv.envdir import EnvDir

        applier = Applier(
            EnvDir(self.env),
            installer,
            reporter,
            stamp=lambda: self._stamp(fresh),
            scheme=self.layout.scheme,
        )
        done = applier.apply(plan)
        if (
            plan.is_empty()
            and state.record is not None
            and not fastpath.matches(
                state.stamp, self.config.python, self._config_text(), str(self.env)
            )
        ):
            applier.refresh_stamp(state.record)  # in sync, but the fast path did not know
        return done

    def index_environ(self) -> dict[str, str]:
        """`[index]` as the variables pip, pip-compile and uv read (may hold credentials)."""
        from poorenv.index import index_environ

        return index_environ(self.config.index, self.config.project_dir)

    def cache_key(self, lock: Lock) -> str:
        """A key for CI caches of the env (see `projinfo.cache_key`)."""
        from poorenv.projinfo import cache_key

        return cache_key(self, lock)

    def info(self) -> dict[str, Any]:
        """What `poorenv info` shows (see `projinfo.info`)."""
        from poorenv.projinfo import info

        return info(self)

    def pylock(self, reporter: Reporter | None = None) -> str:
        """poorenv.lock as a PEP 751 pylock.toml for the env's interpreter (asks pip for URLs)."""
        from poorenv.lock import pylock

        status = self.lock_status()
        if status.lock is None:
            require_lock(self.lock_path)
        if status.problem or status.lock is None:
            raise LockError(str(status.problem), hint="run `poorenv lock` first")
        if not self.layout.exe.exists():
            raise EnvError(f"{self.env}: no env here yet", hint="run `poorenv sync` first")
        from poorenv.plan import planner

        lock = planner.applicable(status.lock, self.base)  # the env's resolution, its markers
        with (reporter or Reporter()).step("asking pip where the locked files are"):
            found = pylock.artifacts(self.layout.exe, self.base, lock, self.index_environ())
        return pylock.render(lock, found, self.base)

    def input_files(self) -> list[Path]:
        """What the lock is made from besides poorenv.toml (see `_input_files`)."""
        return self._input_files()

    def _input_files(self) -> list[Path]:
        """The requirements and constraints files and the files they include, and the
        project's pyproject.toml: editing any of them may make the lock stale, so the no-op
        stamp watches them all."""
        from poorenv.lock.reqfile import read_inputs

        config = self.config
        listed = [*config.requirement_files, *config.constraint_files]
        if config.project is not None:  # its requirements, extras and groups count
            listed.append(config.project / "pyproject.toml")
        try:
            read = read_inputs(config.file, config.requirement_files, config.constraint_files)
        except ConfigError:  # edited since they were checked: the next sync says why
            return listed
        return list(dict.fromkeys([*listed, *(f.path for f in read)]))

    def _config_text(self) -> str:
        return self.config.file.read_bytes().decode("utf-8")

    def _stamp(self, lock_fresh: bool) -> dict[str, Any]:
        config = self.config
        files = [config.file, self.lock_path, *self._input_files()]
        files.append(Path(self.base.executable))
        if is_path_request(config.python):
            files.append(config.project_dir / Path(config.python).expanduser())
        return fastpath.take(
            (str(f) for f in files),
            self.env,
            config.python,
            lock_fresh and not self.python_override,  # the text does not name that Python
            self._config_text(),
            deployed=config.deploy is not None,
        )
