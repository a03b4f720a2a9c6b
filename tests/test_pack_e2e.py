"""Ship to many hosts: `pack` an env synced offline, `unpack` it in another project directory
(another path length) with no index and no wheels reachable and an empty poorenv cache, so that
nothing can be resolved or downloaded; `check` and `check --verify` pass, the env runs its
packages and scripts from its new path, and site-packages holds the same bytes but for the lines
that name the env's path. A base with another fingerprint, a poorenv.toml that differs and a
hostile archive are refused (exit 2, one line, nothing written). With `[deploy]` the archive
becomes a new generation each time. Real interpreters, pip, wheels from tests/wheels.py."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT
from tests.helpers import ok, poorenv
from tests.offline import HERE_PYTHON, offline_env, offline_project, run, site_packages

pytestmark = pytest.mark.slow

OUTPUT_SCHEMA = json.loads((ROOT / "schemas" / "poorenv-output.schema.json").read_text())
OTHER_PYTHON = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"


def unreachable(project: Path, cache: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    """`poorenv unpack` with every index unreachable and a new, empty poorenv cache (no pip
    wheel, no resolver): anything that tried to resolve or install would fail."""
    return poorenv(
        "unpack", "--json", str(archive),
        cwd=project, env={**offline_env(), "POORENV_CACHE_DIR": str(cache)},
    )  # fmt: skip


def tree(site: Path) -> dict[str, bytes]:
    found = {}
    for directory, _, files in os.walk(site):
        for name in files:
            path = Path(directory, name)
            found[str(path.relative_to(site))] = path.read_bytes()
    return found


def rewrite(archive: Path, out: Path, change: dict[str, object] | None = None,
            add: tarfile.TarInfo | None = None) -> Path:  # fmt: skip
    """A copy of `archive` with its manifest's base changed, or `add` before its first env
    member (after the project files)."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]  # type: ignore[union-attr]
    with tarfile.open(out, "w:gz") as tar:
        for member, data in members:
            if add is not None and member.name.startswith("env/"):  # the first env member
                tar.addfile(add)
                add = None
            if member.name == "poorenv-pack.json" and change:
                manifest = json.loads(data or b"")
                manifest["base"].update(change)
                member.size = len(json.dumps(manifest).encode())
                tar.addfile(member, io.BytesIO(json.dumps(manifest).encode()))
            else:
                tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def python_link(project: Path, python: Path) -> None:
    """poorenv.toml names the base as ./py, a link in the project: each host its own."""
    (project / "py").symlink_to(python)
    config = project / "poorenv.toml"
    if config.exists():
        config.write_text(config.read_text().replace(f'"{HERE_PYTHON}"', '"./py"'))


