"""End to end, on every real base interpreter of the machine: the env is a complete Python home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from poorenv.discover.interpreter import probe
from tests import tracing
from tests.conftest import INTERPRETERS, ROOT, clone_base, write_config
from tests.helpers import manifest, ok, poorenv, python_facts

pytestmark = pytest.mark.slow


def make_env(tmp_path: Path, python: Path | str, seed: str = "[]") -> Path:
    project = tmp_path / "project"
    write_config(project, python, seed=seed)
    ok(poorenv("sync", cwd=project))
    return project


def env_of(project: Path) -> Path:
    return project / ".poorenv"


def test_prefix_is_the_env_with_no_variable(base_python: Path, tmp_path: Path) -> None:
    env = env_of(make_env(tmp_path, base_python))
    exe = env / "bin" / "python"
    plain = python_facts(exe)  # env -i: no variable at all
    for facts in (plain, python_facts(exe, "-I"), python_facts(exe, "-E")):
        assert facts["prefix"] == facts["base_prefix"] == facts["exec_prefix"] == str(env)
        assert all(p == "" or p.startswith(f"{env}/") for p in facts["path"]), facts["path"]
        assert facts["user_site"] is False

    as_home = python_facts(exe, env={"PYTHONHOME": str(env)})
    assert as_home["prefix"] == as_home["base_prefix"] == str(env)
    assert as_home["path"] == plain["path"]
    # The base itself pointed at the env, as mod_wsgi's python-home and uWSGI's home do.
    embedded = python_facts(base_python, env={"PYTHONHOME": str(env)})
    assert embedded["prefix"] == str(env)
    assert [p for p in embedded["path"] if p] == [p for p in plain["path"] if p]

    script = tmp_path / "spawn.py"
    script.write_text(
        "import multiprocessing as mp, sys\n"
        "def prefix(_): return sys.prefix\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('spawn').Pool(1) as pool: print(pool.map(prefix, [0])[0])\n"
    )
    child = subprocess.run(
        [str(exe), str(script)], env={}, capture_output=True, text=True, check=True, timeout=60
    )
    assert child.stdout.strip() == str(env)


def test_no_directory_links_and_no_dangling_links(base_python: Path, tmp_path: Path) -> None:
    env = env_of(make_env(tmp_path, base_python))
    links = 0
    for top in ("lib", "include"):
        for directory, dirs, files in os.walk(env / top):
            for name in dirs + files:
                path = Path(directory, name)
                if path.is_symlink():
                    links += 1
                    assert not path.is_dir(), f"{path} links to a directory"
                    assert path.exists(), f"{path} dangles"
                elif path.lstat().st_nlink > 1:  # a hard link of the base's file
                    links += 1
    assert links > 500
    assert not (env / "lib" / f"python{base_python.name[6:]}" / "test").exists()
    assert not any(env.glob("lib/python*/EXTERNALLY-MANAGED"))


def test_user_site_is_not_visible(base_python: Path, tmp_path: Path) -> None:
    env = env_of(make_env(tmp_path, base_python))
    home = tmp_path / "userhome"
    xy = base_python.name[len("python") :]
    user_site = home / ".local" / "lib" / f"python{xy}" / "site-packages"
    user_site.mkdir(parents=True)
    (user_site / "usermod.py").write_text("X = 1\n")
    probe = ["-c", "import usermod"]
    variables = {"HOME": str(home), "PATH": os.environ["PATH"]}
    # The same user site is visible to the base, so this test can fail.
    seen = subprocess.run(
        [str(base_python), *probe], env=variables, capture_output=True, check=False
    )
    in_env = subprocess.run(
        [str(env / "bin" / "python"), *probe], env=variables, capture_output=True, check=False
    )
    assert seen.returncode == 0
    assert in_env.returncode != 0
    assert b"No module named 'usermod'" in in_env.stderr


def test_second_sync_is_a_no_op(base_python: Path, tmp_path: Path) -> None:
    project = make_env(tmp_path, base_python)
    before = manifest(env_of(project))
    plan = json.loads(ok(poorenv("plan", "--json", cwd=project)).stdout)
    assert plan["in_sync"] is True
    assert plan["actions"] == []
    assert "nothing to do" in ok(poorenv("sync", cwd=project)).stdout
    ok(poorenv("check", cwd=project))
    assert manifest(env_of(project)) == before


def test_drift_is_reported_and_repaired(base_python: Path, tmp_path: Path) -> None:
    project = make_env(tmp_path, base_python)
    env = env_of(project)
    stdlib = next(env.glob("lib/python3*"))
    removed = stdlib / "json" / "__init__.py"
    removed.unlink()
    stray = stdlib / "stray.py"
    stray.symlink_to("/etc/hostname")

    check = poorenv("check", cwd=project)
    assert check.returncode == 1
    assert "1 missing" in check.stderr
    assert "1 not in the base" in check.stderr

    ok(poorenv("sync", cwd=project))
    base_json = subprocess.run(
        [str(base_python), "-I", "-c", "import json; print(json.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert os.path.samefile(removed, base_json)  # the base's file again (a link of it)
    assert not stray.exists()
    assert not stray.is_symlink()
    ok(poorenv("check", cwd=project))
    subprocess.run([str(env / "bin" / "python"), "-c", "import json"], check=True)


def _sdist_with_headers(directory: Path) -> Path:
    """An sdist with a C extension and a header: built, not downloaded."""
    src = directory / "hdrdemo-1.0"
    (src / "include").mkdir(parents=True)
    (src / "include" / "hdrdemo.h").write_text("#define HDRDEMO 1\n")
    (src / "speed.c").write_text(
        textwrap.dedent("""
        #include <Python.h>
        static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "hdrdemo_speed", NULL, -1, NULL};
        PyMODINIT_FUNC PyInit_hdrdemo_speed(void) { return PyModule_Create(&mod); }
        """)
    )
    (src / "setup.py").write_text(
        textwrap.dedent("""
        from setuptools import Extension, setup
        setup(name="hdrdemo", version="1.0", headers=["include/hdrdemo.h"],
              ext_modules=[Extension("hdrdemo_speed", ["speed.c"])])
        """)
    )
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: hdrdemo\nVersion: 1.0\n")
    sdist = directory / "hdrdemo-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(src, arcname="hdrdemo-1.0")
    return sdist


def _traced_pip(env: Path, tmp_path: Path, *pip_args: str) -> list[str]:
    """Run the env's pip under strace; return the paths it wrote outside the allowed places."""
    allowed = [env, tmp_path / "tmp", tmp_path / "pip-cache"]
    for path in allowed[1:]:
        path.mkdir(exist_ok=True)
    variables = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    cmd = [str(env / "bin" / "python"), "-m", "pip", "install", "--root-user-action=ignore"]
    log = tmp_path / f"strace-{len(list(tmp_path.glob('strace-*')))}.log"
    result, written = tracing.traced_writes([*cmd, *pip_args], tmp_path, variables, log)
    assert result.returncode == 0, result.stderr
    assert any(p.startswith(f"{env}/") for p in written), "the trace saw no write at all"
    return tracing.outside(written, allowed)


