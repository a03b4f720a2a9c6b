"""Interpreter discovery (discover/find.py, discover/places.py) on a fake machine: a pyenv root,
PATH and system dirs in tmp_path holding files named as the real ones, and a prober answering
from the probe answers recorded on the real machine (tests/recorded.py). No process starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from poorenv.discover import interpreter, places
from poorenv.discover.find import find_interpreter
from poorenv.discover.interpreter import Interpreter
from poorenv.errors import InterpreterError
from poorenv.paths import MARKER, STATE_DIR
from poorenv.state import fastpath
from tests.recorded import load, names

ALL = [n for n in names() if n.startswith("pyenv-") and n != "pyenv-3.7.16"] + ["debian-3.11"]


def refused(words: str) -> AbstractContextManager[pytest.ExceptionInfo[InterpreterError]]:
    """An InterpreterError whose message holds `words`."""
    return pytest.raises(InterpreterError, match=re.escape(words))


@pytest.fixture(autouse=True)
def _no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any process start fails the test: these tests run on recorded answers only."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a discovery test started a process: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    for name in ("system", "fork", "posix_spawn", "posix_spawnp", "execv", "execve"):
        monkeypatch.setattr(os, name, refuse)


class Machine:
    """A fake machine under `root`: the places discovery searches, and a prober that answers
    for the files in them from the recorded answers, noting every path it is asked about."""

    def __init__(self, root: Path, mp: pytest.MonkeyPatch) -> None:
        self.root = root
        self.mp = mp
        self.answers: dict[Path, dict[str, Any]] = {}
        self.asked: list[Path] = []
        recorded_root = load("pyenv-3.12.1").pyenv_root
        assert recorded_root is not None
        self.pyenv_root = self.at(recorded_root)
        self.versions = self.pyenv_root / "versions"
        mp.setenv("PYENV_ROOT", str(self.pyenv_root))
        mp.setattr(places, "SYSTEM_DIRS", tuple(str(self.at(d)) for d in places.SYSTEM_DIRS))
        self.path()
        # poorenv itself runs from a venv: the running interpreter is a candidate, refused.
        tool = root / "tool" / "venv"
        self.running(tool / "bin" / "python3", **venv_noticed(tool))

    def at(self, real: str) -> Path:
        """Where a path of the recording machine is on this one."""
        return self.root / Path(real).relative_to("/")

    def install(self, name: str, into: Path | None = None, **changes: Any) -> list[Path]:
        """A recorded interpreter's files where they were recorded, or in `into` under the same
        names; `changes` alter its answer (another build, another place)."""
        recorded = load(name)
        answer = {**recorded.answer, **changes}
        made = [into / Path(f).name if into else self.at(f) for f in recorded.files]
        for path in made:
            self.add(path, answer)
        return made

    def install_all(self) -> None:
        """pyenv's 3.8 to 3.13 and Debian's 3.11, as on the recording machine."""
        for name in ALL:
            self.install(name)

    def add(self, path: Path, answer: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 1\n")  # never run
        path.chmod(0o755)
        self.answers[path] = answer

    def path(self, *dirs: Path | str) -> None:
        self.mp.setenv("PATH", os.pathsep.join(str(d) for d in dirs))

    def running(self, path: Path, **changes: Any) -> None:
        """The interpreter poorenv runs in: venv-3.12.1's answer with `changes`."""
        self.add(path, {**load("venv-3.12.1").answer, **changes})
        self.mp.setattr(sys, "executable", str(path))

    def probe(self, executable: Path) -> Interpreter:
        self.asked.append(executable)
        if executable not in self.answers:
            raise AssertionError(f"discovery probed {executable}, which has no recorded answer")
        return interpreter.from_answer(executable, self.answers[executable])

    def find(self, request: str, base_dir: Path | None = None) -> Interpreter:
        return find_interpreter(request, base_dir or self.root, probe=self.probe)

    def make_env(self, env: Path) -> Path:
        """A directory poorenv made (it carries the marker); its bin."""
        (env / STATE_DIR).mkdir(parents=True)
        (env / STATE_DIR / MARKER).write_text('{"format": 1, "created-by": "poorenv 0.1.0"}')
        return env / "bin"