def test_pack_and_unpack_elsewhere_offline_gives_a_verified_env_of_the_same_bytes(
    tmp_path: Path,
) -> None:
    one = offline_project(tmp_path / "one")
    python_link(one, HERE_PYTHON)
    config = one / "poorenv.toml"  # the requirements in files, one included by the other
    config.write_text(config.read_text().replace(
        'packages = ["alpha==1.0", "gamma"]', 'files = ["reqs/main.txt"]'))  # fmt: skip
    (one / "reqs").mkdir()
    (one / "reqs" / "main.txt").write_text("alpha==1.0\n-r more.in\n")
    (one / "reqs" / "more.in").write_text("gamma\n")
    ok(run(one, "sync"))
    packed = ok(run(one, "pack", "--json", "-o", str(tmp_path / "env.tar.gz")))
    report = json.loads(packed.stdout)
    jsonschema.validate(report, OUTPUT_SCHEMA)
    assert report["manifest"]["base"]["version"] == "3.11.7"
    files = ["poorenv.lock", "poorenv.toml", "reqs/main.txt", "reqs/more.in"]
    assert report["manifest"]["project-files"] == files
    first = (tmp_path / "env.tar.gz").read_bytes()
    ok(run(one, "pack", "-o", str(tmp_path / "again.tar.gz")))
    assert (tmp_path / "again.tar.gz").read_bytes() == first  # reproducible
    with tarfile.open(tmp_path / "env.tar.gz") as tar:
        names = tar.getnames()
    assert not any(n.startswith("env/.poorenv") or n == "env/bin/python3.11" for n in names)
    assert not any(n.startswith("env/lib/python3.11/os.py") for n in names)  # no mirror

    two = tmp_path / "elsewhere" / "at" / "a" / "longer" / "path" / "two"
    two.mkdir(parents=True)
    python_link(two, HERE_PYTHON)
    unpacked = unreachable(two, tmp_path / "empty-cache", tmp_path / "env.tar.gz")
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    result = json.loads(unpacked.stdout)
    jsonschema.validate(result, OUTPUT_SCHEMA)
    assert result["written"] == files
    assert result["generation"] is None and result["relocated"] >= 2  # pip, pip3...
    assert result["verify"]["ok"] and result["verify"]["checked"] > 100
    for name in files:
        assert (two / name).read_bytes() == (one / name).read_bytes()
    assert not (tmp_path / "empty-cache" / "seed").exists()  # no pip wheel was fetched

    assert ok(run(two, "check")).returncode == 0
    verified = ok(run(two, "check", "--verify"))
    assert "every installed file matches its RECORD hash" in verified.stdout
    env = two / ".poorenv"
    imported = ok(subprocess.run(
        [str(env / "bin" / "python"), "-c", "import alpha, beta, gamma; print(alpha.__file__)"],
        capture_output=True, text=True, check=False, env=offline_env(),
    ))  # fmt: skip
    assert imported.stdout.strip().startswith(str(site_packages(two)))
    pip = ok(subprocess.run([str(env / "bin" / "pip"), "--version"], capture_output=True,
                            text=True, check=False, env=offline_env()))  # fmt: skip
    assert str(site_packages(two)) in pip.stdout  # its script names the new env's python

    mine, theirs = tree(site_packages(one)), tree(site_packages(two))
    assert sorted(mine) == sorted(theirs)
    differ = sorted(rel for rel in mine if mine[rel] != theirs[rel])
    assert len(differ) == 1 and differ[0].startswith("pip-") and differ[0].endswith("/RECORD")
    lines = {
        a.split(b",")[0]
        for a, b in zip(mine[differ[0]].splitlines(), theirs[differ[0]].splitlines())
        if a != b
    }
    assert lines and all(line.startswith(b"../../../bin/pip") for line in lines)

    # Refusals: one line, exit 2, nothing written.
    changed = site_packages(one) / "alpha" / "__init__.py"
    changed.write_text(changed.read_text() + "# edited\n")
    refused = run(one, "pack", "-o", str(tmp_path / "env.tar.gz"))
    assert refused.returncode == 2 and refused.stderr.count("error:") == 1
    assert f"{changed} of alpha-1.0 does not match its RECORD hash" in refused.stderr
    assert (tmp_path / "env.tar.gz").read_bytes() == first  # the old archive untouched

    three = tmp_path / "three"
    three.mkdir()
    python_link(three, OTHER_PYTHON)  # a real 3.12 base here
    refused = unreachable(three, tmp_path / "cache3", tmp_path / "env.tar.gz")
    assert refused.returncode == 2
    assert "base version differs: packed on 3.11.7, the base here is 3.12.1" in refused.stderr
    assert refused.stderr.count("error:") == 1
    assert sorted(p.name for p in three.iterdir()) == ["py"]

    four = tmp_path / "four"
    four.mkdir()
    python_link(four, HERE_PYTHON)
    rewrite(tmp_path / "env.tar.gz", four.parent / "env4.tar.gz", {"abi": "cpython-311d-x86"})
    (four / "poorenv.toml").write_text((one / "poorenv.toml").read_text() + "# edited\n")
    refused = unreachable(four, tmp_path / "cache4", four.parent / "env4.tar.gz")
    assert refused.returncode == 2
    assert "base abi differs: packed on cpython-311d-x86" in refused.stderr
    rewrite(tmp_path / "env.tar.gz", four.parent / "env4.tar.gz")
    refused = unreachable(four, tmp_path / "cache4", four.parent / "env4.tar.gz")
    assert refused.returncode == 2
    assert f"{four / 'poorenv.toml'}: differs from the archive's poorenv.toml" in refused.stderr
    (four / "poorenv.toml").unlink()
    hostile = tarfile.TarInfo("env/lib/python3.11/site-packages/escape")
    hostile.type, hostile.linkname = tarfile.SYMTYPE, "../../../../../etc"
    rewrite(tmp_path / "env.tar.gz", four.parent / "env4.tar.gz", add=hostile)
    refused = unreachable(four, tmp_path / "cache4", four.parent / "env4.tar.gz")
    assert refused.returncode == 2
    assert "a symbolic link leading out of the env" in refused.stderr
    assert sorted(p.name for p in four.iterdir()) == ["py"]  # the files written taken back


def test_unpack_with_deploy_installs_a_new_generation_each_time(tmp_path: Path) -> None:
    one = offline_project(tmp_path / "one")
    config = one / "poorenv.toml"
    config.write_text(
        config.read_text() + '[deploy]\nkeep = 2\nsmoke = ["python", "smoke.py"]\n'
        'reload = ["touch", "reloaded"]\n'
    )
    (one / "smoke.py").write_text("import alpha, beta, gamma\n")
    ok(run(one, "deploy"))
    ok(run(one, "pack", "-o", str(tmp_path / "env.tar.gz")))
    two = tmp_path / "second" / "two"
    two.mkdir(parents=True)
    # The archive's poorenv.toml brings [deploy] commands: not taken from an archive.
    failed = unreachable(two, tmp_path / "empty-cache", tmp_path / "env.tar.gz")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "has [deploy] commands that unpack would run" in failed.stderr
    assert list(two.iterdir()) == []
    shutil.copy2(config, two / "poorenv.toml")  # read, and put here by the user
    failed = unreachable(two, tmp_path / "empty-cache", tmp_path / "env.tar.gz")
    assert failed.returncode == 2, failed.stdout + failed.stderr  # no smoke.py here: refused
    assert "the smoke test failed in the new generation" in failed.stderr
    assert [p.name for p in two.iterdir()] == ["poorenv.toml"]  # generation and lock taken back
    (two / "smoke.py").write_text("import alpha, beta, gamma\n")
    numbers = []
    for _ in range(3):
        unpacked = unreachable(two, tmp_path / "empty-cache", tmp_path / "env.tar.gz")
        assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
        result = json.loads(unpacked.stdout)
        jsonschema.validate(result, OUTPUT_SCHEMA)
        numbers.append((result["generation"], result["replaced"], result["pruned"]))
        assert (two / "reloaded").exists()
        (two / "reloaded").unlink()
    assert numbers == [(1, None, []), (2, 1, []), (3, 2, [1])]
    link = two / ".poorenv"
    assert os.readlink(link).startswith(".poorenv.generations/3-")
    ok(run(two, "check", "--verify"))
    listed = json.loads(ok(run(two, "generations", "--json")).stdout)["generations"]
    assert [(g["number"], g["current"]) for g in listed] == [(2, False), (3, True)]
    where = ok(subprocess.run([str(link / "bin" / "pip"), "--version"], capture_output=True,
                              text=True, check=False, env=offline_env()))  # fmt: skip
    assert os.path.realpath(link) in where.stdout  # the generation's own path
