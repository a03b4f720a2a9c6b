"""The command line: parses arguments, dispatches to `cli/commands.py`, maps errors to exit
codes in one place (`error:` and `hint:` lines; a traceback only with --debug). An exception
that is not a PoorenvError is a bug: `cli/crash.py` saves a report and says where."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from poorenv import __version__
from poorenv.cli import commands, deploycmds, envcmds, packcmds
from poorenv.cli.output import error
from poorenv.errors import EXIT_DRIFT, EXIT_ERROR, EXIT_OK, ConfigError, PoorenvError


def main(argv: Sequence[str] | None = None, stamp_checked: bool = False) -> int:
    """Run poorenv. `stamp_checked`: the caller (entry.main) found the no-op stamp stale."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.stamp_checked = stamp_checked
    try:
        if args.directory is not None:
            _chdir(args.directory)
        if args.command in ("sync", "check") and commands.fast_answer(args):
            return EXIT_OK
        _setup_logging(args)
        code: int = args.func(args)
    except PoorenvError as exc:
        if args.debug:
            raise
        error(exc.message, exc.hint, exc.details)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; run `poorenv sync` again to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `poorenv ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DRIFT
    except Exception as exc:  # a bug in poorenv: one line and a saved report, not a traceback
        if args.debug:
            raise
        from poorenv.cli.crash import internal_error

        internal_error(exc, sys.argv[1:] if argv is None else argv)
        return EXIT_ERROR
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
        epilog="example:\n  poorenv init requests && poorenv lock && poorenv sync\n\n"
        "`poorenv COMMAND --help` describes each command, with an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"poorenv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="write a poorenv.toml")
    p.add_argument("--python", default=f"{sys.version_info[0]}.{sys.version_info[1]}")
    p.add_argument("requirements", nargs="*", metavar="REQ")
    p.set_defaults(func=commands.cmd_init)

    p = sub.add_parser("plan", parents=[common], help="print what sync would do")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument(
        "-o", "--output", type=Path, metavar="FILE",
        help="also save the plan, with a fingerprint of its inputs, for `poorenv apply FILE`",
    )  # fmt: skip
    _python_option(p)
    p.set_defaults(func=commands.cmd_plan)

    p = sub.add_parser(
        "apply", parents=[common],
        help="carry out a plan saved by `plan -o FILE`; refuse if anything changed since",
    )  # fmt: skip
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    p.add_argument("--installer", choices=("pip", "uv"), default=None)
    p.set_defaults(func=commands.cmd_apply)

    p = sub.add_parser("lock", parents=[common], help="resolve poorenv.lock for the env's Python")
    _upgrade_options(p)
    p.set_defaults(func=commands.cmd_lock)

    p = sub.add_parser("sync", parents=[common], help="make the env match poorenv.toml")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    _lock_options(p)
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    p.add_argument(
        "--installer", choices=("pip", "uv"), default=None,
        help="what installs packages (default: [env] installer, else pip)",
    )  # fmt: skip
    p.add_argument(
        "--in-place", action="store_true",
        help="with [deploy]: change the current generation in place (not atomic)",
    )  # fmt: skip
    _python_option(p)
    p.set_defaults(func=commands.cmd_sync)

    p = sub.add_parser(
        "deploy", parents=[common],
        help="build the env as a new generation, smoke-test it, switch to it, reload",
    )  # fmt: skip
    _lock_options(p)
    p.add_argument("--json", action="store_true", help="print what was done as JSON")
    p.add_argument("--installer", choices=("pip", "uv"), default=None)
    p.set_defaults(func=deploycmds.cmd_deploy)

    p = sub.add_parser(
        "rollback", parents=[common],
        help="switch back to the generation the current one replaced, reload",
    )  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=deploycmds.cmd_rollback)

    p = sub.add_parser("generations", parents=[common], help="list the env's generations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=deploycmds.cmd_generations)

    p = sub.add_parser(
        "pack", parents=[common],
        help="write the env (the current generation) as one archive for other hosts",
    )  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=packcmds.cmd_pack)

    p = sub.add_parser(
        "unpack", parents=[common],
        help="install an archive `pack` wrote here: checked, repaired, verified, no downloads",
    )  # fmt: skip
    p.add_argument("archive", metavar="FILE", help="an archive `poorenv pack` wrote")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=packcmds.cmd_unpack)

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
    p.add_argument(
        "--user", metavar="NAME", help="mod_wsgi, uwsgi: refuse unless the server's user NAME"
        " can read the env, the app file and the base files they load",
    )  # fmt: skip
    p.add_argument(
        "--app", type=Path, metavar="FILE", help="with --user: the WSGI file the server loads"
    )
    p.set_defaults(func=commands.cmd_export)

    p = sub.add_parser("check", parents=[common], help="exit 0 if the env matches, 1 if not")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--verify", action="store_true",
        help="also compare every installed file with its RECORD hash (bytecode included)",
    )  # fmt: skip
    _python_option(p)
    p.set_defaults(func=commands.cmd_check)

    p = sub.add_parser(
        "doctor", parents=[common], help="audit the env; say what is wrong and how to fix it"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_doctor)

    p = sub.add_parser("info", parents=[common], help="print the project, its env, base and lock")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=envcmds.cmd_info)

    p = sub.add_parser("cache-key", parents=[common], help="print a key for CI caches of the env")
    _python_option(p)
    p.set_defaults(func=envcmds.cmd_cache_key)

    p = sub.add_parser("run", parents=[common], help="run a command with the env's bin on PATH")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=envcmds.cmd_run)

    p = sub.add_parser("activate", parents=[common], help="print shell code to eval")
    p.add_argument("--shell", choices=("bash", "zsh", "fish", "csh"), default=None)
    p.set_defaults(func=envcmds.cmd_activate)

    p = sub.add_parser("remove", parents=[common], help="delete the env (only one poorenv made)")
    p.set_defaults(func=commands.cmd_remove)
    for name, command in sub.choices.items():
        _describe(command, sub, name)
    return parser


# One example per command, shown by `poorenv COMMAND --help`.
EXAMPLES = {
    "init": "poorenv init --python 3.12 requests 'flask>=3'",
    "plan": "poorenv plan            # what `sync` would do, nothing changed",
    "apply": "poorenv plan -o plan.json && poorenv apply plan.json   # exactly what was reviewed",
    "lock": "poorenv lock -P requests   # resolve requests anew, keep the other pins",
    "sync": "poorenv sync --locked   # in CI: fail if poorenv.lock is stale",
    "deploy": "poorenv deploy --locked   # on the server: the committed lock, a new generation",
    "rollback": "poorenv rollback        # the generation before, reloaded",
    "generations": "poorenv generations --json",
    "pack": "poorenv pack -o app-env.tar.gz   # then on each host: poorenv unpack app-env.tar.gz",
    "unpack": "poorenv unpack app-env.tar.gz   # in the project directory on another host",
    "export": "poorenv export --format requirements -o requirements.txt",
    "check": "poorenv check || poorenv sync",
    "doctor": "poorenv doctor --json",
    "info": "poorenv info",
    "cache-key": "poorenv cache-key       # e.g. the key of a CI cache of .poorenv",
    "run": "poorenv run -- python -m pytest",
    "activate": 'eval "$(poorenv activate)"   # `deactivate` undoes it',
    "remove": "poorenv remove",
}


def _describe(command: argparse.ArgumentParser, sub: Any, name: str) -> None:
    """`poorenv COMMAND --help`: the command's one-line help as description, and its example."""
    summary = next(a.help for a in sub._choices_actions if a.dest == name)
    command.description = f"{summary[0].upper()}{summary[1:]}." if summary else None
    command.epilog = f"example:\n  {EXAMPLES[name]}"
    command.formatter_class = argparse.RawDescriptionHelpFormatter


def _python_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--python", metavar="X.Y", default=None,
        help="the env's Python instead of [env] python, e.g. in a CI matrix over [lock]"
        " pythons (the lock stays fresh)",
    )  # fmt: skip


def _lock_options(p: argparse.ArgumentParser) -> None:
    """--locked | --frozen, and the upgrade options: what sync and deploy do with the lock."""
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--locked", action="store_true", help="fail if poorenv.lock is missing or stale (CI)"
    )
    mode.add_argument(
        "--frozen", action="store_true", help="install poorenv.lock as it is, unchecked"
    )
    _upgrade_options(p)


def _upgrade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--resolver", choices=("pip-tools", "uv"), default=None,
        help="what resolves the lock (default: [env] resolver, else pip-tools)",
    )  # fmt: skip
    p.add_argument("--upgrade", "-U", action="store_true", help="resolve every pin anew")
    p.add_argument(
        "--upgrade-package", "-P", action="append", default=[], metavar="NAME",
        help="resolve this package anew, keep other pins (repeatable)",
    )  # fmt: skip
