"""The no-op fast path: nothing heavy imported, no interpreter started, and every change noticed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import tracing
from tests.conftest import clone_base
from tests.helpers import ok
from tests.offline import HERE_PYTHON, offline_env, offline_project, run, site_packages
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow

HEAVY = ("pip", "piptools", "packaging", "filelock", "poorenv.plan", "poorenv.project")


def modules_of(project: Path, *argv: str) -> list[str]:
    """Every module `poorenv ARGV` imported in `project`, run as the console script runs it."""
    code = (
        "import json, sys; from poorenv.entry import main; sys.argv[0] = 'poorenv';"
        " code = main(); print(json.dumps(sorted(sys.modules))); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=project, env=offline_env(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def imported_by(project: Path, command: str) -> list[str]:
    """The heavy modules that `poorenv COMMAND` imported in `project`."""
    modules = modules_of(project, command)
    return [m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY]


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    project = offline_project(tmp_path / "project", seed="[]")
    ok(run(project, "sync"))
    return project


def test_no_op_sync_and_check_import_nothing_heavy(synced: Path) -> None:
    assert imported_by(synced, "sync") == []
    assert imported_by(synced, "check") == []


def test_a_plain_no_op_needs_neither_argparse_nor_a_toml_parser(synced: Path) -> None:
    for argv in (["sync"], ["check"], ["-q", "sync"], ["sync", "--quiet"]):
        modules = set(modules_of(synced, *argv))
        assert not modules & {"argparse", "tomllib", "tomli", "poorenv.cli", "hashlib"}, argv
    # Anything else takes the full command line, and still answers from the stamp:
    assert "argparse" in modules_of(synced, "sync", "--json")
    assert imported_by(synced, "plan") != []  # the planner: not a fast path


@pytest.mark.skipif(not tracing.available(), reason="strace is not installed")
def test_no_op_sync_starts_no_process(synced: Path, tmp_path: Path) -> None:
    log = tmp_path / "exec.log"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(log),
         sys.executable, "-m", "poorenv", "sync"],
        cwd=synced, env=offline_env(), check=True, capture_output=True,
    )  # fmt: skip
    execs = [line for line in log.read_text().splitlines() if "execve(" in line]
    assert len(execs) == 1, execs  # poorenv's own start, nothing else


def test_a_hand_installed_package_is_noticed(synced: Path) -> None:
    make_wheel(synced / "more", "six", "1.99")
    pip = [str(synced / ".poorenv" / "bin" / "python"), "-m", "pip"]
    env = offline_env()
    if subprocess.run([*pip, "--version"], capture_output=True, check=False, env=env).returncode:
        # seed = []: no pip in the env; install by unpacking the wheel as pip would
        import zipfile

        with zipfile.ZipFile(next((synced / "more").glob("*.whl"))) as wheel:
            wheel.extractall(site_packages(synced))
    check = run(synced, "check")
    assert check.returncode == 1
    assert "remove six" in check.stderr


def test_a_removed_package_is_noticed(synced: Path) -> None:
    info = next(site_packages(synced).glob("gamma-*.dist-info"))
    for path in sorted(info.iterdir()):
        path.unlink()
    info.rmdir()
    check = run(synced, "check")
    assert check.returncode == 1
    assert "install gamma 1.0" in check.stderr


def test_a_deleted_stdlib_link_is_noticed(synced: Path) -> None:
    link = next((synced / ".poorenv").glob("lib/python3*/json/decoder.py"))
    link.unlink()
    assert run(synced, "check").returncode == 1


def test_an_edited_config_is_noticed(synced: Path) -> None:
    config = synced / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma", "extra-thing"'))
    check = run(synced, "check")
    assert check.returncode == 1
    assert "poorenv.lock is stale" in check.stderr


def test_a_base_upgraded_in_place_is_noticed(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "project", seed="[]")
    clone = clone_base(HERE_PYTHON, tmp_path / "base")
    config = project / "poorenv.toml"
    text = config.read_text().replace(str(HERE_PYTHON), str(clone))
    config.write_text(text.replace('"alpha==1.0", "gamma"', ""))  # nothing to resolve offline
    ok(run(project, "sync"))
    ok(run(project, "check"))
    # An upgrade in place writes a new file and renames it over the old one.
    new = clone.with_name("python.new")
    shutil.copy2(clone, new)
    stat = new.stat()
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    os.replace(new, clone)
    check = run(project, "check")
    assert check.returncode == 1
    assert "base executable replaced" in check.stderr
    ok(run(project, "sync"))
    ok(run(project, "check"))


def test_a_new_interpreter_in_discovery_dirs_falls_back(synced: Path, tmp_path: Path) -> None:
    """A version request re-resolves when a place it searches changes (a new pyenv version)."""
    config = synced / "poorenv.toml"
    xy = ".".join(sys.version.split(".")[:2])
    config.write_text(config.read_text().replace(f'"{HERE_PYTHON}"', f'"{xy}"'))
    ok(run(synced, "sync"))
    assert imported_by(synced, "sync") == []
    extra = tmp_path / "newbin"
    extra.mkdir()
    env = {**offline_env(), "PATH": f"{extra}:{os.environ['PATH']}"}
    code = "import sys; from poorenv.state.fastpath import quick_check; from pathlib import Path;" \
        "print(quick_check(Path.cwd()))"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=synced, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert out == "None"


def test_another_env_on_the_same_base_keeps_the_no_op_fast(synced: Path, tmp_path: Path) -> None:
    """Building an env hard-links the base executable, which bumps its ctime (and that of every
    env's copy of it); that must not send other projects' no-ops down the slow path."""
    other = offline_project(tmp_path / "other", seed="[]")
    ok(run(other, "sync"))
    assert imported_by(synced, "sync") == []
    assert "argparse" not in modules_of(synced, "sync")


def test_the_note_of_an_unfinished_sync_disarms_the_stamp(tmp_path: Path) -> None:
    from poorenv.state import fastpath

    project = tmp_path / "project"
    env = project / ".poorenv"
    (env / ".poorenv").mkdir(parents=True)
    (env / ".poorenv" / "marker.json").write_text("{}")
    text = '[env]\npython = "3.12"\n'
    (project / "poorenv.toml").write_text(text)
    stamp = fastpath.take([str(project / "poorenv.toml")], env, "3.12", True, text)
    (env / ".poorenv" / "state.json").write_text(json.dumps({"stamp": stamp}))
    assert fastpath.quick_check(str(project)) == str(env)
    (env / ".poorenv" / "unfinished.json").write_text('{"format": 1, "packages": ["six"]}')
    assert fastpath.quick_check(str(project)) is None


# The no-op path, run as the console script runs it; the modules it imported go to a file, so
# that its output can be compared with the full command line's byte for byte.
FAST = (
    "import os, sys; from poorenv.entry import main; sys.argv[0] = 'poorenv'\n"
    "try:\n    code = main()\nfinally:\n    sys.stdout.flush()\n"
    "    open(os.environ['MODULES_OUT'], 'w').write(' '.join(sorted(sys.modules)))\n"
    "sys.exit(code)"
)
FULL = "import sys; from poorenv.cli.main import main; sys.exit(main(sys.argv[1:]))"
# What the no-op path never imports (the console script pip writes imports re itself).
HEAVY_FOR_A_NO_OP = {"argparse", "typing", "json", "re", "tomllib", "collections", "poorenv.cli"}


def not_on_the_no_op() -> set[str]:
    """HEAVY_FOR_A_NO_OP but what the interpreter has imported before poorenv's first line (an
    editable install's finder imports re and pathlib at start)."""
    code = "import sys; print(' '.join(sys.modules))"
    start = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return HEAVY_FOR_A_NO_OP - set(start.stdout.split())


def fast_and_full(
    cwd: Path, argv: list[str], tmp_path: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`poorenv ARGV` through entry.main, checked to print and exit exactly as the full command
    line does; its result and the modules it imported."""
    out = tmp_path / "modules.txt"
    env = {**offline_env(), **extra, "MODULES_OUT": str(out)}
    full = subprocess.run([sys.executable, "-c", FULL, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    fast = subprocess.run([sys.executable, "-c", FAST, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    both = [(r.returncode, r.stdout, r.stderr) for r in (fast, full)]
    assert both[0] == both[1], argv
    return fast, set(out.read_text().split())


def test_every_form_scripts_and_ci_use_takes_the_no_op_path(synced: Path, tmp_path: Path) -> None:
    here, up, heavy = ["sync"], synced.parent, not_on_the_no_op()
    assert {"argparse", "typing", "json", "tomllib"} <= heavy
    forms = [
        (synced, here), (synced, ["check"]), (synced, ["-q", "sync"]), (synced, ["check", "-q"]),
        (synced, ["sync", "--locked"]), (synced, ["sync", "--frozen"]), (synced, ["-v", "sync"]),
        (up, ["-C", synced.name, "sync"]), (up, ["sync", "-C", str(synced), "--locked", "-q"]),
        (up, [f"-C{synced.name}", "check"]), (synced / "wheels", ["-C", "..", "sync"]),
        (synced, ["sync", "--installer", "uv", "--frozen"]), (synced, ["sync", "--installer=pip"]),
    ]  # fmt: skip
    for cwd, argv in forms:
        result, modules = fast_and_full(cwd, argv, tmp_path)
        assert result.returncode == 0, argv
        assert ("-q" in argv) == (result.stdout == ""), argv
        assert not modules & heavy, (argv, modules & heavy)
    result, modules = fast_and_full(synced, here, tmp_path, POORENV_LOCK_TIMEOUT="5")
    assert "argparse" not in modules
    # Errors and options the no-op path does not know: the full command line, the same answer.
    for cwd, argv, code in [
        (up, ["-C", "missing", "sync"], 2), (up, ["-C", f"{synced.name}/poorenv.toml", "sync"], 2),
        (synced, ["sync", "--json"], 0), (synced, ["sync", "--dry-run"], 0),
        (synced, ["check", "--locked"], 2),
    ]:  # fmt: skip
        result, modules = fast_and_full(cwd, argv, tmp_path)
        assert result.returncode == code, (argv, result.stderr)
        assert "argparse" in modules, argv
    result, modules = fast_and_full(synced, here, tmp_path, POORENV_LOCK_TIMEOUT="soon")
    assert result.returncode == 2 and "POORENV_LOCK_TIMEOUT" in result.stderr


def test_frozen_never_takes_a_stamp_for_a_fresh_lock(synced: Path, tmp_path: Path) -> None:
    """`sync --frozen` installs a stale lock as it is; the stamp it leaves proves nothing, so
    every later sync and check (frozen too) looks again, and answers as the full path does."""
    config = synced / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"', '"gamma>=0.1"'))
    for cwd, argv in [
        (synced, ["sync", "--frozen"]),
        (synced.parent, ["-C", synced.name, "sync", "--frozen"]),
    ]:
        result, modules = fast_and_full(cwd, argv, tmp_path)
        assert result.returncode == 0 and "base:" in result.stdout, argv
        assert "argparse" in modules  # the stale stamp seen from -C DIR, then the full path
    result, _ = fast_and_full(synced, ["sync", "--locked"], tmp_path)
    assert result.returncode == 2 and "stale" in result.stderr
    result, _ = fast_and_full(synced, ["check"], tmp_path)
    assert result.returncode == 1 and "poorenv.lock is stale" in result.stderr
