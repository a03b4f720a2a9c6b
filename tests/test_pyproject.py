"""`[requirements] project`: reading a pyproject.toml (lock/pyproject.py, lock/backend.py),
the lock's [project], the input hash, and the planner's editable install (pure parts)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest

from poorenv.config import init_config, load_config, loads_toml, parse_config
from poorenv.errors import ConfigError, LockError
from poorenv.lock.backend import split_requires
from poorenv.lock.inputs import input_hash, stale_reason
from poorenv.lock.localproject import LockedProject
from poorenv.lock.lockfile import Lock, LockInterpreter, parse_lock, read_lock, write_lock
from poorenv.lock.pyproject import read_project, read_pyproject
from poorenv.plan.layout import build_layout
from poorenv.plan.planner import desired_record, plan
from tests.conftest import ROOT
from tests.fakes import fake_base
from tests.test_plan import ENV, PIP, installed, kinds, synced_state

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "My_App"
version = "1.0"
dependencies = ["alpha>=1", "beta; python_version < '3.20'"]

[project.optional-dependencies]
color = ["gamma"]
all = ["my-app[color]", "delta"]

[dependency-groups]
test = ["pytest>=8"]
lint = ["ruff"]
dev = [{include-group = "test"}, {include-group = "lint"}, "my_app[color]"]
"""


def project(tmp_path: Path, text: str = PYPROJECT) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def lines(found: object) -> list[str]:
    return [line for line, _ in found.requirements]  # type: ignore[attr-defined]


def test_static_dependencies_extras_and_groups_with_includes(tmp_path: Path) -> None:
    read = read_pyproject(project(tmp_path))
    assert (read.name, read.build, read.dynamic) == ("my-app", True, ())
    assert lines(read) == ["alpha>=1", 'beta; python_version < "3.20"']
    # an extra naming the project itself stands for that extra; groups follow include-group
    read = read_pyproject(tmp_path, extras=("all",), groups=("dev",))
    assert lines(read) == [
        "alpha>=1", 'beta; python_version < "3.20"', "delta", "pytest>=8", "ruff", "gamma",
    ]  # fmt: skip
    where = dict(read.requirements)
    assert where["pytest>=8"] == "[dependency-groups] dev"
    assert where["gamma"].startswith("[project.optional-dependencies] all (my-app[color])")


def test_a_project_without_build_system_is_not_installed(tmp_path: Path) -> None:
    text = PYPROJECT.split("[project]", 1)[1]
    assert read_pyproject(project(tmp_path, "[project]" + text)).build is False
    # groups alone (PEP 735 without [project]): named after the directory, nothing to build
    read = read_pyproject(project(tmp_path, '[dependency-groups]\nx = ["alpha"]\n'), groups=("x",))
    assert (read.build, lines(read)) == (False, ["alpha"])


