"""The pipeline a command runs: config -> base interpreter -> layout -> state -> plan -> apply."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from poorenv import plan as planner
from poorenv.config import Config
from poorenv.errors import EnvError
from poorenv.interpreter import Interpreter, find_interpreter
from poorenv.layout import LOCKFILE, STATE_DIR, Layout, build_layout, state_dir
from poorenv.plan import Action, Plan
from poorenv.state import library_files, read_env, read_marker

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

    def plan(self) -> Plan:
        state = read_env(self.layout, planner.text_file_paths(self.layout))
        return planner.plan(self.layout, self.base, state, self.config.seed)

    def sync(
        self,
        progress: Callable[[Action], None] | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> tuple[Plan, list[Action]]:
        """Make the env match; returns the plan and the actions carried out."""
        from poorenv.apply import Applier

        with env_lock(self.env, waiting):
            current = self.plan()
            done = Applier(self.env, self.base).apply(current, progress)
        return current, done


def check_env_path(env: Path, project_dir: Path) -> None:
    """Refuse env paths that poorenv must never build in, let alone delete."""
    env = env.resolve()
    home = Path.home().resolve()
    project = project_dir.resolve()
    if env == Path(env.anchor):
        raise EnvError(f"env path {env}: refusing the filesystem root")
    if env == home or env in home.parents:
        raise EnvError(f"env path {env}: refusing the home directory or a parent of it")
    if env == project or env in project.parents:
        raise EnvError(
            f"env path {env}: refusing the project directory or a parent of it",
            hint='set [env] path to a directory of its own, e.g. ".poorenv"',
        )
    if env.exists() and not env.is_dir():
        raise EnvError(f"env path {env}: exists and is not a directory")
    if env.is_dir() and read_marker(env) is None and _has_foreign_content(env):
        raise EnvError.not_ours(env)


def _has_foreign_content(env: Path) -> bool:
    return any(item.name != STATE_DIR for item in os.scandir(env))


@contextlib.contextmanager
def env_lock(env: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the env's lock; call `waiting` once if another process holds it."""
    from filelock import FileLock, Timeout

    directory = state_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCKFILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if waiting:
            waiting()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
