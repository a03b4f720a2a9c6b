"""Concurrent, interrupted and hostile syncs: a working env or a clear refusal, never a half-state."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from poorenv.envlock import env_lock
from poorenv.lock.lockfile import read_lock, write_lock
from tests.conftest import PYENV_ROOT, remount
from tests.helpers import manifest, ok
from tests.offline import (
    HERE_PYTHON,
    installed,
    offline_env,
    offline_project,
    run,
    verify_records,
)
from tests.test_sync_e2e import tamper
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow


def start_sync(project: Path, *args: str) -> subprocess.Popen[str]:
    env = {**offline_env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "poorenv", "sync", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: pip dies with it, as in a killed CI job
    )


def assert_healthy(project: Path) -> None:
    ok(run(project, "check"))
    assert verify_records(project) == []
    state = json.loads((project / ".poorenv" / ".poorenv" / "state.json").read_text())
    assert state["packages"].keys() == installed(project).keys()
    code = "import alpha, beta, gamma"
    ok(run(project, "run", "--", "python", "-c", code))


# --- concurrency ---------------------------------------------------------------------------------


def test_eight_syncs_at_once_ten_times(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    for round_number in range(10):
        shutil.rmtree(project / ".poorenv", ignore_errors=True)
        if round_number % 2 == 0:
            (project / "poorenv.lock").unlink(missing_ok=True)  # lock concurrently too
        procs = [start_sync(project) for _ in range(8)]
        outputs = [p.communicate(timeout=300) for p in procs]
        results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]
        for code, out, err in results:
            assert code == 0, f"round {round_number}: exit {code}\n{out}\n{err}"
        built = [out for _, out, _ in results if "synced" in out]
        assert len(built) == 1, f"round {round_number}: {len(built)} syncs built the env"
        assert sum("waiting for another poorenv sync" in err for _, _, err in results) >= 1
        assert_healthy(project)


def _forget_stamp(project: Path) -> None:
    """Make the next sync take the full path (and the lock) although nothing else changed."""
    state_file = project / ".poorenv" / ".poorenv" / "state.json"
    state = json.loads(state_file.read_text())
    del state["stamp"]
    state_file.write_text(json.dumps(state))


def test_lock_timeout_gives_up_clearly(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    _forget_stamp(project)
    env = {**offline_env(), "POORENV_LOCK_TIMEOUT": "0.5"}
    with env_lock(project / ".poorenv"):
        result = subprocess.run(
            [sys.executable, "-m", "poorenv", "sync"],
            cwd=project, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert "another poorenv is still working on this env (waited 0.5 s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_second_sync_waits_then_finds_nothing_to_do(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    _forget_stamp(project)
    with env_lock(project / ".poorenv"):
        waiting = start_sync(project)
        time.sleep(1.0)
        still_waiting = waiting.poll() is None
    with waiting:
        out, err = waiting.communicate(timeout=60)
    assert still_waiting, "the second sync did not wait"
    assert waiting.returncode == 0
    assert "waiting for another poorenv sync" in err
    assert "nothing to do" in out


# --- interruption --------------------------------------------------------------------------------


def test_thirty_syncs_killed_at_random_moments(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed='["pip"]')
    config = project / "poorenv.toml"
    started = time.monotonic()
    ok(run(project, "sync"))
    full = time.monotonic() - started
    rng = random.Random(20261123)  # noqa: S311 - spreading kills, not secrets
    phases: list[str] = []
    for i in range(30):
        change = rng.choice(["rebuild", "toggle-pin", "resume"])
        if change == "rebuild":
            shutil.rmtree(project / ".poorenv", ignore_errors=True)
        elif change == "toggle-pin":
            text = config.read_text()
            swap = (
                ("alpha==1.0", "alpha==2.0")
                if "alpha==1.0" in text
                else ("alpha==2.0", "alpha==1.0")
            )
            config.write_text(text.replace(*swap))
        proc = start_sync(project)
        time.sleep(rng.uniform(0.0, full * 1.1))
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        steps = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
        phases.append(steps[-1] if steps else "before-any-step")

        check = run(project, "check")
        if check.returncode == 0:  # then it must really be correct
            assert_healthy(project)
        else:
            assert check.returncode in (1, 2), check.stderr
            assert "Traceback" not in check.stderr
        repaired = run(project, "sync")
        assert repaired.returncode == 0, f"kill {i} ({change}): {repaired.stderr}"
        assert_healthy(project)
    # The kills were spread over the run, package installation included.
    print("last step begun before each kill:", dict(Counter(phases)))
    assert phases.count("install") >= 3, phases
    assert phases.count("mirror") + phases.count("before-any-step") >= 3, phases


# --- bad input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Path], None]
    words: str
    args: tuple[str, ...] = ("sync",)
    env: tuple[tuple[str, str], ...] = ()


def _config(old: str, new: str) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / "poorenv.toml"
        text = path.read_text()
        assert old in text, (old, text)
        path.write_text(text.replace(old, new, 1))

    return edit


def _lock(change: Callable[[str], str]) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        path = project / "poorenv.lock"
        path.write_text(change(path.read_text()))

    return edit


def _other_interpreter(project: Path) -> None:
    """A consistent lock made for another interpreter, as if committed from another machine."""
    path = project / "poorenv.lock"
    lock = read_lock(path)
    assert lock is not None
    other = dataclasses.replace(lock.interpreter, python="2.7", abi="cpython-27mu-x86_64-linux-gnu")
    write_lock(path, dataclasses.replace(lock, interpreter=other))


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        (project / name).write_bytes(content)

    return edit


def _both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(project: Path) -> None:
        for one in edits:
            one(project)

    return edit


def _nothing(project: Path) -> None:
    return None


def _drop_lock(project: Path) -> None:
    (project / "poorenv.lock").unlink()


def _first_hash(text: str) -> str:
    """The first artifact hash of the first package."""
    return text.split("[[package]]", 1)[1].split('"sha256:', 1)[1].split('"', 1)[0]


PYTHON_LINE = f'python = "{HERE_PYTHON}"'
PACKAGES_LINE = 'packages = ["alpha==1.0", "gamma"]'
OLD_PYTHONS = sorted(PYENV_ROOT.glob("versions/3.7.*/bin/python3.7"))

CASES = [
    Case("malformed toml", _config("[env]", "[env"), "invalid TOML"),
    Case("duplicate key", _config(PYTHON_LINE, PYTHON_LINE + "\n" + PYTHON_LINE), "invalid TOML"),
    Case("not utf-8", _write("poorenv.toml", b"[env]\npython = '\xff'\n"), "cannot read"),
    Case("python is a number", _config(PYTHON_LINE, "python = 3.12"), "[env] python: expected a string"),
    Case("seed is a string", _config("seed = []", 'seed = "pip"'), "[env] seed: expected an array"),
    Case("unknown seed tool", _config("seed = []", 'seed = ["wheel"]'), "unknown seed tool 'wheel'"),
    Case("unknown key", _config("seed = []", "seed = []\npyhton = 1"), "[env] pyhton: unknown key"),
    Case("unknown table", _config("[index]", "[indexes]"), "indexes: unknown table"),
    Case("empty python", _config(PYTHON_LINE, 'python = ""'), "[env] python: must not be empty"),
    Case("impossible version", _config(PYTHON_LINE, 'python = "3.99"'), "no CPython matching '3.99'"),
    Case("not a specifier", _config(PYTHON_LINE, 'python = ">=banana"'), "not a version, a version specifier or a path"),
    Case("python is not python", _config(PYTHON_LINE, 'python = "/bin/true"'), "interpreter /bin/true: not a usable Python"),
    Case("python path missing", _config(PYTHON_LINE, 'python = "./nope/python"'), "no such file"),
    Case("bad requirement", _config(PACKAGES_LINE, 'packages = ["alpha >>= 1"]'), "invalid requirement 'alpha >>= 1'"),
    Case("shell metacharacters", _config(PACKAGES_LINE, 'packages = ["alpha; $(touch pwned)"]'), "invalid requirement"),
    Case("unresolvable", _config(PACKAGES_LINE, 'packages = ["alpha==9"]'), "resolving poorenv.toml for cpython"),
    Case("unreachable index",
         _config('no-index = true\nfind-links = ["wheels"]', 'url = "http://user:secret@127.0.0.1:9/simple"'),
         "resolving poorenv.toml for cpython"),
    Case("missing requirements file", _config("[requirements]", '[requirements]\nfiles = ["nope.in"]'), "cannot read"),
    Case("missing constraints file", _config("[requirements]", '[requirements]\nconstraints = ["c.txt"]'), "cannot read"),
    Case("lock from a newer poorenv", _lock(lambda t: t.replace("version = 1\n", "version = 7\n", 1)), "newer than this poorenv"),
    Case("truncated lock", _lock(lambda t: t[: len(t) // 2]), "invalid TOML"),
    Case("hand-edited lock", _lock(lambda t: t.replace(_first_hash(t), "xyz")), "not a sha256 hash"),
    Case("lock without interpreter", _lock(lambda t: t.replace("[interpreter]", "[interp]")), "[interpreter]"),
    Case("lock for another interpreter", _other_interpreter, "is for another interpreter", ("sync", "--locked")),
    Case("lock for another interpreter, frozen", _other_interpreter, "resolved for cpython 2.7", ("sync", "--frozen")),
    Case("hash edited by hand", _lock(lambda t: t.replace(_first_hash(t), "0" * 64)), "content-hash does not match"),
    Case("truncated at a package", _lock(lambda t: t[: t.rindex("[[package]]")]), "content-hash does not match"),
    Case("hash mismatch", lambda p: tamper(p / "poorenv.lock", "alpha"), "hash mismatch"),
    Case("stale lock under --locked", _config(PACKAGES_LINE, 'packages = ["alpha==2.0", "gamma"]'),
         "poorenv.lock is stale", ("sync", "--locked")),
    Case("missing lock under --locked", _drop_lock, "poorenv.lock is missing", ("sync", "--locked")),
    Case("missing lock under --frozen", _drop_lock, "poorenv.lock: missing", ("sync", "--frozen")),
    Case("env path is a file", _both(_write("afile", b"x"), _config("seed = []", 'seed = []\npath = "afile"')),
         "exists and is not a directory"),
    Case("env path is a foreign directory",
         _both(lambda p: (p / "wheels").exists() or None, _config("seed = []", 'seed = []\npath = "wheels"')),
         "not made by poorenv"),
    Case("env path is the project", _config("seed = []", 'seed = []\npath = "."'), "refusing the project directory"),
    Case("lock timeout not a number", _nothing, "POORENV_LOCK_TIMEOUT='soon'", env=(("POORENV_LOCK_TIMEOUT", "soon"),)),
    Case("export without a lock", _drop_lock, "poorenv.lock: missing", ("export",)),
    Case("run without a command", _nothing, "run: no command given", ("run", "--")),
]  # fmt: skip
if OLD_PYTHONS:
    CASES.append(
        Case("python too old", _config(PYTHON_LINE, f'python = "{OLD_PYTHONS[0]}"'), "too old")
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Path]:
    project = offline_project(tmp_path_factory.mktemp("catalogue") / "project", seed="[]")
    env = {**offline_env(), "POORENV_CACHE_DIR": str(cache_dir)}
    subprocess.run([sys.executable, "-m", "poorenv", "sync"], cwd=project, env=env, check=True,
                   capture_output=True)  # fmt: skip
    yield project


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clear_error_and_changes_nothing(synced: Path, case: Case) -> None:
    originals = {name: (synced / name).read_bytes() for name in ("poorenv.toml", "poorenv.lock")}
    try:
        case.edit(synced)
        edited = {
            name: (synced / name).read_bytes() for name in originals if (synced / name).exists()
        }
        before = manifest(synced)
        env = {**offline_env(), **dict(case.env)}
        result = subprocess.run(
            [sys.executable, "-m", "poorenv", *case.args],
            cwd=synced, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines, result.stdout
        assert lines[0].startswith("error: "), result.stderr
        assert case.words in lines[0], lines[0]
        assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.stderr
        assert "Traceback" not in result.stderr
        assert "secret" not in result.stderr + result.stdout
        assert manifest(synced) == before
        for name, content in edited.items():
            assert (synced / name).read_bytes() == content
        assert not (synced / "pwned").exists()
    finally:
        for name, content in originals.items():
            (synced / name).write_bytes(content)
        (synced / "afile").unlink(missing_ok=True)
    ok(run(synced, "check"))


def test_the_catalogue_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25


# --- read-only and full filesystems ---------------------------------------------------------------


def _env_on(project: Path, mount: Path) -> None:
    config = project / "poorenv.toml"
    config.write_text(
        config.read_text().replace("seed = []", f'seed = []\npath = "{mount / "env"}"')
    )


def test_read_only_env_is_a_clear_error(tmp_path: Path, small_mount: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    _env_on(project, small_mount)
    ok(run(project, "sync"))
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma", "extra-thing"'))
    remount(small_mount, "ro")
    before = manifest(small_mount)
    result = run(project, "sync")
    assert result.returncode == 2
    assert result.stderr.startswith("error: installing packages: ")
    assert "Read-only file system" in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr
    assert manifest(small_mount) == before


def test_full_disk_leaves_the_env_as_it_was(tmp_path: Path, small_mount: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    _env_on(project, small_mount)
    ok(run(project, "sync"))
    make_wheel(project / "wheels", "bulky", "1.0", body=f"DATA = {'x' * 8_000_000!r}\n")
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma", "bulky"'))
    ok(run(project, "lock"))
    used = shutil.disk_usage(small_mount).used
    remount(small_mount, f"size={used // 1024 + 2048}k")  # 2 MiB free: bulky needs 8
    before = manifest(small_mount)
    result = run(project, "sync")
    assert result.returncode == 2
    assert "No space left on device" in result.stderr.splitlines()[0]
    assert "hint: free some disk space" in result.stderr
    assert "Traceback" not in result.stderr
    assert manifest(small_mount) == before
    assert "bulky" not in installed(project)
