"""Moved and copied projects, end to end: real envs from the offline wheelhouse, with a console
script of a package (and pip's own), installed by pip and by uv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.helpers import ok, poorenv
from tests.offline import HERE_PYTHON, offline_env, run, site_packages, verify_records
from tests.test_everyday import valid
from tests.test_sealed import snapshot
from tests.wheels import make_wheel, wheelhouse

pytestmark = pytest.mark.slow

ENTRY = "where-1.0.dist-info/entry_points.txt"
WHERE = "def main():\n    import sys\n    print(sys.prefix)\n"


@pytest.fixture(params=["pip", "uv"])
def original(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A synced offline project whose package `where` has a console script printing sys.prefix."""
    project = tmp_path / "original"
    wheels = wheelhouse(project / "wheels")
    make_wheel(wheels, "where", "1.0", body=WHERE,
               files={ENTRY: "[console_scripts]\nwhere = where:main\n"})  # fmt: skip
    installer = 'installer = "uv"\n' if request.param == "uv" else ""  # still in [env]
    write_config(
        project,
        HERE_PYTHON,
        extra=f'{installer}[requirements]\npackages = ["alpha==1.0", "where"]\n'
        '[index]\nno-index = true\nfind-links = ["wheels"]\n',
    )
    ok(run(project, "sync"))
    return project


def script(project: Path) -> Path:
    return project / ".poorenv" / "bin" / "where"


def prefix_of(project: Path) -> str:
    """What the project's console script prints, run directly (its shebang decides)."""
    result = subprocess.run([str(script(project))], capture_output=True, text=True, check=False,
                            env=offline_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def doctor_ok(project: Path) -> None:
    result = run(project, "doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["problems"] == []


def entry_point_check(project: Path) -> subprocess.CompletedProcess[str]:
    """`poorenv check` through the real console entry point (the fast path answers first)."""
    exe = Path(sys.executable).with_name("poorenv")
    return subprocess.run([str(exe), "check"], cwd=project, capture_output=True, text=True,
                          check=False, env=offline_env())  # fmt: skip


def test_a_copied_project_is_drift_and_sync_repairs_it_in_the_copy(
    original: Path, tmp_path: Path
) -> None:
    env = original / ".poorenv"
    assert prefix_of(original) == str(env)
    ok(entry_point_check(original))
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    before = snapshot(original)

    check = entry_point_check(copy)  # the fast path must not answer for the copy
    assert check.returncode == 1, check.stdout
    assert f"env built at {env}, now at {copy / '.poorenv'}" in check.stderr
    assert ok(entry_point_check(original)).stdout.strip() == f"{env}: in sync"

    for command in (("run", "--", "where"), ("activate", "--shell", "bash")):
        refused = run(copy, *command)  # its scripts would run (and install into) the original
        assert refused.returncode == 2, refused.stdout
        assert refused.stderr.splitlines()[0] == (
            f"error: {copy / '.poorenv'}: env built at {env}, now at {copy / '.poorenv'}: its"
            f" scripts still run the env at {env}"
        )
    report = run(copy, "doctor", "--json")
    assert report.returncode == 1
    moved = [p for p in valid(report.stdout, "doctor")["problems"] if p["kind"] == "moved"]
    assert [p["message"] for p in moved] == [
        f"env built at {env}, now at {copy / '.poorenv'}: its scripts name the interpreter there"
    ]
    planned = valid(ok(run(copy, "plan", "--json")).stdout, "plan")
    relocate = [a for a in planned["actions"] if a["action"] == "relocate"]
    assert [(a["old"], a["new"]) for a in relocate] == [(str(env), str(copy / ".poorenv"))]
    assert relocate[0]["files"] == [str(script(copy))]
    synced = ok(run(copy, "sync"))
    assert "relocate env from" in synced.stdout
    assert "install" not in synced.stdout.replace("install interpreter", "")  # nothing reinstalled
    assert prefix_of(copy) == str(copy / ".poorenv")
    assert script(copy).read_text().startswith(f"#!{copy / '.poorenv'}/bin/")
    assert ok(run(copy, "run", "--", "where")).stdout.strip() == str(copy / ".poorenv")
    doctor_ok(copy)
    assert verify_records(copy) == []
    assert ok(entry_point_check(copy)).stdout.strip() == f"{copy / '.poorenv'}: in sync"
    assert snapshot(original) == before  # nothing run from the copy wrote into the original
    ok(entry_point_check(original))
    doctor_ok(original)


def test_a_project_moved_twice_is_repaired_each_time(original: Path, tmp_path: Path) -> None:
    where = original
    for step in ("first", "second"):
        moved = tmp_path / step / "project dir" if step == "second" else tmp_path / step
        moved.parent.mkdir(parents=True, exist_ok=True)
        old_env = where / ".poorenv"
        where.rename(moved)
        check = run(moved, "check")
        assert check.returncode == 1
        assert f"env built at {old_env}, now at {moved / '.poorenv'}" in check.stderr
        report = valid(run(moved, "doctor", "--json").stdout, "doctor")
        assert [p["kind"] for p in report["problems"]] == ["moved"]
        site = site_packages(moved)
        inodes = {p.name: p.stat().st_ino for p in site.iterdir()}
        ok(run(moved, "sync"))
        assert {p.name: p.stat().st_ino for p in site.iterdir()} == inodes  # site-packages kept
        assert prefix_of(moved) == str(moved / ".poorenv")
        doctor_ok(moved)
        ok(run(moved, "check"))
        where = moved
    # A path with a space takes the /bin/sh trampoline.
    assert script(where).read_text().startswith("#!/bin/sh\n'''exec' ")


def test_cache_key_does_not_depend_on_where_the_project_is(original: Path, tmp_path: Path) -> None:
    key = ok(run(original, "cache-key")).stdout.strip()
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy, symlinks=True)
    assert ok(run(copy, "cache-key")).stdout.strip() == key


def test_an_env_recorded_by_an_older_poorenv_is_recorded_again(original: Path) -> None:
    state = original / ".poorenv" / ".poorenv" / "state.json"
    data = json.loads(state.read_text())
    data["format"] = 1
    del data["location"]
    del data["stamp"]
    state.write_text(json.dumps(data))
    check = run(original, "check")
    assert check.returncode == 1 and "state record out of date" in check.stderr
    ok(run(original, "sync"))
    assert json.loads(state.read_text())["location"]["path"] == os.path.realpath(
        original / ".poorenv"
    )
    ok(poorenv("check", cwd=original, env=offline_env()))
