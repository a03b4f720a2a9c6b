"""The installers that carry out poorenv's package actions: pip (default) and uv.

Both are driven by poorenv's plan: they get exactly the hash-pinned lines to install, with
`--no-deps`, or exactly the names to remove. pip runs from its cached wheel inside the env's
interpreter; uv is the binary of the `uv` package (`pip install poorenv[uv]`), pointed at the
env's interpreter with `--python` (it then needs no `--system`: the env is its own prefix).
The index settings reach both by their environment (`index.index_environ`), never in argv,
where credentials would be public.

Each installer owns reading its tool's output: a failure becomes one `InstallerError` line
(hash mismatches name the package, a full disk or a read-only env gets its hint). Neither
writes poorenv's own files: the pip installer returns the RECORD files to rewrite and the
applier writes them.
"""

from __future__ import annotations

import errno
import logging
import re
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from poorenv import paths
from poorenv._run import BUILD_LINES, Result, ToolError, build_output, last_error_line, run
from poorenv.apply import pipwheel
from poorenv.errors import ApplyError, os_hint
from poorenv.index import uv_flags
from poorenv.redact import redact

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

log = logging.getLogger(__name__)

INSTALLING = "installing packages"
REMOVING = "removing packages"
INSTALLING_PROJECT = "installing the project editable"
_DEBUG_HINT = "--debug shows the installer's output"
_NO_OUTPUT = "the installer failed"
_HASH_HINT = (
    "if the lock was edited by hand, run `poorenv lock` again; otherwise the index"
    " serves another file than the one locked"
)


class InstallerError(ApplyError):
    """pip or uv failed: one line saying what went wrong, and a hint."""


class Installer(Protocol):
    """What the applier needs from a package installer."""

    @property
    def name(self) -> str:
        """ "pip" or "uv": the name poorenv.toml and `--installer` use."""
        ...

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        """Install hash-pinned requirement lines (`LockedPackage.requirement()`) with
        `--require-hashes --no-deps` and the index settings in the installer's environment.

        Returns the RECORD files to rewrite (path -> new text); the caller writes them.
        Raises InstallerError.
        """
        ...

    def uninstall(self, names: Sequence[str]) -> None:
        """Remove the distributions `names`. Raises InstallerError."""
        ...

    def install_editable(self, path: Path) -> None:
        """Install the project in `path` editable (PEP 660) with `--no-deps`, its build backend
        fetched into an isolated build env with the index settings. Raises InstallerError."""
        ...


@dataclass(frozen=True)
class PipInstaller:
    """pip from its cached wheel, run by the env's interpreter with `--no-compile`; the new
    distributions are then compiled on every core (bytecode.py) and their RECORDs returned."""

    python: Path  # ENV/bin/pythonX.Y (Layout.exe)
    base: Interpreter
    # [index] as variables (index.index_environ); may hold credentials: never in argv or logs
    index_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    name: str = "pip"

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        with tempfile.TemporaryDirectory(prefix="poorenv-install-") as tmp:
            listing = _write_requirements(Path(tmp), requirements)
            args = [
                # --no-compile: poorenv compiles afterwards, on every core (bytecode.py).
                "install", "--require-hashes", "--no-deps", "--no-compile",
                "--no-warn-script-location", "--no-warn-conflicts", "--root-user-action=ignore",
                *(["--force-reinstall"] if reinstall else []), "-r", str(listing),
            ]  # fmt: skip
            result = self._pip(args, INSTALLING)
        if result.returncode != 0:
            raise _killed(INSTALLING, result, self.name) or pip_failure(INSTALLING, result.stderr)
        return compile_new(self.python, self.base, [requirement_name(r) for r in requirements])

    def uninstall(self, names: Sequence[str]) -> None:
        result = self._pip(["uninstall", "--yes", "--root-user-action=ignore", *names], REMOVING)
        if result.returncode != 0:
            raise _killed(REMOVING, result, self.name) or pip_failure(REMOVING, result.stderr)

    def install_editable(self, path: Path) -> None:
        args = [
            "install", "--no-deps", "--no-compile", "--no-warn-script-location",
            "--no-warn-conflicts", "--root-user-action=ignore", "--editable", str(path),
        ]  # fmt: skip
        result = self._pip(args, INSTALLING_PROJECT)
        if result.returncode != 0:
            raise _killed(INSTALLING_PROJECT, result, self.name) or pip_failure(
                INSTALLING_PROJECT, result.stderr
            )

    def _pip(self, args: list[str], what: str) -> Result:
        try:
            return pipwheel.run_pip(
                self.python, self.base, args, what=what, check=False, environ=self.index_env
            )
        except ToolError as exc:
            raise InstallerError(exc.message, hint=_DEBUG_HINT) from None


