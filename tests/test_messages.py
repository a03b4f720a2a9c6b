"""Messages a newcomer can act on (issue 14, item 6): pip's words about poorenv's temporary
files rewritten to the user's own, a failed build's own lines, versions cut to the nearest,
refusals before anything runs, and every command's --help with an example."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from poorenv import _run
from poorenv.apply.installers import pip_failure, uv_failure
from poorenv.cli.main import EXAMPLES, _parser
from poorenv.discover.find import found_versions
from poorenv.errors import ConfigError
from poorenv.lock.origins import Origins, check_upgrade_names
from poorenv.lock.reqfile import read_inputs
from tests.helpers import poorenv
from tests.offline import HERE_PYTHON, offline_project, run
from tests.wheels import make_wheel

PIP_BUILD = """\
  error: subprocess-exited-with-error

  \u00d7 Getting requirements to build wheel did not run successfully.
  \u2502 exit code: 1
  \u2570\u2500> [3 lines of output]
      checking for libfoo... no
      see https://user:secret@example.invalid/help
      error: libfoo.h: No such file or directory
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
"""

PIP_WHEEL_BUILD = (
    PIP_BUILD
    + """  ERROR: Failed building wheel for broken
error: failed-wheel-build-for-install

\u00d7 Failed to build installable wheels for some pyproject.toml based projects
\u2570\u2500> broken
"""
)

UV_BUILD = """\
   Building broken==1.0
error: Failed to build `broken==1.0`
  cause: Call to `backend.build_wheel` failed (exit status: 1)

         [stdout]
         compiling broken/_speedups.c

         [stderr]
         gcc: error: unrecognized command-line option '-mfoo'

