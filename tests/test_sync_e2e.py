"""Locking and installing packages for real: pip-tools, pip, wheels built here, no network.

These tests use a wheelhouse made in tmp_path with `[index] no-index = true`, and a pip that
cannot reach any index (PIP_INDEX_URL points at a closed loopback port, pip's config files are
ignored), so they prove that lock and sync work offline. The tests that need the real index
carry the `network` marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poorenv.discover.interpreter import probe
from poorenv.lock.lockfile import read_lock, write_lock
from tests import tracing
from tests.conftest import ROOT, find_base, write_config
from tests.helpers import manifest, ok, poorenv
from tests.offline import (
    HERE_PYTHON,
    installed,
    offline_env,
    offline_project,
    run,
    site_packages,
    verify_records,
)
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow


@pytest.fixture(params=["pip", "uv"])
def project(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The offline project, once with each installer: both pass the same tests."""
    project = offline_project(tmp_path / "project")
    if request.param == "uv":
        config = project / "poorenv.toml"
        config.write_text(config.read_text().replace("seed =", 'installer = "uv"\nseed ='))
    return project


def test_offline_lock_then_sync_then_no_op(project: Path) -> None:
    locked = ok(run(project, "lock"))
    assert "+ alpha 1.0" in locked.stdout
    lock = read_lock(project / "poorenv.lock")
    assert lock is not None
    names = {p.name: p.version for p in lock.packages}
    assert names.keys() == {"alpha", "beta", "gamma", "pip"}  # no delta: its marker is false
    assert all(p.hashes for p in lock.packages)

    ok(run(project, "sync"))
    assert installed(project) == {**names}
    code = "import alpha, beta, gamma; print(alpha.__version__)"
    assert ok(run(project, "run", "--", "python", "-c", code)).stdout.strip() == "1.0"
    ok(run(project, "check"))
    before = manifest(project / ".poorenv")
    assert "nothing to do" in ok(run(project, "sync")).stdout
    assert manifest(project / ".poorenv") == before


def test_sync_without_a_lock_locks_first(project: Path) -> None:
    result = ok(run(project, "sync"))
    assert "wrote" in result.stdout
    assert (project / "poorenv.lock").is_file()
    ok(run(project, "check"))


def test_extra_package_is_reported_and_removed(project: Path) -> None:
    ok(run(project, "sync"))
    env = project / ".poorenv"
    make_wheel(project / "more", "six", "1.99")
    pip = [
        str(env / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--no-index",
        "--root-user-action=ignore",
    ]
    subprocess.run(
        [*pip, "--find-links", str(project / "more"), "six"], check=True, env=offline_env()
    )
    check = run(project, "check")
    assert check.returncode == 1
    assert "remove six: not in the lock" in check.stderr
    ok(run(project, "sync"))
    assert "six" not in installed(project)
    ok(run(project, "check"))


def test_changed_pin_makes_the_lock_stale_and_sync_upgrades_only_it(project: Path) -> None:
    ok(run(project, "sync"))
    beta_info = next(site_packages(project).glob("beta-*.dist-info"))
    beta_stamp = beta_info.stat().st_mtime_ns
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace("alpha==1.0", "alpha==2.0"))

    check = run(project, "check")
    assert check.returncode == 1
    assert "poorenv.lock is stale" in check.stderr
    lock_before = (project / "poorenv.lock").read_text()
    locked = run(project, "sync", "--locked")
    assert locked.returncode == 2
    assert "error: poorenv.lock is stale" in locked.stderr
    assert "Traceback" not in locked.stderr
    assert (project / "poorenv.lock").read_text() == lock_before

    result = ok(run(project, "sync"))
    assert [line for line in result.stdout.splitlines() if line[:2] in ("+ ", "- ", "~ ")] == [
        "~ alpha 1.0 -> 2.0"
    ]
    assert "  install alpha 1.0 -> 2.0  [upgrade]" in result.stdout
    assert installed(project)["alpha"] == "2.0"
    assert beta_info.stat().st_mtime_ns == beta_stamp  # untouched
    ok(run(project, "check"))


def tamper(lock_file: Path, name: str) -> None:
    """Replace `name`'s hashes, keeping the lock self-consistent: as if the index served a
    different file than the one locked."""
    lock = read_lock(lock_file)
    assert lock is not None
    packages = tuple(
        dataclasses.replace(p, hashes=("sha256:" + "0" * 64,)) if p.name == name else p
        for p in lock.packages
    )
    write_lock(lock_file, dataclasses.replace(lock, packages=packages))


def test_hand_edited_hash_is_refused_before_anything(project: Path) -> None:
    ok(run(project, "sync"))
    lock_file = project / "poorenv.lock"
    lock = read_lock(lock_file)
    assert lock is not None
    alpha = lock.package("alpha")
    assert alpha is not None
    lock_file.write_text(lock_file.read_text().replace(alpha.hashes[0], "sha256:" + "0" * 64))
    before = manifest(project / ".poorenv")
    result = run(project, "sync")
    assert result.returncode == 2
    assert "content-hash does not match" in result.stderr.splitlines()[0]
    assert manifest(project / ".poorenv") == before


def test_tampered_hash_fails_and_changes_nothing(project: Path) -> None:
    ok(run(project, "sync"))
    tamper(project / "poorenv.lock", "alpha")
    before = manifest(project / ".poorenv")
    result = run(project, "sync")
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: installing packages: hash mismatch for alpha==1.0")
    assert "Traceback" not in result.stderr
    assert manifest(project / ".poorenv") == before
    assert run(project, "check").returncode == 1


