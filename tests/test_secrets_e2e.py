"""Credentials in `[index]` reach pip, pip-compile and uv, and nothing else: not an output line
(even with -v and --debug), not a file poorenv writes (lock, state, exports, its cache), not
the argv of any child (`ps` shows argv: the sync runs under strace, which logs every execve).

The index is a local PEP 503 index behind HTTP Basic authentication (tests/simpleindex.py):
installing from it at all proves that the credentials did reach the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import simpleindex, tracing
from tests.conftest import write_config
from tests.helpers import ok
from tests.offline import HERE_PYTHON, installed, offline_env, seeded_cache
from tests.servers import require
from tests.wheels import wheelhouse

pytestmark = pytest.mark.slow

SECRET = "s3cret"  # noqa: S105 - the password of the test index


@dataclass
class Setup:
    project: Path
    env: dict[str, str]
    scanned: list[Path]  # every directory poorenv (or its tools) may write into
    requests: list[str]  # what the index was asked


@pytest.fixture(params=["pip", "uv"])
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    """A project whose index URL carries `user:s3cret@`, with the pip or the uv installer, a
    poorenv cache of its own (holding pip's wheel already: no other index is reachable)."""
    root = simpleindex.build(wheelhouse(tmp_path / "wheels"), tmp_path / "index")
    cache = seeded_cache(tmp_path / "cache")
    with simpleindex.serve(root, "user", SECRET) as (url, requests):
        project = tmp_path / "project"
        write_config(
            project,
            HERE_PYTHON,
            extra=f'installer = "{request.param}"\n'
            '[requirements]\npackages = ["alpha==1.0", "gamma"]\n'
            f'[index]\nurl = "{url.replace("://", f"://user:{SECRET}@")}/simple"\n',
        )
        env = {
            **offline_env(),  # pip's own index is a closed port: only [index] can serve
            "POORENV_CACHE_DIR": str(cache),
            "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "UV_NO_CONFIG": "1",
        }
        scanned = [project, cache, tmp_path / "pip-cache", tmp_path / "uv-cache"]
        yield Setup(project, env, scanned, requests)


def poorenv(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "poorenv", *args],
        cwd=setup.project, env=setup.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert SECRET not in result.stdout + result.stderr, f"poorenv {' '.join(args)} showed it"
    return result


def files_holding(directories: list[Path], secret: str, skip: Path) -> list[str]:
    found = []
    for directory in directories:
        for path in directory.rglob("*"):
            regular = path.is_file() and not path.is_symlink() and path != skip
            if regular and secret.encode() in path.read_bytes():
                found.append(str(path))
    return found


def test_credentials_reach_the_tools_and_nothing_else(setup: Setup, tmp_path: Path) -> None:
    require(tracing.available(), "strace")
    ok(poorenv(setup, "--debug", "lock"))
    assert "/simple/alpha/" in setup.requests  # the resolver used the index ...

    trace = tmp_path / "execve.log"
    strace = ["strace", "-f", "-qq", "-e", "trace=execve", "-s", "4096", "-o", str(trace)]
    synced = subprocess.run(
        [*strace, sys.executable, "-m", "poorenv", "--debug", "sync"],
        cwd=setup.project, env=setup.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    ok(synced)
    assert SECRET not in synced.stdout + synced.stderr
    assert "running " in synced.stderr  # --debug logged every command line ...
    assert installed(setup.project) == {"alpha": "1.0", "beta": "1.0", "gamma": "1.0"}
    log = trace.read_text(errors="replace")
    installer = "/uv" if "uv" in (setup.project / "poorenv.toml").read_text() else "/pip"
    assert any("execve(" in line and installer in line for line in log.splitlines())
    assert SECRET not in log  # ... and no child got the password in its argv

    for args in (
        ("-v", "sync"),
        ("--debug", "sync", "--dry-run"),
        ("-v", "plan", "--json"),
        ("--debug", "export", "--format", "pylock", "-o", "pylock.toml"),
        ("export", "--format", "requirements"),
        ("--debug", "info", "--json"),
        ("--debug", "doctor"),
    ):
        ok(poorenv(setup, *args))
    assert poorenv(setup, "check", "--json").returncode == 0
    assert "127.0.0.1" in (setup.project / "pylock.toml").read_text()  # URLs, no credentials

    state = (setup.project / ".poorenv" / ".poorenv" / "state.json").read_text()
    assert "http://***@127.0.0.1" in state  # the stamp keeps poorenv.toml, redacted
    config = setup.project / "poorenv.toml"
    assert files_holding(setup.scanned, SECRET, skip=config) == []


def test_a_failing_tool_shows_no_credential(setup: Setup) -> None:
    """The index refuses a wrong password: pip and uv print the URL they tried."""
    config = setup.project / "poorenv.toml"
    config.write_text(config.read_text().replace(f"user:{SECRET}@", f"intruder:{SECRET}@"))
    failed = poorenv(setup, "-v", "lock")
    assert failed.returncode == 2
    assert "error: resolving poorenv.toml" in failed.stderr
    assert "Traceback" in poorenv(setup, "--debug", "lock").stderr  # --debug shows it, redacted
    (setup.project / "poorenv.lock").unlink(missing_ok=True)
    config.write_text(config.read_text().replace("alpha==1.0", "alpha==9.9"))
    assert poorenv(setup, "-v", "sync").returncode == 2
    assert files_holding(setup.scanned, SECRET, skip=config) == []


def test_the_examples_ci_cache_holds_no_credential(setup: Setup, tmp_path: Path) -> None:
    """examples/ci caches `.poorenv`: everything in it, as CI would restore it elsewhere."""
    ok(poorenv(setup, "sync"))
    cached = tmp_path / "ci-cache"
    shutil.copytree(setup.project / ".poorenv", cached, symlinks=True)
    assert files_holding([cached], SECRET, skip=cached) == []
    assert os.listdir(cached)
