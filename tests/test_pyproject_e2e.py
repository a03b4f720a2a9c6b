"""`[requirements] project` end to end, offline: a real pip-tools lock, a sync with pip and with
uv that installs the project editable through setuptools (its seed wheel), an edit
of its source seen without a sync, `check` clean, and the project removed when dropped."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from poorenv.apply.pipwheel import seed_wheels
from poorenv.discover.interpreter import probe
from poorenv.paths import loads_toml
from tests.conftest import ROOT, write_config
from tests.offline import HERE_PYTHON, installed, offline_env, offline_project, run

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "App"
version = "0.1"
dependencies = ["alpha==1.0"]

[project.optional-dependencies]
g = ["gamma"]

[dependency-groups]
t = ["beta"]
dev = [{ include-group = "t" }]

[tool.setuptools]
py-modules = ["app"]
"""
INDEX = '[index]\nno-index = true\nfind-links = ["wheels"]\n'


def configure(project: Path, installer: str, requirements: str) -> None:
    write_config(
        project,
        HERE_PYTHON,
        seed='["pip"]',
        extra=f'installer = "{installer}"\n[requirements]\n{requirements}\n{INDEX}',
    )


def value(project: Path) -> subprocess.CompletedProcess[str]:
    python = project / ".poorenv" / "bin" / "python"
    return subprocess.run(
        [str(python), "-c", "import app; print(app.VALUE)"],
        capture_output=True, text=True, env=offline_env(), check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_the_project_is_locked_installed_editable_checked_and_dropped(
    tmp_path: Path, installer: str
) -> None:
    project = offline_project(tmp_path / "p")
    # the backend, for the installer's isolated build: setuptools' seed wheel (poorenv's cache)
    shutil.copy2(seed_wheels(probe(HERE_PYTHON), ("setuptools",))["setuptools"], project / "wheels")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "app.py").write_text("VALUE = 1\n")
    configure(project, installer, 'project = "."\nextras = ["g"]\ngroups = ["dev"]')

    done = run(project, "lock")
    assert done.returncode == 0, done.stderr
    lock = loads_toml((project / "poorenv.lock").read_text())
    assert lock["project"] == {"name": "app", "path": ".", "editable": True, "build": True}
    assert {p["name"] for p in lock["package"]} == {"alpha", "beta", "gamma", "pip"}

    done = run(project, "plan", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(
        data, json.loads((ROOT / "schemas" / "poorenv-output.schema.json").read_text())
    )
    step = [a for a in data["actions"] if a["action"] == "install-project"]
    assert [(a["name"], a["path"]) for a in step] == [("app", str(project))], data

    done = run(project, "sync")
    assert done.returncode == 0, done.stderr
    assert "install project app editable" in done.stdout
    assert installed(project)["app"] == "0.1"
    assert value(project).stdout == "1\n"
    (project / "app.py").write_text("VALUE = 2\n")  # seen at once: no sync
    assert value(project).stdout == "2\n"
    done = run(project, "check")
    assert (done.returncode, done.stdout.strip().endswith("in sync")) == (0, True), done.stdout
    done = run(project, "doctor")  # the project's .pth puts its directory on sys.path: fine
    assert done.returncode == 0, done.stdout

    # its requirements changed: the lock is stale (the no-op stamp watches pyproject.toml)
    (project / "pyproject.toml").write_text(PYPROJECT.replace('t = ["beta"]', "t = []"))
    done = run(project, "check")
    assert done.returncode == 1 and "pyproject.toml changed" in done.stderr, done.stderr
    (project / "pyproject.toml").write_text(PYPROJECT)

    # dropped from poorenv.toml: the next sync removes it, its dependencies stay as locked
    configure(project, installer, 'packages = ["alpha==1.0"]')
    done = run(project, "sync", "--frozen")  # would install a project poorenv.toml does not name
    assert done.returncode == 2 and "names the project '.', poorenv.toml names none" in done.stderr
    done = run(project, "sync")
    assert done.returncode == 0, done.stderr
    assert "app" not in installed(project) and "alpha" in installed(project)
    assert "ModuleNotFoundError" in value(project).stderr
    assert run(project, "check").returncode == 0


@pytest.mark.slow
def test_a_failing_backend_is_one_error_with_its_own_lines(tmp_path: Path) -> None:
    """A dynamic dependencies field is read through the backend; a backend that fails says
    so in one line, its own last lines after it, and nothing is written."""
    project = offline_project(tmp_path / "p")
    (project / "backend").mkdir()
    (project / "backend" / "broken.py").write_text(
        "def prepare_metadata_for_build_wheel(directory, settings=None):\n"
        "    raise RuntimeError('the backend cannot read setup.cfg')\n"
    )
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "broken"\nbackend-path = ["backend"]\n'
        '[project]\nname = "app"\nversion = "1"\ndynamic = ["dependencies"]\n'
    )
    configure(project, "pip", 'project = "."')
    done = run(project, "lock")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the build backend of" in errors[0], done.stderr
    assert "the backend cannot read setup.cfg" in done.stderr
    assert not (project / "poorenv.lock").exists()
    assert not (project / ".poorenv").exists()


@pytest.mark.slow
def test_deploy_installs_the_project_editable_in_each_generation(tmp_path: Path) -> None:
    project = offline_project(tmp_path / "p")
    shutil.copy2(seed_wheels(probe(HERE_PYTHON), ("setuptools",))["setuptools"], project / "wheels")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "app.py").write_text("VALUE = 1\n")
    configure(project, "pip", 'project = "."')
    with (project / "poorenv.toml").open("a") as config:
        config.write('[deploy]\nsmoke = ["python", "-c", "import app"]\n')

    done = run(project, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert value(project).stdout == "1\n"
    assert installed(project)["app"] == "0.1"
    done = run(project, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    # the project's requirements change: the next generation has it installed again
    (project / "pyproject.toml").write_text(PYPROJECT.replace('"alpha==1.0"', '"alpha==2.0"'))
    done = run(project, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(project)["alpha"] == "2.0" and installed(project)["app"] == "0.1"
    assert run(project, "check").returncode == 0
