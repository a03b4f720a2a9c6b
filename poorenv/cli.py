"""The command line: parses arguments, runs the pipeline, maps errors to exit codes.

Exit codes: 0 success (and `check`: in sync), 1 `check` found drift, 2 error or refusal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import __version__
from poorenv.errors import EXIT_DRIFT, EXIT_OK, ConfigError, EnvError, LockError, PoorenvError

if TYPE_CHECKING:
    from poorenv.lock import Lock
    from poorenv.plan import Action
    from poorenv.project import Project


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command not in ("sync", "check"):  # those set it up after their fast path
        _setup_logging(args)
    try:
        if args.directory is not None:
            _chdir(args.directory)
        code: int = args.func(args)
    except PoorenvError as exc:
        if args.debug:
            raise
        _error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; run `poorenv sync` again to finish", file=sys.stderr)
        return 130
    return code


def _setup_logging(args: argparse.Namespace) -> None:
    import logging

    level = logging.DEBUG if args.debug else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")


def _chdir(directory: Path) -> None:
    """-C DIR: run as if started in DIR, like git -C and make -C."""
    try:
        os.chdir(directory)
    except OSError as exc:
        raise ConfigError(f"-C {directory}: {exc.strerror}") from None


def _error(message: str, hint: str | None = None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    def options(suppress: bool) -> argparse.ArgumentParser:
        # Given before or after the command; after it, only an option given overrides.
        common = argparse.ArgumentParser(add_help=False)
        default: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
        common.add_argument(
            "-C", dest="directory", type=Path, help="run as if started in DIR", **default
        )
        common.add_argument(
            "-q", "--quiet", action="store_true", help="print only errors", **default
        )
        common.add_argument("--debug", action="store_true", help="show tracebacks", **default)
        return common

    common = options(suppress=True)
    parser = argparse.ArgumentParser(
        prog="poorenv",
        description="Build PYTHONHOME-style Python environments from poorenv.toml.",
        parents=[options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"poorenv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write a poorenv.toml")
    p.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    p.add_argument("requirements", nargs="*", metavar="REQ")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("plan", parents=[common], help="print what sync would do")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("lock", parents=[common], help="resolve poorenv.lock for the env's Python")
    _upgrade_options(p)
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("sync", parents=[common], help="make the env match poorenv.toml")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--locked", action="store_true", help="fail if poorenv.lock is missing or stale (CI)"
    )
    mode.add_argument(
        "--frozen", action="store_true", help="install poorenv.lock as it is, unchecked"
    )
    _upgrade_options(p)
    p.add_argument(
        "--installer", choices=("pip", "uv"), default=None,
        help="what installs packages (default: [env] installer, else pip)",
    )  # fmt: skip
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("export", parents=[common], help="print poorenv.lock in another format")
    p.add_argument(
        "--format", choices=("requirements", "mod_wsgi", "uwsgi"), default="requirements",
        help="requirements: hash-pinned requirements.txt; mod_wsgi, uwsgi: server configuration",
    )  # fmt: skip
    p.add_argument(
        "--process-group", metavar="NAME", help="mod_wsgi daemon process group (default: the"
        " project directory's name)",
    )  # fmt: skip
    p.add_argument(
        "--module", type=Path, metavar="FILE",
        help="the mod_wsgi module or uWSGI python plugin to check the env against",
    )  # fmt: skip
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("check", parents=[common], help="exit 0 if the env matches, 1 if not")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", parents=[common], help="run a command with the env's bin on PATH")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("activate", parents=[common], help="print shell code to eval")
    p.add_argument("--shell", choices=("bash", "zsh", "fish", "csh"), default=None)
    p.set_defaults(func=cmd_activate)

    p = sub.add_parser("remove", parents=[common], help="delete the env (only one poorenv made)")
    p.set_defaults(func=cmd_remove)
    return parser


def _upgrade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upgrade", "-U", action="store_true", help="resolve every pin anew")
    p.add_argument(
        "--upgrade-package", "-P", action="append", default=[], metavar="NAME",
        help="resolve this package anew, keep other pins (repeatable)",
    )  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def _project(args: argparse.Namespace) -> Project:
    from poorenv.config import find_config, load_config
    from poorenv.project import Project

    return Project.load(load_config(find_config(Path.cwd())))


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


# --- commands --------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from poorenv.config import CONFIG_NAME, parse_config, render_config

    directory = Path.cwd()
    target = directory / CONFIG_NAME
    if target.exists():
        raise ConfigError(f"{target}: already exists", hint="edit it, or delete it first")
    text = render_config(args.python, tuple(args.requirements))
    parse_config(_toml_loads(text), target)  # the same checks as on every later load
    try:
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ConfigError(f"{target}: already exists", hint="edit it, or delete it first") from None
    _say(args, f"wrote {target}")
    return EXIT_OK


def _toml_loads(text: str) -> dict[str, Any]:
    from poorenv.config import loads_toml

    return loads_toml(text)


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    plan = _project(args).plan()
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        print(plan.render())
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    project = _project(args)
    _say(args, f"base: {project.base.describe()}")
    old, new = project.lock(args.upgrade, tuple(args.upgrade_package))
    _report_lock(args, project.lock_path, old, new)
    return EXIT_OK


def _report_lock(args: argparse.Namespace, path: Path, old: Lock | None, new: Lock) -> None:
    for line in _lock_changes(old, new):
        _say(args, line)
    _say(args, f"wrote {path} ({len(new.packages)} packages)")


def _lock_changes(old: Lock | None, new: Lock) -> list[str]:
    before = {p.name: p.version for p in old.packages} if old else {}
    after = {p.name: p.version for p in new.packages}
    lines = []
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            lines.append(f"+ {name} {after[name]}")
        elif name not in after:
            lines.append(f"- {name} {before[name]}")
        elif before[name] != after[name]:
            lines.append(f"~ {name} {before[name]} -> {after[name]}")
    return lines


def _fast_no_op(args: argparse.Namespace, allowed: bool, message: str) -> bool:
    """Answer `message` when the stat-based stamp proves nothing changed since the last sync.

    Sets up logging for the full path otherwise: the fast path must not pay for it.
    """
    from poorenv.fastpath import quick_check
    from poorenv.paths import lock_timeout

    lock_timeout()  # a bad POORENV_LOCK_TIMEOUT is an error even when there is nothing to do
    env = quick_check(Path.cwd()) if allowed else None
    if env is None:
        _setup_logging(args)
        return False
    _say(args, f"{env}: {message}")
    return True


def cmd_sync(args: argparse.Namespace) -> int:
    plain = not (args.dry_run or args.upgrade or args.upgrade_package)
    if _fast_no_op(args, plain, "in sync, nothing to do"):
        return EXIT_OK
    project = _project(args)
    _say(args, f"base: {project.base.describe()}")
    if args.dry_run:
        print(project.plan(frozen=args.frozen).render())
        return EXIT_OK

    def progress(action: Action) -> None:
        _say(args, f"  {action.summary()}  [{action.reason}]")

    def waiting() -> None:
        print(f"waiting for another poorenv sync of {project.env} to finish", file=sys.stderr)

    def relocked(old: Lock | None, new: Lock) -> None:
        _report_lock(args, project.lock_path, old, new)

    mode = "locked" if args.locked else "frozen" if args.frozen else "auto"
    result = project.sync(
        mode,
        args.upgrade,
        tuple(args.upgrade_package),
        progress=progress,
        waiting=waiting,
        relocked=relocked,
        installer=args.installer,
    )
    if result.plan.is_empty():
        _say(args, f"{project.env}: in sync, nothing to do")
    else:
        _say(args, f"{project.env}: synced ({len(result.done)} action(s))")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    if args.format in ("mod_wsgi", "uwsgi"):
        return _export_server(args)
    from poorenv.config import find_config, load_config
    from poorenv.lock import lock_path, read_lock

    config = load_config(find_config(Path.cwd()))
    lock = read_lock(lock_path(config))
    if lock is None:
        raise LockError(f"{lock_path(config)}: missing", hint="run `poorenv lock` first")
    print(lock.to_requirements(), end="")
    return EXIT_OK


def _export_server(args: argparse.Namespace) -> int:
    from poorenv import deploy

    project = _project(args)
    if args.format == "mod_wsgi":
        server = deploy.inspect(deploy.find_mod_wsgi(args.module))
        deploy.check(server, project.base)
        group = args.process_group or deploy.process_group_name(project.config.project_dir)
        text = deploy.mod_wsgi_config(project.env, project.base, server, group)
    else:
        server = deploy.inspect(deploy.find_uwsgi_plugin(args.module))
        deploy.check(server, project.base)
        text = deploy.uwsgi_config(project.env, project.base, server)
    if not project.env.is_dir():
        print(f"warning: {project.env} does not exist yet; run `poorenv sync`", file=sys.stderr)
    else:
        closed = deploy.unreadable(project.env)
        if closed is not None:
            print(
                f"warning: other users cannot enter {closed}: a server running as another"
                " user (Apache's www-data) cannot load the env",
                file=sys.stderr,
            )
    print(text, end="")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    import json

    if _fast_no_op(args, not args.json, "in sync"):
        return EXIT_OK
    plan = _project(args).plan()
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    elif plan.in_sync:
        _say(args, f"{plan.env}: in sync")
    else:
        print(f"{plan.env}: not in sync", file=sys.stderr)
        for reason in plan.reasons:
            print(f"  {reason}", file=sys.stderr)
    return EXIT_OK if plan.in_sync else EXIT_DRIFT


def cmd_run(args: argparse.Namespace) -> int:
    from poorenv.config import find_config, load_config

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise ConfigError("run: no command given", hint="poorenv run -- python -c 'import app'")
    config = load_config(find_config(Path.cwd()))
    bin_dir = config.env_path / "bin"
    if not (bin_dir / "python").exists():
        raise EnvError(f"{config.env_path}: no env here yet", hint="run `poorenv sync` first")
    import shutil

    from poorenv.paths import clean_environ

    env = clean_environ(POORENV_ACTIVE=str(config.env_path))
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    exe = shutil.which(cmd[0], path=env["PATH"])
    if exe is None:
        raise EnvError(f"run: command not found: {cmd[0]}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(exe, cmd, env)


def cmd_activate(args: argparse.Namespace) -> int:
    from poorenv.activation import code
    from poorenv.config import find_config, load_config

    config = load_config(find_config(Path.cwd()))
    shell = args.shell or Path(os.environ.get("SHELL", "bash")).name
    if shell not in ("bash", "zsh", "fish", "csh", "tcsh"):
        raise ConfigError(
            f"activate: unknown shell {shell!r}", hint="pass --shell bash|zsh|fish|csh"
        )
    print(code(config.env_path, "csh" if shell == "tcsh" else shell), end="")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from poorenv.config import find_config, load_config
    from poorenv.project import check_env_path, env_lock
    from poorenv.state import read_marker

    config = load_config(find_config(Path.cwd()))
    env = config.env_path
    if not env.exists():
        _say(args, f"{env}: nothing to remove")
        return EXIT_OK
    check_env_path(env, config.project_dir)
    if env.is_symlink() or read_marker(env) is None:
        raise EnvError(
            f"{env}: refusing to remove: it carries no poorenv marker",
            hint="poorenv deletes only envs it made; remove it by hand if you are sure",
        )
    from poorenv.apply import remove_env

    with env_lock(env):
        remove_env(env)
    _say(args, f"removed {env}")
    return EXIT_OK
