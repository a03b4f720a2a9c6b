"""The seed step: pip (and setuptools, wheel) placed from an installed image in the cache.

Unit tests of the pure parts and of `place`; one end-to-end test of two envs seeded from one
image: pip works and its RECORD is true in both, and an edit of a seeded file in one env
changes neither the cache nor the other env (as root a copy; else a read-only hard link,
whose edit is refused).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from poorenv.apply import seed
from poorenv.discover.interpreter import probe
from poorenv.envdir import EnvDir
from tests.helpers import ok
from tests.offline import (
    HERE_PYTHON,
    installed,
    offline_project,
    run,
    site_packages,
    verify_records,
)

HASH = "ab" * 32
PYC = "tool/__pycache__/__init__.cpython-312.pyc"


def test_only_plain_pins_of_seed_tools_are_seedable() -> None:
    line = f"pip==24.0 \\\n    --hash=sha256:{HASH}"
    assert seed.seedable(line) == ("pip", "24.0", (HASH,))
    assert seed.seedable(line.replace("pip", "flask")) is None  # not a seed tool
    assert (
        seed.seedable(f'pip==24.0 ; python_version < "3.12" \\\n    --hash=sha256:{HASH}') is None
    )
    assert seed.seedable(f"pip==24.0 \\\n    --hash=sha512:{'ab' * 64}") is None  # no sha256


def test_console_scripts_are_named_for_the_env_as_pip_names_them() -> None:
    entries = [("pip", "pip._internal.cli.main:main"), ("pip3", "x:y"), ("pip3.8", "x:y"),
               ("easy_install", "setuptools.command.easy_install:main"),
               ("easy_install-3.6", "x:y"), ("tool", "pkg.mod:run")]  # fmt: skip
    names = [name for name, _ in seed.console_scripts(entries, "3.12")]
    assert names == ["easy_install", "easy_install-3.12", "pip", "pip3", "pip3.12", "tool"]


def test_script_text_imports_the_entry_point() -> None:
    text = seed.script_text("pkg.mod:obj.run [extra]", b"#!/env/bin/python3.12\n").decode()
    assert text.startswith("#!/env/bin/python3.12\n")
    assert "from pkg.mod import obj\n" in text
    assert "sys.exit(obj.run())" in text


def _image(root: Path) -> seed.Image:
    tree = root / "tree"
    (tree / "tool").mkdir(parents=True)
    (tree / "tool" / "__init__.py").write_text("X = 1\n")
    (tree / "tool-1.0.dist-info").mkdir()
    (tree / "tool-1.0.dist-info" / "METADATA").write_text("Name: tool\n")
    (tree / "tool" / "__pycache__").mkdir()
    (tree / PYC).write_bytes(b"bytecode")
    rows = []
    for rel in ("tool/__init__.py", "tool-1.0.dist-info/METADATA", PYC):
        data = (tree / rel).read_bytes()
        (tree / rel).chmod(0o444)
        rows.append((rel, "", "") if rel == PYC else (rel, seed.record_hash(data), str(len(data))))
    return seed.Image(root, "tool", "1.0", "tool-1.0.dist-info", tuple(rows),
                      (("tool", "tool:main"),))  # fmt: skip


@pytest.mark.parametrize("uid", [0, 1000])
def test_place_links_read_only_files_or_copies_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uid: int
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    image = _image(tmp_path / "image")
    env_path = tmp_path / "env"
    env = EnvDir(env_path)
    env.create({"format": 1})
    site, bin_dir = env_path / "lib" / "site-packages", env_path / "bin"
    env.make_dir(site)
    seed.place(env, image, site, bin_dir, env_path / "bin" / "python3.12", "3.12")
    placed, cached = site / "tool" / "__init__.py", image.root / "tree" / "tool" / "__init__.py"
    assert placed.read_text() == "X = 1\n"
    if uid:  # modes are enforced: the same read-only file (an edit is refused)
        assert placed.stat().st_ino == cached.stat().st_ino
        assert placed.stat().st_mode & 0o222 == 0
    else:  # root ignores modes: a copy of its own
        assert placed.stat().st_ino != cached.stat().st_ino
        assert placed.stat().st_mtime_ns == cached.stat().st_mtime_ns  # bytecode stays valid
    pyc, cached_pyc = site / PYC, image.root / "tree" / PYC
    # bytecode: linked when modes hold (Python replaces it by rename), a copy as root (a
    # `chown -R` of the env would follow a hard link into the cache)
    assert (pyc.stat().st_ino == cached_pyc.stat().st_ino) is bool(uid)
    script = (bin_dir / "tool").read_text()
    assert script.startswith(f"#!{env_path}/bin/python3.12\n") and os.access(
        bin_dir / "tool", os.X_OK
    )
    record = (site / "tool-1.0.dist-info" / "RECORD").read_text().splitlines()
    assert record[:3] == [",".join(row) for row in image.rows]
    assert record[3].startswith("../../bin/tool,sha256=")
    assert record[-3:-1] == [
        "tool-1.0.dist-info/INSTALLER,sha256=zuuue4knoyJ-UwPPXg8fezS7VCrXJQrAP7zeNuwvFQg,4",
        "tool-1.0.dist-info/REQUESTED,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
    ]
    assert record[-1] == "tool-1.0.dist-info/RECORD,,"


@pytest.mark.slow
def test_two_envs_seeded_from_one_image_share_nothing_an_edit_can_reach(tmp_path: Path) -> None:
    projects = [offline_project(tmp_path / name) for name in ("one", "two")]
    for project in projects:
        ok(run(project, "sync"))
    version = installed(projects[0])["pip"]
    images = list(seed.image_dir(probe(HERE_PYTHON)).glob(f"pip-{version}-*"))
    assert len(images) == 1, images  # one image, both envs placed from it
    modules = [site_packages(p) / "pip" / "__init__.py" for p in projects]
    cached = images[0] / "tree" / "pip" / "__init__.py"
    before = cached.read_bytes()
    for project, module in zip(projects, modules):
        assert module.read_bytes() == before
        assert verify_records(project) == []
        ok(run(project, "doctor"))
        pip = project / ".poorenv" / "bin" / "pip"
        assert pip.read_text().startswith(f"#!{project / '.poorenv' / 'bin'}/python")
        version = ok(run(project, "run", "--", "pip", "--version")).stdout
        assert f"from {site_packages(project) / 'pip'}" in version

    try:
        with open(modules[0], "ab") as handle:  # an edit in place, in the first env
            handle.write(b"# edited\n")
    except PermissionError:  # a read-only link of the cache's file: refused
        assert os.geteuid() != 0
    else:
        assert modules[0].read_bytes() == before + b"# edited\n"
    assert cached.read_bytes() == before
    assert modules[1].read_bytes() == before
    ok(run(projects[1], "check"))


@pytest.mark.parametrize("sendfile", [True, False])
def test_tree_copies_bytes_and_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sendfile: bool
) -> None:
    if not sendfile:

        def refused(*_: object) -> int:
            raise OSError(22, "Invalid argument")

        monkeypatch.setattr(os, "sendfile", refused)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(300_000))
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    env = EnvDir(tmp_path / "env")
    env.create({"format": 1})
    with env.tree(tmp_path / "env" / "lib") as tree:
        assert tree.copy(str(source), "pkg/data.bin", 0o600)
        assert not tree.copy(str(source), "pkg/data.bin")  # something stands there
    copied = tmp_path / "env" / "lib" / "pkg" / "data.bin"
    assert copied.read_bytes() == source.read_bytes()
    assert copied.stat().st_mtime_ns == 2_000_000_000
    assert copied.stat().st_mode & 0o777 == 0o600 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_damaged_wheel_is_left_to_the_installer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from poorenv.apply import pipwheel

    monkeypatch.setattr(pipwheel, "wheel_dir", lambda base: tmp_path / "seed")
    (tmp_path / "seed").mkdir(mode=0o700)
    wheel = tmp_path / "seed" / "pip-24.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    line = f"pip==24.0 \\\n    --hash=sha256:{hashlib.sha256(b'not a zip').hexdigest()}"
    assert seed.image_for(probe(HERE_PYTHON), HERE_PYTHON, line, {}) is None
    images = seed.image_dir(probe(HERE_PYTHON))
    assert [p.name for p in images.iterdir()] == []  # nothing half-made
