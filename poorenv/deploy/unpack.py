"""`poorenv unpack FILE`: an archive `pack` wrote, installed on this host without resolving or
downloading anything.

Before anything is written: the manifest and the project files are read and checked; the
archive's poorenv.toml selects the base here, whose fingerprint (implementation, X.Y.Z, ABI,
platform) and install scheme must be the packed base's; the lock is read by its grammar and
must be the one packed; poorenv.toml, the lock and the requirements files already here must
be the archive's (absent ones are written).

Then, under the env's lock: the env's files are extracted, member by member through a new
env's `EnvDir` (every member checked by `archive.Checker`, each path again by the `EnvDir`),
into a directory beside the env path, with a state record saying where the env was built.
That directory becomes the next generation (`Generations.install`) with `[deploy]`, else the
env path (which must not exist). The planner and the applier then do what a sync does for a
moved env: the layout from this host's base (interpreter, stdlib mirror, links, activation),
the scripts' headers and their RECORD lines rewritten (`Relocate`); a plan that would install,
remove or rebuild anything is refused, and the installer given refuses to run. The result must
be in sync with the lock (`check`) and every installed file must match its RECORD hash
(`check --verify`) before it serves: with `[deploy]` the smoke test and the server user's
check run, then the link flips and the server reloads as `deploy` does; old generations are
pruned to `keep`. Any failure deletes what was made and the project files written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv.deploy.archive import ArchiveError, Limits, Manifest, os_name
from poorenv.errors import ApplyError

if TYPE_CHECKING:
    from types import ModuleType

    from poorenv.deploy.generations import Generation, Generations
    from poorenv.lock.lockfile import Lock
    from poorenv.project import Project
    from poorenv.report import Reporter
    from poorenv.state.verify import Verification


@dataclass(frozen=True)
class Unpacked:
    env: Path  # the env path as configured (the link, with [deploy])
    path: Path  # where the env's files are: the new generation, or the env path
    generation: Generation | None
    replaced: Generation | None
    written: tuple[str, ...]  # project files written (relative)
    members: int
    relocated: int  # scripts whose header was rewritten
    verified: Verification
    pruned: tuple[Generation, ...] = ()
    switch_seconds: float = 0.0


@dataclass(frozen=True)
class NoInstaller:
    """The installer `unpack` gives the applier: it installs nothing (the archive holds the
    packages), so a plan that needed one fails here rather than reaching for an index."""

    name: str = field(default="none")

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        raise ApplyError("unpack installs nothing: the archive's env lacks a locked package")

    def uninstall(self, names: Sequence[str]) -> None:
        raise ApplyError("unpack removes no package")

    def install_editable(self, path: Path) -> None:
        raise ApplyError("unpack installs no editable project")


def unpack(
    archive: Path, project_dir: Path, reporter: Reporter | None = None, limits: Limits | None = None
) -> Unpacked:
    """Install the archive's env in the project at `project_dir` (see the module)."""
    from poorenv.deploy.archive import read_head
    from poorenv.deploy.projectfiles import compare_files, only_inputs, write_project_file
    from poorenv.envlock import env_lock
    from poorenv.report import Reporter

    reporter = reporter or Reporter()
    manifest, files = read_head(archive, limits)
    project, lock = _project(archive, project_dir, manifest, files)
    only_inputs(archive, project, files)
    to_write = compare_files(project_dir, files)
    written: list[Path] = []
    with env_lock(project.lock_key, reporter):
        try:
            for name in to_write:
                written += write_project_file(project_dir, name, files[name])
            return _install(archive, manifest, project, lock, reporter, limits, to_write)
        except BaseException:
            for path in reversed(written):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
            raise


