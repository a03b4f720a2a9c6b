"""The env's install scheme, and the one test of whether a path a package names stays inside it.

Package metadata is not trusted: a RECORD (or an egg-info's file list) may name `../..` paths,
absolute paths, or files reached through a symlinked directory that leads outside the env.
`Bounds` resolves such a path as the installer's delete or write would reach it (symlinks
followed, `..` taken both as written and normalised) and says why it may not be touched:

- it really lies outside the env (the rule is the whole env, which is the scheme's `data`
  directory: real RECORDs name `../../../bin/tool` for scripts);
- it lies in poorenv's own directory (`ENV/.poorenv`);
- it is one of the env's own directories (the env, `lib`, site-packages, `bin`, ...): removing
  it as a "file" of a package would remove everything in it.

Only reads (lstat, readlink); the answers are cached per directory for one `Bounds`, so make a
new one for each decision.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from poorenv.paths import STATE_DIR

OUTSIDE = "leads outside the env"
PRIVATE = "lies in poorenv's own directory"
ENV_DIR = "is a directory of the env itself"


@dataclass(frozen=True)
class Scheme:
    """Where an env's installers put files: paths as the interpreter names them for the env."""

    env: Path
    site_dirs: tuple[Path, ...] = ()  # purelib, platlib: where distributions are found
    scripts: tuple[Path, ...] = ()  # where console scripts go
    include: tuple[Path, ...] = ()  # where headers go (a mirror of the base's: links to it)
    dirs: tuple[Path, ...] = ()  # every directory of the scheme: never a package's "file"

    @classmethod
    def of(cls, env: Path, paths: Mapping[str, str]) -> Scheme:
        """The scheme of `env` from `Interpreter.env_paths(env)` (purelib, scripts, data...)."""

        def pick(*keys: str) -> tuple[Path, ...]:
            return tuple(dict.fromkeys(Path(paths[k]) for k in keys if k in paths))

        dirs = tuple(dict.fromkeys(Path(p) for p in paths.values()))
        return cls(env, pick("purelib", "platlib"), pick("scripts"), pick("include"), dirs)

    @property
    def targets(self) -> tuple[Path, ...]:
        """The directories an installer writes to."""
        return tuple(dict.fromkeys((*self.site_dirs, *self.scripts, *self.include)))

    @property
    def guarded(self) -> tuple[Path, ...]:
        """The install directories where no link may lead outside the env (include mirrors
        the base with a link per file, so it is not one of them)."""
        return tuple(dict.fromkeys((*self.site_dirs, *self.scripts)))

    def bounds(self) -> Bounds:
        return Bounds(self)


@dataclass(frozen=True)
class Unsafe:
    """Something an installer must not be let at: a distribution's listed file that leaves the
    env (or a distribution whose files cannot be listed), or a link in an install directory
    that leads outside."""

    subject: str  # "hostile 1.0", or the link's path
    path: str  # as the metadata names it (RECORD entry, installed-files.txt line), or the link
    where: str  # where it really leads; "" when nothing could be listed
    why: str  # OUTSIDE, PRIVATE, ENV_DIR, or why the files cannot be listed
    name: str | None = None  # the distribution's normalised name; None for a link
    source: str = "RECORD"  # which metadata named `path`

    @property
    def sealing(self) -> bool:
        """True when the env holds a path leading out (whatever is done with it); False when
        only removing the distribution is unsafe (its files cannot be listed)."""
        return bool(self.where)

    def describe(self) -> str:
        """One line naming the package (or link) and the path."""
        if self.name is None:
            return f"{self.subject} is a link that {self.why} (to {self.where})"
        if not self.where:
            return f"{self.subject}: {self.why}"
        shown = "" if self.where == self.path else f" ({self.where})"
        return f"{self.subject}: {self.source} entry {self.path} {self.why}{shown}"