@dataclass(frozen=True)
class UvInstaller:
    """uv's `pip install` / `pip uninstall`, given the env's interpreter with `--python`, without
    UV_COMPILE_BYTECODE (uv's `--no-compile-bytecode` would clash with that variable): the new
    distributions are then compiled by poorenv as pip's are, reproducibly (bytecode.py), when
    `base` is known; bytecode uv wrote anyway (`compile-bytecode` in uv.toml) is replaced."""

    python: Path  # ENV/bin/pythonX.Y
    uv: str  # the uv binary
    index_env: Mapping[str, str] = field(default_factory=dict, repr=False)  # as PipInstaller's
    name: str = "uv"
    base: Interpreter | None = None

    def install(self, requirements: Sequence[str], reinstall: bool) -> Mapping[Path, str]:
        with tempfile.TemporaryDirectory(prefix="poorenv-install-") as tmp:
            listing = _write_requirements(Path(tmp), requirements)
            argv = [
                self.uv, "pip", "install", "--python", str(self.python), "--require-hashes",
                "--no-deps", *(["--reinstall"] if reinstall else []),
                *uv_flags(self.index_env), "-r", str(listing),
            ]  # fmt: skip
            result = self._uv(argv, INSTALLING)
        if result.returncode != 0:
            raise _killed(INSTALLING, result, self.name) or uv_failure(INSTALLING, result.stderr)
        if self.base is None:
            return {}
        return compile_new(self.python, self.base, [requirement_name(r) for r in requirements])

    def uninstall(self, names: Sequence[str]) -> None:
        argv = [self.uv, "pip", "uninstall", "--python", str(self.python), *names]
        result = self._uv(argv, REMOVING)
        if result.returncode != 0:
            raise _killed(REMOVING, result, self.name) or uv_failure(REMOVING, result.stderr)

    def install_editable(self, path: Path) -> None:
        argv = [
            self.uv, "pip", "install", "--python", str(self.python), "--no-deps",
            *uv_flags(self.index_env), "--editable", str(path),
        ]  # fmt: skip
        result = self._uv(argv, INSTALLING_PROJECT)
        if result.returncode != 0:
            raise _killed(INSTALLING_PROJECT, result, self.name) or uv_failure(
                INSTALLING_PROJECT, result.stderr
            )

    def _uv(self, argv: list[str], what: str) -> Result:
        try:
            env = paths.clean_environ(**self.index_env)
            env.pop("UV_COMPILE_BYTECODE", None)  # poorenv compiles, reproducibly
            return run(argv, what=what, check=False, env=env)
        except ToolError as exc:
            raise InstallerError(exc.message, hint=_DEBUG_HINT) from None


def compile_new(python: Path, base: Interpreter, names: list[str]) -> dict[Path, str]:
    """Compile the just-installed distributions `names` of the env of `python`; the RECORD
    texts to write. A failed compiler is a warning (bytecode is a cache); no space is an
    InstallerError (the install has not finished)."""
    from poorenv.apply.bytecode import compile_distributions
    from poorenv.state.scheme import Scheme

    env = python.parent.parent
    scheme = Scheme.of(env, base.env_paths(env))
    try:
        return compile_distributions(python, scheme, names, base.cache_tag)
    except ToolError as exc:  # the packages are installed: bytecode is only a cache
        log.warning("%s; Python will compile the new packages when it imports them", exc)
        return {}
    except OSError as exc:  # no space for the bytecode: this install has not finished
        raise InstallerError(
            f"compiling bytecode: {exc.strerror}: {exc.filename}", hint=os_hint(exc)
        ) from None


def make_installer(
    name: str, python: Path, base: Interpreter, index_env: Mapping[str, str] | None = None
) -> Installer:
    """The installer called `name` for the env of `python`, given `[index]` as variables
    (`index.index_environ`); a missing uv is an ApplyError here, before anything changes."""
    index_env = dict(index_env or {})
    if name != "uv":
        return PipInstaller(python, base, index_env)
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ApplyError(
            'installer "uv": the uv package is not installed beside poorenv',
            hint="pip install 'poorenv[uv]', or use installer = \"pip\"",
        ) from None
    return UvInstaller(python, str(find_uv_bin()), index_env, base=base)


