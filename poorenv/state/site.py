"""Reading site-packages: the one place that lists an env's site directories for distributions.

A `SitePackages` is a snapshot taken with one scan of the site dirs: the installed distributions
by normalised name (from their `.dist-info` names, and legacy `.egg-info` directories and files,
without reading METADATA), and the leftovers of interrupted installs. The planner, the
applier's bytecode step, `check` and the doctor all read through it. Only reads; never starts
an interpreter.

A distribution's files are what its metadata lists: RECORD; for an egg-info whatever pip or uv
would remove (installed-files.txt, and each top_level.txt name). That metadata is not trusted:
`Distribution.files` returns them only when every one lies inside the env
(`state.scheme.Bounds`), and otherwise raises `UnsafeDistribution` naming the package and the
path; `problems` lists every such path.

Not on the no-op fast path: `fastpath.py` stamps the site dirs itself. packaging (whose utils
import its tags module and subprocess) is imported when a snapshot is read, not with this module.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from poorenv.errors import EnvError
from poorenv.state.scheme import OUTSIDE, Bounds, Scheme, Unsafe

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

DIST_INFO = ".dist-info"
EGG_INFO = ".egg-info"
STASH_PREFIX = "~"  # pip's stash of a distribution it was uninstalling
UNSAFE_HINT = (
    "`poorenv remove` deletes the env without following RECORDs or links; then sync again"
    " (if the package's own wheel is the cause, drop it from poorenv.toml)"
)


class UnsafeDistribution(EnvError):
    """A distribution (or link) that no installer may be let at: one line naming it and the
    path. Nothing was removed, compiled or written because of it."""

    def __init__(self, unsafe: Unsafe, doing: str = "remove, upgrade or compile it") -> None:
        super().__init__(f"{unsafe.describe()}: refusing to {doing}", hint=UNSAFE_HINT)
        self.unsafe = unsafe


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: its `.dist-info` directory in a site dir (or a legacy
    `.egg-info` directory or file)."""

    name: NormalizedName
    version: str  # as in the .dist-info name; compare with packaging.version.Version
    dist_info: Path  # the metadata directory (or an egg-info file)
    site: Path

    @property
    def record(self) -> Path:
        return self.dist_info / "RECORD"

    @property
    def legacy(self) -> bool:
        """An `.egg-info` distribution (installed by setuptools, not from a wheel)."""
        return self.dist_info.name.endswith(EGG_INFO)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def files(self, scheme: Scheme, bounds: Bounds | None = None) -> tuple[str, ...]:
        """The absolute (normalised, unresolved) paths an installer removes with this
        distribution, each checked to lie inside the env; raises UnsafeDistribution naming the
        first that does not (or saying why the files cannot be listed)."""
        listed, problems = self._checked(bounds or scheme.bounds(), first=True)
        if problems:
            raise UnsafeDistribution(problems[0])
        return tuple(os.path.normpath(path) for _, path in listed)

    def problems(self, scheme: Scheme, bounds: Bounds | None = None) -> list[Unsafe]:
        """Every listed path that may not be touched, or why nothing can be listed."""
        return self._checked(bounds or scheme.bounds(), first=False)[1]

    def _checked(self, bounds: Bounds, first: bool) -> tuple[list[tuple[str, str]], list[Unsafe]]:
        source, listed, why_not = self.listed()
        if why_not is not None:
            return [], [Unsafe(self.label, str(self.dist_info), "", why_not, self.name)]
        problems = []
        for entry, path in listed:
            bad = bounds.check(path)
            if bad is not None:
                problems.append(Unsafe(self.label, entry, bad[1], bad[0], self.name, source))
                if first:
                    break
        return listed, problems

    def listed(self) -> tuple[str, list[tuple[str, str]], str | None]:
        """(which metadata file, [(entry as written, absolute path)], why not): the files the
        metadata lists, the metadata directory last; or why they cannot be listed (an
        installer would then guess)."""
        if not self.legacy:
            rows = self._rows()
            if rows is None:
                return "RECORD", [], f"{self.record} cannot be read"
            site = os.path.join(self.site, "")
            source = "RECORD"
            listed = [(r[0], r[0] if r[0][:1] == os.sep else site + r[0]) for r in rows if r]
        else:
            source, listed, why_not = self._egg_files()
            if why_not is not None:
                return source, [], why_not
        return source, [*listed, (self.dist_info.name, str(self.dist_info))], None

    def _egg_files(self) -> tuple[str, list[tuple[str, str]], str | None]:
        """What pip or uv remove for an egg-info: installed-files.txt's entries (relative to
        the egg-info; pip) and each top_level.txt name as a package, .py, .pyc, .pyo (pip
        without installed-files.txt, and uv always)."""
        info = self.dist_info
        if info.is_symlink() or not info.is_dir():
            kind = "a link" if info.is_symlink() else "a file"
            return "PKG-INFO", [], f"{info.name} is {kind}, not a directory: it lists no files"
        installed = _lines(info / "installed-files.txt")
        listed = [(n, os.path.join(info, n)) for n in installed]
        suffixes = ("", ".py", ".pyc", ".pyo")
        top = [
            (n + x, os.path.join(self.site, n + x))
            for n in _lines(info / "top_level.txt")
            for x in suffixes
        ]
        if not listed and not top:
            why = f"{info.name} lists no files (no installed-files.txt, empty top_level.txt)"
            return "top_level.txt", [], why
        return "installed-files.txt" if listed else "top_level.txt", listed + top, None

    def _rows(self) -> list[list[str]] | None:
        try:
            with self.record.open(encoding="utf-8", newline="") as handle:
                return list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error):
            return None

    def record_rows(self) -> list[list[str]]:
        """RECORD's rows (paths relative to `site`); [] when it is missing or unreadable."""
        return self._rows() or []


