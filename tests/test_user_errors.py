"""The inputs a user can cause that once ended in a traceback (issue 13, class 6), run with the
real `poorenv` command: each is one clear `error:` line (and a `hint:`), exit 2, nothing changed
on disk, and none of them reaches the last-resort "internal error".

Fast cases need no real env (an interpreter probe at most; a fake env is a directory with
poorenv's marker); the slow ones build or resolve one offline. Mounts need root: without
permission to mount they skip, unless CI is set. The `nobody` cases run through setpriv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import manifest, ok
from tests.offline import HERE_PYTHON, offline_env, offline_project, run

MARKER = {"format": 1, "created-by": "poorenv test", "abi": "cpython-x"}
DEEP_TOML = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@dataclass
class Run:
    """How to run poorenv for a case: where, with what, as whom, and what must not change."""

    cwd: Path
    args: tuple[str, ...]
    watch: Path  # everything under it stays as it was
    env: dict[str, str] = field(default_factory=dict)  # on top of the test's environment
    drop: tuple[str, ...] = ()  # variables to unset
    nobody: bool = False


def poorenv_run(how: Run) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in {**offline_env(), **how.env}.items() if k not in how.drop}
    argv = [sys.executable, "-m", "poorenv", *how.args]
    if how.nobody:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.run(
        argv, cwd=how.cwd, env=env, capture_output=True, text=True, check=False
    )  # fmt: skip


def assert_one_clear_error(result: subprocess.CompletedProcess[str], words: str, code: int) -> None:
    shown = f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == code, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert "internal error" not in result.stderr, shown
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: ")]
    assert lines, shown
    assert words in lines[0], shown
    if code == 2:
        assert lines[0].startswith("error: "), shown
        assert all(line.startswith(("error: ", "hint: ")) for line in lines), shown
        assert len([line for line in lines if line.startswith("error: ")]) == 1, shown


# --- projects, envs and places --------------------------------------------------------------------


def project(root: Path, extra: str = "", python: str = str(HERE_PYTHON)) -> Path:
    """A project that needs no index: no packages, no seed."""
    where = root / "project"
    where.mkdir(parents=True, exist_ok=True)
    (where / "poorenv.toml").write_text(f'[env]\npython = "{python}"\nseed = []\n{extra}')
    return where


def locked(where: Path) -> Path:
    """Write a valid, fresh lock of no packages for the project at `where` (no resolving)."""
    from poorenv.config import load_config
    from poorenv.discover.interpreter import probe
    from poorenv.lock.inputs import input_hash
    from poorenv.lock.lockfile import Lock, LockInterpreter, write_lock

    config = load_config(where / "poorenv.toml")
    lock = Lock(input_hash(config), LockInterpreter.of(probe(HERE_PYTHON)), ())
    write_lock(where / "poorenv.lock", lock)
    return where


def fake_env(env: Path, marker: str | None = None) -> Path:
    """A directory carrying poorenv's marker and a few files: enough for remove and sync to
    judge it, no interpreter needed."""
    (env / ".poorenv").mkdir(parents=True)
    (env / ".poorenv" / "marker.json").write_text(marker or json.dumps(MARKER))
    (env / "bin").mkdir()
    (env / "bin" / "tool").write_text("#!/bin/sh\n")
    (env / "lib").mkdir()
    (env / "lib" / "module.py").write_text("x = 1\n")
    return env


def loop(at: Path) -> None:
    at.symlink_to(at.name + "-b")
    at.with_name(at.name + "-b").symlink_to(at.name)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


class Mounts:
    """tmpfs mounts for a test (root only), unmounted whatever happens."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def tmpfs(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        self._mount(["-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)])
        return where

    def bind(self, source: Path, where: Path) -> None:
        self._mount(["--bind", str(source), str(where)])

    def read_only(self, where: Path) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)

    def _mount(self, args: list[str]) -> None:
        made = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            message = f"cannot mount here: {made.stderr.strip()}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.points.append(Path(args[-1]))

    def undo(self) -> None:
        for point in reversed(self.points):
            subprocess.run(["umount", "-l", str(point)], check=False)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    if not can_mount() and not os.environ.get("CI"):
        pytest.skip("mounting needs root")
    made = Mounts()
    try:
        yield made
    finally:
        made.undo()


