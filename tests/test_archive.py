"""The archive pack writes and unpack reads (deploy/archive.py): the manifest, and hostile
archives refused member by member, with tarfile's data filter and without it (Python before
3.9.17, 3.10.12, 3.11.4). Small tar files built in tmp_path; no env, no interpreter run."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from poorenv.deploy.archive import (
    MANIFEST,
    ArchiveError,
    Limits,
    Manifest,
    env_members,
    open_archive,
    plain_name,
    read_head,
)
from poorenv.deploy.pack import write_archive
from tests.fakes import fake_base

BASE = {
    "implementation": "cpython",
    "version": "3.12.1",
    "abi": "cpython-312-x86_64-linux-gnu",
    "platform": "linux-x86_64",
}


def manifest(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "format": 1,
        "created-by": "poorenv test",
        "base": dict(BASE),
        "lock": "sha256:" + "ab" * 32,
        "env": "/srv/app/.poorenv",
        "site-dirs": ["lib/python3.12/site-packages"],
        "project-files": ["poorenv.lock", "poorenv.toml"],
        "generation": None,
    }
    data.update(changes)
    return data


def test_a_manifest_round_trips_and_names_the_base_field_that_differs() -> None:
    read = Manifest.from_json(manifest(generation=3, members=2, size=10), "a.tar.gz")
    assert Manifest.from_json(read.to_json(), "a.tar.gz") == read
    assert read.base_mismatch(fake_base()) is None
    for field, change in [
        ("implementation", {"implementation": "pypy"}),
        ("version", {"version": "3.12.3"}),
        ("abi", {"soabi": "cpython-312t-x86_64-linux-gnu"}),
        ("platform", {"platform": "linux-aarch64"}),
    ]:
        said = read.base_mismatch(fake_base(**change))
        assert said is not None and said.startswith(f"base {field} differs: packed on "), said


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"format": 2}, "format"),
        ({"base": {**BASE, "abi": ""}}, "base.abi"),
        ({"base": "cpython"}, "base"),
        ({"lock": 1}, "lock"),
        ({"env": "relative/.poorenv"}, "env"),
        ({"site-dirs": ["../outside"]}, "site-dirs"),
        ({"project-files": ["/etc/passwd"]}, "project-files"),
        ({"generation": "3"}, "generation"),
    ],
)
def test_a_bad_manifest_field_is_named(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ArchiveError, match=f"manifest field '{field}'"):
        Manifest.from_json(manifest(**changes), "a.tar.gz")


def test_plain_names() -> None:
    assert plain_name("env/bin/x") == "env/bin/x"
    assert plain_name("env/lib/") == "env/lib"
    for bad in ("", "/etc/passwd", "env/../x", "env/./x", "env//x", "a\\b", "a\0b", ".."):
        assert plain_name(bad) is None, bad


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], head: bool = True) -> Path:
    """A gzip tar: the manifest and project files first (unless `head` is False), then
    `members` as given."""
    with tarfile.open(path, "w:gz") as tar:
        if head:
            for name, data in [
                (MANIFEST, json.dumps(manifest()).encode()),
                ("project/poorenv.lock", b"lock"),
                ("project/poorenv.toml", b"toml"),
            ]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", **attrs: object) -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _unpack_all(path: Path, dest: Path, limits: Limits | None = None) -> list[str]:
    with open_archive(path) as tar:
        return [name for name, _ in env_members(tar, path, str(dest), limits)]


@pytest.fixture(params=["data filter", "own checks only"])
def filters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "own checks only":  # as on 3.9.0-3.9.16, 3.10.0-3.10.11, 3.11.0-3.11.3
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return str(request.param)


HOSTILE = {
    "absolute path": ([_member("/etc/cron.d/evil")], "an absolute name or one with `..`"),
    "dot-dot": ([_member("env/../../evil")], "an absolute name or one with `..`"),
    "symlink out": (
        [_member("env/lib/out", tarfile.SYMTYPE, linkname="../../../../etc")],
        "a symbolic link leading out of the env",
    ),
    "absolute symlink": (
        [_member("env/lib/out", tarfile.SYMTYPE, linkname="/etc")],
        "a symbolic link outside the env or to an absolute path",
    ),
    "file through a symlink": (
        [
            _member("env/lib/in", tarfile.SYMTYPE, linkname="site"),
            _member("env/lib/in/x.py"),
        ],
        "below a symbolic link",
    ),
    "hard link out": (
        [_member("env/lib/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")],
        "a hard link",
    ),
    "hard link inside": (
        [_member("env/a"), _member("env/b", tarfile.LNKTYPE, linkname="env/a")],
        "a hard link",
    ),
    "device file": ([_member("env/dev/sda", tarfile.BLKTYPE, devmajor=8)], "a device file"),
    "character device": ([_member("env/null", tarfile.CHRTYPE, devmajor=1)], "a device file"),
    "fifo": ([_member("env/fifo", tarfile.FIFOTYPE)], "a device file or FIFO"),
    "outside the parts": ([_member("etc/profile")], "outside env/ and project/"),
    "duplicate": ([_member("env/a"), _member("env/a")], "a second member of that name"),
    "project directory": ([_member("project/sub", tarfile.DIRTYPE)], "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_member_is_refused_and_nothing_is_written(
    tmp_path: Path, case: str, filters: str
) -> None:
    members, why = HOSTILE[case]
    archive = _archive(tmp_path / "a.tar.gz", members)
    dest = tmp_path / "env"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="refusing to unpack") as caught:
        _unpack_all(archive, dest)
    assert why in caught.value.message, caught.value.message
    assert caught.value.message.count("\n") == 0
    assert list(dest.iterdir()) == []  # checking writes nothing


def test_a_huge_member_and_too_much_in_all_are_refused(tmp_path: Path, filters: str) -> None:
    archive = _archive(tmp_path / "a.tar.gz", [_member("env/big", data=b"x" * 2000)])
    with pytest.raises(ArchiveError, match="2000 bytes, over 1000"):
        _unpack_all(archive, tmp_path, Limits(member=1000))
    many = [_member(f"env/f{i}", data=b"x" * 600) for i in range(3)]
    archive = _archive(tmp_path / "b.tar.gz", many)
    with pytest.raises(ArchiveError, match="over 1500 bytes in all"):
        _unpack_all(archive, tmp_path, Limits(total=1500))
    with pytest.raises(ArchiveError, match="more than 3 members"):
        _unpack_all(archive, tmp_path, Limits(members=3))  # the head's 3 count too
    with pytest.raises(ArchiveError, match="over 2 bytes"):
        read_head(archive, Limits(small=2))  # the project files are read into memory


def test_a_good_archive_passes_with_links_inside_the_env(tmp_path: Path, filters: str) -> None:
    members = [
        _member("env/lib", tarfile.DIRTYPE),
        _member("env/lib/site", tarfile.DIRTYPE),
        _member("env/lib/site/a.py"),
        _member("env/lib/site/b.py", tarfile.SYMTYPE, linkname="a.py"),
        _member("env/bin/tool", tarfile.SYMTYPE, linkname="../lib/site/a.py"),
    ]
    archive = _archive(tmp_path / "a.tar.gz", members)
    read, files = read_head(archive)
    assert read.env == "/srv/app/.poorenv"
    assert files == {"poorenv.lock": b"lock", "poorenv.toml": b"toml"}
    names = ["lib", "lib/site", "lib/site/a.py", "lib/site/b.py", "bin/tool"]
    assert _unpack_all(archive, tmp_path) == names


def test_an_archive_without_its_manifest_first_is_refused(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.tar.gz", [_member("project/poorenv.toml")], head=False)
    with pytest.raises(ArchiveError, match=f"before {MANIFEST}"):
        read_head(archive)
    empty = _archive(tmp_path / "b.tar.gz", [_member("env/a")], head=False)
    with pytest.raises(ArchiveError, match=f"no {MANIFEST}"):
        read_head(empty)
    (tmp_path / "c.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ArchiveError, match=r"c\.tar\.gz: "):
        read_head(tmp_path / "c.tar.gz")


def test_pack_writes_the_same_bytes_for_the_same_files(tmp_path: Path) -> None:
    """Sorted members, mtime 0, owner 0/0, modes 0644/0755, gzip without a name or time."""
    env = tmp_path / "env"
    (env / "lib").mkdir(parents=True)
    (env / "lib" / "a.py").write_text("a")
    (env / "lib" / "run").write_text("#!/bin/sh\n")
    (env / "lib" / "run").chmod(0o700)
    (env / "lib" / "b.py").symlink_to("a.py")
    entries = [(f"lib/{n}", str(env / "lib" / n)) for n in ("run", "b.py", "a.py")]
    entries.append(("lib", str(env / "lib")))
    read = Manifest.from_json(manifest(), "x")
    files = {"poorenv.toml": b"toml", "poorenv.lock": b"lock"}
    outputs = []
    for _ in ("one", "two"):
        out = io.BytesIO()
        write_archive(out, read, files, entries)
        outputs.append(out.getvalue())
        (env / "lib" / "a.py").touch()  # another mtime: the same archive
    assert outputs[0] == outputs[1]
    (tmp_path / "a.tar.gz").write_bytes(outputs[0])
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == [
        MANIFEST, "project/poorenv.lock", "project/poorenv.toml",
        "env/lib", "env/lib/a.py", "env/lib/b.py", "env/lib/run",
    ]  # fmt: skip
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, 0, "", "")}
    modes = {i.name: i.mode for i in infos}
    assert (modes["env/lib/a.py"], modes["env/lib/run"], modes["env/lib"]) == (0o644, 0o755, 0o755)
    assert infos[5].issym() and infos[5].linkname == "a.py"


def test_an_archive_may_write_only_the_project_files_poorenv_reads(tmp_path: Path) -> None:
    """poorenv.toml, the lock, the files poorenv.toml names and requirements files they may
    include; never a dotfile (a `.git` hook) or anything else."""
    from types import SimpleNamespace

    from poorenv.deploy.projectfiles import compare_files, only_inputs

    config = SimpleNamespace(
        file=tmp_path / "poorenv.toml", project_dir=tmp_path, project=None,
        requirement_files=(tmp_path / "reqs" / "base.txt",), constraint_files=(),
    )  # fmt: skip
    project = SimpleNamespace(config=config, lock_path=tmp_path / "poorenv.lock")
    fine = dict.fromkeys(["poorenv.toml", "poorenv.lock", "reqs/more.in", "c.txt"], b"x")
    fine["reqs/base.txt"] = b"flask\n-r more.in\n-c ../c.txt\n"  # what it includes is allowed
    only_inputs(tmp_path / "a.tar.gz", project, fine)  # type: ignore[arg-type]
    planted_files = (".git/hooks/post-checkout", "reqs/.hidden.txt", "setup.py", "a/.b/c.in")
    for planted in (*planted_files, "app/templates/robots.txt", "reqs/other.in"):
        said = re.escape(f"project file '{planted}': not poorenv.toml")
        with pytest.raises(ArchiveError, match=said):
            only_inputs(tmp_path / "a.tar.gz", project, {**fine, planted: b"x"})  # type: ignore[arg-type]
    (tmp_path / "poorenv.toml").write_bytes(b"x")
    assert compare_files(tmp_path, fine) == [
        "c.txt",
        "poorenv.lock",
        "reqs/base.txt",
        "reqs/more.in",
    ]
    (tmp_path / "poorenv.lock").write_bytes(b"y")
    with pytest.raises(ArchiveError, match=r"poorenv\.lock: differs from the archive's"):
        compare_files(tmp_path, fine)


def test_a_project_member_the_manifest_does_not_list_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    """Project files are read into memory: one the manifest does not name is refused as soon
    as it is seen, so that thousands of them cannot fill the memory."""
    archive = _archive(tmp_path / "a.tar.gz", [_member("project/r1.txt", data=b"0" * 1000)])
    with pytest.raises(ArchiveError, match="not in the manifest's list of project files"):
        read_head(archive)


def test_a_chain_of_links_leading_out_of_the_env_is_found_after_extraction(
    tmp_path: Path,
) -> None:
    """Each link alone stays inside (judged before the links it passes through exist); the
    chain, once on disk, leads out."""
    import os

    from poorenv.deploy.archive import links_stay_inside as _links_stay_inside

    dest = tmp_path / "staging"
    (dest / "a" / "b" / "c" / "d").mkdir(parents=True)
    os.symlink("a/b/c/d/l1/../../../../..", dest / "esc")
    os.symlink("../../../..", dest / "a" / "b" / "c" / "d" / "l1")
    with pytest.raises(ArchiveError, match=r"'env/esc': a link that leads out of the env"):
        _links_stay_inside(tmp_path / "x.tar.gz", dest)
    (dest / "esc").unlink()
    os.symlink("a/b", dest / "inside")
    _links_stay_inside(tmp_path / "x.tar.gz", dest)  # l1 leads to dest itself: fine


def test_pack_refuses_a_project_file_holding_index_credentials(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from poorenv.deploy.pack import PackError, _project_files

    config = tmp_path / "poorenv.toml"
    config.write_text('[index]\nurl = "https://user:s3cret@example.invalid/simple"\n')
    (tmp_path / "poorenv.lock").write_text("lock")
    project = SimpleNamespace(
        config=SimpleNamespace(file=config, project_dir=tmp_path),
        lock_path=tmp_path / "poorenv.lock",
        input_files=lambda: [],
    )
    with pytest.raises(PackError, match="an index URL with credentials") as caught:
        _project_files(project)  # type: ignore[arg-type]
    assert "s3cret" not in caught.value.message
    config.write_text('[index]\nurl = "https://example.invalid/simple"\n')
    assert sorted(_project_files(project)) == ["poorenv.lock", "poorenv.toml"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[env]\npython = "3.11"\npath = "/srv/other/.poorenv"\n', "puts the env outside"),
        ('[env]\npython = "3.11"\npath = "../other/.poorenv"\n', "puts the env outside"),
        (
            '[env]\npython = "3.11"\n[deploy]\nreload = ["sh", "-c", "id"]\n',
            "has [deploy] commands that unpack would run",
        ),
    ],
)
def test_an_archived_poorenv_toml_may_not_reach_outside_or_bring_commands(
    tmp_path: Path, text: str, words: str
) -> None:
    from poorenv.config import parse_config
    from poorenv.deploy.projectfiles import trust_archived_config as _trust_archived_config
    from poorenv.paths import loads_toml

    project = tmp_path / "here"
    project.mkdir()
    config = parse_config(loads_toml(text), project / "poorenv.toml")
    with pytest.raises(ArchiveError, match=re.escape(words)):
        _trust_archived_config(tmp_path / "a.tar.gz", config)
    fine = parse_config(loads_toml('[env]\npython = "3.11"\n'), project / "poorenv.toml")
    _trust_archived_config(tmp_path / "a.tar.gz", fine)