def _project(
    archive: Path, project_dir: Path, manifest: Manifest, files: Mapping[str, bytes]
) -> tuple[Project, Lock]:
    """The project the archive's poorenv.toml describes here, and its lock; refused when the
    base here is not the packed one."""
    from poorenv.config import parse_config
    from poorenv.deploy.projectfiles import text as archived
    from poorenv.lock.lockfile import lock_path, parse_lock
    from poorenv.paths import loads_toml
    from poorenv.project import Project

    config_file = project_dir / "poorenv.toml"
    text = archived(archive, files, "poorenv.toml")
    try:
        config = parse_config(loads_toml(text), config_file)
    except ValueError as exc:
        raise ArchiveError(f"{archive}: its poorenv.toml: invalid TOML: {exc}") from None
    if not os.path.lexists(config_file):
        from poorenv.deploy.projectfiles import trust_archived_config

        trust_archived_config(archive, config)
    project = Project.load(config)
    mismatch = manifest.base_mismatch(project.base)
    if mismatch:
        raise ArchiveError(
            f"{archive}: {mismatch}",
            hint="unpack on a host whose base is the packed one, or `poorenv sync` there",
        )
    env = os.path.realpath(project.env)
    here = tuple(os.path.relpath(d, env).replace(os.sep, "/") for d in project.layout.site_dirs)
    if here != manifest.site_dirs:
        raise ArchiveError(
            f"{archive}: base scheme differs: packed site dirs {', '.join(manifest.site_dirs)},"
            f" here {', '.join(here)}"
        )
    path = lock_path(config)
    name = os.path.relpath(path, project_dir).replace(os.sep, "/")
    try:
        lock = parse_lock(loads_toml(archived(archive, files, name)), path)
    except ValueError as exc:
        raise ArchiveError(f"{archive}: its {name}: invalid TOML: {exc}") from None
    if lock.content_hash != manifest.lock:
        raise ArchiveError(f"{archive}: its {name} is not the lock the env was packed with")
    chosen = lock.select(project.base)  # a lock for several Pythons: the base's resolution
    if chosen is None:
        raise ArchiveError(f"{archive}: its {name}: {lock.interpreter.mismatch(project.base)}")
    return project, chosen


def _install(
    archive: Path,
    manifest: Manifest,
    project: Project,
    lock: Lock,
    reporter: Reporter,
    limits: Limits | None,
    written: list[str],
) -> Unpacked:
    from poorenv.deploy.generations import Generations
    from poorenv.envdir import EnvDir
    from poorenv.errors import EnvError

    config = project.config
    link = config.served_path
    gens = Generations(link) if config.deploy is not None else None
    if gens is None and os.path.lexists(link):
        raise EnvError(
            f"{link}: the env path exists; refusing to unpack over it",
            hint="`poorenv remove` it first, or unpack in another project directory",
        )
    if gens is not None and gens.serves_a_directory():  # an env synced in place: generation 1
        gens.adopt_served(lock.content_hash)
    staging = link.with_name(f".{link.name}.unpack-{os.getpid()}")
    if os.path.lexists(staging):  # left by a killed unpack of the same pid: poorenv's only
        EnvDir(staging).remove_env()
    with reporter.step(f"unpacking {archive.name}"):
        count = _extract(archive, manifest, project, lock, staging, limits)
    current = gens.current() if gens is not None else None
    try:
        if gens is None:
            os.rename(staging, link)
            path, generation = link, None
        else:
            replaced = current.number if current else None
            generation = gens.install(staging, lock.content_hash, replaced)
            path = generation.path
    except BaseException:
        EnvDir(staging).remove_env()
        raise
    try:
        relocated, verified = _repair(archive, project.at(path), lock, reporter)
        if gens is None or generation is None:
            return Unpacked(link, path, None, None, tuple(written), count, relocated, verified)
        return _switch(project, gens, generation, current, written, count, relocated, verified)
    except BaseException:
        if gens is None:
            EnvDir(path).remove_env()
        else:
            from poorenv.deploy.deployer import _discard

            _discard(gens, path)
            gens.remove_if_empty()
        raise


def _extract(
    archive: Path,
    manifest: Manifest,
    project: Project,
    lock: Lock,
    dest: Path,
    limits: Limits | None,
) -> int:
    """The archive's env members written into a new env at `dest` through its `EnvDir`, and a
    state record naming where the env was built; returns the number of members."""
    from poorenv.deploy.archive import env_members, member_mode, open_archive
    from poorenv.envdir import EnvDir
    from poorenv.paths import STATE
    from poorenv.plan import planner
    from poorenv.state.record import Location

    layout = project.at(dest).layout
    env = EnvDir(dest)
    env.create(planner.marker_for(project.base))
    count = size = 0
    from poorenv.deploy.archive import links_stay_inside, room_for

    room_for(archive, manifest, dest)
    try:
        refused = _layout_names(project.at(dest))
        with open_archive(archive) as tar:
            for relative, member in env_members(tar, archive, str(dest), limits):
                if any(relative == n or relative.startswith(n + "/") for n in refused):
                    raise ArchiveError(
                        f"{archive}: member {'env/' + relative!r}: the env's layout, not its own"
                        " files (made from the base here); refusing to unpack"
                    )
                path = dest / os_name(relative)
                size += member.size
                if count >= manifest.members or size > manifest.size:
                    raise ArchiveError(
                        f"{archive}: member {member.name!r}: more than its manifest's"
                        f" {manifest.members} members or {manifest.size} bytes;"
                        " refusing to unpack"
                    )
                if member.isdir():
                    env.make_dir(path)
                elif member.issym():
                    env.symlink(member.linkname, path)
                else:
                    handle = tar.extractfile(member)
                    if handle is None:  # pragma: no cover - a regular file
                        raise ArchiveError(f"{archive}: {member.name}: no data")
                    env.write_from(path, handle, member_mode(member.mode))
                count += 1
        links_stay_inside(archive, dest)
        record = planner.desired_record(project.base, layout, lock)
        built = Location(manifest.env, 0, 0)  # where the packed env was: the repair's start
        env.write_json(env.state_dir / STATE, record.at(built).to_json())
    except BaseException:
        env.remove_env()
        raise
    return count


