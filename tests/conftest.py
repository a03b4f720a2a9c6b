from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from poorenv.discover.interpreter import Interpreter, probe

HERE = Path(__file__).parent
ROOT = HERE.parent


PYENV_ROOT = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _interpreters() -> list[tuple[str, Path]]:
    """Every CPython 3.8+ this machine has: pyenv's versions and Debian's python3.11."""
    found: list[tuple[str, Path]] = []
    root = PYENV_ROOT / "versions"
    if root.is_dir():
        versions = []
        for entry in root.iterdir():
            parts = entry.name.split(".")
            if len(parts) == 3 and all(p.isdigit() for p in parts):
                versions.append((tuple(int(p) for p in parts), entry))
        for version, entry in sorted(versions):
            exe = entry / "bin" / f"python{version[0]}.{version[1]}"
            if version >= (3, 8) and exe.exists():
                found.append((f"pyenv-{entry.name}", exe))
    debian = Path("/usr/bin/python3.11")
    if debian.exists():
        found.append(("debian-3.11", debian))
    if not found:
        found.append(("running", Path(sys.executable)))
    return found


INTERPRETERS = _interpreters()


@pytest.fixture(params=[path for _, path in INTERPRETERS], ids=[name for name, _ in INTERPRETERS])
def base_python(request: pytest.FixtureRequest) -> Path:
    """Each real base interpreter of the machine in turn."""
    return Path(request.param)


def find_base(xy: str) -> Path | None:
    for name, path in INTERPRETERS:
        if name.startswith("pyenv-") and name.split("-")[1].startswith(f"{xy}."):
            return path
    return None


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """poorenv's cache for the whole run: seed wheels are fetched once per X.Y."""
    return tmp_path_factory.mktemp("poorenv-cache")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, cache_dir: Path, tmp_path: Path) -> Iterator[None]:
    """Every test gets poorenv's session cache and a HOME of its own; none leaks env or cwd."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("POORENV_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PYENV_ROOT", str(PYENV_ROOT))  # discovery still sees pyenv's versions
    monkeypatch.delenv("PYTHONHOME", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    before_env = dict(os.environ)
    before_cwd = Path.cwd()
    yield
    assert Path.cwd() == before_cwd, "test changed the working directory"
    now = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    before_env.pop("PYTEST_CURRENT_TEST", None)
    leaked = {k for k in set(now) ^ set(before_env)} | {
        k for k in now if k in before_env and now[k] != before_env[k]
    }
    assert not leaked, f"test leaked environment changes: {sorted(leaked)}"


@pytest.fixture
def facts(base_python: Path) -> Interpreter:
    return probe(base_python)


def write_config(directory: Path, python: str | Path, extra: str = "", seed: str = "[]") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "poorenv.toml"
    path.write_text(f'[env]\npython = "{python}"\nseed = {seed}\n{extra}', encoding="utf-8")
    return path


def clone_base(base: Path, dest: Path) -> Path:
    """A copy of a base (executable, stdlib, headers) at another path: a "moved" base."""
    facts = probe(base)
    exe = dest / "bin" / Path(facts.executable).name
    exe.parent.mkdir(parents=True)
    shutil.copy2(facts.executable, exe)
    ignore = shutil.ignore_patterns("site-packages", "dist-packages", "test", "__pycache__")
    stdlib = Path(facts.stdlib)
    shutil.copytree(stdlib, dest / "lib" / stdlib.name, ignore=ignore, symlinks=True)
    include = Path(facts.include)
    shutil.copytree(include, dest / "include" / include.name, symlinks=True)
    return exe


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mounted for the test (root only), unmounted whatever happens."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    """Change a `small_mount`'s options: "ro", "size=...k"."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)