def venv_noticed(venv: Path) -> dict[str, Any]:
    """A venv's answer as the probe gives it (see test_the_recorded_probe_notices_a_venv)."""
    return {"in_venv": True, "prefix": str(venv), "exec_prefix": str(venv)}


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    # Its own MonkeyPatch, undone before conftest's guard compares os.environ.
    with pytest.MonkeyPatch.context() as mp:
        yield Machine(tmp_path / "machine", mp)


def test_x_y_picks_the_newest_release(machine: Machine) -> None:
    machine.install_all()
    # pyenv's 3.11.7 and Debian's 3.11.2 both match; the newer release wins.
    assert machine.find("3.11") == load("pyenv-3.11.7").facts()
    assert machine.at("/usr/bin/python3.11") in machine.asked


def test_among_equal_releases_the_first_place_searched_wins(machine: Machine) -> None:
    home_bin, usr_bin = machine.root / "home" / "bin", machine.at("/usr/bin")
    machine.install("debian-3.11")
    machine.install("debian-3.11", into=home_bin, executable="/opt/other/bin/python3.11")
    machine.path(home_bin)  # PATH comes before the system dirs
    assert machine.find("3.11").executable == "/opt/other/bin/python3.11"
    machine.path(usr_bin, home_bin)
    assert machine.find("3.11").executable == "/usr/bin/python3.11"
    # pyenv's versions come before PATH.
    machine.install("pyenv-3.12.1")
    machine.install("pyenv-3.12.1", into=home_bin, executable="/opt/other/bin/python3.12")
    assert machine.find("3.12") == load("pyenv-3.12.1").facts()


def test_exact_version(machine: Machine) -> None:
    machine.install_all()
    assert machine.find("3.12.1") == load("pyenv-3.12.1").facts()
    # The other pyenv versions are told apart by their dir's name, without a probe.
    probed = {p.parent.parent.name for p in machine.asked if p.is_relative_to(machine.versions)}
    assert probed == {"3.12.1"}


def test_specifier_picks_the_newest_match(machine: Machine) -> None:
    machine.install_all()
    assert machine.find(">=3.10,<3.13") == load("pyenv-3.12.1").facts()


def test_no_match(machine: Machine) -> None:
    machine.install_all()
    with pytest.raises(InterpreterError) as info:
        machine.find("3.99")
    assert info.value.message.startswith(
        "no CPython matching '3.99' found on PATH, in pyenv or the system locations; found: "
        "3.8.18, 3.9.18, 3.10.13, "
    )
    assert info.value.message.endswith(", 3.13.0")  # the versions found, oldest first
    assert info.value.hint is not None
    assert "pyenv install" in info.value.hint


def test_places_that_cannot_be_searched_are_skipped_with_one_warning(
    machine: Machine, caplog: pytest.LogCaptureFixture
) -> None:
    """As a shell skips them on PATH: a file, a dangling link, a loop; only the loop (it may
    hide an interpreter) is named, once."""
    machine.install_all()
    root = machine.root
    (root / "afile").write_text("x")
    (root / "dangling").symlink_to(root / "nothing")
    (root / "loop").symlink_to("loop2")
    (root / "loop2").symlink_to("loop")
    usr_bin = machine.at("/usr/bin")
    machine.path(root / "afile", root / "dangling", root / "loop", usr_bin, root / "loop")
    assert machine.find("3.12").version == "3.12.1"
    machine.find("3.11")
    skipped = [r.getMessage() for r in caplog.records if "skips" in r.getMessage()]
    loops = "Too many levels of symbolic links"
    assert skipped == [f"interpreter discovery skips {root / 'loop'}: {loops}"]


