"""Reading what is on disk: the env as it is, and the base directories it mirrors.

Only reads. Never starts an interpreter. Installed distributions are read by `state.site`.
"""

from __future__ import annotations

import contextlib
import os
import stat as statmod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poorenv.ownership import is_empty, read_marker
from poorenv.paths import loads_json
from poorenv.plan.layout import (
    BYTECODE_DIR,
    STATE,
    UNFINISHED,
    Layout,
    Mirror,
    optimized_bytecode,
    state_dir,
)
from poorenv.plan.relocate import HEAD_BYTES, interpreter_of
from poorenv.state.record import EnvRecord, Location, Unfinished
from poorenv.state.scheme import Unsafe
from poorenv.state.site import SitePackages


@dataclass(frozen=True)
class Entry:
    """One path as found: kind is "file", "link", "dir", "other" or "missing"."""

    kind: str
    target: str = ""  # for links
    size: int = 0
    mtime_ns: int = 0
    ino: int = 0


MISSING = Entry("missing")


@dataclass(frozen=True)
class MirrorState:
    base_files: frozenset[str]  # paths relative to the mirror's source
    base_dirs: frozenset[str]
    env: Mapping[str, Entry]  # paths relative to the mirror's dest
    # The base files' inode numbers: an env file given the same (a hard link of the base file,
    # or a copy of it with its size and mtime: see _same_files) is in place.
    base_inodes: Mapping[str, int] = field(default_factory=dict)
    copies: frozenset[str] = frozenset()  # of those, the copies: relinked when the base changed


@dataclass(frozen=True)
class EnvState:
    """A snapshot of an env directory, as much of it as the planner needs."""

    path: Path
    exists: bool
    is_dir: bool = False
    empty: bool = True
    marker: Mapping[str, Any] | None = None
    record: EnvRecord | None = None  # state.json: the last complete sync
    stamp: Mapping[str, Any] | None = None  # state.json's no-op stamp (state/fastpath.py)
    unfinished: Unfinished | None = None  # unfinished.json: a sync that did not end; None: none
    entries: Mapping[Path, Entry] = field(default_factory=dict)
    texts: Mapping[Path, str | None] = field(default_factory=dict)
    mirrors: Mapping[str, MirrorState] = field(default_factory=dict)
    site: SitePackages = field(default_factory=SitePackages)  # the one scan of site-packages
    # The env's own directories (Layout.sealed_dirs) that are links leading outside: (link,
    # where it leads). When there are any, nothing below them was read.
    links_out: tuple[tuple[Path, str], ...] = ()
    unsafe: tuple[Unsafe, ...] = ()  # what no installer may be let at (SitePackages.unsafe)
    location: Location | None = None  # the env directory's real path and identity now
    # When the record says the env was built elsewhere: each script in the scripts dirs and
    # the interpreter its header names (plan.relocate.interpreter_of). Else not read.
    scripts: Mapping[Path, str] = field(default_factory=dict)
    # Distributions installed editable (their direct_url.json): name -> the source's URL
    editables: Mapping[str, str] = field(default_factory=dict)

    def entry(self, path: Path) -> Entry:
        return self.entries.get(path, MISSING)

    @property
    def distributions(self) -> dict[str, str]:
        """Installed distributions: normalised name -> version."""
        return self.site.versions()

    @property
    def broken(self) -> tuple[Path, ...]:
        """Leftovers of interrupted installs and uninstalls (see `SitePackages`)."""
        return self.site.broken


def entry_of(path: Path) -> Entry:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return MISSING
    except NotADirectoryError:
        return MISSING
    mode = st.st_mode
    if statmod.S_ISLNK(mode):
        return Entry("link", target=os.readlink(path))
    kind = "file" if statmod.S_ISREG(mode) else "dir" if statmod.S_ISDIR(mode) else "other"
    return Entry(kind, size=st.st_size, mtime_ns=st.st_mtime_ns, ino=st.st_ino)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when missing, unreadable or not an object."""
    try:
        data = loads_json(path.read_bytes())
    except (OSError, ValueError):  # a damaged or deeply nested file: no record
        return None
    return data if isinstance(data, dict) else None


def read_unfinished(sdir: Path) -> Unfinished | None:
    """The note of a sync that did not finish, in the env's state dir `sdir`; None if none."""
    note = sdir / UNFINISHED
    return Unfinished.from_json(read_json(note)) if os.path.lexists(note) else None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def read_env(layout: Layout, text_files: tuple[Path, ...] = ()) -> EnvState:
    """Snapshot the env that `layout` describes."""
    env = layout.env
    top = entry_of(env)
    if top.kind != "dir":
        mirrors = {m.name: read_mirror(m, env_too=False) for m in layout.mirrors}
        exists = top.kind != "missing"
        return EnvState(path=env, exists=exists, is_dir=False, empty=not exists, mirrors=mirrors)
    sdir = state_dir(env)
    links_out = links_leaving(layout)
    managed = [layout.exe, *(p for p, _ in layout.symlinks), layout.pyvenv_cfg, *text_files]
    entries = {path: entry_of(path) for path in (*managed, *layout.site_dirs)}
    texts = {path: read_text(path) for path in (layout.pyvenv_cfg, *text_files)}
    saved = read_json(sdir / STATE)
    site = SitePackages.read(layout.site_dirs) if not links_out else SitePackages()
    record = EnvRecord.from_json(saved)
    location = location_of(env)
    built = record.location if record else None
    moved = built is not None and location is not None and built.path != location.path
    return EnvState(
        path=env,
        exists=True,
        is_dir=True,
        empty=is_empty(env),
        marker=read_marker(env),
        record=record,
        stamp=saved.get("stamp") if saved else None,
        unfinished=read_unfinished(sdir),
        entries=entries,
        texts=texts,
        mirrors={m.name: read_mirror(m, layout.site_dirs, not links_out) for m in layout.mirrors},
        site=site,
        links_out=links_out,
        # The layout's own files and links are repaired by the planner, whatever they are now.
        unsafe=tuple(u for u in site.unsafe(layout.scheme) if u.name or Path(u.path) not in managed)
        if not links_out
        else (),
        location=location,
        scripts=read_scripts(layout.scheme.scripts) if moved and not links_out else {},
        editables=site.editables(),
    )


