"""The applier: the only code that writes. Each action is idempotent and stays inside the env."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from poorenv.apply.installers import Installer, InstallerError, make_installer
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import ApplyError, EnvError
from poorenv.plan.actions import (
    Action,
    ClearEnv,
    CreateEnv,
    InstallInterpreter,
    InstallPackages,
    MakeDirs,
    MakeLinks,
    MirrorTree,
    Plan,
    RemoveBroken,
    RemovePackages,
    WriteFiles,
    WriteState,
)
from poorenv.plan.layout import MARKER, STATE, STATE_DIR, state_dir
from poorenv.state.env import is_bytecode
from poorenv.state.record import EnvRecord

log = logging.getLogger(__name__)


class Applier:
    """Carries out a plan inside one env directory, refusing any write outside it."""

    def __init__(
        self,
        env: Path,
        base: Interpreter,
        index_args: tuple[str, ...] = (),
        stamp: Callable[[], dict[str, Any]] | None = None,
        installer: Installer | None = None,
    ) -> None:
        self.env = env
        self.base = base
        self.installer = installer or make_installer(
            "pip", env / "bin" / base.exe_name, base, index_args
        )
        self.index_args = index_args  # pip's index options from [index]; may hold credentials
        self.stamp = stamp  # measures the fast path's stamp, after every other write
        self._handlers: dict[type[Action], Callable[[Any], None]] = {
            CreateEnv: self._create_env,
            ClearEnv: self._clear_env,
            InstallInterpreter: self._install_interpreter,
            MirrorTree: self._mirror,
            MakeDirs: self._make_dirs,
            MakeLinks: self._make_links,
            WriteFiles: self._write_files,
            RemoveBroken: self._remove_broken,
            InstallPackages: self._install_packages,
            RemovePackages: self._remove_packages,
            WriteState: self._write_state,
        }

    def apply(
        self,
        plan: Plan,
        progress: Callable[[Action], None] | None = None,
        step: Callable[[str], AbstractContextManager[None]] | None = None,
    ) -> list[Action]:
        """Carry out `plan`. A new env that fails half-way is removed again.

        `progress` hears of each action before it runs; `step` wraps the long ones (a status
        line on a terminal).
        """
        creating = any(isinstance(a, CreateEnv) for a in plan.actions)
        existed = self.env.exists()
        done: list[Action] = []
        try:
            for action in plan.actions:
                if progress:
                    progress(action)
                try:
                    with step(_step_text(action, self.installer.name)) if step else nullcontext():
                        self._handlers[type(action)](action)
                except OSError as exc:
                    raise ApplyError(
                        f"{action.summary()}: {exc.strerror or exc}"
                        + (f": {exc.filename}" if exc.filename else ""),
                        hint=_os_hint(exc),
                    ) from exc
                done.append(action)
        except ApplyError:
            if creating:
                self._undo_create(existed)
            raise
        return done

    def _undo_create(self, existed: bool) -> None:
        """Leave no half-built env behind: the directory as it was (absent, or empty)."""
        try:
            if existed:
                _empty(self.env)
                _remove(state_dir(self.env))
            else:
                remove_env(self.env)
        except OSError:
            log.warning("could not remove the half-built env %s", self.env)

    # --- guards ---------------------------------------------------------------------------

    def _inside(self, path: Path) -> Path:
        """`path` itself, if it lies inside the env; refuse anything else."""
        if not path.is_absolute() or ".." in path.parts:
            raise EnvError(f"refusing to write {path}: not a plain absolute path")
        if path != self.env and self.env not in path.parents:
            raise EnvError(f"refusing to write {path}: outside the env {self.env}")
        return path

    def _owned(self) -> None:
        if not (state_dir(self.env) / MARKER).is_file():
            raise EnvError(f"refusing to delete in {self.env}: it carries no poorenv marker")

    # --- actions --------------------------------------------------------------------------

    def _create_env(self, action: CreateEnv) -> None:
        self.env.mkdir(parents=True, exist_ok=True)
        self._write_json(state_dir(self.env) / MARKER, action.marker)

    def _clear_env(self, action: ClearEnv) -> None:
        self._owned()
        keep = state_dir(self.env)
        # The marker is rewritten before anything is removed: an interrupted clear is redone.
        self._write_json(keep / STATE, {})
        _empty(self.env)
        self._write_json(keep / MARKER, action.marker)

    def _install_interpreter(self, action: InstallInterpreter) -> None:
        dest = self._inside(action.dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _put(_link_or_copy, str(action.source), str(dest))

    def _mirror(self, action: MirrorTree) -> None:
        dest = self._inside(action.dest)
        if action.remove:
            self._owned()
        for rel in action.remove:
            _remove(dest / rel)
        # Plain strings: Path arithmetic costs as much as the syscalls for ~4,000 entries.
        source, root = str(action.source), str(dest)
        made: set[str] = set()
        hard = True
        for rel in (*action.replace, *action.add):
            link = os.path.join(root, rel)
            parent = os.path.dirname(link)
            if parent not in made:
                _make_dir(Path(parent))
                made.add(parent)
            target = os.path.join(source, rel)
            if hard and is_bytecode(rel):
                # Bytecode is a cache: a hard link costs a tenth of a symlink here (no inode
                # of its own), and Python replaces it by rename, so the base is never written.
                try:
                    _hard_link(target, link)
                    continue
                except OSError:
                    hard = False  # another filesystem, or protected_hardlinks: use symlinks
            _symlink(target, Path(link))

    def _make_dirs(self, action: MakeDirs) -> None:
        for path in action.paths:
            _make_dir(self._inside(path))

    def _make_links(self, action: MakeLinks) -> None:
        for path, target in action.links:
            self._inside(path).parent.mkdir(parents=True, exist_ok=True)
            _symlink(target, path)

    def _write_files(self, action: WriteFiles) -> None:
        for path, text in action.files:
            self._inside(path).parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(path, text)

    def _install_packages(self, action: InstallPackages) -> None:
        before = self._install_targets()
        try:
            records = self.installer.install(action.requirements, action.reinstall)
        except InstallerError:
            # The installer rolls back what it uninstalled; what it had begun to add goes here.
            for path in self._install_targets() - before:
                _remove(path)
            raise
        for record, text in records.items():  # RECORDs with the bytecode poorenv compiled
            _atomic_write(self._inside(record), text)

    def _remove_broken(self, action: RemoveBroken) -> None:
        self._owned()
        for path in action.paths:
            _remove(self._inside(path))

    def _remove_packages(self, action: RemovePackages) -> None:
        self._owned()
        self.installer.uninstall(action.names)

    def _install_targets(self) -> set[Path]:
        """The entries of the directories pip installs into (site dirs, scripts, headers)."""
        paths = self.base.env_paths(self.env)
        found: set[Path] = set()
        for key in ("purelib", "platlib", "scripts", "include"):
            directory = Path(paths[key])
            try:
                found.update(Path(item.path) for item in os.scandir(directory))
            except OSError:
                continue
        return found

    def _write_state(self, action: WriteState) -> None:
        state = action.state.to_json()
        if self.stamp is not None:
            state["stamp"] = self.stamp()
        self._write_json(state_dir(self.env) / STATE, state)

    def refresh_stamp(self, state: EnvRecord) -> None:
        """Record a new stamp in an env the full planner found in sync."""
        if self.stamp is not None and state_dir(self.env).is_dir():
            self._write_state(WriteState("stamp out of date", state))

    def _write_json(self, path: Path, data: Mapping[str, Any]) -> None:
        self._inside(path).parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _step_text(action: Action, installer: str) -> str:
    if isinstance(action, InstallPackages):
        return f"installing {len(action.changes)} package(s) with {installer}"
    if isinstance(action, RemovePackages):
        return f"removing {len(action.names)} package(s)"
    return action.summary()


def remove_env(env: Path) -> None:
    """Delete an env that carries poorenv's marker; its marker goes last."""
    marker = state_dir(env) / MARKER
    if env.is_symlink() or not marker.is_file():
        raise EnvError(f"refusing to remove {env}: it carries no poorenv marker")
    _empty(env)
    _remove(env)


