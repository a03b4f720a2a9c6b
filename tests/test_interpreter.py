from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poorenv import _run
from poorenv.discover.find import find_interpreter
from poorenv.discover.interpreter import probe
from poorenv.errors import InterpreterError
from tests.conftest import INTERPRETERS, PYENV_ROOT, find_base


def test_probe_reports_the_real_interpreter(base_python: Path) -> None:
    facts = probe(base_python)
    xy = base_python.name[len("python") :]
    assert facts.xy == xy
    assert facts.implementation == "cpython"
    assert Path(facts.executable) == base_python.resolve()
    assert Path(facts.stdlib, "os.py").is_file()
    assert facts.exe_name == f"python{xy}"
    assert "@POORENV_PREFIX@" in facts.prefix_paths["purelib"]


def test_probe_answer_is_cached_by_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    exe = INTERPRETERS[0][1]
    first = probe(exe)

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("the probe ran again")

    monkeypatch.setattr(_run, "_spawn", no_process)
    assert probe(exe) == first


def test_changed_executable_is_probed_again(tmp_path: Path) -> None:
    exe = INTERPRETERS[0][1]
    link = tmp_path / "python"
    link.symlink_to(exe)
    probe(link)
    calls = []
    real_spawn = _run._spawn

    def counting(*args: Any, **kwargs: Any) -> _run.Result:
        calls.append(args)
        return real_spawn(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_run, "_spawn", counting)
        link.unlink()
        link.symlink_to(INTERPRETERS[-1][1])  # same path, another interpreter behind it
        facts = probe(link)
    assert calls
    assert Path(facts.executable) == INTERPRETERS[-1][1].resolve()


@pytest.mark.skipif(find_base("3.12") is None, reason="needs pyenv's 3.12")
def test_x_y_request_finds_pyenv_version() -> None:
    facts = find_interpreter("3.12", Path.cwd())
    assert facts.xy == "3.12"


@pytest.mark.skipif(find_base("3.10") is None, reason="needs pyenv's 3.10")
def test_specifier_request_picks_newest_match() -> None:
    facts = find_interpreter(">=3.9,<3.11", Path.cwd())
    assert facts.xy == "3.10"


def test_exact_version_request() -> None:
    exe = INTERPRETERS[0][1]
    version = probe(exe).version
    assert find_interpreter(version, Path.cwd()).version == version


def test_path_request_is_relative_to_the_project(tmp_path: Path) -> None:
    exe = INTERPRETERS[-1][1]
    (tmp_path / "py").symlink_to(exe)
    assert find_interpreter("./py", tmp_path).executable == str(exe.resolve())


@pytest.mark.parametrize(
    ("request_text", "words"),
    [
        ("3.99", "no CPython matching '3.99'"),
        ("2.7", "3.8 and newer"),
        ("three", "not a version, a version specifier or a path"),
        ("./missing/python", "no such file"),
    ],
)
def test_bad_requests_are_clear(request_text: str, words: str, tmp_path: Path) -> None:
    with pytest.raises(InterpreterError) as info:
        find_interpreter(request_text, tmp_path)
    assert words in info.value.message


def test_a_file_that_is_not_python_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(InterpreterError, match="not a usable Python"):
        probe(fake)


def test_too_old_python_is_refused() -> None:
    root = PYENV_ROOT / "versions"
    for version in ("3.7", "3.6"):
        found = sorted(root.glob(f"{version}.*/bin/python{version}")) if root.is_dir() else []
        if found:
            with pytest.raises(InterpreterError, match="too old"):
                probe(found[0])
            return
    pytest.skip("no Python older than 3.8 on this machine")


@pytest.mark.parametrize("copies", [False, True], ids=["symlinks", "copies"])
def test_a_venv_interpreter_is_refused_naming_its_base(tmp_path: Path, copies: bool) -> None:
    import subprocess

    base = INTERPRETERS[0][1]
    venv = tmp_path / "venv"
    flags = ["--copies"] if copies else []
    subprocess.run([str(base), "-m", "venv", "--without-pip", *flags, str(venv)], check=True)
    with pytest.raises(InterpreterError, match="is inside a virtual environment") as info:
        find_interpreter(str(venv / "bin" / "python"), tmp_path)
    assert info.value.hint is not None and str(PYENV_ROOT) in info.value.hint
