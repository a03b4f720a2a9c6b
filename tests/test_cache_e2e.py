"""A real `poorenv sync` against hostile or unusable caches: a planted interpreter description,
a pip in the cache that others can change, a cache of another user, XDG_CACHE_HOME naming a
file, HOME=/nonexistent. Each sync succeeds with one warning naming the cache, the planted code
never runs (it would write a marker file), and the temporary cache is gone afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poorenv.discover import interpreter
from tests.helpers import ok, poorenv
from tests.offline import HERE_PYTHON, installed, offline_env, offline_project, seeded_cache

pytestmark = pytest.mark.slow

NOBODY = 65534


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return offline_project(tmp_path / "project", seed="[]")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PLANTED-CODE-RAN"


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The offline environment with a TMPDIR of the test's own (to see the temporary cache
    removed) and `extra`; an empty value removes the variable."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**offline_env(), "TMPDIR": str(tmp), **extra}
    return {k: v for k, v in env.items() if v}


def synced(project: Path, env: dict[str, str]) -> str:
    """`poorenv sync` (ok), then `poorenv run -- python`: their stderr."""
    result = ok(poorenv("sync", cwd=project, env=env))
    ok(poorenv("run", "--", "python", "-c", "pass", cwd=project, env=env))
    assert installed(project) == {"alpha": "1.0", "beta": "1.0", "gamma": "1.0"}
    assert not list(Path(env["TMPDIR"]).glob("poorenv-cache-*"))  # removed at exit
    return result.stderr


def the_warning(stderr: str, cache: Path | str) -> str:
    lines = [line for line in stderr.splitlines() if "poorenv's cache" in line]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"WARNING: poorenv's cache {cache}: "), lines[0]
    return lines[0]


def plant_answer(cache: Path, evil: Path) -> Path:
    """Make the cached probe answer for HERE_PYTHON say that its executable is `evil`."""
    info = HERE_PYTHON.stat()
    key = f"{HERE_PYTHON}|{info.st_size}|{info.st_mtime_ns}"
    entry = cache / "interpreters" / f"{interpreter._slug(key)}.json"
    data = json.loads(entry.read_text())
    evil_info = evil.stat()
    data["facts"].update(
        executable=str(evil),
        executable_size=evil_info.st_size,
        executable_mtime_ns=evil_info.st_mtime_ns,
    )
    entry.write_text(json.dumps(data))
    return entry


def evil_python(tmp_path: Path, marker: Path) -> Path:
    script = tmp_path / "evil" / "bin" / "python3.11"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\necho pwned > {marker}\nexec {HERE_PYTHON} "$@"\n')
    script.chmod(0o755)
    return script


def test_a_planted_interpreter_description_is_never_run(
    project: Path, tmp_path: Path, marker: Path
) -> None:
    cache = seeded_cache(tmp_path / "cache")
    env = environ(tmp_path, POORENV_CACHE_DIR=str(cache))
    ok(poorenv("plan", cwd=project, env=env))  # the honest answer is cached
    entry = plant_answer(cache, evil_python(tmp_path, marker))
    stderr = synced(project, env)
    assert not marker.exists()
    assert the_warning(stderr, cache) == (
        f"WARNING: poorenv's cache {cache}: {entry}: it does not describe {HERE_PYTHON}; ignored"
    )
    state = json.loads((project / ".poorenv" / ".poorenv" / "state.json").read_text())
    assert state["base"]["executable"] == str(HERE_PYTHON)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_cache_of_another_user_is_never_run_even_by_root(
    project: Path, tmp_path: Path, marker: Path
) -> None:
    cache = seeded_cache(tmp_path / "cache")
    env = environ(tmp_path, POORENV_CACHE_DIR=str(cache))
    ok(poorenv("plan", cwd=project, env=env))
    data = json.loads(plant_answer(cache, evil_python(tmp_path, marker)).read_text())
    for path in [cache, *cache.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    stderr = synced(project, env)
    assert not marker.exists()
    assert "owned by nobody (uid 65534), not by you; not used" in the_warning(stderr, cache)
    assert all(p.stat().st_uid == NOBODY for p in [cache, *cache.rglob("*")])  # untouched
    assert data["facts"]["executable"] == str(tmp_path / "evil" / "bin" / "python3.11")


def test_a_pip_others_can_change_in_the_cache_is_never_run(
    project: Path, tmp_path: Path, marker: Path
) -> None:
    cache = seeded_cache(tmp_path / "cache")
    env = environ(tmp_path, POORENV_CACHE_DIR=str(cache))
    synced(project, env)
    (tree,) = (cache / "seed").glob("*/pip-*.run")
    main = tree / "pip" / "__main__.py"
    main.write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    main.chmod(0o666)
    shutil.rmtree(project / ".poorenv")  # everything to install again, with pip
    stderr = synced(project, env)
    assert not marker.exists()
    assert f"{main} is writable by others than you" in the_warning(stderr, cache)


def test_xdg_cache_home_naming_a_file(project: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    env = environ(tmp_path, POORENV_CACHE_DIR="", XDG_CACHE_HOME=str(afile))
    stderr = synced(project, env)
    assert "cannot create it: Not a directory" in the_warning(stderr, f"{afile}/poorenv")
    assert afile.read_text() == "x"


def test_home_nonexistent(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "nonexistent"
    env = environ(tmp_path, POORENV_CACHE_DIR="", XDG_CACHE_HOME="", HOME=str(home))
    stderr = synced(project, env)
    assert f"{home} does not exist" in the_warning(stderr, home / ".cache" / "poorenv")
    # Neither poorenv nor the tools it starts made a home directory, even as root. (pip names
    # itself to the index with `rustc --version`, and a rustup proxy makes ~/.rustup.)
    assert not home.exists() or {p.name for p in home.iterdir()} <= {".rustup"}


def test_a_healthy_cache_is_private_and_says_nothing(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "fresh" / "cache"
    env = environ(tmp_path, POORENV_CACHE_DIR=str(cache), PIP_FIND_LINKS=os.devnull)
    result = subprocess.run(
        ["sh", "-c", f"umask 002 && exec {sys.executable} -m poorenv sync"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    ok(result)
    assert "poorenv's cache" not in result.stderr
    assert (cache.stat().st_mode & 0o777) == 0o700
    shared = [p for p in cache.rglob("*") if not p.is_symlink() and p.stat().st_mode & 0o077]
    assert shared == []  # under umask 002, every entry is still the user's only
    stderr = synced(project, env)  # and the next run trusts all it finds
    assert "poorenv's cache" not in stderr
