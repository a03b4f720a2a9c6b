"""`poorenv run`'s command lookup and start, on files in tmp_path and a fake `os.execve`."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from poorenv import launch
from poorenv.launch import (
    EXIT_CANNOT_RUN,
    EXIT_NOT_FOUND,
    RunError,
    exec_command,
    find_command,
    missing_interpreter,
    script_interpreter,
)

TRAMPOLINE = "#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''\nimport sys\n"


def write(path: Path, text: str | bytes, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def refusal(call: object, *args: object) -> RunError:
    with pytest.raises(RunError) as info:
        call(*args)  # type: ignore[operator]
    return info.value


class Exec:
    """Records the first `os.execve` and fails the later ones with `errors` in turn."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, path: str, argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
        self.calls.append((path, list(argv)))
        error = self.errors.pop(0) if self.errors else None
        if error is None:
            raise SystemExit("exec'd")
        raise OSError(error, os.strerror(error))


def use(monkeypatch: pytest.MonkeyPatch, fake: Exec) -> Exec:
    monkeypatch.setattr(launch.os, "execve", fake)
    return fake


# --- finding the command ------------------------------------------------------------------------


def test_a_name_is_the_first_executable_file_on_path(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write(first / "tool", "", mode=0o644)  # not executable: passed over
    (second / "tool").mkdir(parents=True)  # a directory: passed over
    third = write(tmp_path / "c" / "tool", "#!/bin/sh\n")
    path = os.pathsep.join(str(d) for d in (first, second, tmp_path / "c"))
    assert find_command("tool", path) == str(third)


def test_not_found_is_127(tmp_path: Path) -> None:
    error = refusal(find_command, "nosuchcmd", str(tmp_path))
    assert (error.message, error.exit_code, error.hint) == (
        "run: command not found: nosuchcmd", EXIT_NOT_FOUND, None)  # fmt: skip
    error = refusal(find_command, str(tmp_path / "gone"), str(tmp_path))
    assert error.exit_code == EXIT_NOT_FOUND
    assert error.message == f"run: {tmp_path / 'gone'}: no such file or directory"


def test_found_but_not_executable_is_126(tmp_path: Path) -> None:
    data = write(tmp_path / "data.txt", "rows\n", mode=0o644)
    error = refusal(find_command, str(data), "")
    assert (error.exit_code, error.message) == (
        EXIT_CANNOT_RUN, f"run: {data}: permission denied (not executable)")  # fmt: skip
    error = refusal(find_command, "data.txt", str(tmp_path))  # only a non-executable one on PATH
    assert (error.exit_code, error.message) == (
        EXIT_CANNOT_RUN, f"run: {data}: permission denied (not executable)")  # fmt: skip
    error = refusal(find_command, str(tmp_path), "")
    assert (error.exit_code, error.message) == (EXIT_CANNOT_RUN, f"run: {tmp_path}: is a directory")


# --- a script's interpreter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "interpreter"),
    [
        (b"#!/srv/old/.poorenv/bin/python3.12\nimport sys\n", "/srv/old/.poorenv/bin/python3.12"),
        (b"#! /usr/bin/python3 -I\n", "/usr/bin/python3"),
        (TRAMPOLINE.format(python="/a b/.poorenv/bin/python").encode(), "/a b/.poorenv/bin/python"),
        (b"#!/usr/bin/env python3\n", "python3"),
        (b"#!/usr/bin/env -S PYTHONUTF8=1 python3 -u\n", "python3"),
        (b"#!/bin/sh\necho hi\n", "/bin/sh"),
        (b"\x7fELF\x02\x01\x01\0", None),
        (b"echo no shebang\n", None),
        (b"#!\n", None),
        (b"#!/usr/bin/env\n", None),
    ],
)
def test_script_interpreter(head: bytes, interpreter: str | None) -> None:
    assert script_interpreter(head) == interpreter


def test_missing_interpreter_is_found_and_present_ones_are_not(tmp_path: Path) -> None:
    gone = str(tmp_path / "old" / ".poorenv" / "bin" / "python3")
    here = write(tmp_path / "bin" / "python3", "")
    path = str(tmp_path / "bin")
    cases = {
        f"#!{gone}\n": gone,
        TRAMPOLINE.format(python=gone): gone,
        "#!/usr/bin/env python9\n": "python9",
        f"#!{here}\n": None,
        TRAMPOLINE.format(python=here): None,
        "#!/usr/bin/env python3\n": None,  # on `path`
        "no shebang\n": None,
    }
    for i, (text, missing) in enumerate(cases.items()):
        script = write(tmp_path / f"script{i}", text)
        assert missing_interpreter(str(script), path) == missing, text
    assert missing_interpreter(str(tmp_path / "unreadable"), path) is None


# --- starting it --------------------------------------------------------------------------------


def test_exec_replaces_the_process_with_the_command_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = write(tmp_path / "bin" / "tool", "#!/bin/sh\n")
    fake = use(monkeypatch, Exec())
    with pytest.raises(SystemExit):
        exec_command(["tool", "-x"], {"PATH": str(tmp_path / "bin")})
    assert fake.calls == [(str(tool), ["tool", "-x"])]


def test_a_script_whose_interpreter_is_gone_names_it_and_suggests_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = "/srv/old/.poorenv/bin/python3.12"
    write(tmp_path / "bin" / "flask", f"#!{gone}\n")
    fake = use(monkeypatch, Exec())
    error = refusal(exec_command, ["flask", "run"], {"PATH": str(tmp_path / "bin")})
    assert error.message == f"run: flask: its interpreter {gone} does not exist"
    assert error.exit_code == EXIT_NOT_FOUND
    assert "`poorenv sync`" in (error.hint or "")
    assert fake.calls == []
    write(tmp_path / "bin" / "tool", "#!/usr/bin/env python9\n")
    error = refusal(exec_command, ["tool"], {"PATH": str(tmp_path / "bin")})
    assert (error.message, error.exit_code, error.hint) == (
        "run: tool: its interpreter python9 is not on PATH", EXIT_NOT_FOUND, None)  # fmt: skip


def test_a_script_without_a_shebang_runs_in_sh_as_a_shell_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write(tmp_path / "job", "echo hi\n")
    fake = use(monkeypatch, Exec(errno.ENOEXEC))
    with pytest.raises(SystemExit):
        exec_command([str(script), "a"], {"PATH": ""})
    assert fake.calls == [
        (str(script), [str(script), "a"]),
        ("/bin/sh", ["/bin/sh", str(script), "a"]),
    ]


@pytest.mark.parametrize(
    ("content", "errors", "code", "words"),
    [
        (b"\0\1\2binary", (errno.ENOEXEC,), EXIT_CANNOT_RUN, "not a program for this machine"),
        (b"#!/bin/sh\n", (errno.EACCES,), EXIT_CANNOT_RUN, "permission denied"),
        (b"\x7fELF", (errno.ENOENT,), EXIT_NOT_FOUND, "no such file or directory"),
        (b"echo hi\n", (errno.ENOEXEC, errno.E2BIG), EXIT_CANNOT_RUN, "argument list too long"),
    ],
)
def test_a_failed_exec_is_one_line_with_the_shells_code(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    errors: tuple[int, ...],
    code: int,
    words: str,
) -> None:
    program = write(tmp_path / "program", content)
    use(monkeypatch, Exec(*errors))
    error = refusal(exec_command, [str(program)], {"PATH": ""})
    assert error.exit_code == code
    assert error.message == f"run: {program}: cannot run: {words}"
