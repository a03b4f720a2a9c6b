"""One function per command: load what it needs, call the library, print the answer.

Exit codes: 0 success (and `check`: in sync), 1 `check`/`doctor` found drift, 2 error or refusal.
Nothing here decides anything about an env; that is the library's job.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv.cli.output import CliReporter, print_json, report_lock, say, warn
from poorenv.errors import EXIT_DRIFT, EXIT_OK, ConfigError, EnvError, LockError
from poorenv.state.fastpath import ANSWERS

if TYPE_CHECKING:
    from poorenv.config import Config
    from poorenv.project import Project
    from poorenv.state.verify import Verification


def _config() -> Config:
    from poorenv.config import load_project_config

    return load_project_config(Path.cwd())


def _project(args: argparse.Namespace | None = None) -> Project:
    """The project here; `--resolver` and `sync --python` (in `args`) replace poorenv.toml's."""
    import dataclasses

    from poorenv.project import Project

    config = _config()
    resolver = getattr(args, "resolver", None)
    if resolver is not None:
        config = dataclasses.replace(config, resolver=resolver)
    return Project.load(config, getattr(args, "python", None))


def cmd_init(args: argparse.Namespace) -> int:
    from poorenv.config import init_config

    target = init_config(Path.cwd(), args.python, tuple(args.requirements))
    say(args, f"wrote {target}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    return _preview(args, "plan")


def _preview(args: argparse.Namespace, command: str) -> int:
    """`plan` and `sync --dry-run`: what a sync would do, resolving in memory if it would."""
    from poorenv.plan.saved import preview_json, render_preview
    from poorenv.project import LockMode

    project = _project(args)
    if command == "sync":
        say(args, f"base: {project.base.describe()}")
    locked, frozen = getattr(args, "locked", False), getattr(args, "frozen", False)
    mode = LockMode.LOCKED if locked else LockMode.FROZEN if frozen else LockMode.AUTO
    preview = project.preview(
        mode,
        getattr(args, "upgrade", False),
        tuple(getattr(args, "upgrade_package", ())),
        reporter=CliReporter(args),
    )
    output = getattr(args, "output", None)
    if output is not None:
        import json

        from poorenv._fs import atomic_write
        from poorenv.plan.saved import saved_plan

        try:
            atomic_write(output, json.dumps(saved_plan(project, preview), indent=2) + "\n")
        except OSError as exc:
            raise ConfigError(f"-o {output}: {exc.strerror}") from None
        say(args, f"wrote {output}")
    if args.json:
        extra = {"dry_run": True} if command == "sync" else {}
        print_json(command, {**preview_json(preview), **extra})
    elif output is None or not args.quiet:
        print(render_preview(preview))
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from poorenv.apply.installers import make_installer
    from poorenv.plan.saved import apply_plan_file

    project = _project()
    chosen = make_installer(
        args.installer or project.config.installer,
        project.layout.exe,
        project.base,
        project.index_environ(),
    )
    done = apply_plan_file(project, args.file, chosen, CliReporter(args, project.lock_path))
    if args.json:
        print_json(
            "sync",
            {"env": str(project.env), "in_sync": True, "fast_path": False, "changed": bool(done),
             "actions": [a.to_json() for a in done], "lock_changes": []},
        )  # fmt: skip
    else:
        say(args, f"{project.env}: applied {args.file} ({len(done)} action(s))")
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    project = _project(args)
    say(args, f"base: {project.base.describe()}")
    with CliReporter(args).step(project.resolving):
        old, new = project.lock(args.upgrade, tuple(args.upgrade_package))
    report_lock(args, project.lock_path, old, new)
    return EXIT_OK


def fast_answer(args: argparse.Namespace) -> bool:
    """For `sync` and `check`: answer when the stat-based stamp proves that nothing changed
    since the last sync (before logging is even set up: the no-op path must stay cheap)."""
    from poorenv.paths import lock_timeout
    from poorenv.state.fastpath import quick_check

    lock_timeout()  # a bad POORENV_LOCK_TIMEOUT is an error even when there is nothing to do
    if args.command == "check":
        allowed = not args.verify  # the stamp says nothing of the files' bytes
    else:
        allowed = not (args.dry_run or args.upgrade or args.upgrade_package)
    allowed = allowed and not args.python  # the stamp is of [env] python's env
    plain_sync = args.command == "sync" and not args.in_place
    env = (
        quick_check(os.getcwd(), for_sync=plain_sync)
        if allowed and not args.stamp_checked
        else None
    )
    if env is None:
        return False
    if getattr(args, "json", False):
        payload = {"env": str(env), "in_sync": True, "fast_path": True}
        if args.command == "sync":
            payload.update(changed=False, actions=[], lock_changes=[])
        else:
            payload.update(lock_problem=None, reasons=[], actions=[])
        print_json(args.command, payload)
    else:
        say(args, f"{env}: {ANSWERS[args.command]}")
    return True


def cmd_sync(args: argparse.Namespace) -> int:
    from poorenv.lock.lockfile import lock_changes
    from poorenv.project import LockMode

    if args.dry_run:
        return _preview(args, "sync")
    project = _project(args)
    if project.config.deploy is not None and not args.in_place:
        raise EnvError(
            f"{project.config.served_path}: refusing to sync an env deployed in generations"
            " (poorenv.toml has a [deploy] table)",
            hint="run `poorenv deploy` (or `poorenv sync --in-place` to change the serving"
            " generation in place)",
        )
    say(args, f"base: {project.base.describe()}")
    mode = LockMode.LOCKED if args.locked else LockMode.FROZEN if args.frozen else LockMode.AUTO
    result = project.sync(
        mode,
        args.upgrade,
        tuple(args.upgrade_package),
        installer=args.installer,
        reporter=CliReporter(args, project.lock_path),
    )
    if args.json:
        print_json(
            "sync",
            {
                "env": str(project.env),
                "in_sync": True,
                "fast_path": False,
                "changed": bool(result.done),
                "actions": [a.to_json() for a in result.done],
                "lock_changes": lock_changes(result.old_lock, result.lock),
            },
        )
    elif result.plan.is_empty():
        say(args, f"{project.env}: {ANSWERS['sync']}")
    else:
        say(args, f"{project.env}: synced ({len(result.done)} action(s))")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    project = _project(args)
    plan = project.plan()
    verified = _verify(project) if args.verify else None
    if args.json:
        reasons = [] if plan.in_sync else plan.reasons
        payload = {**plan.to_json(), "fast_path": False, "reasons": reasons}
        if verified is not None:
            payload["verify"] = verified.to_json()
        print_json("check", payload)
    else:
        if plan.in_sync:
            say(args, f"{plan.env}: {ANSWERS['check']}")
        else:
            print(f"{plan.env}: not in sync", file=sys.stderr)
            for reason in plan.reasons:
                print(f"  {reason}", file=sys.stderr)
        if verified is not None:
            _say_verified(args, plan.env, verified)
    good = plan.in_sync and (verified is None or verified.ok)
    return EXIT_OK if good else EXIT_DRIFT


def _verify(project: Project) -> Verification:
    from poorenv.state.site import SitePackages
    from poorenv.state.verify import verify

    return verify(SitePackages.read(project.layout.site_dirs), project.layout.scheme)


def _say_verified(args: argparse.Namespace, env: Path, verified: Verification) -> None:
    if verified.ok:
        say(args, f"{env}: {verified.render()}")
    else:
        print(f"{env}: {verified.render()}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    if args.format in ("mod_wsgi", "uwsgi"):
        from poorenv.deploy.servers import server_config

        project = _project()
        text, warnings = server_config(
            args.format,
            project.config.served_path,
            project.base,
            project.config.project_dir,
            args.module,
            args.process_group,
            args.user,
            args.app,
        )
        for line in warnings:
            warn(line)
    elif args.format == "pylock":
        text = _project().pylock(CliReporter(args))
    else:
        from poorenv.lock.pythons import export_requirements

        config = _config()
        _inputs_read(config)
        text = export_requirements(config)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {args.output}: {exc.strerror}") from None
    say(args, f"wrote {args.output}")
    return EXIT_OK


def _inputs_read(config: Config) -> None:
    """A ConfigError when a requirements or constraints file poorenv.toml names cannot be read
    (for the commands that otherwise read only the lock)."""
    from poorenv.lock.reqfile import read_inputs

    read_inputs(config.file, config.requirement_files, config.constraint_files)


def _built(env: Path) -> None:
    """An EnvError when nothing stands at `env` yet: the env is not built."""
    from poorenv.ownership import env_exists

    if not env_exists(env):
        raise EnvError(f"{env}: no env here yet", hint="run `poorenv sync` to build it")


def _in_place(env: Path) -> None:
    """An EnvError when the env was copied here from an env that is still there, and not yet
    repaired: its scripts would run (and install into) the other env. (A moved env's scripts
    find no interpreter: `run` says so.)"""
    from poorenv.state.record import built_elsewhere

    built = built_elsewhere(env)
    if built is not None and os.path.isdir(built.path):
        raise EnvError(
            f"{env}: env built at {built.path}, now at {os.path.realpath(env)}: its scripts"
            f" still run the env at {built.path}",
            hint="run `poorenv sync`: it rewrites them for this place",
        )


def cmd_doctor(args: argparse.Namespace) -> int:
    from poorenv.doctor import examine
    from poorenv.lock.lockfile import read_lock

    project = _project()
    _inputs_read(project.config)
    _built(project.env)
    try:
        lock = read_lock(project.lock_path)
    except LockError:
        lock = None
    report = examine(project.layout, project.base, lock)
    if args.json:
        print_json("doctor", report.to_json())
    elif report.healthy:
        say(args, report.render())
    else:
        print(report.render())
    return EXIT_OK if report.healthy else EXIT_DRIFT


def cmd_remove(args: argparse.Namespace) -> int:
    from poorenv.envdir import EnvDir
    from poorenv.envlock import env_lock
    from poorenv.ownership import check_env_path, env_exists

    config = _config()
    env = config.env_path
    if config.deploy is not None:
        raise EnvError(
            f"{config.served_path}: refusing to remove an env deployed in generations",
            hint=f"stop the server, then delete {config.served_path} and its generations by hand",
        )
    if not env_exists(env):
        say(args, f"{env}: nothing to remove")
        return EXIT_OK
    check_env_path(env, config.project_dir, "remove")
    with env_lock(env):
        EnvDir(env).remove_env()
    say(args, f"removed {env}")
    return EXIT_OK
