"""The archive `pack` writes and `unpack` reads: its manifest, and every member checked.

    poorenv-pack.json            the manifest: the base's fingerprint, the lock's hash, where
                                 the env was built, its site dirs, the project files
    project/poorenv.toml         the project files (poorenv.toml, the lock, the requirements
    project/poorenv.lock           files they read), read into memory, never extracted
    env/lib/python3.12/site-packages/...   the env's own files: its site dirs whole, and every
    env/bin/SCRIPT                         other file a distribution's RECORD lists

The env's layout (interpreter, stdlib mirror links, include, libpython links, pyvenv.cfg,
activation scripts) is not shipped: it belongs to the base, and the receiving sync makes it
from its own base. A gzip-compressed tar with sorted members, mtime 0, owner 0/0 and modes
0644/0755, so that one env packs to the same bytes.

An archive is untrusted data. `checked` refuses, whatever the Python: an absolute name, a
`..`, a name outside the three parts above, a duplicate, a hard link, a device file or FIFO,
a symbolic link outside `env/` or whose target is absolute or leads out of the env, anything
below a symbolic link, a member over `Limits.member` bytes, more than `Limits.total` bytes or
`Limits.members` members in all. Where tarfile has it (3.12, and 3.9.17+, 3.10.12+, 3.11.4+),
tarfile's own `data_filter` judges each env member too.
"""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poorenv.errors import PoorenvError

if TYPE_CHECKING:
    from poorenv.discover.interpreter import Interpreter

FORMAT = 1
MANIFEST = "poorenv-pack.json"
ENV = "env/"
PROJECT = "project/"
FIELDS = ("implementation", "version", "abi", "platform")  # the base's fingerprint


class ArchiveError(PoorenvError):
    """An archive that cannot be unpacked here: unsafe, damaged, or for another base."""


@dataclass(frozen=True)
class Limits:
    member: int = 4 << 30  # bytes in one file
    total: int = 64 << 30  # bytes in all
    members: int = 1_000_000
    small: int = 16 << 20  # the manifest and each project file (read into memory)


def base_facts(base: Interpreter) -> dict[str, str]:
    """The base's fingerprint as the manifest holds it."""
    return {
        "implementation": base.implementation,
        "version": base.version,
        "abi": base.abi,
        "platform": base.platform,
    }


@dataclass(frozen=True)
class Manifest:
    base: Mapping[str, str]  # FIELDS
    lock: str  # the lock's content hash ("sha256:...")
    env: str  # the env's real path where it was built: the moved-env repair starts there
    site_dirs: tuple[str, ...]  # relative to the env, POSIX
    project_files: tuple[str, ...]  # relative to the project directory, POSIX
    created_by: str
    generation: int | None = None  # the generation packed, with [deploy]
    members: int = 0  # env members
    size: int = 0  # bytes of the env's files
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created-by": self.created_by,
            "base": dict(self.base),
            "lock": self.lock,
            "env": self.env,
            "site-dirs": list(self.site_dirs),
            "project-files": list(self.project_files),
            "generation": self.generation,
            "members": self.members,
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: object, where: str) -> Manifest:
        """The manifest in `data`; ArchiveError naming the first bad field."""

        def bad(key: str, why: str = "missing or malformed") -> ArchiveError:
            return ArchiveError(f"{where}: manifest field {key!r}: {why}")

        if not isinstance(data, dict):
            raise ArchiveError(f"{where}: {MANIFEST} is not a JSON object")
        if data.get("format") != FORMAT:
            raise bad("format", f"{data.get('format')!r}, this poorenv reads {FORMAT}")
        base = data.get("base")
        if not isinstance(base, dict):
            raise bad("base")
        for key in FIELDS:
            if not isinstance(base.get(key), str) or not base[key]:
                raise bad(f"base.{key}")
        text = {k: data.get(k) for k in ("created-by", "lock", "env")}
        for key, value in text.items():
            if not isinstance(value, str) or not value:
                raise bad(key)
        if not str(text["env"]).startswith("/"):
            raise bad("env", "not an absolute path")
        lists = {k: data.get(k) for k in ("site-dirs", "project-files")}
        for key, value in lists.items():
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad(key)
            for name in value:
                if plain_name(name) is None:
                    raise bad(key, f"{name!r} is not a plain relative path")
        number = data.get("generation")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise bad("generation")
        return cls(
            {key: str(base[key]) for key in FIELDS},
            str(text["lock"]),
            str(text["env"]),
            tuple(lists["site-dirs"] or ()),
            tuple(lists["project-files"] or ()),
            str(text["created-by"]),
            number,
            _count(data.get("members")),
            _count(data.get("size")),
        )

    def base_mismatch(self, base: Interpreter) -> str | None:
        """The first field of the fingerprint in which `base` differs from the packed base."""
        here = base_facts(base)
        for key in FIELDS:
            if self.base[key] != here[key]:
                return (
                    f"base {key} differs: packed on {self.base[key]},"
                    f" the base here is {here[key]} ({base.executable})"
                )
        return None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def plain_name(name: str) -> str | None:
    """`name` when it is a plain relative POSIX path (no `/` first, no `..`, `.` or empty
    part, no NUL or backslash); else None."""
    if not name or name.startswith("/") or "\0" in name or "\\" in name:
        return None
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return "/".join(parts)