@pytest.mark.parametrize(
    ("text", "extras", "groups", "words"),
    [
        (PYPROJECT, ("colour",), (), "no extra 'colour' in [project.optional-dependencies]"),
        (PYPROJECT, (), ("docs",), "no group 'docs' in [dependency-groups]"),
        (
            PYPROJECT + '[dependency-groups]\n',
            (), (), "invalid TOML",
        ),
        (
            PYPROJECT.replace('lint = ["ruff"]', 'lint = [{include-group = "dev"}]'),
            (), ("dev",), "Cyclic dependency group include",
        ),
        (
            PYPROJECT.replace('lint = ["ruff"]', 'lint = [{include-group = "nope"}]'),
            (), ("lint",), "[dependency-groups]",
        ),
        (PYPROJECT.replace('"alpha>=1"', '"alpha >>= 1"'), (), (), "dependencies"),
        (PYPROJECT.replace('name = "My_App"\n', ""), (), (), "name"),
        ('[dependency-groups]\nx = ["a"]\n', ("color",), (), "[project] missing"),
    ],
)  # fmt: skip
def test_bad_projects_are_one_error_naming_the_file(
    tmp_path: Path, text: str, extras: tuple[str, ...], groups: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_pyproject(project(tmp_path, text), extras, groups)
    assert caught.value.message.startswith(f"{tmp_path / 'pyproject.toml'}: ")
    assert words in caught.value.message
    assert "\n" not in caught.value.message


def test_a_missing_pyproject_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pyproject.toml: no such file"):
        read_pyproject(tmp_path)


def config(tmp_path: Path, extra: str = "") -> object:
    text = f'[env]\npython = "3.12"\n[requirements]\nproject = "."\n{extra}'
    (tmp_path / "poorenv.toml").write_text(text)
    return load_config(tmp_path / "poorenv.toml")


def test_config_keys(tmp_path: Path) -> None:
    project(tmp_path)
    loaded = config(tmp_path, 'extras = ["Color"]\ngroups = ["dev"]\n')
    assert (loaded.project, loaded.extras, loaded.groups) == (tmp_path, ("color",), ("dev",))  # type: ignore[attr-defined]
    for bad, words in [
        (
            '[env]\npython = "3.12"\n[requirements]\nextras = ["a"]\n',
            "needs [requirements] project",
        ),
        ('[env]\npython = "3.12"\n[requirements]\nproject = 1\n', "expected a string"),
        ('[env]\npython = "3.12"\n[requirements]\nproject = "."\ngroups = ["a", "A"]\n', "twice"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_config(loads_toml(bad), tmp_path / "poorenv.toml")


def test_init_beside_a_pyproject_names_the_project(tmp_path: Path) -> None:
    project(tmp_path)
    written = init_config(tmp_path, "3.12")
    assert 'project = "."' in written.read_text()
    assert load_config(written).project == tmp_path


def test_input_hash_follows_requirements_extras_and_groups_not_source(tmp_path: Path) -> None:
    project(tmp_path)
    first = input_hash(config(tmp_path))
    (tmp_path / "app.py").write_text("print('edited')\n")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.replace("# nothing", "") + "# a comment\n")
    assert input_hash(config(tmp_path)) == first  # source and formatting do not count
    assert input_hash(config(tmp_path, 'extras = ["color"]\n')) != first
    assert input_hash(config(tmp_path, 'groups = ["lint"]\n')) != first
    project(tmp_path, PYPROJECT.replace('"alpha>=1"', '"alpha>=2"'))
    assert input_hash(config(tmp_path)) != first
    project(tmp_path, PYPROJECT.replace('ruff"]', 'ruff>=0.6"]'))
    assert input_hash(config(tmp_path, 'groups = ["dev"]\n')) != input_hash(config(tmp_path))


def a_lock(tmp_path: Path, locked: LockedProject | None) -> Lock:
    return Lock(
        input_hash(config(project(tmp_path))),
        LockInterpreter.of(fake_base()),
        (PIP,),
        project=locked,
    )


def test_lock_round_trip_schema_and_staleness(tmp_path: Path) -> None:
    lock = a_lock(tmp_path, LockedProject("my-app", "."))
    path = tmp_path / "poorenv.lock"
    write_lock(path, lock)
    assert read_lock(path) == lock
    data = loads_toml(path.read_text())
    assert data["project"] == {"name": "my-app", "path": ".", "editable": True, "build": True}
    schema = json.loads((ROOT / "schemas" / "poorenv-lock.schema.json").read_text())
    jsonschema.validate(data, schema)
    # the project is in the content hash: a hand edit is caught
    data["project"]["path"] = "../elsewhere"
    with pytest.raises(LockError, match="content-hash"):
        parse_lock(data, path)
    data["project"]["path"] = "/abs"
    with pytest.raises(LockError, match=r"\[project\] path: not a relative POSIX path"):
        parse_lock(data, path)
    # no project: the hash a lock without one always had
    assert "project" not in dataclasses.replace(lock, project=None).to_toml()
    base = fake_base()
    assert stale_reason(lock, config(tmp_path), base) is None
    other = dataclasses.replace(lock, project=LockedProject("my-app", "sub"))
    assert "names the project 'sub', poorenv.toml names '.'" in str(
        stale_reason(other, config(tmp_path), base)
    )
    project(tmp_path, PYPROJECT.replace('"alpha>=1"', '"alpha>=2"'))
    assert "pyproject.toml changed" in str(stale_reason(lock, config(tmp_path), base))


def test_export_names_the_project_in_a_comment_only(tmp_path: Path) -> None:
    text = a_lock(tmp_path, LockedProject("my-app", ".")).to_requirements()
    assert all(line.startswith(("#", "pip==", "    --hash")) for line in text.splitlines())
    assert "pip install --no-deps -e ." in text


def test_backend_metadata_is_split_into_dependencies_and_extras(tmp_path: Path) -> None:
    metadata = (
        "Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Dist: alpha>=1\n"
        "Provides-Extra: Color\n"
        'Requires-Dist: gamma; extra == "color"\n'
        'Requires-Dist: delta; (python_version < "3.10" or os_name == "nt")'
        " and extra == 'color'\n"
    )
    deps, optional = split_requires(metadata, tmp_path / "pyproject.toml")
    assert deps == ["alpha>=1"]
    assert optional == {"color": ["gamma", 'delta; python_version < "3.10" or os_name == "nt"']}
    with pytest.raises(ConfigError, match="cannot split"):
        split_requires('Requires-Dist: x; extra == "a" or extra == "b"\n', tmp_path)


def test_dynamic_dependencies_wait_for_the_backend(tmp_path: Path) -> None:
    text = PYPROJECT.replace('dependencies = ["alpha>=1", "beta; python_version < \'3.20\'"]',
                             'dynamic = ["dependencies"]')  # fmt: skip
    read = read_project(config(project(tmp_path, text)))  # type: ignore[arg-type]
    assert read is not None and read.dynamic == ("dependencies",) and lines(read) == []
    before = input_hash(config(tmp_path))
    project(tmp_path, text + "# the backend may read anything here\n")
    assert input_hash(config(tmp_path)) != before  # the text stands in for the requirements


def editable_state(tmp_path: Path, lock: Lock, url: str | None) -> object:
    base = fake_base()
    state = synced_state(base, lock)
    versions = {p.name: p.version for p in lock.packages}
    versions["my-app"] = "1.0"
    editables = {"my-app": url} if url else {}
    return dataclasses.replace(state, site=installed(versions), editables=editables)


def test_planner_installs_the_project_editable_and_keeps_it(tmp_path: Path) -> None:
    base = fake_base()
    lock = a_lock(tmp_path, LockedProject("my-app", "."))
    layout = build_layout(ENV, base)
    state = synced_state(base, dataclasses.replace(lock, project=None))
    found = plan(layout, base, state, lock, None, tmp_path)
    assert kinds(found.actions) == ["install-project", "write-state"]
    action = found.actions[0].to_json()
    assert (action["name"], action["path"], action["reason"]) == (
        "my-app",
        str(tmp_path),
        "missing",
    )
    assert "install project my-app editable" in found.render()
    # installed editable from here, recorded for this lock: nothing to do, not extraneous
    state = editable_state(tmp_path, lock, tmp_path.as_uri())
    assert plan(layout, base, state, lock, None, tmp_path).actions == ()
    # from elsewhere, or not editable: installed again
    moved = editable_state(tmp_path, lock, "file:///elsewhere")
    assert kinds(plan(layout, base, moved, lock, None, tmp_path).actions)[0] == "install-project"
    plain = editable_state(tmp_path, lock, None)
    assert plan(layout, base, plain, lock, None, tmp_path).actions[0].reason == (
        "installed, but not editable"
    )
    # a new lock (its requirements changed): installed again, its metadata lists them
    relocked = dataclasses.replace(lock, input_hash="sha256:" + "1" * 64)
    assert plan(layout, base, state, relocked, None, tmp_path).actions[0].reason == (
        "its requirements changed"
    )
    # the project dropped from the lock: removed like any package the lock does not name
    dropped = dataclasses.replace(lock, project=None)
    assert "remove my-app" in plan(layout, base, state, dropped, None, tmp_path).render()
    # without a [build-system]: only its dependencies
    nobuild = dataclasses.replace(lock, project=LockedProject("my-app", ".", build=False))
    assert "my-app" not in desired_record(base, layout, nobuild).packages


@pytest.mark.parametrize(
    ("pyproject", "requirements", "words"),
    [
        (None, "", "pyproject.toml: no such file"),
        ("[project\n", "", "pyproject.toml: invalid TOML"),
        (PYPROJECT, 'extras = ["colour"]', "no extra 'colour'"),
        (PYPROJECT, 'groups = ["docs"]', "no group 'docs'"),
        (
            PYPROJECT.replace('lint = ["ruff"]', 'lint = [{include-group = "dev"}]'),
            'groups = ["lint"]',
            "Cyclic dependency group include while resolving lint",
        ),
    ],
)
@pytest.mark.parametrize("command", ["sync", "check"])
def test_bad_input_is_one_error_line_exit_2_and_nothing_changed(
    tmp_path: Path, pyproject: str | None, requirements: str, words: str, command: str
) -> None:
    from tests.conftest import write_config
    from tests.helpers import poorenv
    from tests.offline import HERE_PYTHON, offline_env

    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    write_config(tmp_path, HERE_PYTHON, extra=f'[requirements]\nproject = "."\n{requirements}\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    done = poorenv(command, cwd=tmp_path, env=offline_env())
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], done.stderr
    assert str(tmp_path / "pyproject.toml") in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("item", ["--prefix=/usr/local", "x @ https://example.invalid/x.tar.gz"])
def test_a_build_requirement_that_is_not_one_by_name_never_reaches_pip(
    tmp_path: Path, item: str
) -> None:
    from poorenv.errors import ConfigError
    from poorenv.lock.backend import backend_env
    from tests.fakes import fake_base

    with pytest.raises(ConfigError, match=r"\[build-system\] requires: "):
        backend_env(fake_base(), ("setuptools>=64", item), {})
