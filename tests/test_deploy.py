"""Serving an env from real servers: Apache + mod_wsgi (python-home) and uWSGI (home).

The app is examples/wsgi-app, synced from its committed lock (Flask from the index: `network`).
Apache's workers run as www-data, so each test works in a world-readable folder under /tmp.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poorenv.deploy import servers as deploy
from poorenv.deploy.elf import NotELF, find_library, read_dynamic
from poorenv.discover.find import find_interpreter
from poorenv.lock.lockfile import read_lock
from tests import servers
from tests.conftest import ROOT, find_base, write_config
from tests.helpers import ok, poorenv

DEBIAN_PYTHON = Path("/usr/bin/python3.11")
EXAMPLE = ROOT / "examples" / "wsgi-app"


# --- reading the server's Python (no server started) -------------------------------------------


def _readelf_needed(path: Path) -> list[str] | None:
    if shutil.which("readelf") is None:
        return None
    out = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


@pytest.mark.parametrize(
    "module", [servers.MOD_WSGI, servers.UWSGI_PLUGIN], ids=["mod_wsgi", "uwsgi"]
)
def test_elf_reader_agrees_with_readelf(module: Path) -> None:
    servers.require(module.exists(), str(module))
    dynamic = read_dynamic(module)
    assert any(name.startswith("libpython3.11.so") for name in dynamic.needed)
    expected = _readelf_needed(module)
    if expected is not None:
        assert list(dynamic.needed) == expected
    library = find_library("libpython3.11.so.1.0", dynamic)
    assert library is not None and library.resolve().is_file()


def test_elf_reader_refuses_what_is_not_elf(tmp_path: Path) -> None:
    text = tmp_path / "module.so"
    text.write_text("not a shared object\n")
    with pytest.raises(NotELF):
        read_dynamic(text)
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(
        servers.MOD_WSGI.read_bytes()[:100] if servers.MOD_WSGI.exists() else b"\x7fELF\x02\x01"
    )
    with pytest.raises(NotELF):
        read_dynamic(truncated)


def test_check_accepts_the_python_mod_wsgi_was_built_for(tmp_path: Path) -> None:
    servers.require(servers.MOD_WSGI.exists() and DEBIAN_PYTHON.exists(), "Debian's mod_wsgi")
    server = deploy.inspect(servers.MOD_WSGI)
    assert server.xy == "3.11"
    deploy.check(server, find_interpreter(str(DEBIAN_PYTHON), tmp_path))


@pytest.mark.skipif(find_base("3.12") is None, reason="needs pyenv's 3.12")
def test_check_refuses_another_x_y(tmp_path: Path) -> None:
    servers.require(servers.MOD_WSGI.exists(), "Debian's mod_wsgi")
    base = find_interpreter(str(find_base("3.12")), tmp_path)
    with pytest.raises(
        deploy.DeployError, match=r"embeds Python 3\.11, but the env's base is Python 3\.12"
    ):
        deploy.check(deploy.inspect(servers.MOD_WSGI), base)


@pytest.mark.skipif(find_base("3.11") is None, reason="needs pyenv's 3.11")
def test_check_refuses_the_same_x_y_with_another_libpython(tmp_path: Path) -> None:
    servers.require(servers.MOD_WSGI.exists(), "Debian's mod_wsgi")
    pyenv_311 = find_interpreter(str(find_base("3.11")), tmp_path)
    assert pyenv_311.executable != str(DEBIAN_PYTHON.resolve())
    with pytest.raises(deploy.DeployError, match="not the env's base") as info:
        deploy.check(deploy.inspect(servers.MOD_WSGI), pyenv_311)
    assert info.value.hint is not None and "/usr/bin/python3.11" in info.value.hint


@pytest.mark.skipif(find_base("3.12") is None, reason="needs pyenv's 3.12")
@pytest.mark.parametrize("fmt", ["mod_wsgi", "uwsgi"])
def test_export_refuses_an_env_for_another_python(tmp_path: Path, fmt: str) -> None:
    servers.require(servers.have_apache() and servers.have_uwsgi(), "mod_wsgi and uWSGI")
    write_config(tmp_path, "3.12")
    result = poorenv("export", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "Python 3.11" in lines[0] and "3.12" in lines[0]
    assert (
        lines[1] == 'hint: set [env] python = "3.11" (the Python the server was built for)'
        " in poorenv.toml and run `poorenv sync`"
    )
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "poorenv.toml"]


def test_export_names_a_missing_module(tmp_path: Path) -> None:
    write_config(tmp_path, str(DEBIAN_PYTHON) if DEBIAN_PYTHON.exists() else "3.11")
    result = poorenv("export", "--format", "uwsgi", "--module", "/nonexistent/x.so", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: --module /nonexistent/x.so: no such file\n"


# --- real servers --------------------------------------------------------------------------------


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder other users (www-data) can read: pytest's tmp_path is private to root."""
    root = Path(tempfile.mkdtemp(prefix="poorenv-deploy-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _synced_example(root: Path) -> Path:
    servers.require(DEBIAN_PYTHON.exists(), str(DEBIAN_PYTHON))
    project = root / "wsgi-app"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".poorenv", "__pycache__"))
    ok(poorenv("sync", "--locked", cwd=project))
    return project