@dataclass
class Checker:
    """Checks each member of one archive in turn (see the module): keeps what it saw."""

    where: str  # the archive, for messages
    limits: Limits = field(default_factory=Limits)
    seen: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    total: int = 0

    def refuse(self, member: tarfile.TarInfo, why: str) -> ArchiveError:
        return ArchiveError(
            f"{self.where}: member {member.name!r}: {why}; refusing to unpack",
            hint="the archive was not written by `poorenv pack`, or was changed since",
        )

    def checked(self, member: tarfile.TarInfo, dest: str | None = None) -> str:
        """The member's name, once it passed every check; `dest`: where env members go (for
        tarfile's data filter)."""
        name = plain_name(member.name)
        if name is None:
            raise self.refuse(member, "an absolute name or one with `..`")
        if name in self.seen:
            raise self.refuse(member, "a second member of that name")
        self.seen.add(name)
        if len(self.seen) > self.limits.members:
            raise self.refuse(member, f"more than {self.limits.members} members")
        if member.islnk():
            raise self.refuse(member, "a hard link")
        if member.ischr() or member.isblk() or member.isfifo():
            raise self.refuse(member, "a device file or FIFO")
        if not (member.isreg() or member.isdir() or member.issym()):
            raise self.refuse(member, "not a file, directory or symbolic link")
        if any(name.startswith(link + "/") for link in self.links):
            raise self.refuse(member, "below a symbolic link")
        if name != MANIFEST and not name.startswith((ENV, PROJECT)):
            raise self.refuse(member, f"outside {ENV} and {PROJECT}")
        if name.startswith(PROJECT) and not member.isreg():
            raise self.refuse(member, "a project file that is not a regular file")
        if member.size > self.limits.member:
            raise self.refuse(member, f"{member.size} bytes, over {self.limits.member}")
        self.total += member.size
        if self.total > self.limits.total:
            raise self.refuse(member, f"over {self.limits.total} bytes in all")
        if member.issym():
            self._link(member, name)
        if dest is not None and name.startswith(ENV):
            self._data_filter(member, name[len(ENV) :], dest)
        return name

    def _link(self, member: tarfile.TarInfo, name: str) -> None:
        target = member.linkname
        if not name.startswith(ENV) or not target or target.startswith("/") or "\0" in target:
            raise self.refuse(member, "a symbolic link outside the env or to an absolute path")
        inside = posixpath.normpath(posixpath.join(posixpath.dirname(name[len(ENV) :]), target))
        if inside == ".." or inside.startswith("../"):
            raise self.refuse(member, f"a symbolic link leading out of the env (to {target})")
        self.links.add(name)

    def _data_filter(self, member: tarfile.TarInfo, relative: str, dest: str) -> None:
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is None:  # before 3.9.17, 3.10.12, 3.11.4: the checks above only
            return
        try:
            data_filter(member.replace(name=relative, deep=False), dest)
        except tarfile.FilterError as exc:
            raise self.refuse(member, f"refused by tarfile's data filter ({exc})") from None


