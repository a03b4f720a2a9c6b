"""Reading site-packages: the one place that lists an env's site directories for distributions.

A `SitePackages` is a snapshot taken with one scan of the site dirs: the installed distributions
by normalised name (from their `.dist-info` directory names, without reading METADATA), and the
leftovers of interrupted installs. The planner, the applier's bytecode step, `check` and the
doctor all read through it. Only reads; never starts an interpreter.

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

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

DIST_INFO = ".dist-info"
STASH_PREFIX = "~"  # pip's stash of a distribution it was uninstalling


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: its `.dist-info` directory in a site dir."""

    name: NormalizedName
    version: str  # as in the .dist-info name; compare with packaging.version.Version
    dist_info: Path
    site: Path

    @property
    def record(self) -> Path:
        return self.dist_info / "RECORD"

    def record_rows(self) -> list[list[str]]:
        """RECORD's rows (paths relative to `site`); [] when it is missing or unreadable."""
        try:
            with self.record.open(encoding="utf-8", newline="") as handle:
                return list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error):
            return []


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
            for name in names:
                if name.startswith(STASH_PREFIX):
                    broken.append(site / name)
                    continue
                split = split_dist_info(name)
                if split is None:
                    continue
                if not os.path.exists(os.path.join(site, name, "RECORD")):
                    broken.append(site / name)
                    continue
                dist, version = split
                found.setdefault(dist, Distribution(dist, version, site / name, site))
        return cls(unique, found, tuple(sorted(broken)))

    def versions(self) -> dict[str, str]:
        """Normalised name -> installed version: what the planner compares with the lock."""
        return {name: dist.version for name, dist in self.distributions.items()}

    def get(self, name: str) -> Distribution | None:
        """The distribution called `name` (any spelling), if installed."""
        return self.distributions.get(_canonical(name))

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


def _canonical(name: str) -> NormalizedName:
    """PEP 503 normalisation (packaging's)."""
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)