@dataclass(frozen=True)
class SitePackages:
    """What the site dirs held at one scan.

    `broken` are `.dist-info` directories without RECORD (pip writes RECORD last, so these are
    installs that were interrupted) and entries starting with "~" (pip's stash of what it was
    uninstalling when it was killed).
    """

    dirs: tuple[Path, ...] = ()
    distributions: Mapping[str, Distribution] = field(default_factory=dict)  # normalised name
    broken: tuple[Path, ...] = ()

    @classmethod
    def read(cls, dirs: Iterable[Path]) -> SitePackages:
        """One scan of `dirs` (duplicates read once; a missing dir holds nothing).

        A distribution found in more than one place is taken from the first (sys.path order).
        """
        unique = tuple(dict.fromkeys(dirs))
        found: dict[str, Distribution] = {}
        broken: list[Path] = []
        for site in unique:
            try:
                names = sorted(os.listdir(site))
            except OSError:
                continue
            legacy: list[tuple[NormalizedName, str, str]] = []
            for name in names:
                if name.startswith(STASH_PREFIX):
                    broken.append(site / name)
                    continue
                split = split_dist_info(name)
                if split is None:
                    egg = split_egg_info(site / name)
                    if egg is not None:
                        legacy.append((*egg, name))
                    continue
                if not os.path.exists(os.path.join(site, name, "RECORD")):
                    broken.append(site / name)
                    continue
                dist, version = split
                found.setdefault(dist, Distribution(dist, version, site / name, site))
            for dist, version, name in legacy:  # a .dist-info of the same name comes first
                found.setdefault(dist, Distribution(dist, version, site / name, site))
        return cls(unique, found, tuple(sorted(broken)))

    def unsafe(self, scheme: Scheme) -> tuple[Unsafe, ...]:
        """What no installer may be let at: each distribution's listed files that may not be
        touched (or why they cannot be listed), then each link in the site and scripts
        directories that leads outside the env (an install would write through it)."""
        bounds = scheme.bounds()
        links = [
            Unsafe(link, link, real, OUTSIDE) for link, real in bounds.links_out(scheme.guarded)
        ]
        found = [problem for dist in self for problem in dist.problems(scheme, bounds)]
        return (*found, *links)

    def unlisted(self) -> list[str]:
        """Files (and links) in the site dirs that no distribution's metadata lists: planted, or
        written since. A listed directory (an egg-info's top-level package) covers what is
        below it; interrupted installs are left to `broken`."""
        listed: set[str] = set()
        for dist in self:
            listed.update(os.path.normpath(path) for _, path in dist.listed()[1])
        covered = {path for path in listed if os.path.isdir(path) and not os.path.islink(path)}
        covered.update(str(path) for path in self.broken)
        found = []
        for top in self.dirs:
            for directory, dirs, files in os.walk(top):
                dirs[:] = sorted(d for d in dirs if os.path.join(directory, d) not in covered)
                links = [d for d in dirs if os.path.islink(os.path.join(directory, d))]
                for name in sorted(files) + links:  # a linked directory is not walked
                    path = os.path.join(directory, name)
                    if path not in listed:
                        found.append(path)
        return found

    def tree(self) -> list[str]:
        """Every entry below the site dirs (directories, files and links, links not followed),
        as absolute paths, sorted: what `pack` ships of them."""
        found: list[str] = []
        for top in self.dirs:
            for directory, dirs, files in os.walk(top):
                dirs.sort()
                found += (os.path.join(directory, name) for name in [*dirs, *files])
        return sorted(found)

    def versions(self) -> dict[str, str]:
        """Normalised name -> installed version: what the planner compares with the lock."""
        return {name: dist.version for name, dist in self.distributions.items()}

    def get(self, name: str) -> Distribution | None:
        """The distribution called `name` (any spelling), if installed."""
        return self.distributions.get(_canonical(name))

    def editables(self) -> dict[str, str]:
        """The distributions installed editable: name -> the URL of their source directory
        (PEP 610 direct_url.json, which installs from an index do not write)."""
        import json

        found: dict[str, str] = {}
        for name, dist in self.distributions.items():
            try:
                with open(dist.dist_info / "direct_url.json", encoding="utf-8") as handle:
                    data = json.loads(handle.read(1 << 16))
            except (OSError, ValueError):
                continue
            info = data.get("dir_info") if isinstance(data, dict) else None
            if isinstance(info, dict) and info.get("editable") is True:
                url = data.get("url")
                found[name] = url if isinstance(url, str) else ""
        return found

    def select(self, names: Iterable[str]) -> list[Distribution]:
        """The installed distributions among `names` (any spelling), in the order given."""
        wanted = dict.fromkeys(_canonical(n) for n in names)
        return [self.distributions[n] for n in wanted if n in self.distributions]

    def __iter__(self) -> Iterator[Distribution]:
        """Every distribution, by name."""
        return iter([self.distributions[name] for name in sorted(self.distributions)])


