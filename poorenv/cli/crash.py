"""The last resort: an exception poorenv did not expect is a bug in poorenv.

The user gets one `error: internal error: ...` line and a `hint:` with the path of a saved
report (traceback, argv, poorenv's and Python's versions), never a bare traceback (`--debug`
shows it). Every input a user can cause has its own clear error; the tests prove that none of
them ends here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from poorenv.cli.output import error

REPORT_DIR = "reports"  # under poorenv's cache


def internal_error(exc: BaseException, argv: Sequence[str]) -> None:
    """Tell the user about a bug: one line, and where its report was saved."""
    from poorenv.redact import redact

    lines = str(exc).strip().splitlines()
    message = redact(lines[0] if lines else "")[:300]
    where = save_report(exc, argv)
    found = f"the report is in {where}" if where else "no report could be saved"
    error(
        f"internal error: {type(exc).__name__}" + (f": {message}" if message else ""),
        hint=f"this is a bug in poorenv; {found} (please attach it to an issue);"
        " --debug shows the traceback",
    )


def save_report(exc: BaseException, argv: Sequence[str]) -> Path | None:
    """Write the report, private to the user, in poorenv's cache or else in the temp dir."""
    text = report(exc, argv)
    for directory in _places():
        try:
            return _write(directory, text)
        except (OSError, RuntimeError):
            continue
    return None


def report(exc: BaseException, argv: Sequence[str]) -> str:
    """The text of a report: what ran, on what, and the traceback; credentials redacted."""
    import datetime
    import platform
    import traceback

    from poorenv import __version__
    from poorenv.redact import redact, redact_argv

    lines = [
        f"poorenv {__version__}: internal error",
        f"time: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"argv: {redact_argv(['poorenv', *argv])}",
        f"cwd: {_cwd()}",
        f"python: {sys.version.splitlines()[0]} ({sys.executable})",
        f"platform: {platform.platform()}",
        "",
        *traceback.format_exception(type(exc), exc, exc.__traceback__),
    ]
    return redact("\n".join(line.rstrip("\n") for line in lines)) + "\n"


def _places() -> list[Path | None]:
    from poorenv.paths import cache_dir

    try:
        return [cache_dir() / REPORT_DIR, None]
    except RuntimeError:  # no home directory to put the cache in
        return [None]


def _write(directory: Path | None, text: str) -> Path:
    """A new file (mode 0600, never an existing one) in `directory`, None: the temp dir."""
    import tempfile

    if directory is not None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="poorenv-crash-", suffix=".txt", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)
    return Path(name)


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # removed meanwhile
        return f"({exc.strerror})"