def test_older_than_3_8_is_refused(machine: Machine) -> None:
    machine.install_all()
    old = machine.install("pyenv-3.7.16")
    with refused("CPython 3.8 and newer"):
        machine.find("3.7")
    assert machine.asked == []  # refused before searching
    # A specifier finds pyenv's 3.7.16, whose probe answer refuses it.
    with refused("no CPython matching '<3.8'"):
        machine.find("<3.8")
    assert machine.versions / "3.7.16" / "bin" / "python3" in old
    assert machine.versions / "3.7.16" / "bin" / "python3" in machine.asked


def test_a_file_name_is_a_partial_version(machine: Machine) -> None:
    home_bin = machine.root / "home" / "bin"
    machine.install("pyenv-3.9.18", into=home_bin)
    machine.install("pyenv-3.12.1", into=home_bin)
    machine.path(home_bin)
    # `python3.12` may be any 3.12.N, so ">=3.12.1" probes it; `python3.9` cannot match.
    assert machine.find(">=3.12.1").version == "3.12.1"
    assert home_bin / "python3.12" in machine.asked
    assert home_bin / "python3.9" not in machine.asked
    machine.asked.clear()
    with refused("no CPython matching '==3.12.0'"):
        machine.find("==3.12.0")  # python3.12 might have been a 3.12.0: it is probed, and is not
    assert home_bin / "python3.12" in machine.asked


def test_pyenv_versions_not_named_x_y_z_are_ignored(machine: Machine) -> None:
    machine.install("pyenv-3.13.0", into=machine.versions / "3.13-dev" / "bin")
    with refused("no CPython matching '3.13'"):
        machine.find("3.13")
    assert not [p for p in machine.asked if p.is_relative_to(machine.versions)]


def test_pyenv_shims_are_not_searched(machine: Machine) -> None:
    shims = machine.pyenv_root / "shims"
    machine.install("pyenv-3.13.0", into=shims)  # a shim would run whichever version pyenv picks
    machine.path(shims)
    with refused("no CPython matching '3.13'"):
        machine.find("3.13")
    assert not [p for p in machine.asked if p.parent == shims]
    assert str(shims) not in places.search_dirs("3.13")


def test_an_envs_own_bin_is_not_searched(machine: Machine) -> None:
    env_bin = machine.make_env(machine.root / "project" / ".poorenv")
    machine.install("pyenv-3.13.0", into=env_bin)
    machine.path(env_bin)  # as when the env is activated
    with refused("no CPython matching '3.13'"):
        machine.find("3.13")
    assert not [p for p in machine.asked if p.parent == env_bin]
    assert str(env_bin) not in places.search_dirs("3.13")


def test_an_envs_interpreter_found_elsewhere_is_skipped(machine: Machine) -> None:
    env = machine.root / "project" / ".poorenv"
    machine.make_env(env)
    home_bin = machine.root / "home" / "bin"
    machine.install("pyenv-3.13.0")
    # A link to the env's interpreter: its probe says its base_prefix is the env.
    newer = {"version": "3.13.1", "executable": f"{env}/bin/python3.13", "base_prefix": str(env)}
    machine.install("pyenv-3.13.0", into=home_bin, **newer)
    machine.path(home_bin)
    assert machine.find("3.13") == load("pyenv-3.13.0").facts()
    assert home_bin / "python3.13" in machine.asked


def test_a_venv_interpreter_is_refused(machine: Machine) -> None:
    venv = machine.root / "work" / "venv"
    machine.install("venv-3.12.1", into=venv / "bin", **venv_noticed(venv))
    machine.path(venv / "bin")
    with refused("no CPython matching '3.12'"):
        machine.find("3.12")
    assert venv / "bin" / "python3.12" in machine.asked
    with refused("is inside a virtual environment"):
        machine.find(str(venv / "bin" / "python3.12"))


def test_the_recorded_probe_notices_a_venv() -> None:
    """The probe runs with -S, so it reads pyvenv.cfg itself (site.py would)."""
    answer = load("venv-3.12.1").answer
    assert answer["in_venv"] and answer["prefix"].endswith("/venv")
    assert not load("pyenv-3.12.1").answer["in_venv"]


def test_the_running_interpreter_is_a_candidate(machine: Machine) -> None:
    machine.running(machine.root / "tool" / "bin" / "python3", **load("pyenv-3.13.0").answer)
    assert machine.find("3.13") == load("pyenv-3.13.0").facts()