@pytest.mark.network  # pip and setuptools are locked and installed from the index
@pytest.mark.skipif(not tracing.available(), reason="strace is not installed")
def test_pip_installs_write_nothing_outside_the_env(base_python: Path, tmp_path: Path) -> None:
    env = env_of(make_env(tmp_path, base_python, seed='["pip", "setuptools"]'))
    sdist = _sdist_with_headers(tmp_path / "src")
    bad = _traced_pip(env, tmp_path, "--no-index", "--no-build-isolation", str(sdist))
    assert bad == []
    facts = json.loads(
        subprocess.run(
            [str(env / "bin" / "python"), "-c",
             "import json, sysconfig, hdrdemo_speed;"
             "print(json.dumps([hdrdemo_speed.__file__, sysconfig.get_paths()['include']]))"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert facts[0].startswith(f"{env}/")
    headers = list(env.rglob("hdrdemo.h"))
    assert headers, "pip installed no header"
    assert all(not h.is_symlink() and str(h).startswith(f"{env}/include/") for h in headers)
    base_include = Path(
        str(facts[1]).replace(str(env), str(Path(os.path.realpath(base_python)).parents[1]))
    )
    assert not (base_include / "hdrdemo").exists()


@pytest.mark.network
@pytest.mark.skipif(not tracing.available(), reason="strace is not installed")
def test_greenlet_headers_stay_in_the_env(base_python: Path, tmp_path: Path) -> None:
    env = env_of(make_env(tmp_path, base_python, seed='["pip", "setuptools"]'))
    assert _traced_pip(env, tmp_path, "--only-binary=greenlet", "greenlet") == []
    assert list(env.glob("include/*/greenlet/greenlet.h")), "greenlet's headers are not in the env"
    subprocess.run([str(env / "bin" / "python"), "-c", "import greenlet"], check=True)


# --- the base moves or changes -----------------------------------------------------------------


def _set_python(project: Path, python: Path | str) -> None:
    config = project / "poorenv.toml"
    lines = [
        f'python = "{python}"' if line.startswith("python =") else line
        for line in config.read_text().splitlines()
    ]
    config.write_text("\n".join(lines) + "\n")


def test_same_xy_move_relinks_and_keeps_packages(base_python: Path, tmp_path: Path) -> None:
    moved_from = clone_base(base_python, tmp_path / "old-base")
    project = make_env(tmp_path, moved_from)
    env = env_of(project)
    site = Path(python_facts(env / "bin" / "python")["path"][-1])
    (site / "mymod.py").write_text("VALUE = 42\n")
    shutil.rmtree(tmp_path / "old-base")  # the old base is gone, as after a real move

    _set_python(project, base_python)
    check = poorenv("check", cwd=project)
    assert check.returncode == 1
    assert "base moved" in check.stderr
    ok(poorenv("sync", cwd=project))
    ok(poorenv("check", cwd=project))
    stdlib = next(env.glob("lib/python3*/os.py"))
    assert os.path.samefile(stdlib, Path(probe(base_python).stdlib, "os.py"))  # the new base's
    code = "import mymod; assert mymod.VALUE == 42"
    subprocess.run([str(env / "bin" / "python"), "-c", code], env={}, check=True)


def _other_xy(base: Path) -> Path | None:
    """Another interpreter of the machine with a different X.Y (the next newer one, else older)."""
    xy = probe(base).xy
    others = [path for _, path in INTERPRETERS if probe(path).xy != xy]
    newer = [p for p in others if probe(p).version_tuple > probe(base).version_tuple]
    return (newer or others or [None])[0]


def test_xy_change_rebuilds_site_packages(base_python: Path, tmp_path: Path) -> None:
    other = _other_xy(base_python)
    if other is None:
        pytest.skip("needs two interpreters of different X.Y")
    old, new = probe(base_python), probe(other)
    project = make_env(tmp_path, base_python)
    env = env_of(project)
    old_site = Path(old.env_paths(env)["purelib"])
    (old_site / "mymod.py").write_text("VALUE = 1\n")

    _set_python(project, other)
    check = poorenv("check", cwd=project)
    assert check.returncode == 1
    assert "ABI changed" in check.stderr
    ok(poorenv("sync", cwd=project))
    assert not (env / "lib" / f"python{old.xy}").exists()
    assert not (env / "bin" / old.exe_name).exists()
    assert Path(new.env_paths(env)["purelib"]).is_dir()
    facts = python_facts(env / "bin" / "python")
    assert facts["prefix"] == str(env)
    assert facts["path"][-1] == new.env_paths(env)["purelib"]
    missing = subprocess.run([str(env / "bin" / "python"), "-c", "import mymod"], check=False)
    assert missing.returncode != 0
    ok(poorenv("check", cwd=project))


@pytest.mark.network
def test_the_readme_example_syncs_and_runs(tmp_path: Path) -> None:
    project = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello", project, ignore=shutil.ignore_patterns(".poorenv"))
    ok(poorenv("sync", "--locked", cwd=project))
    result = ok(poorenv("run", "--", "python", "hello.py", cwd=project))
    assert f"prefix:      {project / '.poorenv'}" in result.stdout
    assert "user site:   off" in result.stdout
    ok(poorenv("run", "--", "pip", "--version", cwd=project))
    ok(poorenv("check", cwd=project))
