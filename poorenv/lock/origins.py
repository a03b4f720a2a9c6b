"""Where each line poorenv gives pip-compile came from, so that its errors name the user's files.

The resolver writes the checked requirements into a temporary requirements.in (and the
constraints into constraints.txt beside it); pip-compile's errors name those files and their
lines ("-r /tmp/poorenv-lock-x/requirements.in (line 3)"). `Origins` keeps, for each line
written, where the user wrote it (`poorenv.toml [requirements] packages "alpha==1.0"`,
`reqs.in:3`) and rewrites such mentions to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from poorenv.errors import ConfigError
from poorenv.lock.reqfile import InputFile


class Origins:
    """The lines of one temporary requirements file and of its constraints file, in order,
    each with the place the user wrote it."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.requirements: list[tuple[str, str]] = []  # (line written, its origin)
        self.constraints: list[tuple[str, str]] = []

    def add(self, line: str, origin: str, constraint: bool = False) -> None:
        (self.constraints if constraint else self.requirements).append((line, origin))

    def add_setting(self, config_file: Path, key: str, specs: Iterable[str]) -> None:
        """Requirements from poorenv.toml's `key` (e.g. `[requirements] packages`)."""
        for spec in specs:
            self.add(spec, f'{config_file.name} {key} "{spec}"')

    def add_files(self, files: Sequence[InputFile]) -> None:
        """The requirements of the files read (reqfile.read_inputs), each as `file:line`."""
        for f in files:
            numbers = f.lines or (0,) * len(f.requirements)
            for spec, number in zip(f.requirements, numbers):
                where = self._shown(f.path)
                self.add(spec, f"{where}:{number}" if number else where, f.constraint)

    def lines(self, constraint: bool = False) -> list[str]:
        return [line for line, _ in (self.constraints if constraint else self.requirements)]

    def naming(self, names: Iterable[str]) -> list[str]:
        """Where the requirements (and constraints) on each of `names` were written."""
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name

        wanted = {canonicalize_name(name) for name in names}
        found: list[str] = []
        for line, origin in (*self.requirements, *self.constraints):
            try:
                name = canonicalize_name(Requirement(line).name)
            except InvalidRequirement:
                continue
            if name in wanted and origin not in found:
                found.append(origin)
        return found

    def rewrite(self, text: str, source: Path, constraints: Path | None = None) -> str:
        """`text` (pip-compile's words) with each mention of `source`'s or `constraints`'
        lines replaced by their origin, and any other mention of the files by what they are."""
        for path, entries in ((source, self.requirements), (constraints, self.constraints)):
            if path is None:
                continue
            mention = re.compile(r"(?:-[rc] )?" + re.escape(str(path)) + r" \(line (\d+)\)")

            def origin(match: re.Match[str], entries: list[tuple[str, str]] = entries) -> str:
                number = int(match.group(1))
                return entries[number - 1][1] if 0 < number <= len(entries) else match.group(0)

            text = mention.sub(origin, text)
        text = text.replace(str(source), "the requirements")
        if constraints is not None:
            text = text.replace(str(constraints), "the constraints")
        return text

    def _shown(self, path: Path) -> str:
        try:
            relative = os.path.relpath(path, self.project_dir)
        except ValueError:
            return str(path)
        return str(path) if relative.startswith("..") else relative


def check_upgrade_names(
    names: Sequence[str], requirements: Iterable[str], locked: Iterable[str], config_file: Path
) -> None:
    """ConfigError naming each of `names` (`--upgrade-package`) that is neither required nor
    locked: pip-compile would ignore it without a word."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    known = {canonicalize_name(name) for name in locked}
    for spec in requirements:
        try:
            known.add(canonicalize_name(Requirement(spec).name))
        except InvalidRequirement:
            continue

    def name_of(text: str) -> str:  # pip-compile also takes `name==version`
        try:
            return canonicalize_name(Requirement(text).name)
        except InvalidRequirement:
            return canonicalize_name(text)

    unknown = [name for name in names if name_of(name) not in known]
    if unknown:
        listed = ", ".join(unknown)
        raise ConfigError(
            f"--upgrade-package {listed}: not in the requirements of {config_file.name}"
            " nor in its lock",
            hint="add it to [requirements] first, or check the spelling",
        )
