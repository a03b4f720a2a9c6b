"""What the command line prints: plain lines, the JSON envelope, errors, and its Reporter."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv import __version__
from poorenv.report import Reporter

if TYPE_CHECKING:
    from poorenv.lock.lockfile import Lock
    from poorenv.plan.actions import Action

JSON_VERSION = 1  # of the shape in schemas/poorenv-output.schema.json


def say(args: argparse.Namespace, text: str) -> None:
    """A line for the user: not with -q, not when the output is JSON."""
    if not args.quiet and not getattr(args, "json", False):
        print(text)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def error(message: str, hint: str | None = None, details: Sequence[str] = ()) -> None:
    """One `error:` line, a `hint:` line, then `details` (a tool's own lines) indented."""
    from poorenv.cli.progress import color

    red, yellow, reset = ("\033[31m", "\033[33m", "\033[0m") if color() else ("", "", "")
    print(f"{red}error:{reset} {message}", file=sys.stderr)
    if hint:
        print(f"{yellow}hint:{reset} {hint}", file=sys.stderr)
    for line in details:
        print(f"    {line}", file=sys.stderr)


def print_json(command: str, payload: dict[str, Any]) -> None:
    import json

    data = {"json-version": JSON_VERSION, "poorenv": __version__, "command": command, **payload}
    print(json.dumps(data, indent=2))


def lock_change_lines(old: Lock | None, new: Lock) -> list[str]:
    """`+ name 1.0`, `- name 1.0`, `~ name 1.0 -> 2.0` for each package the new lock changes
    in the env's resolution, then in each other Python's, prefixed by its X.Y (`3.9: + name`),
    or `3.9, 3.13: the same changes`."""
    from poorenv.lock.lockfile import Lock, Resolution

    before = {r.key(): r for r in old.resolutions} if old is not None else {}
    if old is not None and len(before) > 1:  # compare like with like: the same Python's
        was = before.get(Resolution(new.interpreter, new.packages).key())
        old = Lock(old.input_hash, was.interpreter, was.packages) if was else None
    own = _change_lines(old, new)
    lines, same = list(own), []
    for other in new.others:
        was = before.get(other.key())
        prev = Lock(new.input_hash, was.interpreter, was.packages) if was else None
        changes = _change_lines(prev, Lock(new.input_hash, other.interpreter, other.packages))
        if changes == own:
            same.append(other.interpreter.python)
        else:
            lines += [f"{other.interpreter.python}: {line}" for line in changes]
    if same and own:
        lines.append(f"{', '.join(same)}: the same changes")
    return lines


def _change_lines(old: Lock | None, new: Lock) -> list[str]:
    from poorenv.lock.lockfile import lock_changes

    lines = []
    for change in lock_changes(old, new):
        name, was, now = change["name"], change["old"], change["new"]
        if was is None:
            lines.append(f"+ {name} {now}")
        elif now is None:
            lines.append(f"- {name} {was}")
        else:
            lines.append(f"~ {name} {was} -> {now}")
    return lines


def report_lock(args: argparse.Namespace, path: Path, old: Lock | None, new: Lock) -> None:
    for line in lock_change_lines(old, new):
        say(args, line)
    counts = [f"{len(new.packages)} packages"]
    if new.others:  # a lock for several Pythons: the env's first
        counts = [f"{new.interpreter.python}: {len(new.packages)}"]
        counts += [f"{r.interpreter.python}: {len(r.packages)}" for r in new.others]
        counts[0] += " packages"
    say(args, f"wrote {path} ({', '.join(counts)})")


class CliReporter(Reporter):
    """Prints each action and lock change, draws the status line around long steps."""

    def __init__(self, args: argparse.Namespace, lock_path: Path | None = None) -> None:
        from poorenv.cli.progress import Progress, wanted

        self.args = args
        self.lock_path = lock_path
        self.progress = Progress(wanted(args.quiet or getattr(args, "json", False)))

    def action(self, action: Action) -> None:
        say(self.args, f"  {action.summary()}  [{action.reason}]")

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        with self.progress.step(text):
            yield

    def waiting(self, env: Path) -> None:
        print(f"waiting for another poorenv sync of {env} to finish", file=sys.stderr)

    def relocked(self, old: Lock | None, new: Lock) -> None:
        if self.lock_path is not None:
            report_lock(self.args, self.lock_path, old, new)
