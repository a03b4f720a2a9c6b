"""Installed files against their RECORD hashes: what `check --verify` and the doctor compare.

Reads only, through `state.site`: every distribution's RECORD rows, each path first checked to
lie inside the env (`Distribution.problems`; a path leading outside is reported, never read),
each listed file hashed with the algorithm its row names. RECORD itself has no hash; other
rows without one are counted as unhashed. Then every file in the site dirs that no distribution
lists (`SitePackages.unlisted`) is reported: planted, or written since. The bytecode poorenv
compiles is listed with its hash (apply/bytecode.py) and is the same bytes on every host, so a
verified env is byte for byte the one that was packed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from poorenv.state.scheme import Scheme
from poorenv.state.site import Distribution, SitePackages, record_hash

# kind -> how a mismatch is said
KINDS = {
    "modified": "does not match its RECORD hash",
    "missing": "is missing",
    "unreadable": "cannot be read",
    "unlisted": "is listed by no installed distribution",
    "unsafe": "",  # a RECORD entry leading outside the env, or a RECORD that cannot be read
}


@dataclass(frozen=True)
class Mismatch:
    kind: str  # one of KINDS
    path: str  # absolute
    distribution: str  # as its .dist-info is named: "Name-1.0"
    detail: str = ""  # for "unsafe": the whole line (state.scheme.Unsafe.describe)

    def describe(self) -> str:
        of = f" of {self.distribution}" if self.distribution else ""
        return self.detail or f"{self.path}{of} {KINDS[self.kind]}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "distribution": self.distribution}


@dataclass(frozen=True)
class Verification:
    checked: int  # files hashed and compared
    unhashed: int  # files listed without a usable hash (RECORD itself excluded)
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def render(self, shown: int = 10) -> str:
        """One line when every file matches; else a line and the first `shown` mismatches."""
        counts = f"{self.checked} file(s) checked"
        if self.unhashed:
            counts += f", {self.unhashed} listed without a hash"
        if self.ok:
            return f"every installed file matches its RECORD hash ({counts})"
        lines = [f"{len(self.mismatches)} installed file(s) differ ({counts})"]
        lines += [f"  {m.describe()}" for m in self.mismatches[:shown]]
        if len(self.mismatches) > shown:
            lines.append(f"  ... and {len(self.mismatches) - shown} more")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "unhashed": self.unhashed,
            "mismatches": [m.to_json() for m in self.mismatches],
        }


def verify(site: SitePackages, scheme: Scheme) -> Verification:
    """Every file every distribution's RECORD lists, against its hash (legacy egg-info
    distributions have no hashes: they are skipped), then every file in the site dirs that no
    distribution lists (planted, or written since)."""
    bounds = scheme.bounds()
    checked = unhashed = 0
    mismatches: list[Mismatch] = []
    for dist in site:
        if dist.legacy:
            continue
        problems = dist.problems(scheme, bounds)
        for problem in problems:
            where = problem.where or problem.path
            mismatches.append(Mismatch("unsafe", where, dist.label, problem.describe()))
        outside = {problem.path for problem in problems}
        counts = _Counts()
        mismatches += verify_distribution(dist, outside, counts)
        checked += counts.checked
        unhashed += counts.unhashed
    mismatches += (Mismatch("unlisted", path, "") for path in site.unlisted())
    return Verification(checked, unhashed, tuple(mismatches))


@dataclass
class _Counts:
    checked: int = 0
    unhashed: int = 0


def verify_distribution(
    dist: Distribution, skip: Collection[str] = (), counts: _Counts | None = None
) -> Iterator[Mismatch]:
    """The files of `dist`'s RECORD that differ from their hash; entries in `skip` (RECORD
    entries as written, e.g. those leading outside the env) are not read."""
    counts = counts if counts is not None else _Counts()
    label = dist.dist_info.name[: -len(".dist-info")]
    record = os.path.normpath(dist.record)
    for row in dist.record_rows():
        if not row or row[0] in skip:
            continue
        path = os.path.normpath(os.path.join(dist.site, row[0]))
        if len(row) < 2 or "=" not in row[1]:
            if path != record:
                counts.unhashed += 1
            continue
        algorithm = row[1].partition("=")[0]
        if algorithm not in hashlib.algorithms_available:
            counts.unhashed += 1  # no hash this Python can compute: not verifiable
            continue
        if not os.path.exists(path):
            yield Mismatch("missing", path, label)
            continue
        found = record_hash(path, algorithm)
        counts.checked += 1
        if found is None:
            yield Mismatch("unreadable", path, label)
        elif found[0] != row[1]:
            yield Mismatch("modified", path, label)