def read_only(directory: Path, mounts: Mounts) -> None:
    """Make `directory` (a mount point made by `mounts`) read-only."""
    mounts.read_only(directory)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory the `nobody` user can reach (pytest's own tmp_path is private to root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as nobody")
    where = Path(tempfile.mkdtemp(prefix="poorenv-nobody-"))
    where.chmod(0o755)
    try:
        probe = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c", "import poorenv"],
            cwd=where, capture_output=True, check=False,
        )  # fmt: skip
        if probe.returncode != 0:
            pytest.skip("nobody cannot run this Python")
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def chown_nobody(path: Path) -> None:
    subprocess.run(["chown", "-R", "nobody:nogroup", str(path)], check=True)


# --- the cases: one builder per input -------------------------------------------------------------


def loop_env_path(tmp: Path) -> Run:
    where = project(tmp, extra="path = 'env'\n")
    loop(where / "env")
    return Run(where, ("sync",), tmp)


def loop_config(tmp: Path) -> Run:
    where = tmp / "project"
    where.mkdir()
    loop(where / "poorenv.toml")
    return Run(where, ("sync",), tmp)


def loop_find_links(tmp: Path) -> Run:
    extra = (
        "[requirements]\npackages = ['alpha']\n[index]\nno-index = true\nfind-links = ['wheels']\n"
    )
    where = project(tmp, extra=extra)
    loop(where / "wheels")
    return Run(where, ("sync",), tmp)


def loop_in_dash_c(tmp: Path) -> Run:
    loop(tmp / "there")
    return Run(tmp, ("-C", "there", "sync"), tmp)


def not_utf8(tmp: Path) -> Run:
    where = project(tmp / os.fsdecode(b"proj\xff"))
    return Run(where, ("sync",), tmp)


def nul_byte(tmp: Path) -> Run:
    where = project(tmp)
    with open(where / "poorenv.toml", "ab") as handle:
        handle.write(b"# \x00\n")
    return Run(where, ("sync",), tmp)


def nul_escape(tmp: Path) -> Run:
    return Run(project(tmp, extra='path = "env\\u0000x"\n'), ("sync",), tmp)


def deep_config(tmp: Path) -> Run:
    return Run(project(tmp, extra=DEEP_TOML), ("sync",), tmp)


def deep_lock(tmp: Path) -> Run:
    where = project(tmp)
    (where / "poorenv.lock").write_text(DEEP_TOML)
    return Run(where, ("sync", "--locked"), tmp)


def deep_marker(tmp: Path) -> Run:
    where = project(tmp)
    fake_env(where / ".poorenv", marker=DEEP_JSON)
    return Run(where, ("sync",), tmp)


def deep_marker_remove(tmp: Path) -> Run:
    where = project(tmp)
    fake_env(where / ".poorenv", marker=DEEP_JSON)
    return Run(where, ("remove",), tmp)


def xdg_cache_is_a_file(tmp: Path) -> Run:
    where = project(tmp)
    (tmp / "afile").write_text("x")
    env = {"XDG_CACHE_HOME": str(tmp / "afile")}
    return Run(where, ("sync",), tmp, env=env, drop=("POORENV_CACHE_DIR",))


def home_cannot_exist(tmp: Path) -> Run:
    """HOME=/nonexistent as root would be made; under a file it cannot be, for root too."""
    where = project(tmp)
    fake_env(where / ".poorenv")
    (tmp / "afile").write_text("x")
    env = {"HOME": str(tmp / "afile" / "nonexistent")}
    return Run(where, ("remove",), tmp, env=env, drop=("POORENV_CACHE_DIR", "XDG_CACHE_HOME"))


def lock_is_a_link_read(tmp: Path) -> Run:
    where = project(tmp)
    (tmp / "secret.txt").write_text("password = 'hunter2'\n")
    (where / "poorenv.lock").symlink_to(tmp / "secret.txt")
    return Run(where, ("sync", "--locked"), tmp)


def lock_is_a_link_write(tmp: Path) -> Run:
    where = project(tmp)
    (tmp / "outside.txt").write_text("keep me\n")
    (where / "poorenv.lock").symlink_to(tmp / "outside.txt")
    return Run(where, ("lock",), tmp)


def lock_is_a_dangling_link(tmp: Path) -> Run:
    where = project(tmp)
    (where / "poorenv.lock").symlink_to(tmp / "new.lock")
    return Run(where, ("lock",), tmp)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Run]
    words: str
    code: int = 2


