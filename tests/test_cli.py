"""The command line as a user meets it: exit codes, one-line errors, nothing changed on refusal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from poorenv.config import loads_toml
from tests.conftest import INTERPRETERS, write_config
from tests.helpers import manifest, ok, poorenv

BASE = INTERPRETERS[0][1]


def assert_clean_error(result: subprocess.CompletedProcess[str], words: str, code: int = 2) -> None:
    assert result.returncode == code, result
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines)


def test_version_and_module_entry_point(tmp_path: Path) -> None:
    assert ok(poorenv("--version", cwd=tmp_path)).stdout.startswith("poorenv ")


def test_init_writes_a_valid_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    ok(poorenv("init", "--python", "3.12", "flask>=3", cwd=tmp_path))
    data = loads_toml((tmp_path / "poorenv.toml").read_text())
    assert data["env"]["python"] == "3.12"
    assert data["requirements"]["packages"] == ["flask>=3"]
    before = (tmp_path / "poorenv.toml").read_text()
    assert_clean_error(poorenv("init", cwd=tmp_path), "already exists")
    assert (tmp_path / "poorenv.toml").read_text() == before


def test_init_refuses_a_bad_requirement_and_writes_nothing(tmp_path: Path) -> None:
    assert_clean_error(poorenv("init", "flask >>= 3", cwd=tmp_path), "invalid requirement")
    assert not (tmp_path / "poorenv.toml").exists()


def test_no_config_is_a_clear_error(tmp_path: Path) -> None:
    result = poorenv("sync", cwd=tmp_path)
    assert_clean_error(result, "no poorenv.toml")
    assert "hint: run `poorenv init`" in result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('[env]\npython = "3.12\n', "invalid TOML"),
        ('[env]\npyton = "3.12"\n', "[env] pyton: unknown key"),
        ('[env]\npython = "3.99"\n', "no CPython matching '3.99'"),
        ('[env]\npython = "/etc/hostname"\n', "interpreter /etc/hostname"),
        ('[env]\npython = "3.12"\n[requirements]\npackages = ["a b c"]\n', "invalid requirement"),
    ],
)
@pytest.mark.parametrize("command", ["sync", "plan", "check"])
def test_bad_input_gives_one_error_line_and_changes_nothing(
    tmp_path: Path, content: str, words: str, command: str
) -> None:
    (tmp_path / "poorenv.toml").write_text(content)
    before = manifest(tmp_path)
    assert_clean_error(poorenv(command, cwd=tmp_path), words)
    assert manifest(tmp_path) == before


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "poorenv.toml").write_text('[env]\npyton = "3.12"\n')
    result = poorenv("--debug", "check", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("where", ["project", "parent", "home"])
def test_dangerous_env_paths_are_refused(tmp_path: Path, where: str) -> None:
    project = tmp_path / "home" / "project"
    path = {"project": ".", "parent": "..", "home": str(tmp_path / "home")}[where]
    write_config(project, BASE, extra=f'path = "{path}"\n')
    (project / "keep.txt").write_text("precious")
    before = manifest(tmp_path)
    for command in ("sync", "remove"):
        result = poorenv(command, cwd=project)
        assert_clean_error(result, "refusing")
    assert manifest(tmp_path) == before


def test_foreign_directory_is_neither_synced_nor_removed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_config(project, BASE, extra='path = "data"\n')
    (project / "data").mkdir()
    (project / "data" / "important.db").write_text("rows")
    before = manifest(tmp_path)
    assert_clean_error(poorenv("sync", cwd=project), "not made by poorenv")
    assert_clean_error(poorenv("remove", cwd=project), "not made by poorenv")
    assert manifest(tmp_path) == before


@pytest.mark.slow
def test_remove_deletes_only_the_env_and_never_follows_links(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_config(project, BASE)
    ok(poorenv("sync", cwd=project))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    (project / ".poorenv" / "link-out").symlink_to(outside)
    ok(poorenv("remove", cwd=project))
    assert not (project / ".poorenv").exists()
    assert (outside / "keep.txt").read_text() == "x"
    assert (project / "poorenv.toml").exists()


@pytest.mark.slow
def test_run_puts_the_env_first_and_passes_the_exit_code(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_config(project, BASE)
    assert_clean_error(poorenv("run", "--", "python", "-c", "1", cwd=project), "no env here yet")
    ok(poorenv("sync", "-q", cwd=project))
    code = "import sys; print(sys.prefix); sys.exit(7)"
    result = poorenv("run", "--", "python", "-c", code, cwd=project)
    assert result.returncode == 7
    assert result.stdout.strip() == str(project / ".poorenv")
    assert_clean_error(poorenv("run", "--", "no-such-cmd", cwd=project), "command not found")


@pytest.mark.slow
def test_sync_dry_run_changes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_config(project, BASE)
    before = manifest(tmp_path)
    result = ok(poorenv("sync", "--dry-run", cwd=project))
    assert "create env" in result.stdout
    assert manifest(tmp_path) == before
    check = poorenv("check", cwd=project)
    assert check.returncode == 1
    assert "not in sync" in check.stderr


@pytest.mark.slow
def test_activation_puts_bin_first_and_deactivate_restores(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_config(project, BASE)
    ok(poorenv("sync", "-q", cwd=project))
    code = ok(poorenv("activate", "--shell", "bash", cwd=project)).stdout
    assert not [line for line in code.splitlines() if "PYTHONHOME" in line and ".poorenv" in line]
    env_bin = project / ".poorenv" / "bin"
    (tmp_path / "activate.sh").write_text(code)
    script = (
        f'eval "$(cat {tmp_path / "activate.sh"})"\n'
        'echo "$PATH"; command -v python; python -c "import sys; print(sys.prefix)"\n'
        'echo "home=${PYTHONHOME-unset}"\n'
        'deactivate; echo "$PATH"\n'
    )
    variables = {**os.environ, "PYTHONHOME": "/somewhere/else"}
    result = subprocess.run(
        ["bash", "-c", script], cwd=project, env=variables, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    path_in, python, prefix, home, path_out = result.stdout.splitlines()
    assert path_in.split(":")[0] == str(env_bin)
    assert python == str(env_bin / "python")
    assert prefix == str(project / ".poorenv")
    assert home == "home=unset"
    assert path_out == os.environ["PATH"]
    sourced = subprocess.run(
        ["bash", "-c", f"source {env_bin / 'activate'}; command -v python"],
        env=dict(os.environ), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert sourced.stdout.strip() == str(env_bin / "python")


def test_dash_c_runs_as_if_started_there(tmp_path: Path) -> None:
    ok(poorenv("-C", str(tmp_path), "init", "--python", "3.12", cwd=Path("/")))
    assert (tmp_path / "poorenv.toml").is_file()
    assert_clean_error(poorenv("-C", str(tmp_path / "nope"), "check", cwd=tmp_path), "-C ")
