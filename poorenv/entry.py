"""The `poorenv` command. A no-op `sync` or `check` is answered here, from the stat stamp,
before argparse, typing, json, the TOML parser or anything else is imported: that path is what
users wait on at every shell start and CI step. Everything else goes to `poorenv.cli`.

The forms answered here are the ones scripts and CI use: `sync` and `check`, with `-q`/`--quiet`,
`-v`/`--verbose`, `--debug` and `-C DIR` before or after the command, `sync --installer pip|uv`,
and `sync --locked` or `sync --frozen` (a stamp proves the lock fresh: a sync that accepted a
stale lock with --frozen records a stamp that answers nothing). The answer is the full command
line's, line for line and exit code for exit code. Any other word, or any doubt, goes to the
full command line.
"""

from __future__ import annotations

import os
import sys

from poorenv.state.fastpath import ANSWERS

TYPE_CHECKING = False  # typing is not imported on the no-op path
if TYPE_CHECKING:
    from collections.abc import Sequence

_QUIET = ("-q", "--quiet")
_UNSAID = ("-v", "--verbose", "--debug")  # change nothing in a no-op's answer
_MODES = ("--locked", "--frozen")  # sync only, one of them
_INSTALLERS = ("pip", "uv")  # sync --installer NAME: what would install, when there is nothing to


def fast_form(argv: Sequence[str]) -> tuple[str, bool, str | None] | None:
    """(command, quiet, -C directory) when `argv` is a form answered here, exactly as argparse
    would read it (options before or after the command, the last -C wins); None for any other
    (a typo, an abbreviation, --json, --dry-run, -U): the full command line parses those."""
    command: str | None = None
    quiet = False
    directory: str | None = None
    modes: set[str] = set()
    words = iter(argv)
    for word in words:
        if command is None and word in ANSWERS:
            command = word
        elif word in _QUIET:
            quiet = True
        elif word in _UNSAID:
            continue
        elif word == "-C" or (word.startswith("-C") and "=" not in word):
            directory = word[2:] or next(words, "")
            if not directory or directory.startswith("-"):
                return None  # argparse's to judge
        elif command == "sync" and word in _MODES:
            modes.add(word)
        elif command == "sync" and (word == "--installer" or word.startswith("--installer=")):
            name = word.partition("=")[2] if "=" in word else next(words, "")
            if name not in _INSTALLERS:
                return None
        else:
            return None
    if command is None or len(modes) > 1:
        return None
    return command, quiet, directory


def _in_sync(directory: str | None, for_sync: bool) -> str | None:
    """The env when its stamp proves it in sync, as seen from `directory` (-C); `for_sync`: a
    plain sync, which refuses an env deployed in generations. Raises OSError when -C cannot be
    entered, and what a bad POORENV_LOCK_TIMEOUT raises."""
    from poorenv.paths import lock_timeout
    from poorenv.state.fastpath import quick_check

    if directory is not None:
        os.chdir(directory)
    lock_timeout()  # a bad value is an error even when there is nothing to do
    return quick_check(os.getcwd(), for_sync=for_sync)


def main() -> int:
    argv = sys.argv[1:]
    form = fast_form(argv)
    stamp_checked = False  # True: the stamp is stale, the full command line need not look again
    if form is not None:
        command, quiet, directory = form
        here = None
        try:
            here = os.getcwd() if directory is not None else None
            env = _in_sync(directory, for_sync=command == "sync")
        except Exception:  # any doubt: the full command line looks again (and reports a bug)
            env = None
        else:
            if env is not None:
                if not quiet:
                    print(f"{env}: {ANSWERS[command]}")
                return 0
            stamp_checked = True
        if here is not None:
            os.chdir(here)  # the full command line enters -C DIR itself
    from poorenv.cli.main import main as full

    return full(argv, stamp_checked=stamp_checked)
