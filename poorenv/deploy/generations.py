"""Generations of a served env: complete envs side by side; the env path is a link to one.

    .poorenv              -> .poorenv.generations/3-1a2b3c4d5e6f   (a symbolic link)
    .poorenv.generations/
        poorenv-generations.json                                    (this directory is poorenv's)
        2-9f8e7d6c5b4a/   a complete env, built at its own path
        3-1a2b3c4d5e6f/   ... its .poorenv/generation.json: number, lock hash, created, replaced

A generation is named by its number and the first 12 hex digits of its lock's content hash. It
is an env like any other (its marker, its state, its scripts naming its own interpreter), so a
process started from it keeps working after the link moves on. The link changes only by one
atomic rename of a new link over it (`flip`). Generations are written and deleted only through
their `EnvDir` (each carries poorenv's marker); the directory holding them only with its own
marker; the link only when it is a link into that directory.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poorenv.envdir import EnvDir
from poorenv.errors import EnvError
from poorenv.ownership import is_env
from poorenv.paths import MARKER, STATE_DIR

SUFFIX = ".generations"
ROOT_MARKER = "poorenv-generations.json"
INFO = "generation.json"
_NAME = re.compile(r"(\d+)-([0-9a-f]{12})\Z")


def lock_hash(content_hash: str) -> str:
    """The 12 hex digits of a lock's content hash ("sha256:...") a generation is named by."""
    return content_hash.split(":", 1)[-1][:12]


@dataclass(frozen=True)
class Generation:
    number: int
    lock_hash: str
    path: Path
    created: str | None  # ISO 8601, UTC
    replaced: int | None  # the generation that served when this one was first switched to

    def to_json(self, current: bool, size: int) -> dict[str, Any]:
        return {
            "number": self.number,
            "lock_hash": self.lock_hash,
            "path": str(self.path),
            "created": self.created,
            "size": size,
            "current": current,
        }