hint: Build failures usually indicate a problem with the package or the build environment
"""


# --- a failed build ---------------------------------------------------------------------------


def test_a_failed_build_is_named_by_its_step_and_its_own_lines_redacted() -> None:
    assert _run.last_error_line(PIP_BUILD) == (
        "Getting requirements to build wheel did not run successfully."
    )
    own = _run.build_output(PIP_BUILD)
    assert own == (
        "checking for libfoo... no",
        "see https://***@example.invalid/help",
        "error: libfoo.h: No such file or directory",
    )
    assert _run.build_output("ERROR: No matching distribution found for alpha") == ()


def test_a_failed_build_keeps_only_its_last_lines() -> None:
    many = "\n".join(f"      line {n}" for n in range(20))
    text = PIP_BUILD.replace("      checking for libfoo... no\n", many + "\n")
    own = _run.build_output(text)
    assert len(own) == _run.BUILD_LINES and own[-1].startswith("error: libfoo.h")


def test_a_tool_error_carries_the_build_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(argv: list[str], *rest: object) -> _run.Result:
        return _run.Result(tuple(argv), 1, "", PIP_BUILD)

    monkeypatch.setattr(_run, "_spawn", fake)
    with pytest.raises(_run.ToolError) as caught:
        _run.run(["pip-compile"], what="pip-compile")
    assert caught.value.detail.startswith("Getting requirements to build wheel")
    assert caught.value.details[-1] == "error: libfoo.h: No such file or directory"


def test_the_installers_show_the_build_lines() -> None:
    pip = pip_failure("installing packages", PIP_WHEEL_BUILD)
    assert pip.message == (
        "installing packages: Failed to build installable wheels for some pyproject.toml"
        " based projects: broken"
    )
    assert pip.details[-1] == "error: libfoo.h: No such file or directory"
    uv = uv_failure("installing packages", UV_BUILD)
    assert uv.details == (
        "compiling broken/_speedups.c",
        "gcc: error: unrecognized command-line option '-mfoo'",
    )


# --- versions ---------------------------------------------------------------------------------

VERSIONS = "0.1, 0.2, 0.3, 1.0, 1.1, 1.2, 2.0, 3.0, 4.0, 5.0, 6.0, 9.9"


def test_the_versions_list_is_cut_to_the_nearest() -> None:
    line = f"No version satisfies the requirement many==1.0.5 (from versions: {VERSIONS})"
    assert _run.nearest_versions(line).endswith(
        "(from versions: ... 2 older, 0.3, 1.0, 1.1, 1.2, 2.0, ... 5 newer)"
    )
    unpinned = line.replace("many==1.0.5", "many>=10")
    assert _run.nearest_versions(unpinned).endswith(
        "(from versions: ... 7 older, 3.0, 4.0, 5.0, 6.0, 9.9)"
    )
    short = "requirement x==3 (from versions: 1.0, 2.0)"
    assert _run.nearest_versions(short) == short
    assert "... 7 older" in _run.last_error_line(f"ERROR: {unpinned}\n")


def test_python_versions_found_are_listed() -> None:
    assert (
        found_versions({"3.11", "3.11.7", "3.9.18", "3.13.0"}) == "; found: 3.9.18, 3.11.7, 3.13.0"
    )
    assert found_versions(set()) == "; found none"


# --- the user's own files ---------------------------------------------------------------------


def test_pip_compiles_mentions_of_the_temporary_files_name_the_users_lines(tmp_path: Path) -> None:
    (tmp_path / "reqs.in").write_text("gamma\n# a comment\n\nneedsold\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("beta<2\n", encoding="utf-8")
    files = read_inputs(tmp_path / "poorenv.toml", [tmp_path / "reqs.in"], [tmp_path / "c.txt"])
    origins = Origins(tmp_path)
    origins.add_setting(tmp_path / "poorenv.toml", "[requirements] packages", ["alpha==1.0"])
    origins.add_files(files)
    assert origins.lines() == ["alpha==1.0", "gamma", "needsold"]
    source, constraints = Path("/tmp/x/requirements.in"), Path("/tmp/x/constraints.txt")
    said = (
        f"Cannot install -r {source} (line 1) and -r {source} (line 3) because ..."
        f" (from -c {constraints} (line 1)); see {source}"
    )
    assert origins.rewrite(said, source, constraints) == (
        'Cannot install poorenv.toml [requirements] packages "alpha==1.0" and reqs.in:4'
        " because ... (from c.txt:1); see the requirements"
    )


def test_upgrading_a_package_not_required_nor_locked_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "poorenv.toml"
    check_upgrade_names(["Alpha", "beta==2"], ["alpha>=1"], ["beta"], config)
    with pytest.raises(ConfigError, match=r"--upgrade-package nosuch: not in the requirements"):
        check_upgrade_names(["alpha", "nosuch"], ["alpha>=1"], ["beta"], config)


# --- the command line -------------------------------------------------------------------------


def test_every_command_has_a_description_and_an_example() -> None:
    parser = _parser()
    action = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    commands: dict[str, argparse.ArgumentParser] = dict(action.choices)  # type: ignore[arg-type]
    assert set(commands) == set(EXAMPLES)
    for name, command in commands.items():
        text = command.format_help()
        assert command.description and f"example:\n  {EXAMPLES[name]}" in text, name


def test_an_unquoted_python_version_hints_at_the_quotes(tmp_path: Path) -> None:
    (tmp_path / "poorenv.toml").write_text("[env]\npython = 3.11\n", encoding="utf-8")
    result = poorenv("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[1].startswith('hint: quote it: python = "3.11"')


@pytest.mark.parametrize("command", ["doctor", "activate"])
def test_doctor_and_activate_before_the_first_sync_name_sync(tmp_path: Path, command: str) -> None:
    (tmp_path / "poorenv.toml").write_text(f'[env]\npython = "{HERE_PYTHON}"\n', encoding="utf-8")
    result = poorenv(command, cwd=tmp_path)
    assert result.returncode == 2 and not result.stdout
    assert result.stderr == (
        f"error: {tmp_path / '.poorenv'}: no env here yet\nhint: run `poorenv sync` to build it\n"
    )


# --- real pip-compile runs, offline -----------------------------------------------------------


@pytest.mark.slow
def test_a_conflict_names_the_users_file_and_line(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "p", seed="[]")
    make_wheel(project / "wheels", "needsold", "1.0", requires=["beta<1"])
    (project / "reqs.in").write_text("gamma\n# old\nneedsold\n", encoding="utf-8")
    toml = project / "poorenv.toml"
    toml.write_text(toml.read_text().replace('"gamma"]', '"gamma"]\nfiles = ["reqs.in"]'))
    result = run(project, "lock")
    assert result.returncode == 2, result.stderr
    line = result.stderr.splitlines()[0]
    assert 'poorenv.toml [requirements] packages "alpha==1.0" and reqs.in:3' in line, line
    assert "requirements.in" not in result.stderr and "poorenv-lock-" not in result.stderr


@pytest.mark.slow
def test_a_missing_requirements_file_is_one_message_from_every_command(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "p", seed="[]")
    assert run(project, "lock").returncode == 0
    toml = project / "poorenv.toml"
    toml.write_text(toml.read_text().replace('"gamma"]', '"gamma"]\nfiles = ["missing.in"]'))
    for command in ("plan", "check", "sync", "lock", "export", "info", "doctor"):
        result = run(project, command)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2, command
        assert errors == [
            f"error: {toml}: [requirements]: cannot read {project / 'missing.in'}:"
            " No such file or directory"
        ], command


@pytest.mark.slow
def test_verbose_shows_the_resolver_and_installer_command_lines(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "p", seed="[]")
    toml = project / "poorenv.toml"
    toml.write_text(
        toml.read_text().replace(
            'find-links = ["wheels"]',
            'find-links = ["wheels", "https://u:hunter2@example.invalid/x"]',
        )
    )
    result = run(project, "-v", "sync")
    ran = [line for line in result.stderr.splitlines() if line.startswith("INFO: running ")]
    assert any(" -m piptools compile " in line for line in ran), result.stderr
    assert any(" install --require-hashes " in line for line in ran), result.stderr
    assert "hunter2" not in result.stderr and "example.invalid" in result.stderr


def test_a_uv_cause_wrapped_onto_several_lines_is_read_whole() -> None:
    stderr = (
        "error: Failed to install: six-1.17.0-py2.py3-none-any.whl (six==1.17.0)\n"
        "  Caused by: failed to copy file from\n"
        "    /root/.cache/uv/archive-v0/abc/six.py to /tmp/p/.poorenv/lib/python3.11/six.py:\n"
        "    No space left on device (os error 28)\n"
    )
    failure = uv_failure("installing packages", stderr)
    assert "No space left on device" in failure.message
    assert failure.hint and "space" in failure.hint