def split_dist_info(name: str) -> tuple[NormalizedName, str] | None:
    """`Name-1.0.dist-info` -> ("name", "1.0"); None for anything else.

    The binary distribution format escapes "-" in the name to "_", so the first "-" separates
    the name from the version (packaging has no parser for .dist-info names). A name without
    "-", or with nothing before it, names no distribution: it is skipped, never an error.
    """
    if not name.endswith(DIST_INFO):
        return None
    stem = name[: -len(DIST_INFO)]
    dist, sep, version = stem.partition("-")
    if not sep or not dist:
        return None
    return _canonical(dist), version


def split_egg_info(path: Path) -> tuple[NormalizedName, str] | None:
    """`Name-1.0-py3.11.egg-info` (a directory or a file) -> ("name", "1.0"); a name without a
    version takes it from PKG-INFO. None for anything else."""
    name = path.name
    if not name.endswith(EGG_INFO):
        return None
    parts = name[: -len(EGG_INFO)].split("-")
    version = parts[1] if len(parts) > 1 else None
    if version is None:
        metadata = path / "PKG-INFO" if path.is_dir() else path
        version = next(
            (line[8:].strip() for line in _lines(metadata) if line.startswith("Version:")), None
        )
    if not parts[0] or not version:
        return None
    return _canonical(parts[0]), version


def record_hash(path: Path | str, algorithm: str = "sha256") -> tuple[str, str] | None:
    """A file's RECORD hash and size ("sha256=<urlsafe base64, unpadded>", "1234"), as the
    wheel format writes them; None when it cannot be read."""
    import base64
    import hashlib

    try:
        digest = hashlib.new(algorithm)
        size = 0
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except (OSError, ValueError):
        return None
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return f"{algorithm}={encoded}", str(size)


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a small text file, stripped; [] when missing or unreadable."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(1 << 20)
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _canonical(name: str) -> NormalizedName:
    """PEP 503 normalisation (packaging's)."""
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)
