"""The planner: a pure function from (desired layout, base facts, env snapshot) to a `Plan`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Container, Mapping
from pathlib import Path
from typing import Any

from poorenv import __version__
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import EnvError
from poorenv.lock.lockfile import Lock
from poorenv.plan.actions import (
    Action,
    ClearEnv,
    CreateEnv,
    InstallInterpreter,
    InstallPackages,
    InstallProject,
    MakeDirs,
    MakeLinks,
    MirrorTree,
    PackageChange,
    Plan,
    Refuse,
    Relocate,
    RemoveBroken,
    RemovePackages,
    WriteFiles,
    WriteState,
)
from poorenv.plan.activation import scripts as activation_scripts
from poorenv.plan.layout import PYVENV_CFG_TEXT, Layout
from poorenv.plan.relocate import names_env
from poorenv.state.env import MISSING, Entry, EnvState, MirrorState, is_bytecode
from poorenv.state.record import BaseFingerprint, EnvRecord, PackageRecord

MARKER_FORMAT = 1
UNFINISHED = "unfinished"  # PackageChange.why: named by the note of a sync that did not end
UNFINISHED_REASON = "an earlier sync did not finish"


def marker_for(base: Interpreter) -> dict[str, Any]:
    """The marker records poorenv's ownership and the ABI of what site-packages holds."""
    return {"format": MARKER_FORMAT, "created-by": f"poorenv {__version__}", "abi": base.abi}


def desired_record(base: Interpreter, layout: Layout, lock: Lock | None) -> EnvRecord:
    packages = {p.name: PackageRecord(p.version, p.digest) for p in (lock.packages if lock else ())}
    if lock is not None and lock.project is not None and lock.project.build:
        packages[lock.project.name] = project_record(lock)
    return EnvRecord(BaseFingerprint.of(base), layout.exe.name, packages)


def plan(
    layout: Layout,
    base: Interpreter,
    env: EnvState,
    lock: Lock | None,
    lock_problem: str | None = None,
    lock_dir: Path | None = None,
) -> Plan:
    """What must happen for the env on disk to match `layout` built on `base`, with `lock`.

    With no lock (none yet, or `lock_problem` says why it cannot be used), packages are left
    as they are. `lock_dir`: the lock's directory, which its project's path is relative to. A
    locked package whose markers do not hold for `base` is not wanted.
    """
    if lock is not None:
        lock = applicable(lock, base)
    actions: list[Action] = []
    fresh = False
    if not env.exists:
        actions.append(CreateEnv("new env", layout.env, marker_for(base)))
        fresh = True
    elif not env.is_dir:
        raise EnvError(
            f"{env.path}: exists and is not a directory", hint="set [env] path elsewhere"
        )
    elif env.marker is None:
        if not env.empty:
            raise EnvError.not_ours(env.path)
        actions.append(CreateEnv("new env", layout.env, marker_for(base)))
        fresh = True
    elif env.marker.get("abi") != base.abi:
        reason = f"ABI changed: {env.marker.get('abi')} -> {base.abi}"
        actions.append(ClearEnv(reason, layout.env, marker_for(base)))
        fresh = True
    elif env.links_out:  # everything below it went elsewhere: rebuild with real directories
        link, real = env.links_out[0]
        reason = f"{link} is a link leading outside the env (to {real})"
        actions.append(ClearEnv(reason, layout.env, marker_for(base)))
        fresh = True

    base_change = env.record.base.change_to(BaseFingerprint.of(base)) if env.record else None
    actions += _interpreter(layout, base, env, fresh, base_change)
    for mirror in layout.mirrors:
        found = env.mirrors[mirror.name]
        action = _mirror(mirror.name, mirror.source, mirror.dest, found, fresh, base_change)
        if action:
            actions.append(action)
    actions += _links_dirs_files(layout, env, fresh)
    if not fresh:
        actions += relocation(env)

    if lock is not None:
        recorded = env.record.packages if env.record and not fresh else {}
        installed = {} if fresh else env.distributions
        if env.broken and not fresh:
            reason = "left by an install or uninstall that was interrupted"
            actions.append(RemoveBroken(reason, env.broken))
        unfinished: Container[str] = () if fresh or env.unfinished is None else env.unfinished
        actions += package_actions(lock, installed, recorded, unfinished)
        if lock_dir is not None:
            actions += project_actions(lock, lock_dir, env, fresh, unfinished)
    if not fresh:
        actions[:0] = refusals(env, actions)

    wanted = desired_record(base, layout, lock).at(env.location)
    if lock is None and env.record:  # the packages are unknown until there is a lock
        wanted = dataclasses.replace(wanted, packages=env.record.packages)
    if actions or fresh or env.record != wanted or env.unfinished is not None:
        reason = (
            "env changed"
            if actions
            else _stale_record(env)
            if env.record
            else "state record missing or unreadable"
        )
        if not actions and env.unfinished is not None:
            reason = UNFINISHED_REASON  # what it was changing is gone from the lock too
        actions.append(WriteState(reason, wanted))
    return Plan(env=layout.env, base=base, actions=tuple(actions), lock_problem=lock_problem)


