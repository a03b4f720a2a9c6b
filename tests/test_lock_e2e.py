"""Hostile locks and requirements files, end to end: real poorenv processes on the offline
project (tests/offline.py), with both installers.

A lock from a pull request is data: a field holding a newline and a pip option is refused by
the lock's grammar with one `error:` line and exit 2 by every command that reads the lock, even
when its content-hash was computed again, and nothing is installed. A requirements line that
poorenv cannot lock (`-e .`) is refused by file:line before pip-compile runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from poorenv.apply import pipwheel
from poorenv.discover.interpreter import probe
from tests.helpers import manifest, ok
from tests.hostile import HOSTILE, OTHER_FILE, OTHER_LINE, make_hostile
from tests.offline import HERE_PYTHON, installed, offline_project, run

pytestmark = pytest.mark.slow

# The cases of issue 13's class 3, each read by every command that reads the lock.
E2E = {
    "name-newline-find-links", "name-spaces", "version-index-url", "version-newline-no-index",
    "version-newline-requirement-file", "version-false-marker", "markers-newline-find-links",
    "markers-second-marker", "hash-short", "hash-newline-requirement-file", "platform-newline",
}  # fmt: skip
COMMANDS = [
    ("sync", "--locked", "--installer", "pip"),
    ("sync", "--locked", "--installer", "uv"),
    ("sync", "--frozen", "--installer", "pip"),
    ("sync", "--frozen", "--installer", "uv"),
    ("sync", "--installer", "uv"),
    ("export", "--format", "requirements"),
    ("check",),
    ("plan",),
]


def refused(result: subprocess.CompletedProcess[str], words: str) -> str:
    """The one error line of a refusal; fails unless the exit code is 2 and nothing leaked."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert words in errors[0], output
    assert "Traceback" not in output
    assert OTHER_LINE not in output and "root:x:0:0" not in output  # no line of another file
    return errors[0]


def test_a_hostile_lock_is_refused_by_every_command_and_nothing_is_installed(
    tmp_path: Path,
) -> None:
    project = offline_project(tmp_path / "project")
    ok(run(project, "sync"))
    (project / OTHER_FILE).write_text(OTHER_LINE + "\n")
    lock = project / "poorenv.lock"
    good = lock.read_text()
    env = manifest(project / ".poorenv")
    packages = installed(project)
    cases = [c for c in HOSTILE if c[0] in E2E]
    assert len(cases) == len(E2E)
    for case, edit, words in cases:
        lock.write_text(good)
        make_hostile(lock, edit)
        hostile = lock.read_text()
        for command in COMMANDS:
            line = refused(run(project, *command), words)
            assert line.startswith(f"error: {lock}: "), (case, command, line)
        assert lock.read_text() == hostile, case  # not rewritten
        assert manifest(project / ".poorenv") == env, case  # nothing installed or removed
    assert installed(project) == packages
    lock.write_text(good)
    ok(run(project, "check"))


def editable_project(project: Path, line: str = "-e .") -> Path:
    """The offline project whose requirements file holds `line`, with a setup.py and setuptools
    in its wheelhouse, so that pip-compile could have built the project."""
    offline_project(project)
    base = probe(HERE_PYTHON)
    for wheel in pipwheel.seed_wheels(base, ("setuptools",)).values():
        shutil.copy2(wheel, project / "wheels")
    (project / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='mine', version='1')\n"
    )
    (project / "requirements.txt").write_text(f"alpha==1.0\n# the project itself:\n{line}\n")
    config = project / "poorenv.toml"
    config.write_text(
        config.read_text().replace(
            'packages = ["alpha==1.0", "gamma"]', 'files = ["requirements.txt"]'
        )
    )
    return project


@pytest.mark.parametrize(
    ("command", "line", "words"),
    [
        (("lock",), "-e .", "'-e .': editable requirements are not supported"),
        (("sync",), "-e .", "'-e .': editable requirements are not supported"),
        (("sync", "--installer", "uv"), "--editable .", "editable requirements are not supported"),
        (("sync",), ".", "'.': a path or URL, not a requirement by name"),
        (("lock",), "--index-url http://127.0.0.1:9/simple", "sets where packages come from"),
    ],
)
def test_a_requirements_line_that_cannot_be_locked_is_refused_and_nothing_is_written(
    tmp_path: Path, command: tuple[str, ...], line: str, words: str
) -> None:
    project = editable_project(tmp_path / "project", line)
    before = sorted(p.name for p in project.iterdir())
    error = refused(run(project, *command), words)
    assert error.startswith(f"error: {project / 'requirements.txt'}:3: ")
    assert sorted(p.name for p in project.iterdir()) == before  # no lock, no env
    assert not list(project.rglob("*.egg-info")), "the project was built"


def test_an_included_file_is_an_input_of_the_lock(tmp_path: Path) -> None:
    project = editable_project(tmp_path / "project", "-r more.txt")
    (project / "more.txt").write_text("gamma\n")
    ok(run(project, "sync"))
    assert set(installed(project)) == {"alpha", "beta", "gamma", "pip"}
    ok(run(project, "check"))
    (project / "more.txt").write_text("gamma\nextra-thing\n")
    stale = run(project, "check")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "poorenv.lock is stale" in stale.stdout + stale.stderr
    ok(run(project, "sync"))
    assert "extra-thing" in installed(project) or "extra_thing" in installed(project)
    (project / "more.txt").write_text("gamma\n-e .\n")
    refused(run(project, "check"), "more.txt:2: '-e .': editable")