def _layout_names(built: Project) -> set[str]:
    """What of the env is its layout (relative names): the interpreter, its links, the
    mirrors (but the site dirs inside them), pyvenv.cfg, the activation scripts, `.poorenv`."""
    from poorenv.paths import STATE_DIR
    from poorenv.plan import planner

    layout, env = built.layout, built.layout.env
    paths = [layout.exe, *(p for p, _ in layout.symlinks), layout.pyvenv_cfg]
    paths += planner.text_file_paths(layout)
    names = {os.path.relpath(p, env).replace(os.sep, "/") for p in paths}
    sites = {os.path.relpath(d, env).replace(os.sep, "/") for d in layout.site_dirs}
    for mirror in layout.mirrors:
        top = os.path.relpath(mirror.dest, env).replace(os.sep, "/")
        if not any(s.startswith(top + "/") for s in sites):
            names.add(top)  # include/python3.12: all of it is the base's
    names.add(STATE_DIR)
    return names


def _repair(
    archive: Path, built: Project, lock: Lock, reporter: Reporter
) -> tuple[int, Verification]:
    """The moved-env repair as `sync` does it, with an installer that installs nothing; then
    `check` (in sync) and `check --verify` (every file its RECORD's hash)."""
    from poorenv.lock.inputs import stale_reason
    from poorenv.plan import actions as kinds
    from poorenv.plan import planner
    from poorenv.state.site import SitePackages
    from poorenv.state.verify import verify

    state = built.read_state()
    plan = planner.plan(built.layout, built.base, state, lock, None, built.config.project_dir)
    for action in plan.actions:
        if not isinstance(action, _allowed(kinds)):
            raise ArchiveError(
                f"{archive}: the unpacked env would need `{action.summary()}` ({action.reason}):"
                " unpack installs and removes nothing; refusing it",
                hint="pack the env again from an env that `poorenv check --verify` passes",
            )
    fresh = stale_reason(lock, built.config, built.base) is None
    built.carry_out(plan, state, NoInstaller(), reporter, fresh)
    relocated = sum(len(a.files) for a in plan.actions if isinstance(a, kinds.Relocate))
    after = built.plan()
    if not after.is_empty():
        raise ArchiveError(f"{archive}: the unpacked env is not in sync: {after.reasons[0]}")
    verified = verify(SitePackages.read(built.layout.site_dirs), built.layout.scheme)
    if not verified.ok:
        raise ArchiveError(
            f"{archive}: the unpacked env: {verified.mismatches[0].describe()}",
            hint="the archive was changed since it was packed, or packed from a changed env",
        )
    return relocated, verified


def _switch(
    project: Project,
    gens: Generations,
    new: Generation,
    current: Generation | None,
    written: list[str],
    count: int,
    relocated: int,
    verified: Verification,
) -> Unpacked:
    """As `deploy` does after building: smoke, the server user's check, flip, reload, prune."""
    from poorenv.deploy import deployer

    config = deployer.settings(project)
    deployer._smoke(project, config, new.path)
    deployer.check_readable(config, new.path, project.base.executable)
    seconds = deployer.switch(project, gens, new, current, config)  # back on a failed reload
    return Unpacked(
        project.config.served_path, new.path, new, current, tuple(written), count, relocated,
        verified, _prune(gens, config.keep), seconds,
    )  # fmt: skip


def _prune(gens: Generations, keep: int) -> tuple[Generation, ...]:
    """`prune` after the switch: the new generation serves, so a failure to delete an old
    one is logged, not raised (nothing the unpack made is taken back for it)."""
    import logging

    from poorenv.errors import PoorenvError

    try:
        return tuple(gens.prune(keep))
    except (PoorenvError, OSError) as exc:
        logging.getLogger(__name__).warning("could not prune old generations: %s", exc)
        return ()


def _allowed(kinds: ModuleType) -> tuple[type, ...]:
    """What a plan for an unpacked env may hold: the layout and the repair, no packages."""
    return (
        kinds.InstallInterpreter, kinds.MirrorTree, kinds.MakeDirs, kinds.MakeLinks,
        kinds.WriteFiles, kinds.Relocate, kinds.WriteState,
    )  # fmt: skip