def open_archive(path: Path) -> tarfile.TarFile:
    """The archive at `path` (gzip or plain tar), read as a stream: one pass, no seeking."""
    try:
        return tarfile.open(path, mode="r|*")
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"{path}: cannot read the archive ({exc})") from None


def read_head(path: Path, limits: Limits | None = None) -> tuple[Manifest, dict[str, bytes]]:
    """The manifest and the project files (name -> bytes), from the archive's first members."""
    limits = limits or Limits()
    checker = Checker(str(path), limits)
    files: dict[str, bytes] = {}
    manifest: Manifest | None = None
    total = 0
    with open_archive(path) as tar:
        for member in _members(tar, path):
            if member.name.startswith(ENV):  # checked as it is extracted (env_members)
                break
            name = checker.checked(member)
            if member.size > limits.small:
                raise checker.refuse(member, f"over {limits.small} bytes")
            if name != MANIFEST and manifest is None:
                raise checker.refuse(member, f"before {MANIFEST}")
            if manifest is not None and name[len(PROJECT) :] not in manifest.project_files:
                raise checker.refuse(member, "not in the manifest's list of project files")
            total += member.size
            if total > limits.small * 4:
                raise checker.refuse(member, f"the project files are over {limits.small * 4} bytes")
            data = _read(tar, member, path)
            if name == MANIFEST:
                manifest = Manifest.from_json(_json(data, path), str(path))
            else:
                files[name[len(PROJECT) :]] = data
    if manifest is None:
        raise ArchiveError(f"{path}: no {MANIFEST}: not an archive `poorenv pack` wrote")
    missing = [f for f in manifest.project_files if f not in files]
    if missing or len(files) != len(manifest.project_files):
        raise ArchiveError(f"{path}: the project files differ from the manifest's list")
    return manifest, files


def env_members(
    tar: tarfile.TarFile, path: Path, dest: str, limits: Limits | None = None
) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """Each env member (its name relative to the env, and the member), checked."""
    checker = Checker(str(path), limits or Limits())
    for member in _members(tar, path):
        name = checker.checked(member, dest)
        if name.startswith(ENV):
            yield name[len(ENV) :], member


def _members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    try:
        yield from tar
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise ArchiveError(f"{path}: damaged archive ({exc})") from None


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> bytes:
    try:
        handle = tar.extractfile(member)
        return handle.read() if handle is not None else b""
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise ArchiveError(f"{path}: damaged archive ({exc})") from None


def _json(data: bytes, path: Path) -> object:
    from poorenv.paths import loads_json

    try:
        return loads_json(data)
    except ValueError as exc:
        raise ArchiveError(f"{path}: {MANIFEST}: not JSON ({exc})") from None


def manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")


def member_mode(mode: int) -> int:
    """The mode a file is stored and extracted with: 0755 when anyone may run it, else 0644."""
    return 0o755 if mode & 0o111 else 0o644


def os_name(relative: str) -> str:
    return relative.replace("/", os.sep)


def room_for(archive: Path, manifest: Manifest, dest: Path) -> None:
    """Refuse before writing when the file system has not the manifest's size free."""
    try:
        info = os.statvfs(dest.parent)
    except OSError:
        return
    if info.f_bavail * info.f_frsize < manifest.size:
        raise ArchiveError(
            f"{archive}: its env needs {manifest.size} bytes; {dest.parent} has"
            f" {info.f_bavail * info.f_frsize} free"
        )


def links_stay_inside(archive: Path, dest: Path) -> None:
    """Every link extracted, followed through the links extracted after it, leads into the
    env: each member's link was judged alone, when the links it passes through were not
    there yet."""
    root = os.path.realpath(dest)
    for directory, dirs, names in os.walk(dest):
        for name in [*dirs, *names]:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != root and not real.startswith(root + os.sep):
                    shown = os.path.relpath(path, dest)
                    raise ArchiveError(
                        f"{archive}: member 'env/{shown}': a link that leads out of the env"
                        f" ({real}); refusing to unpack"
                    )
