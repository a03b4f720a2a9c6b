"""Child processes: the one module that starts them.

Every tool poorenv runs (pip, pip-compile, uv, compileall, the interpreter probe, venv) goes
through `run`: it logs the command line with credentials redacted, runs it with poorenv's clean
environment unless told otherwise, and turns a tool that cannot be started, that times out or
(with `check`) that fails into one error, `ToolError`, whose message is one line.

Tests replace the process start in one place: `_spawn`, a module-level function
(`monkeypatch.setattr(poorenv._run, "_spawn", fake)`). A fake returns a `Result`, or raises
OSError (cannot start) or `TimedOut`.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from poorenv import cache, paths
from poorenv.errors import PoorenvError
from poorenv.redact import redact, redact_argv

log = logging.getLogger(__name__)

TAIL_LINES = 10  # lines of a failed tool's output that a ToolError carries
BUILD_LINES = 6  # lines of a failed build's own output that an error shows
NEAREST_VERSIONS = 5  # versions kept of pip's "(from versions: ...)" list


@dataclass(frozen=True)
class Result:
    """A finished process. `argv` is redacted (safe to show); the output is as the tool wrote it."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class TimedOut(Exception):
    """Raised by `_spawn` when the process ran past its timeout (and was killed)."""

    def __init__(self, timeout: float, stdout: str = "", stderr: str = "") -> None:
        super().__init__(f"timed out after {timeout:g} s")
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class ToolError(PoorenvError):
    """A tool could not be started, did not finish in time, or failed (one line, redacted).

    `detail` is the tool's own line about what went wrong (or the OS's reason it could not
    start, or the timeout); `returncode` is None when it did not start or was stopped;
    `tail` holds the last lines of its output; `details`, the last lines of a failed package
    build's own output when pip reported one (shown after the hint).
    """

    def __init__(
        self,
        what: str,
        detail: str,
        *,
        message: str | None = None,
        returncode: int | None = None,
        timed_out: bool = False,
        tail: Sequence[str] = (),
    ) -> None:
        super().__init__(message or f"{what}: {detail}", details=build_output("\n".join(tail)))
        self.what = what
        self.detail = detail
        self.returncode = returncode
        self.timed_out = timed_out
        self.tail = tuple(tail)


def _settings(environ: Mapping[str, str]) -> list[str]:
    """The index settings poorenv passes by environment (never in argv, where other users can
    read them), as `NAME=value` words for the log, redacted."""
    from poorenv.index import VARIABLES

    return [
        redact(f"{name}={environ[name]}")
        for name in VARIABLES
        if name in environ and os.environ.get(name) != environ[name]
    ]


