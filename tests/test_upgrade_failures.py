"""Upgrades that fail half-way, for real: a full disk (a small tmpfs), a file-size limit
(RLIMIT_FSIZE, SIGXFSZ ignored so that writes fail with EFBIG), a corrupt wheel whose hash is
locked, and a package that cannot be deleted; with pip and with uv.

Each test syncs an env (pa, pb, pc, pd, big 1.0 and pold), then asks for an upgrade of them all
to 2.0, a new pnew and no pold, and makes that sync fail at one step. Afterwards the env's files
are as they were (site-packages manifest and RECORD hashes), or `poorenv check` exits 1 naming
every package that differs; with the cause gone, the next `sync` completes the upgrade and
`check` and `doctor` are content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import py_compile
import re
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from poorenv.apply import pipwheel
from poorenv.discover.interpreter import probe
from tests.conftest import remount, write_config
from tests.helpers import manifest, ok
from tests.offline import HERE_PYTHON, offline_env, record_problems, run
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow

SMALL = ("pa", "pb", "pc", "pd")  # pip installs in reverse name order: these before "big"
LOCKED = (*SMALL, "big", "pnew")  # after the upgrade; pold is dropped
NOTE = Path(".poorenv", "unfinished.json")


@pytest.fixture(params=["pip", "uv"])
def installer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- the project ----------------------------------------------------------------------------


def _config(project: Path, installer: str, env: Path, packages: list[str]) -> None:
    write_config(
        project,
        HERE_PYTHON,
        extra=f'installer = "{installer}"\npath = "{env}"\n'
        f"[requirements]\npackages = {json.dumps(packages)}\n"
        '[index]\nno-index = true\nfind-links = ["wheels"]\n',
    )


def _project(
    project: Path, installer: str, big: Callable[[Path], object], env: Path | None = None
) -> Path:
    """Synced at 1.0, then locked for the upgrade; `big(wheels)` builds big 2.0."""
    env = env or project / ".poorenv"
    wheels = project / "wheels"
    pipwheel.seed_wheels(probe(HERE_PYTHON), ("pip",))  # in the cache, as offline_project does
    for name in SMALL:
        make_wheel(wheels, name, "1.0")
        make_wheel(wheels, name, "2.0")
    for name in ("big", "pold", "pnew"):
        make_wheel(wheels, name, "1.0")
    _config(project, installer, env, [f"{n}==1.0" for n in (*SMALL, "big", "pold")])
    ok(run(project, "sync"))
    big(wheels)
    _config(project, installer, env, [f"{n}==2.0" for n in (*SMALL, "big")] + ["pnew"])
    ok(run(project, "lock"))
    return project


def _long_state(project: Path) -> int:
    """Make the next state.json far longer than any other file a sync writes (the stamp keeps
    poorenv.toml's text: pad it with a comment), and return a file-size limit between them."""
    config = project / "poorenv.toml"
    config.write_text(config.read_text() + ("# " + "-" * 98 + "\n") * 3000)
    return 200_000  # uv's interpreter probe script is ~30 kB; the state file now ~330 kB


def _site(env: Path) -> Path:
    return Path(probe(HERE_PYTHON).env_paths(env)["purelib"])


def _plain(wheels: Path) -> None:
    make_wheel(wheels, "big", "2.0")


def _bulky(wheels: Path) -> None:
    make_wheel(wheels, "big", "2.0", body=f"DATA = {'x' * 8_000_000!r}\n")


def _corrupt(wheels: Path) -> None:
    """big 2.0 with one flipped byte in its module: the zip's CRC fails when it is unpacked,
    but pip-compile (which reads METADATA only) locks its hash."""
    wheel = make_wheel(wheels, "big", "2.0", body="X = 1\n")
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("big/__init__.py")
    data = bytearray(wheel.read_bytes())
    offset = info.header_offset
    start = offset + 30 + int.from_bytes(data[offset + 26 : offset + 28], "little")
    start += int.from_bytes(data[offset + 28 : offset + 30], "little")
    data[start] ^= 1
    wheel.write_bytes(bytes(data))


def _wheel(directory: Path, name: str, version: str, files: Mapping[str, str]) -> Path:
    """A wheel of `name` holding `files` (paths inside the wheel -> text), RECORD included."""
    info = f"{name}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: poorenv-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = [f"{path},sha256={_b64(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*rows, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return wheel


def _b64(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- what the env looks like ------------------------------------------------------------------


def _by_package(site: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """site-packages' manifest, grouped by the package each top-level entry belongs to."""
    groups: dict[str, dict[str, tuple[str, str]]] = {}
    for path, what in manifest(site).items():
        top = Path(path).relative_to(site).parts[0]
        name = top.split("-")[0] if top.endswith(".dist-info") else top
        groups.setdefault(name.lower().replace("_", "-"), {})[path] = what
    return groups


def _failed_safely(
    project: Path,
    site: Path,
    before: dict[str, dict[str, tuple[str, str]]],
    result: subprocess.CompletedProcess[str],
    words: str,
) -> tuple[set[str], str]:
    """The sync failed with one clear error; then the env is as it was, or `check` exits 1
    naming each package that differs and is still there or still wanted. Returns the
    packages that changed and check's report."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert _error(result).startswith("error: "), result.stderr
    assert words in _error(result), result.stderr
    assert "Traceback" not in result.stderr
    after = _by_package(site)
    changed = {name for name in {*before, *after} if before.get(name) != after.get(name)}
    check = run(project, "check")
    assert check.returncode == 1, (check.stdout, check.stderr)
    if not changed:
        assert record_problems(site) == []  # as it was, content too
    for name in changed:
        if name in LOCKED or name in after:
            assert re.search(rf"(^|[\s,]){re.escape(name)}\b", check.stderr), (name, check.stderr)
    return changed, check.stderr


def _error(result: subprocess.CompletedProcess[str]) -> str:
    """The first line of stderr but for warnings (an offline pip wheel fetch warns)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: ")]
    return lines[0] if lines else ""


def _completes(project: Path, env: Path) -> None:
    """The next sync finishes the upgrade: check and doctor content, nothing half-written."""
    site = _site(env)
    ok(run(project, "sync"))
    ok(run(project, "check"))
    ok(run(project, "doctor"))
    assert "nothing to do" in ok(run(project, "sync")).stdout  # and the no-op stamp is back
    assert not (env / NOTE).exists()
    assert record_problems(site) == []
    infos = [*(f"{n}-2.0.dist-info" for n in (*SMALL, "big")), "pnew-1.0.dist-info"]
    assert sorted(os.listdir(site)) == sorted([*infos, *LOCKED])  # no leftovers either
    code = "import pa, pb, pc, pd, big; print(pa.__version__, pd.__version__, big.__version__)"
    assert ok(run(project, "run", "--", "python", "-c", code)).stdout.split() == ["2.0"] * 3


def _limited(project: Path, fsize: int, *args: str) -> subprocess.CompletedProcess[str]:
    """poorenv under a file-size limit: a longer write fails with EFBIG (SIGXFSZ ignored, as
    Python itself ignores it, rather than killing the writer)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "poorenv", *args],
        cwd=project, env=offline_env(), capture_output=True, text=True, check=False,
        preexec_fn=limit,
    )  # fmt: skip


# --- a full disk ---------------------------------------------------------------------------------


def test_the_disk_fills_half_way_through_an_upgrade(
    tmp_path: Path, small_mount: Path, installer: str
) -> None:
    env = small_mount / "env"
    project = _project(tmp_path / "project", installer, _bulky, env)
    site = _site(env)
    used = shutil.disk_usage(small_mount).used
    remount(small_mount, f"size={used // 1024 + 2048}k")  # 2 MiB free: big 2.0 needs 8
    before = _by_package(site)
    result = run(project, "sync")
    changed, _ = _failed_safely(project, site, before, result, "No space left on device")
    assert "hint: free some disk space" in result.stderr
    assert changed & set(SMALL), "the disk did not fill after some packages were upgraded"
    remount(small_mount, "size=64m")
    _completes(project, env)


# --- an installer error ------------------------------------------------------------------------


def test_a_corrupt_wheel_half_way_through_an_upgrade(tmp_path: Path, installer: str) -> None:
    project = _project(tmp_path / "project", installer, _corrupt)
    env = project / ".poorenv"
    site = _site(env)
    before = _by_package(site)
    result = run(project, "sync")
    changed, _ = _failed_safely(project, site, before, result, "Bad CRC")
    if installer == "pip":  # pip installs one after another: the others are upgraded
        assert set(SMALL) <= changed
    else:  # uv unpacks every wheel before it changes anything
        assert not changed
    make_wheel(project / "wheels", "big", "2.0")  # the index now serves a good file
    ok(run(project, "lock", "--upgrade-package", "big"))
    _completes(project, env)


def test_removal_fails_after_the_install(tmp_path: Path, small_mount: Path, installer: str) -> None:
    env = small_mount / "env"
    project = _project(tmp_path / "project", installer, _plain, env)
    site = _site(env)
    stuck = site / "pold"
    if subprocess.run(["chattr", "+i", str(stuck)], check=False).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        before = _by_package(site)
        result = run(project, "sync")
        changed, report = _failed_safely(project, site, before, result, "removing packages")
        assert set(SMALL) <= changed  # the install went through
        if installer == "pip":  # pip rolls back the uninstall it could not finish
            assert "remove pold" in report
        else:  # uv deletes the .dist-info first, then fails on pold/: nothing says what is left
            assert "drop incomplete pold-1.0.dist-info" in report
            assert (stuck / "__init__.py").is_file()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    _completes(project, env)


# --- poorenv's own steps, under a file-size limit -------------------------------------------


def test_bytecode_does_not_fit(tmp_path: Path) -> None:
    """pip here (uv's installs are compiled the same way, by poorenv)."""
    source = "DATA = [" + "0," * 200_000 + "]\n__version__ = '2.0'\n"
    pyc = tmp_path / "probe.pyc"
    (tmp_path / "probe.py").write_text(source)
    py_compile.compile(str(tmp_path / "probe.py"), cfile=str(pyc), doraise=True)
    limit = (len(source) + pyc.stat().st_size) // 2
    assert len(source) < limit < pyc.stat().st_size
    project = _project(
        tmp_path / "project", "pip", lambda w: _wheel(w, "big", "2.0", {"big/__init__.py": source})
    )
    env = project / ".poorenv"
    site = _site(env)
    before = _by_package(site)
    result = _limited(project, limit, "sync")
    _, report = _failed_safely(project, site, before, result, "compiling bytecode: File too")
    assert "__init__.cpython-" in _error(result)
    assert "hint: a file-size limit" in result.stderr
    assert "big 2.0 (unfinished)" in report
    _completes(project, env)
    tag = probe(HERE_PYTHON).cache_tag
    record = (site / "big-2.0.dist-info" / "RECORD").read_text()
    assert f"big/__pycache__/__init__.{tag}.pyc,sha256=" in record
    assert (site / "big" / "__pycache__" / f"__init__.{tag}.pyc").is_file()


def _many_modules(count: int) -> dict[str, str]:
    files = {f"big/m{i:05}.py": f"N = {i}\n" for i in range(count)}
    files["big/__init__.py"] = "__version__ = '2.0'\n"
    return files


def test_record_rewrite_does_not_fit(tmp_path: Path) -> None:
    """pip here (uv's RECORDs get their bytecode the same way). The RECORD pip writes fits
    under the limit, the one with bytecode does not."""
    files = _many_modules(2000)
    project = _project(tmp_path / "project", "pip", lambda w: _wheel(w, "big", "2.0", files))
    env = project / ".poorenv"
    site = _site(env)
    with zipfile.ZipFile(project / "wheels" / "big-2.0-py3-none-any.whl") as archive:
        pip_record = archive.getinfo("big-2.0.dist-info/RECORD").file_size
    row = f"big/__pycache__/m00000.{probe(HERE_PYTHON).cache_tag}.pyc,sha256={'x' * 43},100\n"
    bytecode_rows = len(row) * 2000
    limit = pip_record + bytecode_rows // 2
    before = _by_package(site)
    result = _limited(project, limit, "sync")
    _, report = _failed_safely(project, site, before, result, "File too large")
    assert "big-2.0.dist-info/RECORD" in _error(result)
    assert "big 2.0 (unfinished)" in report
    assert "__pycache__" not in (site / "big-2.0.dist-info" / "RECORD").read_text()
    _completes(project, env)
    assert "big/__pycache__/m01999." in (site / "big-2.0.dist-info" / "RECORD").read_text()


def test_state_file_does_not_fit(tmp_path: Path, installer: str) -> None:
    """Everything is installed, but the record of it cannot be written."""
    project = _project(tmp_path / "project", installer, _plain)
    env = project / ".poorenv"
    site = _site(env)
    limit = _long_state(project)
    before = _by_package(site)
    result = _limited(project, limit, "sync")
    changed, report = _failed_safely(project, site, before, result, "record env state: File too")
    assert "state.json" in _error(result)
    assert set(LOCKED) <= changed  # all installed, and
    for name in SMALL:  # check does not take them for done
        assert f"{name} 2.0 (unfinished)" in report
    assert (env / NOTE).is_file()
    _completes(project, env)


def test_the_note_does_not_fit(tmp_path: Path, installer: str) -> None:
    """The first write of the package step fails: nothing has changed."""
    project = _project(tmp_path / "project", installer, _plain)
    env = project / ".poorenv"
    site = _site(env)
    before = _by_package(site)
    state = (env / ".poorenv" / "state.json").read_bytes()
    result = _limited(project, 32, "sync")
    changed, _ = _failed_safely(project, site, before, result, "File too large")
    assert "unfinished.json" in _error(result)
    assert not changed
    assert not (env / NOTE).exists()
    assert (env / ".poorenv" / "state.json").read_bytes() == state
    _completes(project, env)


def test_an_earlier_note_survives_an_installer_that_changed_nothing(
    tmp_path: Path, installer: str
) -> None:
    """A sync that fails before touching the env keeps what an earlier failed sync noted."""
    project = _project(tmp_path / "project", installer, _plain)
    env = project / ".poorenv"
    first = _limited(project, _long_state(project), "sync")
    assert "record env state: File too large" in _error(first), first.stderr  # all but the record
    assert (env / NOTE).is_file()
    wheel = project / "wheels" / "pa-2.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # now pa's hash no longer matches
    result = run(project, "sync")
    assert result.returncode == 2
    assert "hash mismatch" in result.stderr
    assert (env / NOTE).is_file()
    check = run(project, "check")
    assert check.returncode == 1
    assert "pb 2.0 (unfinished)" in check.stderr
    make_wheel(project / "wheels", "pa", "2.0")
    _completes(project, env)


def test_the_fast_path_never_vouches_for_an_unfinished_sync(tmp_path: Path) -> None:
    project = _project(tmp_path / "project", "pip", _plain)
    env = project / ".poorenv"
    ok(run(project, "sync"))
    ok(run(project, "check"))
    (env / NOTE).write_text(json.dumps({"format": 1, "packages": ["pa"]}))
    check = run(project, "check")
    assert check.returncode == 1
    assert "pa 2.0 (unfinished)" in check.stderr
    os.unlink(env / NOTE)
    ok(run(project, "check"))