def _locked_version(project: Path, name: str) -> str:
    lock = read_lock(project / "poorenv.lock")
    assert lock is not None
    return next(p.version for p in lock.packages if p.name == name)


def _assert_served_from_env(facts: dict[str, object], project: Path) -> None:
    env = str(project / ".poorenv")
    assert facts["prefix"] == env
    assert facts["base_prefix"] == env
    assert facts["flask"] == _locked_version(project, "flask")
    assert facts["user_site_on_path"] is False
    assert facts["user_site_enabled"] is False
    path = [p for p in facts["path"] if p not in ("", ".")]  # type: ignore[attr-defined]
    outside = [p for p in path if not (p.startswith(env + "/") or p == str(project))]
    assert outside == [], "sys.path has entries outside the env and the app"
    assert not any(
        "site-packages" in p or "dist-packages" in p for p in path if not p.startswith(env)
    )


@pytest.mark.network
@pytest.mark.slow
def test_apache_mod_wsgi_serves_the_env_and_a_graceful_reload_serves_a_new_version(
    world_readable: Path,
) -> None:
    servers.require(servers.have_apache(), "apache2 with libapache2-mod-wsgi-py3")
    project = _synced_example(world_readable)
    exported = ok(poorenv("export", "--format", "mod_wsgi", "--process-group", "demo", cwd=project))
    snippet = exported.stdout
    assert f"python-home={project / '.poorenv'}" in snippet
    assert f"WSGIPythonHome {project / '.poorenv'}" in snippet
    assert "warning" not in exported.stderr
    with servers.apache(world_readable, snippet, project, project / "app.wsgi") as server:
        facts = servers.get_json(server.url)
        _assert_served_from_env(facts, project)
        assert "process='demo'" in server.errors()  # served by the daemon process group
        old = facts["flask"]

        # Pin another Flask, sync (locks anew, installs), reload gracefully.
        config = project / "poorenv.toml"
        new = "3.0.3" if old != "3.0.3" else "3.0.2"
        config.write_text(config.read_text().replace('"flask>=3,<4"', f'"flask=={new}"'))
        ok(poorenv("sync", cwd=project))
        assert _locked_version(project, "flask") == new
        server.ctl("graceful")
        for _ in range(100):
            facts = servers.get_json(server.url)
            if facts["flask"] == new:
                break
            time.sleep(0.1)
        _assert_served_from_env(facts, project)
        assert facts["flask"] == new


@pytest.mark.network
@pytest.mark.slow
def test_uwsgi_serves_the_env_from_the_exported_home(world_readable: Path) -> None:
    servers.require(servers.have_uwsgi(), "uwsgi with uwsgi-plugin-python3")
    project = _synced_example(world_readable)
    ini = ok(poorenv("export", "--format", "uwsgi", cwd=project)).stdout
    assert f"home = {project / '.poorenv'}" in ini.splitlines()
    assert "plugins = python3" in ini.splitlines()
    with servers.uwsgi(world_readable, ini, project / "app.wsgi") as url:
        _assert_served_from_env(servers.get_json(url), project)


def test_unreadable_names_the_first_closed_directory(world_readable: Path) -> None:
    closed = world_readable / "closed"
    env = closed / "project" / ".poorenv"
    env.mkdir(parents=True)
    closed.chmod(0o700)
    try:
        assert deploy.unreadable(env) == closed
    finally:
        closed.chmod(0o755)
    assert deploy.unreadable(env) is None