FAST = [
    Case("symlink loop: [env] path", loop_env_path, "[env] path: "),
    Case("symlink loop: poorenv.toml", loop_config, "Too many levels of symbolic links"),
    Case("symlink loop: find-links", loop_find_links, "[index] find-links: wheels: Too many"),
    Case("symlink loop: -C", loop_in_dash_c, "-C there: Too many levels of symbolic links"),
    Case("project directory not UTF-8", not_utf8, "proj\\xff/project: its name is not valid UTF-8"),
    Case("NUL byte in poorenv.toml", nul_byte, "invalid TOML: Found invalid character"),
    Case("NUL escape in poorenv.toml", nul_escape, "contains the control character U+0000"),
    Case("deep nesting: poorenv.toml", deep_config, "invalid TOML: nested too deeply"),
    Case("deep nesting: poorenv.lock", deep_lock, "poorenv.lock: invalid TOML: nested too deeply"),
    Case("deep nesting: marker, sync", deep_marker, "damaged (not valid JSON: nested too deeply)"),
    Case("deep nesting: marker, remove", deep_marker_remove, "refusing to remove it: its marker"),
    Case("poorenv.lock a link: read", lock_is_a_link_read, "poorenv.lock: a symbolic link (to "),
    Case("poorenv.lock a link: lock", lock_is_a_link_write, "poorenv.lock: a symbolic link (to "),
    Case("poorenv.lock a dangling link", lock_is_a_dangling_link, "a symbolic link (to "),
]  # fmt: skip


@pytest.mark.parametrize("case", FAST, ids=[c.name for c in FAST])
def test_user_error_is_one_clear_line_and_changes_nothing(tmp_path: Path, case: Case) -> None:
    how = case.build(tmp_path)
    before = manifest(how.watch)
    result = poorenv_run(how)
    assert_one_clear_error(result, case.words, case.code)
    assert manifest(how.watch) == before
    assert "hunter2" not in result.stderr + result.stdout


def assert_one_cache_warning(result: subprocess.CompletedProcess[str], cache: Path) -> None:
    """Only the cache is unusable: poorenv warns once, naming it, and works on without it."""
    shown = f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, shown
    assert "Traceback" not in result.stderr and "error:" not in result.stderr, shown
    warnings = [line for line in result.stderr.splitlines() if "poorenv's cache" in line]
    assert len(warnings) == 1, shown
    assert warnings[0].startswith(f"WARNING: poorenv's cache {cache}: "), shown
    assert warnings[0].endswith("; not used: this run uses a temporary cache"), shown


@pytest.mark.parametrize("build", [xdg_cache_is_a_file, home_cannot_exist], ids=["xdg", "home"])
def test_an_unusable_cache_is_one_warning_and_the_command_works(
    tmp_path: Path, build: Callable[[Path], Run]
) -> None:
    how = build(tmp_path)
    result = poorenv_run(how)
    if "HOME" in how.env:
        assert_one_cache_warning(result, tmp_path / "afile" / "nonexistent" / ".cache" / "poorenv")
        assert not (how.cwd / ".poorenv").exists()  # removed
    else:
        assert_one_cache_warning(result, tmp_path / "afile" / "poorenv")
        assert (how.cwd / ".poorenv" / ".poorenv" / "state.json").is_file()  # synced
    assert (tmp_path / "afile").read_text() == "x"


def test_a_damaged_marker_names_the_command_that_rebuilds_the_env(tmp_path: Path) -> None:
    how = deep_marker(tmp_path)
    result = poorenv_run(how)
    env = how.cwd / ".poorenv"
    hint = "hint: it looks like an env poorenv made; if it holds nothing of yours, "
    assert f"{hint}rebuild it: rm -r {env} && poorenv sync" in result.stderr.splitlines()
    removed = poorenv_run(Run(how.cwd, ("remove",), tmp_path))
    assert f"{hint}delete it by hand: rm -r {env}" in removed.stderr.splitlines()


# --- places that cannot be searched ---------------------------------------------------------------


def test_unsearchable_places_are_skipped_with_one_warning(tmp_path: Path) -> None:
    """As a shell does with PATH: a file, a dangling link or a loop on PATH or as pyenv's
    versions dir is no error; one that cannot be searched is named once."""
    where = project(tmp_path, python="{}.{}".format(*sys.version_info[:2]))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    loop(tmp_path / "loop")
    (tmp_path / "pyenv").mkdir()
    loop(tmp_path / "pyenv" / "versions")
    path = os.pathsep.join(str(tmp_path / n) for n in ("afile", "dangling", "loop"))
    env = {"PATH": f"{path}{os.pathsep}{os.environ['PATH']}", "PYENV_ROOT": str(tmp_path / "pyenv")}
    before = manifest(tmp_path)
    result = poorenv_run(Run(where, ("plan",), tmp_path, env=env))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING: ")]
    skips = "WARNING: interpreter discovery skips"
    loops = "Too many levels of symbolic links"
    assert sorted(warnings) == [
        f"{skips} {tmp_path / 'loop'}: {loops}",
        f"{skips} {tmp_path / 'pyenv' / 'versions'}: {loops}",
    ]
    assert "Traceback" not in result.stderr
    assert manifest(tmp_path) == before


