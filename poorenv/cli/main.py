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
from poorenv.entry import ANSWERS
from poorenv.errors import EXIT_DRIFT, EXIT_OK, ConfigError, EnvError, LockError, PoorenvError

if TYPE_CHECKING:
    from poorenv.lock.lockfile import Lock
    from poorenv.plan.actions import Action
    from poorenv.project import Project


def main(argv: Sequence[str] | None = None, stamp_checked: bool = False) -> int:
    """Run poorenv. `stamp_checked`: the caller (entry.main) found the no-op stamp stale."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.stamp_checked = stamp_checked
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
    except BrokenPipeError:  # `poorenv ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DRIFT
    return code


def _setup_logging(args: argparse.Namespace) -> None:
    import logging

    if args.debug:
        level = logging.DEBUG
    elif args.quiet:
        level = logging.ERROR
    else:
        level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")


def _chdir(directory: Path) -> None:
    """-C DIR: run as if started in DIR, like git -C and make -C."""
    try:
        os.chdir(directory)
    except OSError as exc:
        raise ConfigError(f"-C {directory}: {exc.strerror}") from None


def _error(message: str, hint: str | None = None) -> None:
    from poorenv.cli.progress import color

    red, yellow, reset = ("\033[31m", "\033[33m", "\033[0m") if color() else ("", "", "")
    print(f"{red}error:{reset} {message}", file=sys.stderr)
    if hint:
        print(f"{yellow}hint:{reset} {hint}", file=sys.stderr)


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
        common.add_argument(
            "-v", "--verbose", action="store_true", help="say more (what runs)", **default
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
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    p.add_argument(
        "--installer", choices=("pip", "uv"), default=None,
        help="what installs packages (default: [env] installer, else pip)",
    )  # fmt: skip
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("export", parents=[common], help="print poorenv.lock in another format")
    p.add_argument(
        "--format", choices=("requirements", "pylock", "mod_wsgi", "uwsgi"),
        default="requirements",
        help="requirements: hash-pinned requirements.txt; pylock: PEP 751 pylock.toml (asks"
        " pip for the files' URLs); mod_wsgi, uwsgi: server configuration",
    )  # fmt: skip
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE, not stdout")
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

    p = sub.add_parser(
        "doctor", parents=[common], help="audit the env; say what is wrong and how to fix it"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("info", parents=[common], help="print the project, its env, base and lock")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("cache-key", parents=[common], help="print a key for CI caches of the env")
    p.set_defaults(func=cmd_cache_key)

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
    if not args.quiet and not getattr(args, "json", False):
        print(text)


JSON_VERSION = 1  # of the shape in schemas/poorenv-output.schema.json


def _print_json(command: str, payload: dict[str, Any]) -> None:
    import json

    data = {"json-version": JSON_VERSION, "poorenv": __version__, "command": command, **payload}
    print(json.dumps(data, indent=2))


def _progress(args: argparse.Namespace) -> Any:
    from poorenv.cli.progress import Progress, wanted

    return Progress(wanted(args.quiet or getattr(args, "json", False)))


# --- commands --------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from poorenv.config import CONFIG_NAME, loads_toml, parse_config, render_config

    directory = Path.cwd()
    target = directory / CONFIG_NAME
    if target.exists():
        raise ConfigError(f"{target}: already exists", hint="edit it, or delete it first")
    text = render_config(args.python, tuple(args.requirements))
    parse_config(loads_toml(text), target)  # the same checks as on every later load
    try:
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ConfigError(f"{target}: already exists", hint="edit it, or delete it first") from None
    _say(args, f"wrote {target}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    plan = _project(args).plan()
    if args.json:
        _print_json("plan", plan.to_json())
    else:
        print(plan.render())
    return EXIT_OK


def cmd_lock(args: argparse.Namespace) -> int:
    project = _project(args)
    _say(args, f"base: {project.base.describe()}")
    with _progress(args).step("resolving with pip-compile"):
        old, new = project.lock(args.upgrade, tuple(args.upgrade_package))
    _report_lock(args, project.lock_path, old, new)
    return EXIT_OK


def _report_lock(args: argparse.Namespace, path: Path, old: Lock | None, new: Lock) -> None:
    for line in _lock_changes(old, new):
        _say(args, line)
    _say(args, f"wrote {path} ({len(new.packages)} packages)")


def _lock_changes(old: Lock | None, new: Lock) -> list[str]:
    lines = []
    for change in _lock_change_list(old, new):
        name, was, now = change["name"], change["old"], change["new"]
        if was is None:
            lines.append(f"+ {name} {now}")
        elif now is None:
            lines.append(f"- {name} {was}")
        else:
            lines.append(f"~ {name} {was} -> {now}")
    return lines


def _lock_change_list(old: Lock | None, new: Lock) -> list[dict[str, str | None]]:
    before = {p.name: p.version for p in old.packages} if old else {}
    after = {p.name: p.version for p in new.packages}
    return [
        {"name": name, "old": before.get(name), "new": after.get(name)}
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def _fast_no_op(args: argparse.Namespace, allowed: bool) -> bool:
    """Answer when the stat-based stamp proves nothing changed since the last sync.

    Sets up logging for the full path otherwise: the fast path must not pay for it.
    """
    from poorenv.paths import lock_timeout
    from poorenv.state.fastpath import quick_check

    lock_timeout()  # a bad POORENV_LOCK_TIMEOUT is an error even when there is nothing to do
    env = quick_check(os.getcwd()) if allowed and not args.stamp_checked else None
    if env is None:
        _setup_logging(args)
        return False
    if getattr(args, "json", False):
        payload = {"env": str(env), "in_sync": True, "fast_path": True}
        if args.command == "sync":
            payload.update(changed=False, actions=[], lock_changes=[])
        else:
            payload.update(lock_problem=None, reasons=[], actions=[])
        _print_json(args.command, payload)
    else:
        _say(args, f"{env}: {ANSWERS[args.command]}")
    return True


def cmd_sync(args: argparse.Namespace) -> int:
    plain = not (args.dry_run or args.upgrade or args.upgrade_package)
    if _fast_no_op(args, plain):
        return EXIT_OK
    project = _project(args)
    _say(args, f"base: {project.base.describe()}")
    if args.dry_run:
        plan = project.plan(frozen=args.frozen)
        if args.json:
            _print_json("sync", {"env": str(plan.env), "dry_run": True, **plan.to_json()})
        else:
            print(plan.render())
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
        step=_progress(args).step,
    )
    if args.json:
        changes = _lock_change_list(result.old_lock, result.lock)
        _print_json(
            "sync",
            {
                "env": str(project.env),
                "in_sync": True,
                "fast_path": False,
                "changed": bool(result.done),
                "actions": [a.to_json() for a in result.done],
                "lock_changes": changes,
            },
        )
    elif result.plan.is_empty():
        _say(args, f"{project.env}: {ANSWERS['sync']}")
    else:
        _say(args, f"{project.env}: synced ({len(result.done)} action(s))")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    if args.format in ("mod_wsgi", "uwsgi"):
        text = _server_config(args)
    elif args.format == "pylock":
        text = _pylock(args)
    else:
        from poorenv.config import find_config, load_config
        from poorenv.lock.lockfile import lock_path, require_lock

        text = require_lock(lock_path(load_config(find_config(Path.cwd())))).to_requirements()
    _write_output(args, text)
    return EXIT_OK


def _pylock(args: argparse.Namespace) -> str:
    from poorenv.lock import pylock
    from poorenv.lock.lockfile import index_arguments, require_lock, stale_reason

    project = _project(args)
    lock = require_lock(project.lock_path)
    problem = stale_reason(lock, project.config, project.base)
    if problem:
        raise LockError(problem, hint="run `poorenv lock` first")
    if not project.layout.exe.exists():
        raise EnvError(f"{project.env}: no env here yet", hint="run `poorenv sync` first")
    index = index_arguments(project.config.index, project.config.project_dir)
    with _progress(args).step("asking pip where the locked files are"):
        found = pylock.artifacts(project.layout.exe, project.base, lock, index)
    return pylock.render(lock, found, project.base)


def _write_output(args: argparse.Namespace, text: str) -> None:
    if args.output is None:
        print(text, end="")
        return
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"-o {args.output}: {exc.strerror}") from None
    _say(args, f"wrote {args.output}")


def _server_config(args: argparse.Namespace) -> str:
    from poorenv.deploy import servers as deploy

    project = _project(args)
    find = deploy.find_mod_wsgi if args.format == "mod_wsgi" else deploy.find_uwsgi_plugin
    server = deploy.inspect(find(args.module))
    deploy.check(server, project.base)
    if args.format == "mod_wsgi":
        group = args.process_group or deploy.process_group_name(project.config.project_dir)
        text = deploy.mod_wsgi_config(project.env, project.base, server, group)
    else:
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
    return text


def cmd_check(args: argparse.Namespace) -> int:
    if _fast_no_op(args, True):
        return EXIT_OK
    plan = _project(args).plan()
    if args.json:
        reasons = [] if plan.in_sync else plan.reasons
        _print_json("check", {**plan.to_json(), "fast_path": False, "reasons": reasons})
    elif plan.in_sync:
        _say(args, f"{plan.env}: {ANSWERS['check']}")
    else:
        print(f"{plan.env}: not in sync", file=sys.stderr)
        for reason in plan.reasons:
            print(f"  {reason}", file=sys.stderr)
    return EXIT_OK if plan.in_sync else EXIT_DRIFT


def cmd_doctor(args: argparse.Namespace) -> int:
    from poorenv.doctor import examine
    from poorenv.lock.lockfile import read_lock

    project = _project(args)
    try:
        lock = read_lock(project.lock_path)
    except LockError:
        lock = None
    report = examine(project.layout, project.base, lock)
    if args.json:
        _print_json("doctor", report.to_json())
    elif report.healthy:
        _say(args, report.render())
    else:
        print(report.render())
    return EXIT_OK if report.healthy else EXIT_DRIFT


def cmd_info(args: argparse.Namespace) -> int:
    from poorenv.envdir import is_env
    from poorenv.lock.lockfile import read_lock, stale_reason
    from poorenv.paths import cache_dir
    from poorenv.state.fastpath import quick_check

    project = _project(args)
    config = project.config
    lock = read_lock(project.lock_path)
    info: dict[str, Any] = {
        "project": str(config.project_dir),
        "config": str(config.file),
        "env": {
            "path": str(project.env),
            "exists": is_env(project.env),
            "synced": quick_check(str(config.project_dir)) is not None,
        },
        "base": {**project.base.fingerprint, "abi": project.base.abi},
        "lock": {
            "path": str(project.lock_path),
            "exists": lock is not None,
            "content_hash": lock.content_hash if lock else None,
            "packages": len(lock.packages) if lock else 0,
            "problem": stale_reason(lock, config, project.base),
        },
        "installer": config.installer,
        "cache_dir": str(cache_dir()),
        "cache_key": project.cache_key(lock) if lock else None,
    }
    if args.json:
        _print_json("info", info)
        return EXIT_OK
    env, base, locked = info["env"], project.base, info["lock"]
    state = "synced" if env["synced"] else "exists" if env["exists"] else "not built"
    print(f"project:   {info['project']}")
    print(f"env:       {env['path']} ({state})")
    print(f"base:      {base.describe()}, {base.abi}")
    print(f"lock:      {locked['path']} ({locked['packages']} packages"
          f"{', ' + locked['problem'] if locked['problem'] else ''})")  # fmt: skip
    print(f"installer: {info['installer']}")
    print(f"cache:     {info['cache_dir']}")
    if info["cache_key"]:
        print(f"cache-key: {info['cache_key']}")
    return EXIT_OK


def cmd_cache_key(args: argparse.Namespace) -> int:
    from poorenv.lock.lockfile import require_lock

    project = _project(args)
    lock = require_lock(project.lock_path, hint="run `poorenv lock` and commit it")
    print(project.cache_key(lock))
    return EXIT_OK


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
    from poorenv.config import find_config, load_config
    from poorenv.plan.activation import code

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
    from poorenv.envdir import EnvDir, check_env_path
    from poorenv.project import env_lock

    config = load_config(find_config(Path.cwd()))
    env = config.env_path
    if not env.exists():
        _say(args, f"{env}: nothing to remove")
        return EXIT_OK
    check_env_path(env, config.project_dir)
    with env_lock(env):
        EnvDir(env).remove_env()
    _say(args, f"removed {env}")
    return EXIT_OK
