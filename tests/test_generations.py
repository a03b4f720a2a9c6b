"""Generations of a served env (deploy/generations.py) on small fake envs in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from poorenv.deploy.generations import Generations, lock_hash, size_on_disk
from poorenv.envdir import EnvDir
from poorenv.errors import EnvError
from poorenv.ownership import is_env
from tests.conftest import ROOT
from tests.helpers import ok

MARKER = {"format": 1, "created-by": "poorenv test"}
HASH = "sha256:" + "ab" * 32
OUTPUT_SCHEMA = json.loads((ROOT / "schemas" / "poorenv-output.schema.json").read_text())


def _env(path: Path, text: str = "v1") -> Path:
    """A small env poorenv made: marker, a package file, a link into the env and out of it."""
    (path / ".poorenv").mkdir(parents=True)
    (path / ".poorenv" / "marker.json").write_text(json.dumps(MARKER))
    (path / ".poorenv" / "state.json").write_text("{}")
    site = path / "lib" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text(text)
    (path / "bin").mkdir()
    (path / "bin" / "python3").write_text("#!interpreter\n")
    (path / "bin" / "python").symlink_to("python3")
    (path / "lib" / "os.py").symlink_to("/usr/lib/python3/os.py")
    return path


def _generation(gens: Generations, replaced: int | None = None, text: str = "v1") -> Path:
    path = gens.next_path(HASH)
    _env(path, text)
    gens.note(EnvDir(path), replaced)
    return path


def test_a_generation_is_a_hard_linked_clone_whose_writes_leave_the_source_alone(
    tmp_path: Path,
) -> None:
    gens = Generations(tmp_path / ".poorenv")
    first = _generation(gens)
    second = gens.next_path(HASH)
    assert second.name == f"2-{lock_hash(HASH)}" == "2-abababababab"
    env = gens.clone(first, second, {**MARKER, "abi": "new"})

    package = "lib/site-packages/pkg/__init__.py"
    assert os.stat(first / package).st_ino == os.stat(second / package).st_ino
    assert os.readlink(second / "bin" / "python") == "python3"
    assert os.readlink(second / "lib" / "os.py") == "/usr/lib/python3/os.py"
    assert json.loads((second / ".poorenv" / "marker.json").read_text())["abi"] == "new"
    assert not (second / ".poorenv" / "generation.json").exists()  # the new one notes its own

    env.write_text(second / package, "v2")  # how the applier writes: replaced, not changed
    assert (first / package).read_text() == "v1"
    assert (second / package).read_text() == "v2"
    assert size_on_disk(second) > 0


def test_flip_points_the_link_at_a_generation_and_reads_back(tmp_path: Path) -> None:
    link = tmp_path / ".poorenv"
    gens = Generations(link)
    assert gens.current() is None and gens.all() == []
    first = gens.get(int(_generation(gens).name.split("-")[0]))
    second = gens.get(int(_generation(gens, replaced=1).name.split("-")[0]))
    assert first is not None and second is not None
    gens.flip(first)
    assert os.readlink(link) == f".poorenv.generations/{first.path.name}"  # relative
    gens.flip(second)
    current = gens.current()
    assert current is not None and current.number == 2 and current.replaced == 1
    assert (link / "lib" / "site-packages" / "pkg" / "__init__.py").read_text() == "v1"
    assert not (tmp_path / "..poorenv.poorenv-flip").exists()
    assert [g.number for g in gens.all()] == [1, 2]


def test_prune_keeps_the_current_and_the_one_it_replaced_and_nothing_foreign(
    tmp_path: Path,
) -> None:
    gens = Generations(tmp_path / ".poorenv")
    for replaced in (None, 1, 2):
        _generation(gens, replaced)
    fourth = _generation(gens, replaced=1)  # deployed after a rollback to 1
    foreign = gens.root / "5-abababababab"  # no marker: not poorenv's
    foreign.mkdir()
    (foreign / "data").write_text("mine")
    current = gens.get(4)
    assert current is not None
    gens.flip(current)

    removed = gens.prune(keep=2)
    assert [g.number for g in removed] == [2, 3]
    assert [g.number for g in gens.all()] == [1, 4]
    assert (foreign / "data").read_text() == "mine"
    assert fourth.is_dir() and not is_env(gens.root / "2-abababababab")
    assert gens.prune(keep=2) == []
    # A new generation is numbered past every name there, poorenv's or not.
    assert gens.next_path(HASH).name.startswith("6-")


def test_refusals(tmp_path: Path) -> None:
    link = tmp_path / ".poorenv"
    (tmp_path / ".poorenv.generations").mkdir()  # not poorenv's: no marker file
    with pytest.raises(EnvError, match="exists and is not poorenv's"):
        Generations(link).next_path(HASH)

    other = tmp_path / "other" / ".poorenv"
    other.parent.mkdir()
    gens = Generations(other)
    first = gens.get(int(_generation(gens).name.split("-")[0]))
    assert first is not None
    gens.flip(first)
    with pytest.raises(EnvError, match="the generation that serves"):
        gens.discard(first.path)
    with pytest.raises(EnvError, match="not a generation"):
        gens.discard(tmp_path / "other")
    assert first.path.is_dir()

    directory = tmp_path / "served" / ".poorenv"
    directory.mkdir(parents=True)
    with pytest.raises(EnvError, match="not a link to a generation"):
        Generations(directory).flip(first)
    with pytest.raises(EnvError, match="not an env poorenv made"):
        Generations(directory).install(directory, HASH, None)


def test_an_env_synced_in_place_becomes_the_first_generation(tmp_path: Path) -> None:
    link = tmp_path / ".poorenv"
    _env(link)
    gens = Generations(link)
    assert gens.serves_a_directory()
    adopted = gens.adopt_served(HASH)
    assert link.is_symlink() and not gens.serves_a_directory()
    assert gens.current() == adopted and adopted.number == 1
    assert (link / "lib" / "site-packages" / "pkg" / "__init__.py").read_text() == "v1"

    shipped = _env(tmp_path / "unpacked", "v2")  # pack/unpack: a complete env installed
    installed = gens.install(shipped, HASH, replaced=1)
    assert installed.number == 2 and not shipped.exists()
    assert gens.current() == adopted  # nothing serves it before flip


# --- end to end, offline: what fails leaves what serves ----------------------------------------


@pytest.mark.slow
def test_deploy_smoke_reload_rollback_and_sync_in_place(tmp_path: Path) -> None:
    from tests.offline import installed, offline_project
    from tests.offline import run as offline_run

    project = offline_project(tmp_path / "project", seed="[]")
    config = project / "poorenv.toml"
    config.write_text(
        config.read_text()
        + "[deploy]\nkeep = 2\n"
        + 'smoke = ["python", "-c", "import alpha, os, sys; '
        + "sys.exit(os.path.exists('no-smoke'))\"]\n"
        + 'reload = ["sh", "-c", "echo x >> reloads; test ! -e no-reload || '
        + '{ echo graceful: bad config >&2; exit 3; }"]\n'
    )
    link = project / ".poorenv"

    def run(*args: str) -> tuple[int, str]:
        result = offline_run(project, *args)
        return result.returncode, result.stdout + result.stderr

    def reloads() -> int:
        return len((project / "reloads").read_text().split())

    assert run("deploy")[0] == 0
    first = os.readlink(link)
    assert first.startswith(".poorenv.generations/1-") and installed(project)["alpha"] == "1.0"
    assert reloads() == 1
    code, out = run("sync")
    assert code == 2 and "run `poorenv deploy`" in out
    assert run("check")[0] == 0

    # A failing smoke test: exit 2, the new generation gone, the first one serving, untouched.
    config.write_text(config.read_text().replace('"alpha==1.0"', '"alpha==2.0"'))
    (project / "no-smoke").touch()
    code, out = run("deploy")
    assert code == 2 and "smoke test failed" in out and "still serves" in out
    assert os.readlink(link) == first and installed(project)["alpha"] == "1.0"
    assert sorted(os.listdir(project / ".poorenv.generations"))[:-1] == [first.split("/")[1]]
    assert reloads() == 1

    # A failing reload after the switch: switched back, reloaded again, the reload's own words.
    (project / "no-smoke").unlink()
    (project / "no-reload").touch()
    code, out = run("deploy")
    assert code == 2 and "switched back to generation 1" in out and "graceful: bad config" in out
    assert os.readlink(link) == first and installed(project)["alpha"] == "1.0"
    assert reloads() == 3

    (project / "no-reload").unlink()

    # `[deploy] user` who cannot enter the project (pytest's base temp dir is mode 0700):
    # refused before the switch, naming the directory, nothing reloaded.
    plain = config.read_text()
    config.write_text(plain.replace("[deploy]\n", '[deploy]\nuser = "nobody"\n'))
    code, out = run("deploy")
    assert code == 2 and "user nobody cannot enter" in out, out
    assert os.readlink(link) == first and installed(project)["alpha"] == "1.0"
    assert reloads() == 3
    config.write_text(plain)

    assert run("deploy")[0] == 0
    assert installed(project)["alpha"] == "2.0" and run("check")[0] == 0
    listed = json.loads(offline_run(project, "generations", "--json").stdout)
    jsonschema.validate(listed, OUTPUT_SCHEMA)
    generations = listed["generations"]
    assert [(g["number"], g["current"]) for g in generations] == [(1, False), (3, True)]

    # Rollback: the first generation serves again, and neither check nor its fast path lies.
    rolled = json.loads(ok(offline_run(project, "rollback", "--json")).stdout)
    jsonschema.validate(rolled, OUTPUT_SCHEMA)
    assert (rolled["generation"], rolled["replaced"], reloads()) == (1, 3, 5)
    assert os.readlink(link) == first and installed(project)["alpha"] == "1.0"
    assert run("check")[0] == 1
    # sync --in-place brings the serving generation itself up to the lock.
    assert run("sync", "--in-place")[0] == 0
    assert os.readlink(link) == first and installed(project)["alpha"] == "2.0"
    assert run("check") == (0, f"{project / first}: in sync\n")


def test_an_empty_generations_directory_is_removed_only_when_empty(tmp_path: Path) -> None:
    gens = Generations(tmp_path / ".poorenv")
    path = _generation(gens)
    gens.remove_if_empty()  # a generation in it: kept
    assert gens.ours() and path.exists()
    gens.discard(path)
    gens.remove_if_empty()
    assert not gens.root.exists()
    gens.remove_if_empty()  # none: nothing to do
    gens.root.mkdir()
    (gens.root / "theirs").write_text("x")
    gens.remove_if_empty()  # not poorenv's: untouched
    assert (gens.root / "theirs").exists()
