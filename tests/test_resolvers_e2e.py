"""The uv resolver and one lock for several Pythons, end to end and offline: real poorenv
processes, real uv, pip-compile, pip and interpreters of two versions, a local wheelhouse.

A lock resolved by uv is the lock pip-tools writes (same pins, same hashes) and syncs with
either installer; one lock for 3.11 and 3.12 serves two projects that differ only in
`[env] python`, each with `sync --locked`, and names an X.Y it does not hold."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from poorenv.config import loads_toml
from poorenv.discover.find import find_interpreter
from poorenv.errors import InterpreterError
from tests.helpers import ok
from tests.offline import installed, offline_project, run
from tests.wheels import make_wheel, wheelhouse

pytestmark = pytest.mark.slow


def pins(lock: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    data = loads_toml(lock.read_text())
    return [(p["name"], p["version"], tuple(p["hashes"])) for p in data["package"]]


def test_a_uv_resolved_lock_is_pip_tools_lock_and_syncs_with_pip_and_with_uv(
    tmp_path: Path,
) -> None:
    project = offline_project(tmp_path / "project")
    ok(run(project, "lock", "--resolver", "pip-tools"))
    by_pip_tools = pins(project / "poorenv.lock")
    (project / "poorenv.lock").unlink()
    text = (project / "poorenv.toml").read_text().replace("[env]\n", '[env]\nresolver = "uv"\n')
    (project / "poorenv.toml").write_text(text)
    ok(run(project, "lock"))
    assert pins(project / "poorenv.lock") == by_pip_tools  # the same pins, the same hashes
    assert [name for name, _, _ in by_pip_tools] == ["alpha", "beta", "gamma", "pip"]
    expected = {"alpha": "1.0", "beta": "1.0", "gamma": "1.0", "pip": by_pip_tools[-1][1]}

    ok(run(project, "sync", "--locked", "--installer", "pip"))
    assert installed(project) == expected
    ok(run(project, "check"))
    twin = tmp_path / "twin"  # the same project and lock, a new env, installed by uv
    shutil.copytree(project, twin, ignore=shutil.ignore_patterns(".poorenv"))
    ok(run(twin, "sync", "--locked", "--installer", "uv"))
    assert installed(twin) == expected
    ok(run(twin, "check"))


def packages_in(project: Path, xy: str) -> dict[str, str]:
    """The distributions in the project's env on CPython `xy` (pyenv's posix_prefix scheme)."""
    site = project / ".poorenv" / "lib" / f"python{xy}" / "site-packages"
    found = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].split("-", 1)
        found[name.lower()] = version
    return found


def has(xy: str) -> bool:
    try:
        find_interpreter(xy, Path.cwd())
    except InterpreterError:
        return False
    return True


def test_one_lock_for_two_pythons_serves_both_with_locked(tmp_path: Path) -> None:
    if not (has("3.11") and has("3.12")):
        pytest.skip("needs CPython 3.11 and 3.12")
    wheels = wheelhouse(tmp_path / "wheels")
    make_wheel(wheels, "kappa", "1.0", requires=['lam; python_version < "3.12"'])
    make_wheel(wheels, "lam", "1.0")
    make_wheel(wheels, "mu", "1.0")  # mu 2.0 for 3.12 only: resolutions differ without markers
    make_wheel(wheels, "mu", "2.0", requires_python=">=3.12")

    def project(name: str, python: str) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        (directory / "poorenv.toml").write_text(
            f'[env]\npython = "{python}"\nseed = []\nresolver = "uv"\n'
            '[requirements]\npackages = ["alpha==1.0", "kappa", "mu"]\n'
            f'[index]\nno-index = true\nfind-links = ["{wheels}"]\n'
            '[lock]\npythons = ["3.11", "3.12"]\n'
        )
        return directory

    on_311, on_312, on_313 = project("a", "3.11"), project("b", "3.12"), project("c", "3.13")
    ok(run(on_311, "lock"))
    lock = loads_toml((on_311 / "poorenv.lock").read_text())
    assert lock["version"] == 2
    held = {
        r["interpreter"]["python"]: [p["name"] for p in r["package"]] for r in lock["resolution"]
    }
    assert held == {
        "3.11": ["alpha", "beta", "kappa", "lam", "mu"],
        "3.12": ["alpha", "beta", "kappa", "mu"],
    }
    for other in (on_312, on_313):
        shutil.copy2(on_311 / "poorenv.lock", other / "poorenv.lock")

    ok(run(on_311, "sync", "--locked", "--installer", "pip"))
    everything = {"alpha": "1.0", "beta": "1.0", "kappa": "1.0", "lam": "1.0", "mu": "1.0"}
    assert packages_in(on_311, "3.11") == everything
    ok(run(on_312, "sync", "--locked", "--installer", "uv"))
    on_twelve = {"alpha": "1.0", "beta": "1.0", "kappa": "1.0", "mu": "2.0"}
    assert packages_in(on_312, "3.12") == on_twelve
    ok(run(on_311, "check"))
    ok(run(on_312, "check"))
    assert "lam==1.0" in ok(run(on_311, "export")).stdout
    assert "lam==" not in ok(run(on_312, "export")).stdout
    assert ok(run(on_312, "info", "--json")).stdout.count('"3.1') >= 2

    # sync --python: the same lock, another listed X.Y; the stamp does not answer for it after
    synced = ok(run(on_311, "sync", "--locked", "--python", "3.12", "--installer", "uv"))
    assert "cpython 3.12" in synced.stdout
    assert packages_in(on_311, "3.12") == on_twelve
    ok(run(on_311, "check", "--python", "3.12"))
    key = ok(run(on_311, "cache-key", "--python", "3.12")).stdout
    assert key == ok(run(on_312, "cache-key")).stdout  # one lock, one base: one CI cache
    drift = run(on_311, "check")  # poorenv.toml still says 3.11: the stamp does not answer
    assert drift.returncode == 1, drift.stdout + drift.stderr

    # an X.Y the lock does not hold is named, by sync --locked (exit 2) and check (exit 1)
    if has("3.13"):
        refused = run(on_313, "sync", "--locked")
        assert refused.returncode == 2, refused.stderr
        assert "no resolution for the env's Python" in refused.stderr
        assert "cpython 3.13" in refused.stderr
        assert not (on_313 / ".poorenv").exists()
        stale = run(on_313, "check")
        assert stale.returncode == 1
        assert "cpython 3.13" in stale.stderr
        export = run(on_313, "export")
        assert export.returncode == 2 and "cpython 3.13" in export.stderr
        assert '"3.13" to [lock] pythons' in export.stderr
        assert (on_313 / "poorenv.lock").read_bytes() == (on_311 / "poorenv.lock").read_bytes()


@pytest.mark.network  # pip-tools is installed into a resolver env for 3.12 from pip's index
def test_pip_tools_resolves_each_python_in_an_interpreter_of_that_version(tmp_path: Path) -> None:
    if not (has("3.11") and has("3.12")):
        pytest.skip("needs CPython 3.11 and 3.12")
    wheels = wheelhouse(tmp_path / "wheels")
    make_wheel(wheels, "kappa", "1.0", requires=['lam; python_version < "3.12"'])
    make_wheel(wheels, "lam", "1.0")
    make_wheel(wheels, "mu", "1.0")
    make_wheel(wheels, "mu", "2.0", requires_python=">=3.12")
    project = tmp_path / "project"
    project.mkdir()
    (project / "poorenv.toml").write_text(
        '[env]\npython = "3.11"\nseed = []\n'
        '[requirements]\npackages = ["kappa", "mu"]\n'
        f'[index]\nno-index = true\nfind-links = ["{wheels}"]\n'
        '[lock]\npythons = ["3.12"]\n'
    )
    ok(run_online(project, "lock", "--resolver", "pip-tools"))
    lock = loads_toml((project / "poorenv.lock").read_text())
    held = {
        r["interpreter"]["python"]: {p["name"]: p["version"] for p in r["package"]}
        for r in lock["resolution"]
    }
    # Requires-Python and markers were judged by an interpreter of each version
    assert held == {"3.11": {"kappa": "1.0", "lam": "1.0", "mu": "1.0"},
                    "3.12": {"kappa": "1.0", "mu": "2.0"}}  # fmt: skip


def run_online(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from tests.helpers import poorenv

    return poorenv(*args, cwd=project)
