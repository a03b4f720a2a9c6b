"""Hostile caches, built locally: for each user of poorenv's cache (the probe answers, the
unpacked pip, the resolver venvs, the env locks) an entry planted by someone else, or one that
others can write, or one that describes another file. Each is ignored with one warning and
never executed: the planted code would write a marker file, and the marker never appears.

Entries of another user are made with os.chown, which needs root (those cases skip without
it); the others need nothing special.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from poorenv import _run, cache
from poorenv.apply.pipwheel import pip_command, run_pip
from poorenv.discover import interpreter
from poorenv.discover.interpreter import PROBE_FORMAT, probe
from poorenv.envlock import env_lock
from poorenv.lock import resolver
from tests.fakes import fake_base

NOBODY = 65534
HERE_PYTHON = Path(os.path.realpath(sys.executable))
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
# How each planted entry is made untrustworthy: given away, or left writable by everyone.
SPOILERS = [
    pytest.param("nobody", marks=needs_root, id="owned-by-another-user"),
    pytest.param("o+w", id="writable-by-others"),
]


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Path]:
    """A cache of the test's own (undone before the autouse environment guard)."""
    path = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POORENV_CACHE_DIR", str(path))
        yield path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PLANTED-CODE-RAN"


def spoil(path: Path, how: str) -> None:
    """Make `path` (and everything under it) another user's, or writable by everyone."""
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for each in paths:
        if how == "nobody":
            os.chown(each, NOBODY, NOBODY, follow_symlinks=False)
        elif not each.is_symlink():
            each.chmod(each.stat().st_mode | 0o002)


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "poorenv's cache" in r.getMessage()]


# --- the probe answers ---------------------------------------------------------------------


def plant_answer(evil: Path, *, facts_of: Path = HERE_PYTHON) -> Path:
    """A cached probe answer for `facts_of` that says its executable is `evil` (whose size and
    mtime it gives, so that the stat check alone would let it through)."""
    real = probe(facts_of)  # writes the honest answer first; then it is replaced
    info = facts_of.stat()
    key = f"{facts_of}|{info.st_size}|{info.st_mtime_ns}"
    entry = cache.root() / "interpreters" / f"{interpreter._slug(key)}.json"
    assert entry.is_file()
    evil_info = evil.stat()
    facts = dataclasses.replace(
        real,
        executable=str(evil),
        executable_size=evil_info.st_size,
        executable_mtime_ns=evil_info.st_mtime_ns,
    )
    data = {"format": PROBE_FORMAT, "key": key, "facts": dataclasses.asdict(facts)}
    entry.write_text(json.dumps(data))
    return entry


@pytest.fixture
def evil_python(tmp_path: Path, marker: Path) -> Path:
    script = tmp_path / "evil" / "python3"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho pwned > {marker}\nexec {HERE_PYTHON} "$@"\n')
    script.chmod(0o755)
    return script