def location_of(env: Path) -> Location | None:
    try:
        return Location.of(env)
    except OSError:
        return None


def read_scripts(dirs: tuple[Path, ...]) -> dict[Path, str]:
    """Each regular file in `dirs` whose header names an interpreter: that interpreter."""
    found: dict[Path, str] = {}
    for directory in dirs:
        try:
            scanner = os.scandir(directory)
        except OSError:
            continue
        with scanner:
            for item in scanner:
                if not item.is_file(follow_symlinks=False):
                    continue
                try:
                    with open(item.path, "rb") as handle:
                        interpreter = interpreter_of(handle.read(HEAD_BYTES))
                except OSError:
                    continue
                if interpreter is not None:
                    found[directory / item.name] = interpreter
    return found


def links_leaving(layout: Layout) -> tuple[tuple[Path, str], ...]:
    """The env's own directories that are links leading outside it: (link, where it leads)."""
    root = os.path.realpath(layout.env)
    found = []
    for path in layout.sealed_dirs:
        if os.path.islink(path):
            real = os.path.realpath(path)
            if real != root and not real.startswith(root + os.sep):
                found.append((path, real))
    return tuple(found)


def read_mirror(mirror: Mirror, keep: tuple[Path, ...] = (), env_too: bool = True) -> MirrorState:
    """The base files of a mirror and, with env_too, what its destination holds.

    `keep` are env paths under the destination that belong to the env (its site-packages).
    """
    files: dict[str, int] = {}
    dirs: set[str] = set()
    _walk_base(str(mirror.source), "", mirror.excludes, files, dirs)
    env: dict[str, Entry] = {}
    if env_too:
        skip = mirror.excludes | {os.path.relpath(p, mirror.dest) for p in keep}
        _walk_env(mirror.dest, "", frozenset(skip), env)
    copies = _same_files(mirror, files, env)
    return MirrorState(frozenset(files), frozenset(dirs), env, files, copies)


def _same_files(mirror: Mirror, base: Mapping[str, int], env: dict[str, Entry]) -> frozenset[str]:
    """Give each regular env file that is its base file the base file's inode number in `env`,
    and -1 to any other: a hard link of it (same filesystem, same inode), or a copy of it with
    its size and mtime (an env restored from a CI cache, `cp -a`: the links became copies),
    whose paths are returned."""
    copies: set[str] = set()
    device = None
    with contextlib.suppress(OSError):
        device = os.stat(mirror.source).st_dev == os.stat(mirror.dest).st_dev
    for rel, entry in env.items():
        ino = base.get(rel)
        if entry.kind != "file" or ino is None or is_bytecode(rel):
            continue
        if device and entry.ino == ino:
            continue
        same = False
        with contextlib.suppress(OSError):
            have, want = os.lstat(mirror.dest / rel), os.stat(mirror.source / rel)
            same = (have.st_size, have.st_mtime_ns) == (want.st_size, want.st_mtime_ns)
        env[rel] = Entry("file", ino=ino if same else -1)
        if same:
            copies.add(rel)
    return frozenset(copies)


def _walk_base(
    root: str, rel: str, excludes: frozenset[str], files: dict[str, int], dirs: set[str]
) -> None:
    try:
        scanner = os.scandir(os.path.join(root, rel) if rel else root)
    except FileNotFoundError:
        return
    with scanner:
        for item in scanner:
            if not rel and item.name in excludes:
                continue
            child = f"{rel}/{item.name}" if rel else item.name
            # A link to a directory in the base becomes a real directory in the env.
            if item.is_dir(follow_symlinks=True):
                dirs.add(child)
                _walk_base(root, child, excludes, files, dirs)
            elif not (optimized_bytecode(item.name) and is_bytecode(child)):
                files[child] = item.inode()


def _walk_env(dest: Path, rel: str, skip: frozenset[str], out: dict[str, Entry]) -> None:
    try:
        scanner = os.scandir(dest / rel if rel else dest)
    except (FileNotFoundError, NotADirectoryError):
        return
    with scanner:
        for item in scanner:
            child = f"{rel}/{item.name}" if rel else item.name
            if child in skip:
                continue
            if item.is_symlink():
                out[child] = Entry("link", target=os.readlink(item.path))
            elif item.is_dir(follow_symlinks=False):
                out[child] = Entry("dir")
                _walk_env(dest, child, skip, out)
            elif item.is_file(follow_symlinks=False):
                out[child] = Entry("file", ino=item.inode())
            else:
                out[child] = Entry("other")


def is_bytecode(rel: str) -> bool:
    """A path inside a __pycache__ directory: bytecode the env's interpreter may write itself."""
    parts = rel.split("/")
    return len(parts) >= 2 and parts[-2] == BYTECODE_DIR


def library_files(libdir: str, ldlibrary: str) -> tuple[str, ...]:
    """The base's libpython files (libpython3.12.so, .so.1.0, libpython3.so)."""
    if not ldlibrary:
        return ()
    stem = ldlibrary.split(".so", maxsplit=1)[0]
    try:
        names = os.listdir(libdir)
    except OSError:
        return ()
    wanted = (stem, "libpython3.so")
    return tuple(sorted(n for n in names if n.startswith(wanted) and ".so" in n))