def test_a_path_request_is_relative_to_the_project_and_searches_nothing(
    machine: Machine,
) -> None:
    machine.install_all()
    project = machine.root / "project"
    machine.install("debian-3.11", into=project / "py")
    assert machine.find("./py/python3.11", project) == load("debian-3.11").facts()
    assert machine.asked == [project / "py" / "python3.11"]
    assert places.search_dirs("./py/python3.11") == []
    assert fastpath.discovery_dirs(" ./py/python3.11") == []


def test_a_path_request_expands_the_home_dir(machine: Machine) -> None:
    machine.install("debian-3.11", into=Path.home() / "bin")
    assert machine.find("~/bin/python3.11") == load("debian-3.11").facts()
    assert machine.asked == [Path.home() / "bin" / "python3.11"]


def test_a_path_request_for_a_missing_file(machine: Machine) -> None:
    project = machine.root / "project"
    with pytest.raises(InterpreterError) as info:
        machine.find("./nope/python3", project)
    assert info.value.message == f"interpreter {project / 'nope' / 'python3'}: no such file"
    assert machine.asked == []


def test_a_path_request_keeps_the_probes_refusal(machine: Machine) -> None:
    (old, _) = machine.install("pyenv-3.7.16")
    with refused("3.7.16 is too old"):
        machine.find(str(old))


def test_search_dirs_are_listed_once_in_search_order(machine: Machine) -> None:
    home_bin, usr_bin = machine.root / "home" / "bin", machine.at("/usr/bin")
    machine.path(f"{usr_bin}/", "", home_bin, f"{home_bin}//", usr_bin)
    assert places.search_dirs("3.12") == [
        str(machine.versions),
        str(usr_bin),
        str(home_bin),
        str(machine.at("/usr/local/bin")),
        str(machine.at("/opt/python/bin")),
    ]


def test_the_fast_path_stamps_the_dirs_discovery_searched(machine: Machine) -> None:
    machine.install_all()  # pyenv's versions and /usr/bin
    home_bin = machine.root / "home" / "bin"
    machine.install("pyenv-3.10.13", into=home_bin)
    machine.install("pyenv-3.9.18", into=machine.at("/usr/local/bin"))
    machine.install("pyenv-3.8.18", into=machine.at("/opt/python/bin"))
    shims = machine.pyenv_root / "shims"
    machine.install("pyenv-3.13.0", into=shims)
    env = machine.root / "project" / ".poorenv"
    machine.install("pyenv-3.13.0", into=machine.make_env(env))
    machine.path(home_bin, shims, env / "bin", machine.at("/usr/bin"))
    request = ">=3.8"
    machine.find(request)

    def place(exe: Path) -> str:
        return str(machine.versions if exe.is_relative_to(machine.versions) else exe.parent)

    searched = list(dict.fromkeys(place(p) for p in machine.asked if p != Path(sys.executable)))
    assert len(searched) == 5  # every place holds a candidate
    assert fastpath.discovery_dirs(request) == searched
    stamp = fastpath.take([], env, request, lock_fresh=True, config_text="")
    assert stamp["discovery"] == searched
    assert set(searched) <= set(stamp["stats"])
    assert str(shims) not in stamp["stats"]
    assert str(env / "bin") in stamp["stats"]  # as one of the env's own dirs, not a place


def test_a_reordered_path_sends_the_fast_path_back_to_discovery(machine: Machine) -> None:
    # With two equal interpreters, the order of PATH decides which one is found.
    first, second = machine.root / "a" / "bin", machine.root / "b" / "bin"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    env = machine.root / "project" / ".poorenv"
    env.mkdir(parents=True)  # a stamp answers only for an env directory it identified
    machine.path(first, second)
    stamp = fastpath.take([], env, "3.12", lock_fresh=True, config_text="")
    assert fastpath.matches(stamp, "3.12", "")
    machine.path(second, first)
    assert not fastpath.matches(stamp, "3.12", "")
