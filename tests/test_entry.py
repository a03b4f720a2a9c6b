"""entry.fast_form: the command lines the no-op path answers before argparse, read exactly as
argparse reads them (tests/test_fastpath.py runs them against real envs)."""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
from pathlib import Path

import pytest

from poorenv.cli.main import _parser
from poorenv.entry import fast_form

# Words a script may put around `sync`/`check`, a few that must go to the full command line,
# and near misses (abbreviations argparse accepts, typos it refuses).
WORDS = (
    "sync", "check", "-q", "--quiet", "-v", "--debug", "-C", "d", "-Cd", "-C=d", "--locked",
    "--frozen", "--json", "--dry-run", "-U", "--lock", "-x", "plan", "--", "-h", "--installer",
    "uv", "--installer=pip", "--installer=", "--inst",
)  # fmt: skip


def argparse_reading(argv: list[str]) -> argparse.Namespace | None:
    """What the full command line makes of `argv`; None when argparse refuses it."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return _parser().parse_args(argv)
        except SystemExit:
            return None


def every_argv(longest: int) -> list[list[str]]:
    return [list(w) for n in range(1, longest + 1) for w in itertools.product(WORDS, repeat=n)]


def test_every_form_answered_here_is_read_as_argparse_reads_it() -> None:
    answered = 0
    for argv in every_argv(3):
        form = fast_form(argv)
        if form is None:
            continue
        answered += 1
        args = argparse_reading(argv)
        assert args is not None, argv
        command, quiet, directory = form
        assert (args.command, args.quiet) == (command, quiet), argv
        assert args.directory == (None if directory is None else Path(directory)), argv
        assert not getattr(args, "json", False), argv
        if command == "sync":
            assert not (args.dry_run or args.upgrade or args.upgrade_package), argv
            assert args.installer in (None, "pip", "uv"), argv
    assert answered > 100


@pytest.mark.parametrize(
    "argv",
    [
        ["sync"], ["check"], ["-q", "sync"], ["sync", "--quiet"], ["check", "-q"],
        ["-C", "proj", "sync"], ["sync", "-C", "proj"], ["-Cproj", "sync"],
        ["sync", "--locked"], ["sync", "--frozen"], ["-q", "-C", "proj", "sync", "--locked"],
        ["-v", "sync"], ["sync", "--debug"], ["sync", "--installer", "uv"],
        ["sync", "--installer=pip", "--locked"],
    ],
)  # fmt: skip
def test_the_forms_scripts_and_ci_use_are_answered_here(argv: list[str]) -> None:
    assert fast_form(argv) is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "--json"], ["check", "--json"], ["sync", "--dry-run"], ["sync", "-U"],
        ["sync", "--installer", "conda"], ["sync", "--installer"], ["check", "--installer", "uv"],
        ["sync", "--inst", "uv"], ["sync", "--locked", "--frozen"], ["check", "--locked"],
        ["--locked", "sync"], ["sync", "--lock"], ["-C", "sync"], ["-C", "", "sync"],
        ["-C", "-q", "sync"], ["-C=proj", "sync"], ["-qC", "proj", "sync"], ["sync", "sync"],
        ["sync", "--"], ["--version"], [], ["-q"],
    ],
)  # fmt: skip
def test_anything_else_goes_to_the_full_command_line(argv: list[str]) -> None:
    assert fast_form(argv) is None


def test_the_last_directory_wins_as_in_argparse() -> None:
    argv = ["-C", "a", "sync", "-C", "b"]
    args = argparse_reading(argv)
    assert args is not None
    assert fast_form(argv) == ("sync", False, "b")
    assert args.directory == Path("b")