def applicable(lock: Lock, base: Interpreter) -> Lock:
    """`lock` with only the packages whose markers hold for `base`'s marker environment (pip
    skips the others: they are neither installed nor missing)."""
    if not any(p.markers for p in lock.packages):
        return lock
    from packaging.markers import Marker

    environment = base.marker_environment()
    kept = tuple(
        p for p in lock.packages if not p.markers or Marker(p.markers).evaluate(environment)
    )
    return dataclasses.replace(lock, packages=kept)


def package_actions(
    lock: Lock,
    installed: Mapping[str, str],
    recorded: Mapping[str, PackageRecord],
    unfinished: Container[str] = (),
) -> list[Action]:
    """Install what `installed` lacks or has in another version (or, per `recorded`, with
    other hashes, or what a sync that did not finish was changing: `unfinished`); remove what
    the lock does not name."""
    from packaging.version import InvalidVersion, Version

    def same(a: str, b: str) -> bool:
        try:
            return Version(a) == Version(b)
        except InvalidVersion:
            return a == b

    changes: list[PackageChange] = []
    lines: list[str] = []
    for package in lock.packages:
        have = installed.get(package.name)
        record = recorded.get(package.name)
        if have is None:
            why = "missing"
        elif not same(have, package.version):
            try:
                why = "upgrade" if Version(package.version) > Version(have) else "downgrade"
            except InvalidVersion:
                why = "version differs"
        elif package.name in unfinished:
            why = UNFINISHED
        elif record is not None and record.hashes != package.digest:
            why = "hashes changed"
        else:
            continue
        changes.append(PackageChange(package.name, have, package.version, why))
        lines.append(package.requirement())
    actions: list[Action] = []
    if changes:
        kinds = sorted({UNFINISHED_REASON if c.why == UNFINISHED else c.why for c in changes})
        actions.append(InstallPackages(", ".join(kinds), tuple(changes), tuple(lines)))
    locked = {p.name for p in lock.packages}
    if lock.project is not None and lock.project.build:
        locked.add(lock.project.name)  # installed editable (project_actions)
    extra = tuple(sorted(name for name in installed if name not in locked))
    if extra:
        actions.append(RemovePackages("not in the lock", extra))
    return actions


def project_record(lock: Lock) -> PackageRecord:
    """The state record's entry for the editable project: the lock's inputs it was installed
    for, so that a change of its requirements installs it again (its metadata lists them)."""
    return PackageRecord("editable", lock.input_hash.split(":")[-1][:16])


def project_actions(
    lock: Lock, lock_dir: Path, env: EnvState, fresh: bool, unfinished: Container[str] = ()
) -> list[Action]:
    """An `InstallProject` when the lock's project (with a [build-system]) is not installed
    editable from its directory, or was installed for other inputs."""
    project = lock.project
    if project is None or not project.build:
        return []
    path = Path(os.path.normpath(lock_dir / project.path))
    url = env.editables.get(project.name)
    recorded = env.record.packages.get(project.name) if env.record and not fresh else None
    if fresh or project.name not in env.distributions:
        why = "missing"
    elif url is None:
        why = "installed, but not editable"
    elif url != path.as_uri():
        why = f"installed editable from {url}"
    elif project.name in unfinished:
        why = UNFINISHED_REASON
    elif recorded != project_record(lock):
        why = "its requirements changed"
    else:
        return []
    return [InstallProject(why, project.name, path)]


def relocation(env: EnvState) -> list[Action]:
    """A `Relocate` when the record says the env was built at another path than it is now:
    the scripts whose header names the interpreter at the recorded path. Always from the
    recorded path to the current one, so that a second move is repaired like the first."""
    built, now = env.record.location if env.record else None, env.location
    if built is None or now is None or built.path == now.path:
        return []
    files = tuple(sorted(p for p, named in env.scripts.items() if names_env(named, built.path)))
    return [Relocate(str(built.change_to(now)), Path(built.path), Path(now.path), files)]


def _stale_record(env: EnvState) -> str:
    built = env.record.location if env.record else None
    changed = built.change_to(env.location) if built and env.location else None
    return changed or "state record out of date"


