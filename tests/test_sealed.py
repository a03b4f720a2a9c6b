"""A sealed env, for real: hostile package metadata and links never make poorenv (or pip or uv,
driven by it) write or delete outside the env.

Each test builds the hostile piece locally (a wheel whose RECORD names files outside the env, a
package directory that is a link to outside, an egg-info that lists nothing, a directory of
the env that is a link to outside, a planted `.pth`), puts it into an env synced from a real
base, and runs `poorenv sync` with pip and with uv: the refusal is one `error:` line naming the
package and the path, exit 2, and the files outside are still there, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from poorenv.discover.interpreter import probe
from tests.conftest import ROOT
from tests.helpers import manifest, ok, poorenv
from tests.offline import HERE_PYTHON, installed, offline_env, offline_project, site_packages
from tests.wheels import make_wheel

pytestmark = pytest.mark.slow
jsonschema = pytest.importorskip("jsonschema")

XY = probe(HERE_PYTHON).xy


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """An offline project, locked once: alpha 1.0 (with beta), gamma, hostile 2.0; no seed."""
    project = offline_project(tmp_path_factory.mktemp("sealed") / "project", seed="[]")
    make_wheel(project / "wheels", "hostile", "2.0")
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma"]', '"gamma", "hostile==2.0"]'))
    home = tmp_path_factory.mktemp("home")
    ok(poorenv("lock", cwd=project, env={**offline_env(), "POORENV_CACHE_DIR": str(cache_dir),
                                         "HOME": str(home)}))  # fmt: skip
    return project


@pytest.fixture(params=["pip", "uv"])
def project(template: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The template, synced from its lock, with each installer in turn."""
    project = tmp_path / "project"
    shutil.copytree(template, project, ignore=shutil.ignore_patterns(".poorenv"))
    if request.param == "uv":
        config = project / "poorenv.toml"
        config.write_text(config.read_text().replace("seed =", 'installer = "uv"\nseed ='))
    ok(run(project, "sync", "--locked"))
    return project


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside the env (and outside the project) that must survive every test."""
    directory = tmp_path / "outside"
    (directory / "pkgdir").mkdir(parents=True)
    (directory / "victim.py").write_text("precious = 1\n")
    (directory / "abs.txt").write_text("precious\n")
    (directory / "pkgdir" / "__init__.py").write_text("precious = 2\n")
    return directory


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return poorenv(*args, cwd=project, env=offline_env())


def snapshot(directory: Path) -> dict[str, Any]:
    """Every path with its kind, link target or bytes (and mtime): byte for byte."""
    found: dict[str, Any] = dict(manifest(directory))
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[f"{path}:bytes"] = path.read_bytes()
    return found


def pip_install(project: Path, *args: str) -> None:
    """Install by hand, with pip run by poorenv's own interpreter for the env's python (pip
    keeps the RECORD lines of files a wheel does not hold; uv drops them)."""
    python = project / ".poorenv" / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
         "--no-deps", "--no-compile", "--root-user-action=ignore", *args],
        check=True, capture_output=True, env=offline_env(),
    )  # fmt: skip


def hostile_wheel(directory: Path, name: str, version: str, site: Path, outside: Path) -> Path:
    """A wheel whose RECORD also names two files outside the env: by a `../..` path from
    site-packages, and by an absolute path."""
    rel = os.path.relpath(outside / "victim.py", site)
    return make_wheel(directory, name, version, record=[f"{rel},,", f"{outside / 'abs.txt'},,"])


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line of a refusal (a warning about pip's wheel may come first)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- RECORD entries that leave the env -----------------------------------------------------------


def test_removing_a_distribution_whose_record_leaves_the_env_is_refused(
    project: Path, outside: Path
) -> None:
    site = site_packages(project)
    pip_install(project, str(hostile_wheel(project / "more", "intruder", "1.0", site, outside)))
    record = (site / "intruder-1.0.dist-info" / "RECORD").read_text()
    rel = os.path.relpath(outside / "victim.py", site)
    assert f"{rel},," in record and f"{outside / 'abs.txt'},," in record  # as pip kept them
    before, env_before = snapshot(outside), manifest(project / ".poorenv")

    check = run(project, "check")
    assert check.returncode == 1
    assert f"refuse: intruder 1.0: RECORD entry {rel} leads outside the env" in check.stderr
    as_json = json.loads(run(project, "check", "--json").stdout)
    jsonschema.validate(
        as_json, json.loads((ROOT / "schemas/poorenv-output.schema.json").read_text())
    )
    assert as_json["actions"][0]["action"] == "refuse"
    line = error_line(run(project, "sync"))
    assert line == (
        f"error: intruder 1.0: RECORD entry {rel} leads outside the env"
        f" ({outside / 'victim.py'}): refusing to remove it"
    )
    assert snapshot(outside) == before
    assert manifest(project / ".poorenv") == env_before  # nothing removed, nothing written
    assert installed(project)["intruder"] == "1.0"

    code, report = doctor(project)
    assert code == 1
    found = [(p["kind"], p["path"]) for p in report["problems"] if p["kind"] == "record-outside"]
    assert found == [
        ("record-outside", str(outside / "victim.py")),
        ("record-outside", str(outside / "abs.txt")),
    ]


def test_upgrading_a_distribution_whose_record_leaves_the_env_is_refused(
    project: Path, outside: Path
) -> None:
    site = site_packages(project)
    pip_install(project, str(hostile_wheel(project / "more", "hostile", "1.0", site, outside)))
    assert installed(project)["hostile"] == "1.0"  # over the locked 2.0, by hand
    before = snapshot(outside)
    line = error_line(run(project, "sync"))
    assert line.startswith("error: hostile 1.0: RECORD entry ../")
    assert line.endswith(f"leads outside the env ({outside / 'victim.py'}): refusing to replace it")
    assert snapshot(outside) == before
    assert installed(project)["hostile"] == "1.0"


def test_a_package_directory_linked_outside_is_not_removed_through(
    project: Path, outside: Path
) -> None:
    site = site_packages(project)
    pip_install(project, str(next((project / "wheels").glob("extra_thing-1.0-*.whl"))))
    shutil.rmtree(site / "extra_thing")
    (site / "extra_thing").symlink_to(outside / "pkgdir")
    before = snapshot(outside)
    line = error_line(run(project, "sync"))
    assert line == (
        "error: extra-thing 1.0: RECORD entry extra_thing/__init__.py leads outside the env"
        f" ({outside / 'pkgdir' / '__init__.py'}): refusing to remove it"
    )
    assert snapshot(outside) == before
    assert run(project, "check").returncode == 1


def test_a_hostile_wheel_in_the_lock(project: Path, outside: Path) -> None:
    """pip keeps the hostile RECORD lines: poorenv refuses what pip installed (and compiles
    nothing of it); uv drops them, and the env it makes is sealed."""
    site = site_packages(project)
    hostile_wheel(project / "wheels", "intruder", "1.0", site, outside)
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma",', '"gamma", "intruder",'))
    ok(run(project, "lock"))
    before = snapshot(outside)
    result = run(project, "sync")
    if 'installer = "uv"' in config.read_text():
        ok(result)
        assert "victim" not in (site / "intruder-1.0.dist-info" / "RECORD").read_text()
        ok(run(project, "check"))
    else:
        line = error_line(result)
        assert line.startswith("error: intruder 1.0: RECORD entry ../")
        assert line.endswith(
            f"leads outside the env ({outside / 'victim.py'}): refusing to keep it installed"
        )
        assert "intruder" not in installed(project)  # what the install added is gone again
        assert not (site / "intruder").exists()
    assert snapshot(outside) == before  # no __pycache__ written next to victim.py either


def test_a_link_in_site_packages_leading_outside_is_never_installed_through(
    project: Path, outside: Path
) -> None:
    site = site_packages(project)
    (site / "extra_thing").symlink_to(outside / "pkgdir")
    config = project / "poorenv.toml"
    config.write_text(config.read_text().replace('"gamma",', '"gamma", "extra-thing",'))
    before = snapshot(outside)
    line = error_line(run(project, "sync"))
    assert line == (
        f"error: {site / 'extra_thing'} is a link that leads outside the env"
        f" (to {outside / 'pkgdir'}): refusing to sync while it is there"
    )
    assert snapshot(outside) == before
    assert "extra_thing" not in installed(project)


# --- legacy egg-info -----------------------------------------------------------------------------


def egg_info(site: Path, name: str, files: dict[str, str]) -> Path:
    info = site / f"{name}-1.0-py{XY}.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text(f"Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n")
    for rel, text in files.items():
        (info / rel).write_text(text)
    return info


def test_an_egg_info_that_lists_no_files_is_refused_by_name(project: Path) -> None:
    site = site_packages(project)
    info = egg_info(site, "legacy", {"top_level.txt": "\n"})
    before = manifest(site)
    check = run(project, "check")
    assert (
        check.returncode == 1 and f"refuse: legacy 1.0: {info.name} lists no files" in check.stderr
    )
    line = error_line(run(project, "sync"))
    assert line == (
        f"error: legacy 1.0: {info.name} lists no files (no installed-files.txt, empty"
        " top_level.txt): refusing to remove it"
    )
    assert manifest(site) == before


def test_egg_infos_are_removed_when_every_file_they_list_is_inside(
    project: Path, outside: Path
) -> None:
    site = site_packages(project)
    (site / "tidy.py").write_text("")
    listing = "../tidy.py\nPKG-INFO\ninstalled-files.txt\ntop_level.txt\n"  # pip reads it
    egg_info(site, "tidy", {"installed-files.txt": listing, "top_level.txt": "tidy\n"})  # uv
    rel = os.path.relpath(outside / "victim.py", site / "x")
    egg_info(site, "sneaky", {"installed-files.txt": f"{rel}\nPKG-INFO\n"})
    before = snapshot(outside)
    line = error_line(run(project, "sync"))
    assert line.startswith(f"error: sneaky 1.0: installed-files.txt entry {rel} leads outside")
    assert snapshot(outside) == before
    shutil.rmtree(next(site.glob("sneaky-*.egg-info")))
    ok(run(project, "sync"))
    assert not (site / "tidy.py").exists() and "tidy" not in installed(project)
    ok(run(project, "check"))


# --- the env's own directories leading outside ---------------------------------------------------


@pytest.mark.parametrize("which", ["bin", "stdlib", "site-packages", "include"])
def test_an_env_directory_linked_outside_is_rebuilt_without_writing_there(
    project: Path, tmp_path: Path, which: str
) -> None:
    env = project / ".poorenv"
    paths = probe(HERE_PYTHON).env_paths(env)
    directory = Path({"bin": paths["scripts"], "stdlib": paths["stdlib"]}.get(
        which, paths["purelib"] if which == "site-packages" else paths["include"]))  # fmt: skip
    elsewhere = tmp_path / "elsewhere" / which
    shutil.copytree(directory, elsewhere, symlinks=True)
    shutil.rmtree(directory)
    directory.symlink_to(elsewhere)
    before = snapshot(elsewhere)

    check = run(project, "check")
    assert check.returncode == 1
    assert f"{directory} is a link leading outside the env (to {elsewhere})" in check.stderr
    code, report = doctor(project)
    assert code == 1 and str(directory) in {p["path"] for p in report["problems"]}

    ok(run(project, "sync"))
    assert directory.is_dir() and not directory.is_symlink()
    assert snapshot(elsewhere) == before
    assert installed(project)["alpha"] == "1.0"
    code = "import alpha, hostile; print(alpha.__version__)"
    assert ok(run(project, "run", "--", "python", "-c", code)).stdout.strip() == "1.0"
    ok(run(project, "check"))


# --- doctor --------------------------------------------------------------------------------------


def doctor(project: Path) -> tuple[int, dict[str, Any]]:
    """`doctor --json`, checked against the output schema."""
    result = run(project, "doctor", "--json")
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    jsonschema.validate(data, json.loads((ROOT / "schemas/poorenv-output.schema.json").read_text()))
    return result.returncode, data


def test_doctor_reports_a_planted_pth_that_runs_code(project: Path) -> None:
    assert doctor(project)[0] == 0
    pth = site_packages(project) / "zz-planted.pth"
    pth.write_text("import os; os.environ.setdefault('PLANTED', '1')\n")
    code, report = doctor(project)
    assert code == 1
    assert [(p["kind"], p["path"], p["fix"]) for p in report["problems"]] == [
        ("pth-code", str(pth), f"delete {pth}: no installed distribution lists it")
    ]
