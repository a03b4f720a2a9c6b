"""Same bytes everywhere: one lock synced into two project directories (different paths) gives
byte-identical site-packages, apart from the RECORD lines of console scripts (whose shebang
holds the env's path); `check --verify` proves it and names what differs. Real envs from the
offline wheelhouse, installed by pip and by uv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.helpers import ok
from tests.offline import HERE_PYTHON, offline_env, run, site_packages
from tests.wheels import make_wheel, wheelhouse

pytestmark = pytest.mark.slow

ENTRY = "where-1.0.dist-info/entry_points.txt"
WHERE = "def main():\n    import sys\n    print(sys.prefix)\n"
SCRIPT_ROW = "../../../bin/"  # how a RECORD lists a console script, from site-packages


def tree(site: Path) -> dict[str, bytes]:
    """Every file below `site` (relative path -> bytes); no links expected."""
    found = {}
    for directory, _, files in os.walk(site):
        for name in files:
            path = Path(directory, name)
            assert not path.is_symlink(), path
            found[str(path.relative_to(site))] = path.read_bytes()
    return found


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_one_lock_in_two_directories_gives_the_same_bytes_and_check_verify_proves_it(
    tmp_path: Path, installer: str
) -> None:
    one = tmp_path / "one"
    wheels = wheelhouse(one / "wheels")
    make_wheel(wheels, "where", "1.0", body=WHERE,
               files={ENTRY: "[console_scripts]\nwhere = where:main\n"})  # fmt: skip
    chosen = 'installer = "uv"\n' if installer == "uv" else ""  # still in [env]
    write_config(
        one,
        HERE_PYTHON,
        extra=f'{chosen}[requirements]\npackages = ["alpha==1.0", "gamma", "where"]\n'
        '[index]\nno-index = true\nfind-links = ["wheels"]\n',
    )
    ok(run(one, "sync"))
    two = tmp_path / "elsewhere" / "deeper" / "two"  # another path, of another length
    two.mkdir(parents=True)
    for name in ("poorenv.toml", "poorenv.lock"):
        shutil.copy2(one / name, two / name)
    shutil.copytree(one / "wheels", two / "wheels")
    ok(run(two, "sync", "--locked"))

    first, second = tree(site_packages(one)), tree(site_packages(two))
    assert sorted(first) == sorted(second)
    pycs = [rel for rel in first if rel.endswith(".pyc")]
    assert len(pycs) >= 4  # alpha, beta, gamma, where
    for rel in pycs:
        assert int.from_bytes(first[rel][4:8], "little") == 0b11, rel  # PEP 552, checked hash
    differ = sorted(rel for rel in first if first[rel] != second[rel])
    # uv stamps when it cached a local wheel (uv_cache.json, never imported): left to uv
    stamps = {rel for rel in first if rel.endswith("/uv_cache.json")}
    assert not stamps or installer == "uv"
    records = sorted(rel for rel in differ if rel not in stamps)
    lines = [
        a.split(b",")[0]
        for rel in records
        for a, b in zip(first[rel].splitlines(), second[rel].splitlines())
        if a != b and not a.endswith(b"uv_cache.json", 0, a.index(b","))
    ]
    assert lines == [b"../../../bin/where"]  # the one file that holds the env's path
    if not stamps:
        assert records == ["where-1.0.dist-info/RECORD"]
    for rel in first:  # every .pyc is poorenv's: listed with its hash by its RECORD
        if rel.endswith("RECORD"):
            listed = {row.split(",")[0]: row for row in first[rel].decode().splitlines()}
            assert all(listed[p].count(",sha256=") == 1 for p in listed if p.endswith(".pyc"))
    hashed = sum(rel.endswith("RECORD") and first[rel].count(b".pyc,sha256=") for rel in first)
    assert hashed == len(pycs)

    # The env's own interpreter uses that bytecode: importing rewrites nothing.
    python = one / ".poorenv" / "bin" / "python"
    imports = "import alpha, beta, gamma, where"
    ok(subprocess.run([str(python), "-c", imports], capture_output=True, text=True, check=False,
                      env=offline_env()))  # fmt: skip
    assert tree(site_packages(one)) == first
    where = subprocess.run([str(two / ".poorenv" / "bin" / "where")], capture_output=True,
                           text=True, check=True, env=offline_env())  # fmt: skip
    assert where.stdout.strip() == str(two / ".poorenv")  # the shebang names its own env

    verified = run(two, "check", "--verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)["verify"]
    assert report["ok"] and report["checked"] >= len(pycs) + 8 and report["mismatches"] == []
    said = run(two, "check", "--verify")
    assert "every installed file matches its RECORD hash" in said.stdout + said.stderr

    site = site_packages(two)
    pyc = site / next(rel for rel in pycs if rel.startswith("beta/"))
    pyc.write_bytes(pyc.read_bytes() + b"\0")  # the interpreter would not notice this
    (site / "alpha" / "__init__.py").unlink()
    (site / "planted.py").write_text("import os\n")
    broken = run(two, "check", "--verify")
    assert broken.returncode == 1
    assert f"{site / 'planted.py'} is listed by no installed distribution" in broken.stderr
    assert f"{pyc} of beta-1.0 does not match its RECORD hash" in broken.stderr
    assert f"{site / 'alpha' / '__init__.py'} of alpha-1.0 is missing" in broken.stderr
    report = json.loads(run(two, "check", "--verify", "--json").stdout)["verify"]
    assert not report["ok"]
    assert sorted(m["kind"] for m in report["mismatches"]) == ["missing", "modified", "unlisted"]
    assert run(two, "check").returncode == 0  # without --verify: the names and versions match
