"""Package changes that may not finish: the note that says so, and what a failed installer left.

Before the installer touches a package, `PackageChanges.begin` writes the `Unfinished` note
(`.poorenv/unfinished.json`): every package the plan installs, reinstalls or removes, and the
files the RECORDs of the distributions it removes or replaces named. The planner reinstalls what
a note names whatever state.json says, and the no-op fast path never answers while one exists;
so a sync that fails or dies half-way can never pass as in sync.

The note goes when the sync has recorded its result (`end`), or at once when a failed install
left the env exactly as it was. A sync that finds a note of an earlier one keeps it until it has
finished: it first removes what that sync's half-done uninstalls left (`sweep`: the noted files
that no distribution's RECORD names now), since no RECORD is left to do it with.

Every delete goes through the `EnvDir`, and only below the directories the installer writes to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv.paths import UNFINISHED
from poorenv.state.env import read_unfinished
from poorenv.state.record import Unfinished
from poorenv.state.site import SitePackages

if TYPE_CHECKING:
    from poorenv.envdir import EnvDir

BYTECODE_DIR = "__pycache__"
Snapshot = Mapping[str, tuple[int, ...]]


class PackageChanges:
    """The package changes of one plan in one env; `targets` are the installer's directories
    (site dirs, scripts, headers)."""

    def __init__(self, env: EnvDir, targets: Iterable[Path], names: Iterable[str]) -> None:
        self.env = env
        self.targets = tuple(str(t) for t in targets)
        self.names = frozenset(names)
        self.note = env.state_dir / UNFINISHED
        self.earlier: Unfinished | None = None  # the note of an earlier sync, read by begin
        self._begun = False

    def begin(self) -> None:
        """Write the note, once, before the installer changes anything."""
        if self._begun:
            return
        self.earlier = read_unfinished(self.env.state_dir)
        site = SitePackages.read(Path(t) for t in self.targets)
        files = {
            os.path.normpath(os.path.join(dist.site, row[0]))
            for dist in site.select(self.names)
            for row in dist.record_rows()
            if row
        }
        note = Unfinished(self.names, tuple(sorted(files))) | (self.earlier or Unfinished())
        self.env.write_json(self.note, note.to_json())
        self._begun = True

    def install_failed(self, before: Snapshot, keep_finished: bool = True) -> None:
        """After a failed install: remove what it had begun to add (`remove_partial`); when
        that leaves the env as it was, and no earlier sync was unfinished, the note goes."""
        self.remove_partial(before, keep_finished)
        if self.snapshot() == before and self.earlier is None:
            self.env.remove(self.note)
            self._begun = False

    def remove_partial(self, before: Snapshot, keep_finished: bool = True) -> None:
        """Remove the new top-level entries of the target directories, but for the
        distributions the installer finished (a new `.dist-info` whose RECORD's files are all
        there, at their size, and the entries they are in). pip has rolled back the one it
        failed on; uv does not roll back, and the packages it removed to replace stay absent."""
        roots = set(self.targets)
        added = {p for p in self.snapshot() if p not in before and os.path.dirname(p) in roots}
        keep: set[str] = set()
        reread = added and keep_finished
        finished = SitePackages.read(Path(t) for t in self.targets) if reread else ()
        for dist in finished:
            paths = _whole(dist.site, dist.record_rows())
            if str(dist.dist_info) in added and paths:
                keep.update(a for a in added for p in paths if p == a or p.startswith(a + os.sep))
        for path in sorted(added - keep):
            self.env.remove(path)

    def sweep(self) -> None:
        """Before the result is recorded: remove the files an earlier, unfinished sync noted
        that no distribution's RECORD names now, and the directories that leaves empty (or
        holding only bytecode caches)."""
        earlier = self.earlier if self._begun else read_unfinished(self.env.state_dir)
        if earlier is None or not earlier.files:
            return
        claimed = {
            os.path.normpath(os.path.join(dist.site, row[0]))
            for dist in SitePackages.read(Path(t) for t in self.targets)
            for row in dist.record_rows()
            if row
        }
        emptied: set[str] = set()
        for path in earlier.files:
            if path in claimed or not self._below_target(path):
                continue
            if os.path.islink(path) or os.path.isfile(path):
                self.env.remove(path)
                emptied.add(os.path.dirname(path))
        for directory in sorted(emptied, key=len, reverse=True):
            here = directory
            while self._below_target(here) and _only_bytecode(here):
                self.env.remove(here)
                here = os.path.dirname(here)

    def end(self) -> None:
        """The result is recorded: the note goes."""
        self.env.remove(self.note)
        self._begun = False

    def snapshot(self) -> dict[str, tuple[int, ...]]:
        """Everything in the target directories, with its lstat (ctime too: it cannot be set
        back), to tell whether a failed installer changed anything. As in the no-op stamp,
        the ctime of a file with other hard links is left out: the env's interpreter is one
        of the base's, and building another env on that base bumps it."""
        found: dict[str, tuple[int, ...]] = {}
        for directory in self.targets:
            for root, dirs, files in os.walk(directory):
                for name in (*dirs, *files):
                    path = os.path.join(root, name)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    shared = st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode)
                    found[path] = (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)
                    found[path] += (0 if shared else st.st_ctime_ns,)
        return found

    def _below_target(self, path: str) -> bool:
        return any(path.startswith(root + os.sep) for root in self.targets)


def _whole(site: Path, rows: list[list[str]]) -> list[str]:
    """The paths a RECORD's rows name, if every one is a file of the size it gives; else []."""
    paths = []
    for row in rows:
        if not row:
            continue
        path = os.path.normpath(os.path.join(site, row[0]))
        try:
            size = os.lstat(path).st_size
        except OSError:
            return []
        if len(row) > 2 and row[2].isdigit() and int(row[2]) != size:
            return []
        paths.append(path)
    return paths


def _only_bytecode(directory: str) -> bool:
    """Whether `directory` (not a link) holds nothing but bytecode caches."""
    if os.path.islink(directory) or not os.path.isdir(directory):
        return False
    for root, dirs, files in os.walk(directory):
        if os.path.basename(root) != BYTECODE_DIR and files:
            return False
        if any(os.path.islink(os.path.join(root, d)) for d in dirs):
            return False
    return True
