"""`poorenv deploy` and `poorenv rollback`: a served env changes by whole generations.

deploy: lock (as sync) -> build the next generation beside the current one (a hard-linked
clone of it, then planned and applied like any env, so only what changed is installed) ->
smoke test in it -> the server's user may read it -> flip the link -> reload -> prune.
Anything failing before the flip deletes the new generation and leaves the current one serving,
untouched. A reload failing after the flip flips back and reloads again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from poorenv.deploy.generations import Generation, Generations
from poorenv.errors import ConfigError, PoorenvError

if TYPE_CHECKING:
    from pathlib import Path

    from poorenv.config import DeployConfig
    from poorenv.lock.lockfile import Lock
    from poorenv.plan.actions import Action
    from poorenv.project import LockMode, Project
    from poorenv.report import Reporter


class DeployFailed(PoorenvError):
    """A deploy or rollback step failed; what serves is named in the message."""


@dataclass(frozen=True)
class Deployed:
    generation: Generation  # what serves now
    replaced: Generation | None  # what served before (None: nothing changed, or a first deploy)
    done: list[Action]
    old_lock: Lock | None
    lock: Lock
    pruned: list[Generation]
    switch_seconds: float  # from the flip to the end of the reload


def settings(project: Project) -> DeployConfig:
    deploy = project.config.deploy
    if deploy is None:
        raise ConfigError(
            f"{project.config.file}: no [deploy] table",
            hint="add [deploy] (keep, smoke, reload) to deploy the env in generations",
        )
    return deploy


def generations(project: Project) -> Generations:
    return Generations(project.config.served_path)


def deploy(
    project: Project,
    mode: LockMode,
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
    installer: str | None = None,
    reporter: Reporter | None = None,
) -> Deployed:
    """Build the lock's env as a new generation and make it serve (see the module)."""
    from poorenv.envlock import env_lock
    from poorenv.report import Reporter

    config = settings(project)
    reporter = reporter or Reporter()
    gens = generations(project)
    with env_lock(project.lock_key, reporter):
        old, lock, fresh = project.settle_lock(mode, upgrade, upgrade_packages, reporter)
        if gens.serves_a_directory():  # an env synced in place: its first generation
            gens.adopt_served(old.content_hash if old else "sha256:" + "0" * 64)
        current = gens.current()
        if current is not None and _in_sync(project.at(current.path), lock):
            return Deployed(current, None, [], old, lock, [], 0.0)
        path = gens.next_path(lock.content_hash)
        try:
            done = _build(project, gens, current, path, lock, installer, reporter, fresh)
            _smoke(project, config, path)
            check_readable(config, path, project.base.executable)
        except BaseException:
            _discard(gens, path)
            raise
        new = gens.get(int(path.name.split("-", 1)[0]))
        if new is None:  # pragma: no cover - just built
            raise DeployFailed(f"{path}: the new generation is incomplete")
        seconds = switch(project, gens, new, current, config)
        pruned = gens.prune(config.keep)
    return Deployed(new, current, done, old, lock, pruned, seconds)


def _discard(gens: Generations, path: Path) -> None:
    """Delete a generation that failed; a failure to do so is logged, not raised over the
    error that made the generation fail."""
    import logging

    try:
        gens.discard(path)
    except (PoorenvError, OSError) as exc:
        logging.getLogger(__name__).warning(
            "could not delete the failed generation %s: %s", path, exc
        )


def rollback(project: Project, reporter: Reporter | None = None) -> Deployed:
    """Point the env path back at the generation the current one replaced, and reload."""
    from poorenv.envlock import env_lock
    from poorenv.lock.lockfile import read_lock

    config = settings(project)
    gens = generations(project)
    with env_lock(project.lock_key, reporter):
        current = gens.current()
        if current is None:
            raise DeployFailed(
                f"{gens.link}: not a link to a generation", hint="run `poorenv deploy` first"
            )
        previous = gens.get(current.replaced)
        if previous is None:
            raise DeployFailed(
                f"{gens.link}: generation {current.number} replaced no generation that is"
                " still on disk: nothing to roll back to"
            )
        seconds = switch(project, gens, previous, current, config)
        lock = read_lock(project.lock_path)
    if lock is None:  # pragma: no cover - a deployed project has a lock
        raise DeployFailed(f"{project.lock_path}: missing")
    return Deployed(previous, current, [], lock, lock, [], seconds)


def _in_sync(current: Project, lock: Lock) -> bool:
    from poorenv.plan import planner

    state = current.read_state()
    plan = planner.plan(current.layout, current.base, state, lock, None, current.config.project_dir)
    return plan.is_empty()


def _build(
    project: Project,
    gens: Generations,
    current: Generation | None,
    path: Path,
    lock: Lock,
    installer: str | None,
    reporter: Reporter,
    fresh: bool,
) -> list[Action]:
    """The env of `lock` at `path`: a clone of the current generation brought up to date (its
    unchanged files hard links), or a first build."""
    from poorenv.apply.installers import make_installer
    from poorenv.envdir import EnvDir
    from poorenv.plan import planner

    built = project.at(path)
    chosen = make_installer(
        installer or project.config.installer,
        built.layout.exe,
        project.base,
        project.index_environ(),
    )
    if current is not None:
        with reporter.step(f"linking generation {current.number}'s files"):
            gens.clone(current.path, path, planner.marker_for(project.base))
    state = built.read_state()
    plan = planner.plan(built.layout, built.base, state, lock, None, built.config.project_dir)
    done = built.carry_out(plan, state, chosen, reporter, fresh)
    gens.note(EnvDir(path), current.number if current else None)
    return done


def _smoke(project: Project, config: DeployConfig, path: Path) -> None:
    """`[deploy] smoke`, run as `poorenv run` would in the new generation."""
    from poorenv._run import ToolError, run
    from poorenv.plan.activation import run_environ

    if not config.smoke:
        return
    environ = run_environ(path, project.config.env_prompt)
    try:
        run(config.smoke, what="smoke test", env=environ, cwd=project.config.project_dir)
    except ToolError as exc:
        raise DeployFailed(
            f"deploy: the smoke test failed in the new generation ({exc.message}); the current"
            " generation still serves, unchanged",
            details=exc.tail,
        ) from None


def check_readable(config: DeployConfig, path: Path, base_executable: str) -> None:
    """With `[deploy] user`: the server's user can enter and read the new generation (and
    every base file it links to), the app file and the base's libpython
    (`deploy/readable.py`); else `Unreadable`, exit 2, before the flip."""
    if config.user is None:
        return
    from poorenv.deploy.readable import check_server_user

    check_server_user(config.user, path, base_executable, config.app)


def switch(
    project: Project,
    gens: Generations,
    new: Generation,
    old: Generation | None,
    config: DeployConfig,
) -> float:
    """Flip the link to `new` and reload; a failed reload flips back to `old` and reloads
    again. Returns the seconds from the flip to the end of the reload."""
    from poorenv._run import ToolError

    started = time.monotonic()
    gens.flip(new)
    try:
        _reload(project, config)
    except ToolError as exc:
        if old is None:
            back = "there is no generation to switch back to"
        else:
            gens.flip(old)
            back = f"switched back to generation {old.number}"
            try:
                _reload(project, config)
            except ToolError as again:
                back += f", whose reload failed too ({again.message})"
        raise DeployFailed(
            f"reload failed after switching to generation {new.number} ({exc.message}); {back}",
            details=exc.tail,
        ) from None
    return time.monotonic() - started


def _reload(project: Project, config: DeployConfig) -> None:
    from poorenv._run import run

    if config.reload:
        run(config.reload, what="reload", cwd=project.config.project_dir)
