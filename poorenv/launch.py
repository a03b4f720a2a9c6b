"""`poorenv run`'s command: found and started as a shell would, and failing as a shell does.

Not found: exit 127. Found but not executable (a directory, no execute bit): exit 126. Each is
one `error:` line, never a traceback. A script whose interpreter is gone (a console script of
an env that was moved, removed or rebuilt names a python that no longer exists) says which
interpreter is missing and that `poorenv sync` rewrites the env's scripts, with exit 127 as
bash 5.2, zsh, dash and fish give (older bash gave 126 for its "bad interpreter").
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from poorenv.errors import PoorenvError

EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127
_HEAD = 1024  # bytes of a script read to find its interpreter
_TRAMPOLINE = "'''exec"  # pip's `#!/bin/sh` scripts: `'''exec' "/path/python" "$0" "$@"`


class RunError(PoorenvError):
    """The command cannot be started; `exit_code` is the one a shell would give."""

    def __init__(self, message: str, exit_code: int, hint: str | None = None) -> None:
        super().__init__(f"run: {message}", hint)
        self.exit_code = exit_code


def exec_command(argv: Sequence[str], environ: Mapping[str, str]) -> NoReturn:
    """Replace this process by `argv[0]`, looked up on `environ`'s PATH as a shell would."""
    search_path = environ.get("PATH", os.defpath)
    exe = find_command(argv[0], search_path)
    missing = missing_interpreter(exe, search_path)
    if missing is not None:
        if "/" not in missing:  # `#!/usr/bin/env NAME`
            raise RunError(f"{argv[0]}: its interpreter {missing} is not on PATH", EXIT_NOT_FOUND)
        raise RunError(
            f"{argv[0]}: its interpreter {missing} does not exist",
            EXIT_NOT_FOUND,
            hint="was the env moved, removed or rebuilt? `poorenv sync` rewrites its scripts",
        )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(exe, list(argv), dict(environ))
    except OSError as exc:
        if exc.errno == errno.ENOEXEC and not _is_binary(exe):
            try:  # no `#!` line: run it as a shell script, as shells and execvp do
                os.execve("/bin/sh", ["/bin/sh", exe, *argv[1:]], dict(environ))
            except OSError as again:
                exc = again
        raise _exec_error(argv[0], exc) from None


def find_command(name: str, search_path: str) -> str:
    """The file that `name` runs: a name with a slash as given, else the first executable
    file of that name on `search_path`. Raises RunError with the shell's exit code."""
    if not name:
        raise RunError("command not found: ''", EXIT_NOT_FOUND)
    if "/" in name:
        if not os.path.exists(name):
            raise RunError(f"{name}: no such file or directory", EXIT_NOT_FOUND)
        if os.path.isdir(name):
            raise RunError(f"{name}: is a directory", EXIT_CANNOT_RUN)
        if not os.access(name, os.X_OK):
            raise RunError(f"{name}: permission denied (not executable)", EXIT_CANNOT_RUN)
        return name
    not_executable = None
    for directory in search_path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            not_executable = not_executable or candidate
    if not_executable is not None:  # as bash: only a file without the execute bit is found
        message = f"{not_executable}: permission denied (not executable)"
        raise RunError(message, EXIT_CANNOT_RUN)
    raise RunError(f"command not found: {name}", EXIT_NOT_FOUND)


def script_interpreter(head: bytes) -> str | None:
    """The program a script's first bytes start: its `#!` line's, the python of pip's
    `/bin/sh` trampoline (pip writes one for long or spaced paths), or the name that
    `#!/usr/bin/env NAME` looks up on PATH (a name without a slash)."""
    if not head.startswith(b"#!"):
        return None
    lines = head.decode("utf-8", "replace").splitlines()
    words = lines[0][2:].split()
    if not words:
        return None
    if os.path.basename(words[0]) == "sh" and len(lines) > 1 and lines[1].startswith(_TRAMPOLINE):
        try:
            parts = shlex.split(lines[1])
        except ValueError:
            return None
        return parts[1] if len(parts) > 1 and parts[0] == "exec" else None
    if os.path.basename(words[0]) == "env":
        names = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        return names[0] if names else None
    return words[0]


def missing_interpreter(exe: str, search_path: str) -> str | None:
    """The interpreter `exe`'s first lines name, when it is missing (a name without a slash:
    not on `search_path`); None when there is none, it is there, or `exe` cannot be read."""
    try:
        with open(exe, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    interpreter = script_interpreter(head)
    if interpreter is None:
        return None
    if "/" in interpreter:
        return None if os.path.exists(interpreter) else interpreter
    try:
        find_command(interpreter, search_path)
    except RunError:
        return interpreter
    return None


def _is_binary(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"\0" in handle.read(80)
    except OSError:
        return True


def _exec_error(name: str, exc: OSError) -> RunError:
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == errno.ENOENT:  # gone meanwhile, or an ELF program whose loader is missing
        return RunError(f"{name}: cannot run: {reason}", EXIT_NOT_FOUND)
    if exc.errno == errno.ENOEXEC:
        return RunError(f"{name}: cannot run: not a program for this machine", EXIT_CANNOT_RUN)
    return RunError(f"{name}: cannot run: {reason}", EXIT_CANNOT_RUN)