def test_nothing_found_in_searchable_places_is_one_error(tmp_path: Path) -> None:
    where = project(tmp_path, python="3.99")
    loop(tmp_path / "loop")
    env = {"PATH": str(tmp_path / "loop"), "PYENV_ROOT": str(tmp_path / "loop")}
    result = poorenv_run(Run(where, ("plan",), tmp_path, env=env))
    assert_one_clear_error(result, "no CPython matching '3.99'", 2)


# --- mounts and read-only places (root) -----------------------------------------------------------


def test_remove_refuses_a_mount_point(tmp_path: Path, mounts: Mounts) -> None:
    where = project(tmp_path)
    fake_env(mounts.tmpfs(where / ".poorenv"))
    before = manifest(tmp_path)
    result = poorenv_run(Run(where, ("remove",), tmp_path))
    assert_one_clear_error(result, ".poorenv is a mount point", 2)
    assert "hint: unmount it first (umount " in result.stderr
    assert manifest(tmp_path) == before


def test_remove_refuses_an_env_holding_a_mount_point(tmp_path: Path, mounts: Mounts) -> None:
    where = project(tmp_path)
    env = fake_env(where / ".poorenv")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (env / "share").mkdir()
    mounts.bind(outside, env / "share")
    before = manifest(tmp_path)
    result = poorenv_run(Run(where, ("remove",), tmp_path))
    assert_one_clear_error(result, f"{env / 'share'} is a mount point", 2)
    assert manifest(tmp_path) == before
    assert (outside / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("command", [("remove",), ("sync", "--locked")])
def test_a_read_only_env_is_one_clear_error(
    tmp_path: Path, mounts: Mounts, command: tuple[str, ...]
) -> None:
    where = locked(project(tmp_path, extra=f"path = '{tmp_path / 'mnt' / 'env'}'\n"))
    fake_env(mounts.tmpfs(tmp_path / "mnt") / "env")
    read_only(tmp_path / "mnt", mounts)
    before = manifest(tmp_path)
    result = poorenv_run(Run(where, command, tmp_path))
    assert_one_clear_error(result, "Read-only file system", 2)
    assert manifest(tmp_path) == before


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (("init",), "poorenv.toml: cannot write: Read-only file system"),
        (("sync",), "poorenv.lock: cannot write: Read-only file system"),
        (("sync", "--locked"), "create env"),
        (("lock",), "poorenv.lock: cannot write: Read-only file system"),
    ],
)
def test_a_read_only_project_directory_is_one_clear_error(
    tmp_path: Path, mounts: Mounts, command: tuple[str, ...], words: str
) -> None:
    where = mounts.tmpfs(tmp_path / "project")
    if command != ("init",):
        project(tmp_path)
    if command == ("sync", "--locked"):
        locked(where)
    read_only(where, mounts)
    before = manifest(where)  # resolving may fill pip-tools' own cache, in HOME
    result = poorenv_run(Run(where, command, where))
    assert_one_clear_error(result, words, 2)
    assert manifest(where) == before


def test_a_read_only_cache_is_one_warning_and_sync_works(tmp_path: Path, mounts: Mounts) -> None:
    where = project(tmp_path)
    cache = mounts.tmpfs(tmp_path / "cache")
    cache.chmod(0o700)  # a tmpfs starts 1777: writable by everyone, refused for that first
    read_only(cache, mounts)
    before = manifest(cache)
    result = poorenv_run(Run(where, ("sync",), tmp_path, env={"POORENV_CACHE_DIR": str(cache)}))
    assert_one_cache_warning(result, cache)
    assert "not writable by you" in result.stderr
    assert manifest(cache) == before


# --- another user (nobody) ------------------------------------------------------------------------


def test_another_users_env_is_one_clear_error(shared_tmp: Path) -> None:
    """nobody removes an env whose own directory (.poorenv) root made: refused before anything
    is deleted (without the check, everything but .poorenv would be gone before the failure)."""
    where = project(shared_tmp)
    env = fake_env(where / ".poorenv")
    (shared_tmp / "cache").mkdir()
    chown_nobody(shared_tmp)
    subprocess.run(["chown", "-R", "root:root", str(env / ".poorenv")], check=True)
    before = manifest(where)
    env_vars = {"POORENV_CACHE_DIR": str(shared_tmp / "cache"), "HOME": "/nonexistent"}
    how = Run(where, ("remove",), where, env=env_vars, nobody=True)
    result = poorenv_run(how)
    assert_one_clear_error(result, f"{env}: cannot remove {env / '.poorenv'}: Permission", 2)
    assert manifest(where) == before


