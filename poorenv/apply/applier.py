"""The applier: carries out a plan, action by action, through the env's `EnvDir`.

Every write and delete goes through the `EnvDir` (which refuses any path outside the env);
packages are installed and removed by an `Installer`, whose RECORD rewrites the applier writes.
Each action is idempotent: a plan that was interrupted is completed by the next one.

Package changes are bracketed by `PackageChanges` (apply/unfinished.py): a note names them
before the installer runs and goes after the new state record is written, so a sync that fails
or dies in between is reported by `check` and completed by the next sync.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from poorenv.apply.installers import INSTALLING, INSTALLING_PROJECT, REMOVING, InstallerError
from poorenv.apply.unfinished import PackageChanges
from poorenv.envtree import may_share
from poorenv.errors import ApplyError, EnvError, PoorenvError, os_hint
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
    Plan,
    Refuse,
    Relocate,
    RemoveBroken,
    RemovePackages,
    WriteFiles,
    WriteState,
)
from poorenv.plan.layout import STATE
from poorenv.state.record import EnvRecord, Location
from poorenv.state.scheme import Scheme
from poorenv.state.site import UNSAFE_HINT, SitePackages, UnsafeDistribution

if TYPE_CHECKING:
    from poorenv.apply.installers import Installer
    from poorenv.envdir import EnvDir
    from poorenv.report import Reporter

log = logging.getLogger(__name__)


class Applier:
    """Carries out a plan inside one env directory.

    `scheme` says where the installer writes (site dirs, scripts, headers): what a failed
    install added there is removed again. Before the installer removes or replaces a
    distribution, and again on what it installed, every file the distribution lists is
    checked to lie inside the env (`Distribution.files`); the installer is never started while
    an install directory leads outside the env. `stamp` measures the fast path's stamp, after
    every other write.
    """

    def __init__(
        self,
        env: EnvDir,
        installer: Installer,
        reporter: Reporter,
        stamp: Callable[[], dict[str, Any]] | None = None,
        scheme: Scheme | None = None,
    ) -> None:
        self.env = env
        self.installer = installer
        self.reporter = reporter
        self.stamp = stamp
        self.scheme = scheme or Scheme(env.path)
        self._changes = PackageChanges(env, self.scheme.targets, ())
        self._handlers: dict[type[Action], Callable[[Any], None]] = {
            CreateEnv: self._create_env,
            ClearEnv: self._clear_env,
            InstallInterpreter: self._install_interpreter,
            MirrorTree: self._mirror,
            MakeDirs: self._make_dirs,
            MakeLinks: self._make_links,
            WriteFiles: self._write_files,
            Relocate: self._relocate,
            RemoveBroken: self._remove_broken,
            InstallPackages: self._install_packages,
            RemovePackages: self._remove_packages,
            InstallProject: self._install_project,
            Refuse: self._refuse,
            WriteState: self._write_state,
        }

    def apply(self, plan: Plan) -> list[Action]:
        """Carry out `plan`; returns the actions done. A new env that fails half-way is
        undone (absent again, or the empty directory it was)."""
        done: list[Action] = []
        self._changes = PackageChanges(self.env, self.scheme.targets, _package_names(plan))
        try:
            for action in plan.actions:
                self.reporter.action(action)
                try:
                    with self.reporter.step(_step_text(action, self.installer.name)):
                        self._handlers[type(action)](action)
                except OSError as exc:
                    raise ApplyError(
                        f"{action.summary()}: {exc.strerror or exc}"
                        + (f": {exc.filename}" if exc.filename else ""),
                        hint=os_hint(exc),
                    ) from exc
                done.append(action)
        except PoorenvError:
            try:
                self.env.undo_create()
            except (OSError, PoorenvError):
                log.warning("could not remove the half-built env %s", self.env.path)
            raise
        return done

    def refresh_stamp(self, state: EnvRecord) -> None:
        """Record a new stamp in an env the full planner found in sync."""
        if self.stamp is not None and self.env.state_dir.is_dir():
            try:
                self._write_state(WriteState("stamp out of date", state))
            except OSError as exc:  # in sync all the same (another user's or a read-only env)
                log.warning("cannot record the no-op stamp in %s: %s", self.env.path, exc.strerror)

    # --- actions --------------------------------------------------------------------------------

    def _create_env(self, action: CreateEnv) -> None:
        if os.path.lexists(self.env.path):
            self.env.adopt(action.marker)
        else:
            self.env.create(action.marker)

    def _clear_env(self, action: ClearEnv) -> None:
        self.env.clear(action.marker)

    def _install_interpreter(self, action: InstallInterpreter) -> None:
        source = str(action.source)  # as root, a copy: never the base's own file (may_share)
        self.env.link_or_copy(source, action.dest, link=may_share(os.stat(source)))

    def _mirror(self, action: MirrorTree) -> None:
        """Hard links of the base's files, made through directory descriptors: a link costs
        no inode (a symlink costs one, and a data block when its target is long: 10 to 80
        times as much here). Neither lets Python write into the base: it writes bytecode by
        rename, into the env's own `__pycache__`. A link in the base (Debian's
        sitecustomize.py), and a file that cannot be hard-linked (another filesystem,
        protected_hardlinks), gets a symlink."""
        env = self.env
        # Plain strings: Path arithmetic costs as much as the syscalls for ~3,500 entries.
        source, root = str(action.source), str(action.dest)
        for rel in action.remove:
            env.remove(os.path.join(root, rel))
        for rel in action.replace:
            self._mirror_one(os.path.join(source, rel), os.path.join(root, rel))
        with env.tree(root) as tree:  # the new entries
            for rel in action.add:
                target = os.path.join(source, rel)
                info = os.lstat(target)  # a link: os.link would link the link, not its file
                if stat.S_ISLNK(info.st_mode) or not may_share(info):
                    made = tree.symlink(target, rel)
                else:
                    try:
                        made = tree.hard_link(target, rel)
                    except OSError:  # this file only: it may lie on another filesystem
                        made = tree.symlink(target, rel)
                if not made:  # something stands there
                    self._mirror_one(target, os.path.join(root, rel))

    def _mirror_one(self, target: str, link: str) -> None:
        """One mirror entry in place of whatever stands there (checked, replaced)."""
        self.env.make_dir(os.path.dirname(link))
        info = os.lstat(target)
        if not stat.S_ISLNK(info.st_mode) and may_share(info):
            try:
                self.env.hard_link(target, link)
                return
            except OSError:
                pass
        self.env.symlink(target, link)

    def _make_dirs(self, action: MakeDirs) -> None:
        for path in action.paths:
            self.env.make_dir(path)

    def _make_links(self, action: MakeLinks) -> None:
        for path, target in action.links:
            self.env.symlink(target, path)

    def _write_files(self, action: WriteFiles) -> None:
        for path, text in action.files:
            self.env.write_text(path, text)

    def _relocate(self, action: Relocate) -> None:
        """Rewrite each script's header for the env's new path and its RECORD lines: the
        RECORDs first, so that an interrupted repair is found (the scripts still name the old
        path) and done again by the next sync."""
        from poorenv.plan.relocate import moved, rewrite_record

        new: dict[str, bytes] = {}
        for path in action.files:
            data = relocated = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    data = handle.read()
                relocated = moved(data, str(action.old), str(action.new))
            if relocated is not None:
                new[os.path.normpath(path)] = relocated
        for dist in SitePackages.read(self.scheme.site_dirs if new else ()):
            try:
                text = dist.record.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # an egg-info, or no RECORD to keep true
                continue
            rewritten = rewrite_record(text, str(dist.site), new)
            if rewritten is not None:
                self.env.write_text(dist.record, rewritten)
        for path_text, data in new.items():
            mode = os.lstat(path_text).st_mode & 0o7777
            self.env.write_text(path_text, data, mode)

    def _remove_broken(self, action: RemoveBroken) -> None:
        for path in action.paths:
            self.env.remove(path)

    def _refuse(self, action: Refuse) -> None:
        raise EnvError(f"{action.message}: refusing to {action.doing}", hint=UNSAFE_HINT)

    def _install_packages(self, action: InstallPackages) -> None:
        self._guard([c.name for c in action.changes if c.old is not None], "replace it")
        scheme = self.scheme
        for link, real in scheme.bounds().links_out(scheme.guarded):
            raise EnvError(
                f"{link} is a link that leads outside the env (to {real}): refusing to install"
                " through it",
                hint=f"delete the link (rm {link}), or {UNSAFE_HINT}",
            )
        changes = self._changes
        before = changes.snapshot()
        tops = set(os.listdir(self.env.path))
        self._begin(INSTALLING)
        try:
            rest = self._seed(action)
            records = self.installer.install(rest, action.reinstall) if rest else {}
            self._guard([c.name for c in action.changes], "keep it installed")
        except (InstallerError, UnsafeDistribution) as exc:
            # pip rolls back what it uninstalled; what the installer had begun to add goes here
            # (a distribution that leads outside, finished or not, goes whole).
            unsafe = exc if isinstance(exc, UnsafeDistribution) else None
            changes.install_failed(before, keep_finished=unsafe is None)
            if unsafe is not None:  # also when the bytecode step found it
                raise UnsafeDistribution(unsafe.unsafe, "keep it installed") from None
            raise
        finally:  # what it added at the env's top is poorenv's to undo after a failed first build
            self.env.claim(self.env.path / name for name in set(os.listdir(self.env.path)) - tops)
        for record, text in records.items():
            self.env.write_text(record, text)

    def _install_project(self, action: InstallProject) -> None:
        """The project editable, in its own `--no-deps` step: its files stay in its
        directory; the env gets its metadata, a .pth file and its scripts."""
        self._guard([action.name], "replace it")
        self.env.refuse_links_out(self.scheme.targets)
        before = self._changes.snapshot()
        self._begin(INSTALLING_PROJECT)
        try:
            self.installer.install_editable(action.path)
            self._guard([action.name], "keep it installed")
        except (InstallerError, UnsafeDistribution) as exc:
            unsafe = exc if isinstance(exc, UnsafeDistribution) else None
            self._changes.install_failed(before, keep_finished=unsafe is None)
            if unsafe is not None:
                raise UnsafeDistribution(unsafe.unsafe, "keep it installed") from None
            raise

    def _seed(self, action: InstallPackages) -> list[str]:
        """Place the seed tools the pip installer would install from scratch from their cached
        images (apply/seed.py); the requirement lines left for the installer."""
        from poorenv.apply.installers import PipInstaller, requirement_name

        installer, scheme = self.installer, self.scheme
        if not isinstance(installer, PipInstaller) or action.reinstall or not scheme.scripts:
            return list(action.requirements)
        from poorenv.apply import seed

        fresh = {c.name for c in action.changes if c.old is None}
        site, bin_dir = scheme.site_dirs[0], scheme.scripts[0]
        rest: list[str] = []
        for line in action.requirements:
            image = None
            if requirement_name(line) in fresh and seed.seedable(line):
                image = seed.image_for(installer.base, installer.python, line, installer.index_env)
            if image is None or any(os.path.lexists(site / top) for top in image.tops):
                rest.append(line)
                continue
            try:
                seed.place(self.env, image, site, bin_dir, installer.python, installer.base.xy)
            except OSError as exc:
                raise InstallerError(
                    f"{INSTALLING}: {image.name} from its seed image: {exc.strerror or exc}",
                    hint=os_hint(exc),
                ) from exc
        return rest

    def _remove_packages(self, action: RemovePackages) -> None:
        self.env.ensure_ours()
        self._guard(action.names, "remove it")
        self._begin(REMOVING)
        self.installer.uninstall(action.names)

    def _guard(self, names: Sequence[str], doing: str) -> None:
        """Refuse unless the install directories and every file the installed distributions
        `names` list really lie inside the env (read now, not from the plan)."""
        scheme = self.scheme
        self.env.refuse_links_out(scheme.targets)
        bounds = scheme.bounds()
        for dist in SitePackages.read(scheme.site_dirs).select(names):
            problems = dist.problems(scheme, bounds)
            if problems:
                raise UnsafeDistribution(problems[0], doing)

    def _begin(self, what: str) -> None:
        """Note the package changes; a note that cannot be written stops the step, as the
        installer would have stopped (nothing has changed yet)."""
        try:
            self._changes.begin()
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise ApplyError(f"{what}: {exc.strerror or exc}{where}", hint=os_hint(exc)) from exc

    def _write_state(self, action: WriteState) -> None:
        self._changes.sweep()
        state = action.state.at(Location.of(self.env.path)).to_json()  # where it is now
        if self.stamp is not None:
            state["stamp"] = self.stamp()
        self.env.write_json(self.env.state_dir / STATE, state)
        self._changes.end()  # last: what the note named is now recorded


def _package_names(plan: Plan) -> list[str]:
    """The packages the plan's package actions install, reinstall or remove."""
    names: list[str] = []
    for action in plan.actions:
        if isinstance(action, InstallPackages):
            names += [change.name for change in action.changes]
        elif isinstance(action, RemovePackages):
            names += action.names
        elif isinstance(action, InstallProject):
            names.append(action.name)
    return names


def _step_text(action: Action, installer: str) -> str:
    if isinstance(action, InstallPackages):
        return f"installing {len(action.changes)} package(s) with {installer}"
    if isinstance(action, RemovePackages):
        return f"removing {len(action.names)} package(s)"
    if isinstance(action, InstallProject):
        return f"installing {action.name} editable with {installer}"
    return action.summary()