def run(
    argv: Sequence[str | Path],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> Result:
    """Run `argv` and capture its output as text. `what` names the step in errors and logs.

    `env=None` means `paths.clean_environ()`. Raises ToolError when the tool cannot be started,
    runs past `timeout`, or (with `check`) exits non-zero; with `check=False` the caller reads
    the Result.
    """
    words = [str(word) for word in argv]
    shown = redact_argv(words)
    environ = paths.clean_environ() if env is None else dict(env)
    log.info("running %s", shlex.join([*_settings(environ), *shown]))
    environ.update(cache.children_environ())  # only while the run uses a temporary cache
    try:
        result = _spawn(words, environ, None if cwd is None else str(cwd), input, timeout)
    except TimedOut as exc:
        _log_output(what, exc.stdout, exc.stderr)
        detail = f"no answer within {exc.timeout:g} s"
        raise ToolError(what, detail, timed_out=True, tail=_tail(exc.stdout, exc.stderr)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        name = Path(words[0]).name if words else "nothing"
        raise ToolError(what, reason, message=f"{what}: cannot run {name}: {reason}") from None
    result = Result(tuple(shown), result.returncode, result.stdout, result.stderr)
    if result.returncode != 0:
        _log_output(what, result.stdout, result.stderr)
        if check:
            output = result.stderr if result.stderr.strip() else result.stdout
            raise ToolError(
                what,
                last_error_line(output),
                returncode=result.returncode,
                tail=_tail(result.stdout, result.stderr, build=True),
            )
    return result


def _spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    input: str | None,
    timeout: float | None,
) -> Result:
    """Start the process and wait for it: the one call of subprocess (tests replace this).

    Signals stay as poorenv has them (restore_signals=False): Python ignores SIGXFSZ, so
    under a file-size limit a child's write fails with EFBIG, which it reports, instead of
    killing it half-way without a word (uv would be; SIGPIPE is ignored by Rust and Python
    programs anyway).
    """
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, input=input, timeout=timeout,
            capture_output=True, text=True, errors="replace", check=False,
            restore_signals=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise TimedOut(exc.timeout, _text(exc.stdout), _text(exc.stderr)) from None
    return Result(tuple(argv), done.returncode, done.stdout, done.stderr)


def _text(output: str | bytes | None) -> str:
    """Output a timed-out process left (subprocess gives bytes then, even in text mode)."""
    if output is None:
        return ""
    return output.decode("utf-8", "replace") if isinstance(output, bytes) else output


def _log_output(what: str, stdout: str, stderr: str) -> None:
    text = "\n".join(part.rstrip("\n") for part in (stdout, stderr) if part.strip())
    log.debug("%s: the tool said:\n%s", what, redact(text) or "(nothing)")


def _tail(stdout: str, stderr: str, build: bool = False) -> tuple[str, ...]:
    """The last non-empty lines of stderr (of stdout when stderr is empty), redacted; with
    `build`, a failed build's whole report is kept (`build_output` reads it)."""
    output = stderr if stderr.strip() else stdout
    lines = [redact(line.rstrip()) for line in output.splitlines() if line.strip()]
    start = len(lines) - TAIL_LINES
    if build:
        marks = [i for i, line in enumerate(lines) if _BUILD_OUTPUT.match(line.strip())]
        start = min([start, *marks[-1:]])
    return tuple(lines[max(start, 0) :])


# pip's report of a failed build (setup.py, a PEP 517 backend):
#   error: subprocess-exited-with-error
#   \u00d7 Getting requirements to build wheel did not run successfully.
#   │ exit code: 1
#   ╰─> [4 lines of output]
#       ...the backend's own output...
#       [end of output]
#   note: This error originates from a subprocess, and is likely not a problem with pip.
_BUILD_START = "╰─>"
_BUILD_ENDS = ("[end of output]", "note: This error originates from a subprocess")
_BUILD_OUTPUT = re.compile(r"^╰─> \[\d+ lines? of output\]")
_STEP = "\u00d7 "  # the multiplication sign pip marks the failed step with


def build_output(text: str) -> tuple[str, ...]:
    """The last lines of the build's own output in pip's report of a failed build, redacted
    (the last report when there are several); () when `text` holds none."""
    lines = text.splitlines()
    # "╰─> [N lines of output]" opens a build's output; "╰─> alpha" lists what failed
    starts = [i for i, line in enumerate(lines) if _BUILD_OUTPUT.match(line.strip())]
    if not starts:
        return ()
    own: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        if line.strip().startswith(_BUILD_ENDS):
            break
        if line.strip():
            own.append(redact(line.strip()))
    return tuple(own[-BUILD_LINES:])


def _outside_builds(lines: Sequence[str]) -> list[str]:
    """`lines` without the builds' own output that pip's reports of failed builds quote."""
    kept: list[str] = []
    inside = False
    for line in lines:
        if _BUILD_OUTPUT.match(line.strip()):
            inside = True
        elif inside and line.strip().startswith(_BUILD_ENDS):
            inside = False
        elif not inside:
            kept.append(line)
    return kept


_ERROR_CODE = re.compile(r"^[a-z]+(?:-[a-z]+)+$")


def _failed_step(lines: Sequence[str]) -> str | None:
    """pip's line naming the failed step of a build, without its mark, and what failed when
    pip lists it on one line ("... projects: alpha")."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(_STEP):
            step = lines[i][len(_STEP) :].strip()
            after = [line.strip() for line in lines[i + 1 : i + 3]]
            named = [
                line[len(_BUILD_START) :].strip() for line in after if line.startswith(_BUILD_START)
            ]
            if named and named[0] and not named[0].startswith("["):
                return f"{step}: {named[0]}"
            return step
    return None


_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")
_ASKED = re.compile(r"requirement (\S+)")


def nearest_versions(line: str) -> str:
    """`line` with pip's "(from versions: ...)" list cut to the NEAREST_VERSIONS versions
    nearest to the one asked for (the newest when none is named), the rest counted."""
    match = _VERSIONS.search(line)
    if match is None:
        return line
    found = [v.strip() for v in match.group(1).split(",") if v.strip()]
    if len(found) <= NEAREST_VERSIONS:
        return line
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    def key(text: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(text))
        except InvalidVersion:
            return (0, text)

    centre = len(found)
    asked = _ASKED.search(line[: match.start()])
    try:
        pins = [s.version for s in Requirement(asked.group(1)).specifier] if asked else []
        wanted = key(pins[0]) if pins else None
    except (InvalidRequirement, InvalidVersion, TypeError):
        wanted = None
    if wanted is not None and wanted[0]:
        centre = sum(1 for v in found if key(v) < wanted)
    start = max(0, min(centre - NEAREST_VERSIONS // 2, len(found) - NEAREST_VERSIONS))
    kept = found[start : start + NEAREST_VERSIONS]
    shown = ", ".join(kept)
    if start:
        shown = f"... {start} older, {shown}"
    newer = len(found) - start - len(kept)
    if newer:
        shown = f"{shown}, ... {newer} newer"
    return f"{line[: match.start()]}(from versions: {shown}){line[match.end() :]}"


_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|NotFound)): (.+)$"
)


def last_error_line(text: str) -> str:
    """The one line of a tool's output that says what went wrong, redacted.

    The last `ERROR:`/`error:` line (without that prefix; for a failed build, pip's line
    naming the step that failed), else the message of the last `...Error: message` exception
    line, else the last line. A long list of available versions is cut to the nearest.
    """
    lines = [line.strip() for line in _outside_builds(text.splitlines()) if line.strip()]
    for line in reversed(lines):
        if line.startswith(("ERROR: ", "error: ")):
            said = line.split(": ", 1)[1]
            if _ERROR_CODE.match(said):  # "subprocess-exited-with-error": the step says more
                said = _failed_step(lines) or said
            return redact(nearest_versions(said))
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return redact(match.group(2))
    return redact(lines[-1] if lines else "no output")