class Generations:
    """The generations of the env whose path (the link) is `link`."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.root = link.with_name(link.name + SUFFIX)

    # --- reading --------------------------------------------------------------------------------

    def ours(self) -> bool:
        """Whether the generations directory exists and carries poorenv's marker."""
        try:
            return stat.S_ISREG(os.lstat(self.root / ROOT_MARKER).st_mode) and not os.path.islink(
                self.root
            )
        except OSError:
            return False

    def all(self) -> list[Generation]:
        """Every complete generation (it carries the env marker), oldest first."""
        if not self.ours():
            return []
        found = []
        for name in os.listdir(self.root):
            match = _NAME.match(name)
            path = self.root / name
            if match is None or os.path.islink(path) or not is_env(path):
                continue
            info = _read_info(path)
            replaced = info.get("replaced")
            found.append(
                Generation(
                    int(match[1]),
                    match[2],
                    path,
                    info.get("created") if isinstance(info.get("created"), str) else None,
                    replaced if isinstance(replaced, int) else None,
                )
            )
        return sorted(found, key=lambda g: g.number)

    def current(self) -> Generation | None:
        """The generation the link points at; None when it points at none of them."""
        try:
            target = os.readlink(self.link)
        except OSError:
            return None
        path = Path(os.path.normpath(self.link.parent / target))
        return next((g for g in self.all() if g.path == path), None)

    def get(self, number: int | None) -> Generation | None:
        return next((g for g in self.all() if g.number == number), None)

    def serves_a_directory(self) -> bool:
        """Whether the env path is still a real directory (an env synced in place)."""
        return os.path.isdir(self.link) and not os.path.islink(self.link)

    # --- making ---------------------------------------------------------------------------------

    def next_path(self, content_hash: str) -> Path:
        """Where the next generation goes (nothing is made there); the directory holding the
        generations is made (with its marker) if needed."""
        self._ensure_root()
        numbers = [0]
        for name in os.listdir(self.root):
            match = _NAME.match(name) or re.match(r"(\d+)-", name)
            if match:
                numbers.append(int(match[1]))
        return self.root / f"{max(numbers) + 1}-{lock_hash(content_hash)}"

    def _ensure_root(self) -> None:
        from poorenv._fs import atomic_write

        if self.ours():
            return
        if os.path.lexists(self.root):
            raise EnvError(
                f"{self.root}: exists and is not poorenv's (no {ROOT_MARKER} in it)",
                hint="move it away: poorenv keeps the generations of the env there",
            )
        os.mkdir(self.root)
        atomic_write(self.root / ROOT_MARKER, json.dumps({"env": str(self.link)}) + "\n")

    def clone(self, source: Path, dest: Path, marker: Mapping[str, Any]) -> EnvDir:
        """A new env at `dest` holding `source`'s files as hard links (copies where the file
        system refuses), its links as links, and `marker`. Whatever writes to it later replaces
        a file (atomic_write, the installers), so the source's files are never changed."""
        env = EnvDir(dest)
        env.create(marker)
        skip = {os.path.join(STATE_DIR, MARKER), os.path.join(STATE_DIR, INFO)}
        for directory, dirs, files in os.walk(source):
            rel = os.path.relpath(directory, source)
            for name in [*dirs, *files]:
                src = os.path.join(directory, name)
                relative = os.path.normpath(os.path.join(rel, name))
                if relative in skip:
                    continue
                dst = os.path.join(dest, relative)
                mode = os.lstat(src).st_mode
                if stat.S_ISLNK(mode):
                    env.symlink(os.readlink(src), dst)
                elif stat.S_ISDIR(mode):
                    env.make_dir(dst)
                elif stat.S_ISREG(mode):
                    env.link_or_copy(src, dst)
        return env

    def note(self, env: EnvDir, replaced: int | None) -> None:
        """Record, in the new generation, when it was made and which generation it replaces."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        env.write_json(env.state_dir / INFO, {"created": created, "replaced": replaced})

    def install(self, directory: Path, content_hash: str, replaced: int | None) -> Generation:
        """Make the complete env at `directory` (poorenv's, on this file system) the next
        generation, by renaming it into place. Nothing serves it until `flip`."""
        if not is_env(directory) or os.path.islink(directory):
            raise EnvError(f"{directory}: not an env poorenv made; refusing to install it")
        path = self.next_path(content_hash)
        os.rename(directory, path)
        self.note(EnvDir(path), replaced)
        found = self.get(int(path.name.split("-", 1)[0]))
        if found is None:  # pragma: no cover - just renamed into place
            raise EnvError(f"{path}: not a generation")
        return found

    def adopt_served(self, content_hash: str) -> Generation:
        """An env synced in place at the link's path becomes the first generation: it is
        renamed into the generations and the link put where it was (a moment without it)."""
        generation = self.install(self.link, content_hash, None)
        self.flip(generation)
        return generation

    # --- switching and deleting -----------------------------------------------------------------

    def flip(self, generation: Generation) -> None:
        """Point the link at `generation` with one atomic rename of a new link over it."""
        if os.path.lexists(self.link) and not os.path.islink(self.link):
            raise EnvError(f"{self.link}: not a link to a generation; refusing to replace it")
        target = os.path.relpath(generation.path, self.link.parent)
        temporary = self.link.with_name(f".{self.link.name}.poorenv-flip")
        if os.path.islink(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, self.link)
        _sync_dir(self.link.parent)

    def discard(self, path: Path) -> None:
        """Delete the generation (or the unfinished one) at `path`: only one carrying the
        marker, only inside the generations directory, never the current one."""
        if path.parent != self.root or not _NAME.match(path.name):
            raise EnvError(f"{path}: not a generation of {self.link}")
        if os.path.realpath(self.link) == os.path.realpath(path):
            raise EnvError(f"{path}: refusing to delete the generation that serves")
        if os.path.lexists(path):
            EnvDir(path).remove_env()

    def remove_if_empty(self) -> None:
        """Delete the generations directory when it holds nothing but its marker (a first
        deploy or unpack that failed)."""
        if self.ours() and os.listdir(self.root) == [ROOT_MARKER]:
            os.unlink(self.root / ROOT_MARKER)
            os.rmdir(self.root)

    def prune(self, keep: int) -> list[Generation]:
        """Delete the oldest generations until `keep` remain, never the current one or the
        one it replaced. Returns those deleted."""
        generations = self.all()
        current = self.current()
        kept = set()
        if current is not None:
            kept = {current.number, current.replaced}
        for generation in reversed(generations):
            if len(kept - {None}) >= keep:
                break
            kept.add(generation.number)
        removed = [g for g in generations if g.number not in kept]
        for generation in removed:
            self.discard(generation.path)
        return removed


def size_on_disk(path: Path) -> int:
    """Bytes the tree at `path` occupies (each inode once, links not followed)."""
    seen: set[int] = set()
    total = 0
    for directory, dirs, files in os.walk(path):
        for name in [*dirs, *files, "."]:
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def _read_info(path: Path) -> dict[str, Any]:
    from poorenv.paths import loads_json

    try:
        data = loads_json((path / STATE_DIR / INFO).read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