def test_an_answer_describing_another_executable_is_ignored(
    configured: Path, evil_python: Path, marker: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = plant_answer(evil_python)
    facts = probe(HERE_PYTHON)
    assert facts.executable == str(HERE_PYTHON)  # probed again, for real
    assert not marker.exists()
    assert cache_warnings(caplog) == [
        f"poorenv's cache {configured}: {entry}: it does not describe {HERE_PYTHON}; ignored"
    ]
    assert json.loads(entry.read_text())["facts"]["executable"] == str(HERE_PYTHON)  # mended


@pytest.mark.parametrize("how", SPOILERS)
def test_an_answer_others_could_have_written_is_ignored(
    configured: Path, evil_python: Path, marker: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    entry = plant_answer(evil_python)
    data = json.loads(entry.read_text())
    data["facts"]["executable"] = str(HERE_PYTHON)  # an answer that would pass every other check
    data["facts"]["version"] = "3.99.0"
    entry.write_text(json.dumps(data))
    spoil(entry, how)
    facts = probe(HERE_PYTHON)
    assert facts.version == f"{sys.version_info.major}.{sys.version_info.minor}." + str(
        sys.version_info.micro
    )  # the interpreter's own answer, not the planted one
    assert not marker.exists()
    (line,) = cache_warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: {entry} is ")
    assert line.endswith("; not used: this run uses a temporary cache")
    assert not cache.root().is_relative_to(configured)


# --- the unpacked pip ----------------------------------------------------------------------


def pip_wheel(directory: Path) -> Path:
    """A stand-in pip wheel whose `python WHEEL/pip` prints "real pip"."""
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / "pip-24.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pip/__init__.py", "")
        archive.writestr("pip/__main__.py", "print('real pip')\n")
        archive.writestr("pip-24.0.dist-info/METADATA", "Name: pip\nVersion: 24.0\n")
    return wheel


@pytest.mark.parametrize("how", SPOILERS)
def test_an_unpacked_pip_others_could_change_is_never_run(
    configured: Path, marker: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    base = fake_base()
    wheel = pip_wheel(cache.directory("seed", "cpython-3.12"))
    first = pip_command(HERE_PYTHON, base)
    tree = Path(first[1]).parent
    assert tree == wheel.with_name("pip-24.0-py3-none-any.run")  # unpacked in the cache
    assert run_pip(HERE_PYTHON, base, [], what="pip").stdout == "real pip\n"
    (tree / "pip" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    spoil(tree / "pip" / "__main__.py", how)

    result = run_pip(HERE_PYTHON, base, [], what="pip")
    assert result.stdout == "real pip\n"  # from the wheel itself
    assert not marker.exists()
    (line,) = cache_warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: {tree / 'pip' / '__main__.py'} is ")


def test_an_unpacked_pip_that_names_another_wheel_is_unpacked_again(
    configured: Path, marker: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = fake_base()
    wheel = pip_wheel(cache.directory("seed", "cpython-3.12"))
    tree = wheel.with_name("pip-24.0-py3-none-any.run")
    (tree / "pip").mkdir(parents=True)
    (tree / "pip" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    (tree / ".complete").write_text("")  # as an older poorenv left it: it names no wheel
    assert run_pip(HERE_PYTHON, base, [], what="pip").stdout == "real pip\n"
    assert not marker.exists()
    assert (tree / ".complete").read_text().startswith("pip-24.0-py3-none-any.whl ")
    assert cache_warnings(caplog) == []  # the user's own stale tree: simply made again


# --- the resolver venvs --------------------------------------------------------------------


@pytest.fixture
def venv_tools(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """venv and pip as fakes that make what they would (bin/python linked to the base); any
    other command runs for real, so that a planted interpreter chosen by mistake would run."""
    calls: list[list[str]] = []
    spawn = _run._spawn

    def fake(argv: list[str], *rest: object) -> _run.Result:
        calls.append(argv)
        if "venv" in argv:
            target = Path(argv[-1])
            (target / "bin").mkdir(parents=True, exist_ok=True)
            if not (target / "bin" / "python").is_symlink():
                (target / "bin" / "python").symlink_to(argv[0])
            return _run.Result(tuple(argv), 0, "", "")
        if "install" in argv:
            return _run.Result(tuple(argv), 0, "", "")
        return spawn(argv, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(_run, "_spawn", fake)
    monkeypatch.setattr(resolver, "_has_piptools", lambda: False)  # build a resolver venv
    monkeypatch.setattr(
        "poorenv.apply.pipwheel.pip_command",
        lambda python, base: [str(python), "PIP"],
    )
    return calls


def plant_resolver_venv(base_python: Path, marker: Path) -> Path:
    """A real venv of `base_python`, ready-stamped for it, whose site-packages runs planted
    code at every start (a .pth line)."""
    base = probe(base_python)
    key = hashlib.sha256(base.executable.encode()).hexdigest()[:12]
    target = cache.directory("resolvers") / f"{base.implementation}-{base.xy}{base.abiflags}-{key}"
    subprocess.run([base.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    site = next(target.glob("lib/python*/site-packages"))
    (site / "planted.pth").write_text(f"import os; open({str(marker)!r}, 'w').write('pwned')\n")
    stamp = f"{base.executable} {base.executable_size} {base.executable_mtime_ns}\n"
    (target / "poorenv-ready").write_text(stamp)
    return target


@pytest.mark.parametrize("how", SPOILERS)
def test_a_resolver_venv_others_could_change_is_never_run(
    configured: Path,
    marker: Path,
    venv_tools: list[list[str]],
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    planted = plant_resolver_venv(HERE_PYTHON, marker)
    subprocess.run([planted / "bin" / "python", "-c", "pass"], check=True)
    assert marker.exists()  # the plant works: its python runs the planted line
    marker.unlink()
    spoil(planted, how)

    python = resolver.resolver_python(probe(HERE_PYTHON))
    assert not python.is_relative_to(configured)  # built anew in the temporary cache
    subprocess.run([python, "-c", "pass"], check=True)  # what pip-compile would run in
    assert not marker.exists()
    assert all(not Path(argv[0]).is_relative_to(planted) for argv in venv_tools)
    (line,) = cache_warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: {planted}")


def test_a_resolver_venv_of_another_base_is_built_again(
    configured: Path, marker: Path, venv_tools: list[list[str]], tmp_path: Path
) -> None:
    planted = plant_resolver_venv(HERE_PYTHON, marker)
    (planted / "bin" / "python").unlink()
    (planted / "bin" / "python").symlink_to(tmp_path / "elsewhere" / "python")  # not the base
    base = probe(HERE_PYTHON)
    venv_tools.clear()
    python = resolver.resolver_python(base)
    assert python == planted / "bin" / "python"  # the user's own: rebuilt in place
    assert os.path.realpath(python) == str(HERE_PYTHON)
    assert not (planted / "lib").exists()  # the old tree, planted line and all, is gone
    assert len(venv_tools) == 3


# --- the env locks -------------------------------------------------------------------------


@needs_root
def test_a_lock_file_of_another_user_is_not_used(
    configured: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with env_lock(tmp_path / "env"):
        pass
    (planted,) = (configured / "locks").iterdir()
    os.chown(planted, NOBODY, NOBODY)
    with env_lock(tmp_path / "env"):
        used = cache.lock_dir() / planted.name  # shared by this user's runs, not the planted one
        assert used.is_file()
    assert not used.is_relative_to(configured)
    (line,) = cache_warnings(caplog)
    assert line.startswith(f"poorenv's cache {configured}: {planted} is owned by ")


def test_no_cache_warning_when_all_is_well(
    configured: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    probe(HERE_PYTHON)
    probe(HERE_PYTHON)
    with env_lock(tmp_path / "env"):
        pass
    assert cache_warnings(caplog) == []
    assert cache.root() == configured