def requirement_name(line: str) -> str:
    """The distribution name of a hash-pinned line (`name==version ; markers \\ --hash=...`)."""
    return re.split(r"[=<>!~;\s\[]", line.strip(), maxsplit=1)[0]


def _write_requirements(directory: Path, requirements: Sequence[str]) -> Path:
    listing = directory / "requirements.txt"
    listing.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    return listing


# --- reading what the tools said -------------------------------------------------------------


def pip_failure(what: str, stderr: str) -> InstallerError:
    """One line for what pip said went wrong."""
    if "DO NOT MATCH THE HASHES" in stderr:
        # pip lists each culprit indented: "    alpha==1.0 from file:///...:"
        culprits = [
            line.strip().split(" from ")[0]
            for line in stderr.splitlines()
            if line.startswith("    ") and "==" in line
        ]
        return _hash_mismatch(what, culprits)
    detail = last_error_line(stderr) if stderr.strip() else _NO_OUTPUT
    if detail == "Exception:":  # pip crashed; its traceback ends with the exception's line
        ends = [line for line in stderr.splitlines() if line.strip() and line[0] not in " \t"]
        detail = redact(ends[-1].strip()) if ends else detail
    failure = _failure(what, detail)
    failure.details = build_output(stderr)  # a failed sdist build's own last lines
    return failure


def uv_failure(what: str, stderr: str) -> InstallerError:
    """One line for what uv said went wrong (its last `error:` or `Caused by:` line)."""
    if "Hash mismatch" in stderr:
        return _hash_mismatch(what, re.findall(r"Hash mismatch for `([^`]+)`", stderr))
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes: list[str] = []  # each cause with the lines uv wrapped it onto (long paths)
    for line in lines:
        if line.startswith(_UV_CAUSES) or line.startswith("[std"):
            causes.append(line)
        elif causes and not causes[-1].startswith("[std"):
            causes[-1] += f" {line}"
    causes = [cause for cause in causes if not cause.startswith("[std")]
    detail = (causes or lines or [_NO_OUTPUT])[-1]
    for prefix in _UV_CAUSES:
        if detail.startswith(prefix):
            detail = detail[len(prefix) :].strip()
    failure = _failure(what, redact(detail))
    failure.details = _uv_build_output(stderr)
    return failure


def _uv_build_output(stderr: str) -> tuple[str, ...]:
    """The last lines of a failed build's own output, as uv quotes it under `[stdout]` and
    `[stderr]` (indented), redacted."""
    lines = stderr.splitlines()
    marks = [i for i, line in enumerate(lines) if line.strip() in ("[stdout]", "[stderr]")]
    if not marks:
        return ()
    own = []
    for line in lines[marks[0] + 1 :]:
        if line.strip() and not line.startswith(" "):
            break
        if line.strip() and line.strip() not in ("[stdout]", "[stderr]"):
            own.append(redact(line.strip()))
    return tuple(own[-BUILD_LINES:])


_UV_CAUSES = ("error:", "Caused by:", "cause:")  # "cause:" from uv 0.5 on


def _killed(what: str, result: Result, tool: str) -> InstallerError | None:
    """A tool stopped by a signal (a kill, the OOM killer) says nothing: say that."""
    if result.returncode >= 0:
        return None
    try:
        name = signal.Signals(-result.returncode).name
    except ValueError:
        name = f"signal {-result.returncode}"
    return InstallerError(
        f"{what}: {tool} was killed by {name}",
        hint="run `poorenv sync` again to finish; `poorenv check` shows what is unfinished",
    )


def _hash_mismatch(what: str, culprits: list[str]) -> InstallerError:
    named = f" for {', '.join(dict.fromkeys(culprits))}" if culprits else ""
    return InstallerError(
        redact(f"{what}: hash mismatch{named}")
        + ": the downloaded file matches no hash in poorenv.lock; nothing was installed",
        hint=_HASH_HINT,
    )


def _failure(what: str, detail: str) -> InstallerError:
    hint = None
    if any(s in detail for s in ("[Errno 28]", "No space left", "[Errno 122]", "quota exceeded")):
        hint = os_hint(OSError(errno.ENOSPC, detail))
    elif "[Errno 27]" in detail or "File too large" in detail or "os error 27" in detail:
        hint = os_hint(OSError(errno.EFBIG, detail))
    elif any(s in detail for s in ("[Errno 30]", "[Errno 13]", "Read-only", "ermission denied")):
        hint = os_hint(OSError(errno.EACCES, detail))
    return InstallerError(f"{what}: {detail}", hint=hint or _DEBUG_HINT)
