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
    result = poorenv("run", "--", "no-such-cmd", cwd=project)
    assert_clean_error(result, "run: command not found: no-such-cmd", code=127)


def project_with_an_env(tmp_path: Path, extra: str = "") -> Path:
    """A project whose env is only what `run` looks for (bin/python), for run's own checks."""
    project = tmp_path / "project"
    write_config(project, BASE, extra=extra)
    (project / ".poorenv" / "bin").mkdir(parents=True)
    (project / ".poorenv" / "bin" / "python").touch()
    return project


def one_line(result: subprocess.CompletedProcess[str], message: str, code: int) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (code, "", f"error: {message}\n")


def test_run_fails_as_a_shell_does_with_one_line(tmp_path: Path) -> None:
    project = project_with_an_env(tmp_path)
    one_line(
        poorenv("run", "--", "nosuchcmd", cwd=project), "run: command not found: nosuchcmd", 127
    )
    (project / "data.txt").write_text("rows\n")
    result = poorenv("run", "--", "./data.txt", cwd=project)
    one_line(result, "run: ./data.txt: permission denied (not executable)", 126)
    one_line(
        poorenv("run", "--", "./.poorenv", cwd=project), "run: ./.poorenv: is a directory", 126
    )
    tool = project / ".poorenv" / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")  # on PATH, but not executable
    result = poorenv("run", "--", "tool", cwd=project)
    one_line(result, f"run: {tool}: permission denied (not executable)", 126)


def test_run_names_a_scripts_missing_interpreter_and_suggests_sync(tmp_path: Path) -> None:
    project = project_with_an_env(tmp_path)
    gone = tmp_path / "old-place" / ".poorenv" / "bin" / "python3"
    trampoline = f"#!/bin/sh\n'''exec' \"{gone}\" \"$0\" \"$@\"\n' '''\n"  # pip's, for long paths
    for name, text in [("direct", f"#!{gone}\n"), ("trampoline", trampoline)]:
        script = project / ".poorenv" / "bin" / name
        script.write_text(text)
        script.chmod(0o755)
        result = poorenv("run", "--", name, "--version", cwd=project)
        assert_clean_error(result, f"run: {name}: its interpreter {gone} does not exist", code=127)
        assert "`poorenv sync`" in result.stderr.splitlines()[1]


def test_run_makes_the_env_the_active_one(tmp_path: Path) -> None:
    project = project_with_an_env(tmp_path, extra='prompt = "web shop"\n')
    env = project / ".poorenv"
    show = 'echo "$VIRTUAL_ENV|$VIRTUAL_ENV_PROMPT|$UV_PYTHON|$PIP_REQUIRE_VIRTUALENV"'
    outside = {**os.environ, "VIRTUAL_ENV": "/a/venv", "UV_PYTHON": "3.13",
               "PIP_REQUIRE_VIRTUALENV": "1"}  # fmt: skip
    result = ok(poorenv("run", "--", "sh", "-c", show, cwd=project, env=outside))
    assert result.stdout == f"{env}|web shop|{env}/bin/python|0\n"
    (project / "job").write_text('echo "no shebang: $1"\n')  # run by sh, as a shell would
    (project / "job").chmod(0o755)
    assert ok(poorenv("run", "--", "./job", "x", cwd=project)).stdout == "no shebang: x\n"


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