def test_home_nonexistent_as_nobody_is_one_warning_and_remove_works(shared_tmp: Path) -> None:
    where = project(shared_tmp)
    fake_env(where / ".poorenv")
    chown_nobody(shared_tmp)
    how = Run(where, ("remove",), shared_tmp, nobody=True, env={"HOME": "/nonexistent"},
              drop=("POORENV_CACHE_DIR", "XDG_CACHE_HOME"))  # fmt: skip
    result = poorenv_run(how)
    assert_one_cache_warning(result, Path("/nonexistent/.cache/poorenv"))
    assert not (where / ".poorenv").exists()
    assert not Path("/nonexistent").exists()


def test_an_unreadable_pyenv_dir_as_nobody_is_skipped(shared_tmp: Path) -> None:
    """chmod 000 binds only a user who is not root."""
    where = project(shared_tmp, python="{}.{}".format(*sys.version_info[:2]))
    (shared_tmp / "pyenv" / "versions").mkdir(parents=True)
    (shared_tmp / "pyenv" / "versions").chmod(0)
    (shared_tmp / "cache").mkdir()
    chown_nobody(shared_tmp / "cache")
    how = Run(where, ("plan",), shared_tmp, nobody=True,
              env={"PYENV_ROOT": str(shared_tmp / "pyenv"), "HOME": "/nonexistent",
                   "POORENV_CACHE_DIR": str(shared_tmp / "cache")})  # fmt: skip
    result = poorenv_run(how)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    versions = shared_tmp / "pyenv" / "versions"
    skipped = f"WARNING: interpreter discovery skips {versions}: Permission denied"
    assert skipped in result.stderr.splitlines()


# --- with a real env (slow) -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_deeply_nested_state_file_is_no_record(tmp_path: Path) -> None:
    """poorenv's own state.json, nested too deeply: no record. check says so, sync rewrites it."""
    where = offline_project(tmp_path / "project", seed="[]")
    ok(run(where, "sync"))
    (where / ".poorenv" / ".poorenv" / "state.json").write_text(DEEP_JSON)
    before = manifest(tmp_path)
    for args in (("check",), ("check", "-v")):  # the fast path, and the full planner
        result = poorenv_run(Run(where, args, tmp_path))
        assert_one_clear_error(result, "not in sync", 1)
        assert "  state record missing or unreadable" in result.stderr.splitlines()
    assert manifest(tmp_path) == before
    ok(run(where, "sync"))
    ok(run(where, "check"))


@pytest.mark.slow
def test_lock_in_a_read_only_project_is_one_clear_error(tmp_path: Path, mounts: Mounts) -> None:
    where = offline_project(mounts.tmpfs(tmp_path / "project"), seed="[]")
    read_only(where, mounts)
    before = manifest(where)  # pip-tools' own cache, in HOME, may change
    result = poorenv_run(Run(where, ("lock",), where))
    assert_one_clear_error(result, "poorenv.lock: cannot write: Read-only file system", 2)
    assert "hint: the project directory must be writable by you" in result.stderr
    assert manifest(where) == before


@pytest.mark.slow
def test_sync_of_a_read_only_env_in_sync_says_so(tmp_path: Path, mounts: Mounts) -> None:
    """Only the no-op stamp cannot be written: in sync all the same, with one warning."""
    where = offline_project(tmp_path / "project", seed="[]")
    config = where / "poorenv.toml"
    env = mounts.tmpfs(tmp_path / "mnt") / "env"
    config.write_text(config.read_text().replace("seed = []", f"seed = []\npath = '{env}'"))
    ok(run(where, "sync"))
    state = env / ".poorenv" / "state.json"
    data = json.loads(state.read_text())
    del data["stamp"]
    state.write_text(json.dumps(data))
    read_only(tmp_path / "mnt", mounts)
    before = manifest(tmp_path)
    result = poorenv_run(Run(where, ("sync",), tmp_path))
    assert result.returncode == 0, result.stderr
    assert "in sync, nothing to do" in result.stdout
    assert (
        f"WARNING: cannot record the no-op stamp in {env}: Read-only file system" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert manifest(tmp_path) == before