def test_same_lock_twice_from_scratch_gives_identical_files(project: Path) -> None:
    def snapshot() -> dict[str, str]:
        site = site_packages(project)
        files = {}
        for path in sorted(site.rglob("*")):
            if path.is_file():
                rel = str(path.relative_to(site))
                is_record = path.name == "RECORD"
                files[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if is_record else ""
        return files

    ok(run(project, "sync"))
    first = snapshot()
    ok(run(project, "remove"))
    ok(run(project, "sync", "--frozen"))
    assert snapshot() == first
    assert any(name.endswith("RECORD") and digest for name, digest in first.items())


def test_export_is_accepted_by_pip_require_hashes(project: Path, tmp_path: Path) -> None:
    ok(run(project, "lock"))
    exported = ok(run(project, "export", "--format", "requirements")).stdout
    (tmp_path / "req.txt").write_text(exported)
    target = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--require-hashes", "--no-deps", "--no-index",
         "--find-links", str(project / "wheels"), "--target", str(target), "-r",
         str(tmp_path / "req.txt")],
        check=True, env=offline_env(), capture_output=True,
    )  # fmt: skip
    assert (target / "alpha" / "__init__.py").is_file()


def test_frozen_installs_the_lock_as_it_is(project: Path) -> None:
    ok(run(project, "lock"))
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma", "extra-thing"'))
    ok(run(project, "sync", "--frozen"))
    assert "extra_thing" not in installed(project)
    assert "gamma" in installed(project)


def test_unresolvable_requirement_is_one_clear_error(project: Path) -> None:
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma>=5"'))
    before = manifest(project)
    result = run(project, "sync")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: resolving poorenv.toml for cpython")
    assert "gamma" in lines[0]
    assert "Traceback" not in result.stderr
    assert manifest(project) == before


# --- with the real index -----------------------------------------------------------------------


@pytest.mark.network
def test_example_webapp_syncs_from_its_committed_lock(tmp_path: Path) -> None:
    project = tmp_path / "webapp"
    shutil.copytree(
        ROOT / "examples" / "webapp", project, ignore=shutil.ignore_patterns(".poorenv")
    )
    ok(poorenv("sync", "--locked", cwd=project))
    result = ok(
        poorenv("run", "--", "python", "-c", "import app; print(app.app.name)", cwd=project)
    )
    assert result.stdout.strip() == "app"
    ok(poorenv("check", cwd=project))
    assert "nothing to do" in ok(poorenv("sync", cwd=project)).stdout


@pytest.mark.network
@pytest.mark.skipif(
    find_base("3.9") is None or find_base("3.12") is None, reason="needs pyenv's 3.9 and 3.12"
)
def test_locks_for_39_and_312_differ_where_markers_say(tmp_path: Path) -> None:
    locks = {}
    for xy in ("3.9", "3.12"):
        project = tmp_path / xy
        write_config(project, xy, seed="[]", extra='[requirements]\npackages = ["pytest"]\n')
        ok(poorenv("lock", cwd=project))
        lock = read_lock(project / "poorenv.lock")
        assert lock is not None
        assert lock.interpreter.python == xy
        locks[xy] = {p.name for p in lock.packages}
    assert {"tomli", "exceptiongroup"} <= locks["3.9"]
    assert not {"tomli", "exceptiongroup"} & locks["3.12"]
    assert {"pytest", "pluggy", "iniconfig", "packaging"} <= locks["3.9"] & locks["3.12"]


@pytest.mark.skipif(not tracing.available(), reason="strace is not installed")
def test_a_whole_sync_writes_only_the_env_the_lock_and_caches(
    project: Path, tmp_path: Path, cache_dir: Path
) -> None:
    caches = tmp_path / "caches"
    variables = {
        **offline_env(),
        "TMPDIR": str(caches / "tmp"),
        "PIP_CACHE_DIR": str(caches / "pip"),
        "UV_CACHE_DIR": str(caches / "uv"),
        "XDG_CACHE_HOME": str(caches / "xdg"),  # pip-tools' own cache
        "HOME": str(tmp_path / "home"),
        # pip puts `rustc --version` in its user agent; on machines with rustup that runs
        # rustup's proxy, which writes its settings into a new HOME. Point it at the real one.
        "RUSTUP_HOME": str(Path(pwd.getpwuid(os.getuid()).pw_dir) / ".rustup"),
    }
    (caches / "tmp").mkdir(parents=True)
    result, written = tracing.traced_writes(
        [sys.executable, "-m", "poorenv", "sync"], project, variables, tmp_path / "trace.log"
    )
    assert result.returncode == 0, result.stderr
    env = project / ".poorenv"
    assert any(p.startswith(f"{env}/") for p in written)
    lock_writes = {p for p in written if Path(p).parent == project and "poorenv.lock" in p}
    assert lock_writes, "the trace saw no lock written"
    allowed = [env, caches, cache_dir, *map(Path, lock_writes)]
    assert tracing.outside(written, allowed) == []


def test_bytecode_is_compiled_recorded_and_removed_with_its_package(project: Path) -> None:
    ok(run(project, "sync"))
    site = site_packages(project)
    tag = probe(HERE_PYTHON).cache_tag
    pyc = site / "gamma" / "__pycache__" / f"__init__.{tag}.pyc"
    record = (site / "gamma-1.0.dist-info" / "RECORD").read_text()
    assert pyc.is_file()  # compiled by poorenv, on every core, for pip and for uv alike
    listed = [
        row
        for row in record.splitlines()
        if row.startswith(f"gamma/__pycache__/__init__.{tag}.pyc,")
    ]
    assert len(listed) == 1 and ",sha256=" in listed[0]  # with its hash, as pip lists bytecode
    assert verify_records(project) == []  # the .pyc's hash included
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace(', "gamma"', ""))
    ok(run(project, "sync"))
    assert not (site / "gamma").exists()  # no __pycache__ left to import as a namespace package
    assert "gamma" not in installed(project)