def _empty(env: Path) -> None:
    """Remove everything in `env` but poorenv's own directory (the marker goes last)."""
    for item in os.scandir(env):
        if item.name != STATE_DIR:
            _remove(Path(item.path))


def _make_dir(path: Path) -> None:
    """A real directory at `path`, replacing a link or file that stands there."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)


def _symlink(target: str, link: Path) -> None:
    """Make `link` point at `target`, replacing whatever is there, atomically for files."""
    _put(os.symlink, target, str(link))


def _hard_link(target: str, link: str) -> None:
    """Make `link` a hard link of `target`, replacing whatever is there."""
    _put(os.link, target, link)


def _link_or_copy(source: str, dest: str) -> None:
    """A hard link, or a copy where the filesystems differ (or links are refused)."""
    try:
        os.link(source, dest)
    except FileExistsError:
        raise
    except OSError:
        shutil.copy2(source, dest)


def _put(make: Callable[[str, str], None], target: str, link: str) -> None:
    """`make(target, link)`; what stands at `link` is replaced (a file or link atomically)."""
    try:
        make(target, link)
        return
    except FileExistsError:
        pass
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)
        make(target, link)
        return
    tmp = os.path.join(os.path.dirname(link), f".{os.path.basename(link)}.poorenv-tmp")
    _remove(Path(tmp))
    make(target, tmp)
    os.replace(tmp, link)


def _remove(path: Path) -> None:
    """Remove a file, link or directory tree; links are removed, never followed."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.poorenv-tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _os_hint(exc: OSError) -> str | None:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the env directory must be writable by you"
    if exc.errno == errno.ENOSPC:
        return "free some disk space, then run `poorenv sync` again"
    return None