class Bounds:
    """Decides, for one env, whether a path lies where a package's file may lie."""

    def __init__(self, scheme: Scheme) -> None:
        self.root = os.path.realpath(scheme.env)
        self.private = os.path.join(self.root, STATE_DIR)
        self._prefix, self._private = self.root + os.sep, self.private + os.sep
        self._parents: dict[str, str] = {}  # directory -> its real path
        self._links: dict[str, set[str]] = {}  # real directory -> the names of links in it
        self.protected = {self.root}
        for directory in (*scheme.dirs, *scheme.targets):
            rel = os.path.relpath(directory, scheme.env)
            if rel == os.curdir or rel.startswith(os.pardir):
                continue
            parts = rel.split(os.sep)
            self.protected.update(
                os.path.join(self.root, *parts[:i]) for i in range(1, len(parts) + 1)
            )
            real = os.path.realpath(directory)  # Debian: ENV/local/bin -> ../bin
            if self.inside(real):
                self.protected.add(real)

    def inside(self, real: str) -> bool:
        """Whether the real path `real` is the env or lies in it."""
        return real == self.root or real.startswith(self.root + os.sep)

    def real(self, path: str) -> str:
        """os.path.realpath(path) for an absolute path, each directory resolved and listed
        once (one scandir per directory instead of an lstat per component and file)."""
        parent, _, name = os.path.normpath(path).rpartition(os.sep)
        return self._child(self._dir(parent or os.sep), name)

    def _dir(self, path: str) -> str:
        real = self._parents.get(path)
        if real is None:
            parent, _, name = path.rpartition(os.sep)
            real = path if not name else self._child(self._dir(parent or os.sep), name)
            self._parents[path] = real
        return real

    def _child(self, real_parent: str, name: str) -> str:
        links = self._links.get(real_parent)
        if links is None:
            try:
                with os.scandir(real_parent) as scanner:
                    links = {item.name for item in scanner if item.is_symlink()}
            except OSError:
                links = set()
            self._links[real_parent] = links
        path = real_parent + name if real_parent == os.sep else real_parent + os.sep + name
        return os.path.realpath(path) if name in links else path

    def check(self, path: str) -> tuple[str, str] | None:
        """None when the absolute `path` may be a package's file; else (why, where it leads).

        A path with `..` is resolved both as the OS walks it (symlinks first) and as written
        and normalised (pip and uv normalise some paths, not others): both must pass.
        """
        found = [self.real(path)]
        if ".." in path and os.pardir in path.split(os.sep):
            found.append(os.path.realpath(path))
        for real in found:
            if not real.startswith(self._prefix):
                return (ENV_DIR, real) if real == self.root else (OUTSIDE, real)
            if real.startswith(self._private) or real == self.private:
                return PRIVATE, real
            if real in self.protected:
                return ENV_DIR, real
        return None

    def links_out(self, directories: Iterable[Path]) -> list[tuple[str, str]]:
        """Every symlink under `directories` (not followed) whose real target leaves the env:
        (link, where it leads). An installer writing there would write outside. The listing
        is kept: `check` then scans no directory a second time."""
        found: list[tuple[str, str]] = []
        for directory in dict.fromkeys(os.fspath(d) for d in directories):
            real = self._dir(os.path.normpath(directory))
            if self.inside(real):  # else the directory itself leads out: Layout.sealed_dirs
                self._walk(real, found)
        return found

    def _walk(self, real: str, found: list[tuple[str, str]]) -> None:
        links: set[str] = set()
        subdirs = []
        try:
            with os.scandir(real) as scanner:
                for item in scanner:
                    if item.is_symlink():
                        links.add(item.name)
                        target = os.path.realpath(item.path)
                        if not self.inside(target):
                            found.append((item.path, target))
                    elif item.is_dir(follow_symlinks=False):
                        subdirs.append(item.path)
        except OSError:
            pass
        self._links[real] = links
        for path in subdirs:
            self._walk(path, found)