def refusals(env: EnvState, actions: list[Action]) -> list[Action]:
    """A `Refuse` for each unsafe thing in the env (`EnvState.unsafe`): a path leading outside
    always (sync works only on a sealed env), a distribution whose files cannot be listed when
    `actions` would remove or replace it."""
    doing: dict[str, str] = {}
    for action in actions:
        if isinstance(action, RemovePackages):
            doing.update((name, "remove it") for name in action.names)
        elif isinstance(action, InstallPackages):
            doing.update((c.name, "replace it") for c in action.changes if c.old is not None)
        elif isinstance(action, InstallProject) and action.name in env.distributions:
            doing[action.name] = "replace it"
    found: list[Action] = []
    for unsafe in env.unsafe:
        if unsafe.name is not None and unsafe.name in doing:
            what = doing[unsafe.name]
        elif unsafe.sealing:
            what = "sync while it is installed" if unsafe.name else "sync while it is there"
        else:
            continue
        found.append(Refuse(f"sync refuses to {what}", unsafe.describe(), what))
    return found


def _interpreter(
    layout: Layout, base: Interpreter, env: EnvState, fresh: bool, base_change: str | None
) -> list[Action]:
    exe = MISSING if fresh else env.entry(layout.exe)
    if exe.kind == "missing":
        reason = "missing"
    elif exe.kind != "file":
        reason = f"not a regular file ({exe.kind})"
    elif (exe.size, exe.mtime_ns) != (base.executable_size, base.executable_mtime_ns):
        reason = base_change or "differs from the base executable"
    else:
        return []
    return [InstallInterpreter(reason, Path(base.executable), layout.exe)]


def _mirror(
    name: str, source: Path, dest: Path, found: MirrorState, fresh: bool, base_change: str | None
) -> MirrorTree | None:
    if fresh:
        if not found.base_files:
            return None
        return MirrorTree("missing", name, source, dest, add=tuple(sorted(found.base_files)))
    add: list[str] = []
    replace: list[str] = []
    remove: list[str] = []
    for rel in sorted(found.base_files):
        have = found.env.get(rel)
        if have is None:
            add.append(rel)
        elif have.kind == "link":
            if have.target != str(source / rel):
                replace.append(rel)
        elif have.kind != "file":
            replace.append(rel)
        elif is_bytecode(rel):
            continue
        elif have.ino != found.base_inodes.get(rel) or (base_change and rel in found.copies):
            # In place: a hard link of the base file, or, while the base is the same, a copy
            # of it with its size and mtime (state.env._same_files).
            replace.append(rel)
    for rel, have in sorted(found.env.items()):
        if rel in found.base_files or rel in found.base_dirs:
            continue
        if have.kind == "file" and is_bytecode(rel):
            continue  # bytecode the env's interpreter wrote for itself
        if have.kind == "dir" and rel.rsplit("/", 1)[-1] == "__pycache__":
            continue
        if any(rel.startswith(f"{r}/") for r in remove):
            continue  # inside a stray directory already being removed
        remove.append(rel)
    if not (add or replace or remove):
        return None
    parts = []
    if add:
        parts.append(f"{len(add)} missing")
    if replace:
        parts.append(base_change or f"{len(replace)} stale")
    if remove:
        parts.append(f"{len(remove)} not in the base")
    return MirrorTree(
        "; ".join(parts), name, source, dest, tuple(add), tuple(replace), tuple(remove)
    )


def _links_dirs_files(layout: Layout, env: EnvState, fresh: bool) -> list[Action]:
    actions: list[Action] = []
    dirs = tuple(p for p in layout.site_dirs if fresh or env.entry(p).kind != "dir")
    if dirs:
        actions.append(MakeDirs("missing", dirs))
    links = tuple(
        (path, target)
        for path, target in layout.symlinks
        if fresh or env.entry(path) != Entry("link", target=target)
    )
    if links:
        actions.append(MakeLinks("missing or pointing elsewhere", links))
    files = tuple(
        (path, text)
        for path, text in _text_files(layout)
        if fresh or env.texts.get(path) != text or env.entry(path).kind == "link"
    )
    if files:
        actions.append(WriteFiles("missing or changed", files))
    return actions


def _text_files(layout: Layout) -> list[tuple[Path, str]]:
    return [(layout.pyvenv_cfg, PYVENV_CFG_TEXT), *activation_scripts(layout.env, layout.prompt)]


def text_file_paths(layout: Layout) -> tuple[Path, ...]:
    return tuple(path for path, _ in _text_files(layout))
