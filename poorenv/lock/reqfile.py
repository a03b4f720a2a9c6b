"""Requirements and constraints files, read as pip reads them: the one reader of that syntax.

`[requirements] files` and `constraints` are read here before pip-compile runs, following
`-r`/`-c` includes (relative to the including file), and pip-compile is then given only what was
read here. A line is a PEP 508 requirement by name, an include, a comment or blank; anything
else is refused by file:line, because pip-compile would drop it without a word (`-e .`, a path)
or the lock would depend on something it does not record (an index or build option, `--hash`,
`${VAR}`, a URL). `logical_lines` is also how pip-compile's output is read (resolver.py).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from poorenv.errors import ConfigError
from poorenv.lock.grammar import shown

_COMMENT = re.compile(r"(^|\s+)#.*$")  # pip's: "#" at the start or after whitespace
# What a requirement may hold once comments are gone: PEP 508's printable ASCII (and tabs),
# but not "$" (pip expands ${VAR}), "\" or a "#" that pip might read otherwise.
_ALLOWED = re.compile(r'[\t -"%-\[\]-~]*')
_VARIABLE = "pip would expand ${...} from the environment, which poorenv.lock does not record"
_INDEX_KEYS = {
    "-i": "url", "--index-url": "url", "--extra-index-url": "extra-urls",
    "-f": "find-links", "--find-links": "find-links", "--no-index": "no-index",
}  # fmt: skip
_PROJECT_HINT = (
    'name the package instead; `[requirements] project = "."` is planned for the project itself'
)
_FILE_HINT = "require the package by name, with its file in a directory of [index] find-links"
_REMOVE_HINT = "remove it: poorenv.lock records each package's name, version and hashes"
_REFUSED = {
    ("-e", "--editable"): ("editable requirements are not supported", _PROJECT_HINT),
    ("--trusted-host",): (
        "changes how the index is trusted, which poorenv.lock does not record",
        "use an https index in [index] url, or set trusted-host in pip's own configuration",
    ),
    ("--pre",): (
        "allows pre-releases of every package",
        "require a pre-release by its version (e.g. name>=2.0b1): that allows it for that"
        " package alone",
    ),
    ("--no-binary", "--only-binary", "--prefer-binary"): (
        "changes how packages are installed, which poorenv.lock does not record",
        _REMOVE_HINT,
    ),
    ("--require-hashes",): ("is always on in poorenv", "remove it"),
    ("--hash",): ("poorenv.lock records the hashes pip-compile finds", _REMOVE_HINT),
}


class Refusal(ValueError):
    """A line or requirement poorenv will not pass on: why, and what to do instead."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


@dataclass(frozen=True)
class InputFile:
    """One requirements or constraints file as read: its bytes and what it requires."""

    path: Path
    constraint: bool
    listed: bool  # named in poorenv.toml, not only included by another file
    content: bytes
    requirements: tuple[str, ...]  # PEP 508, as `packaging` writes them
    lines: tuple[int, ...] = ()  # the line each requirement is on (its first physical line)


def read_inputs(
    config_file: Path, files: Sequence[Path], constraints: Sequence[Path]
) -> tuple[InputFile, ...]:
    """Every file listed in poorenv.toml and every file they include, each read once (an
    included file before the one including it) and checked line by line; ConfigError naming
    file:line for the first line refused."""
    reader = _Reader(config_file, {os.path.realpath(p) for p in (*files, *constraints)})
    for path in files:
        reader.read(path, constraint=False, stack=())
    for path in constraints:
        reader.read(path, constraint=True, stack=())
    return tuple(reader.done)


def requirement(text: str) -> str:
    """`text` as a requirement poorenv can lock, in `packaging`'s normal form; Refusal if it is
    not PEP 508, names a URL or holds what pip would read as something else."""
    from packaging.requirements import InvalidRequirement, Requirement

    if "${" in text:
        raise Refusal(_VARIABLE, hint="write the value itself")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise Refusal(f"holds {shown(bad)}, which a requirement may not hold")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        if text in (".", "..") or "/" in text or text.endswith((".whl", ".zip", ".tar.gz")):
            raise Refusal(
                "a path or URL, not a requirement by name",
                _PROJECT_HINT if text in (".", "..") else _FILE_HINT,
            ) from None
        raise Refusal(f"not a PEP 508 requirement ({str(exc).splitlines()[0]})") from None
    if req.url:
        raise Refusal(
            f"{req.name} @ URL: poorenv.lock pins packages by name, version and hashes, not URL",
            _FILE_HINT,
        )
    return str(req)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """pip's reading of a requirements file: a line ending in a backslash joined with the next
    (a comment line ends the joining), comments removed, blank lines skipped. Each comes with
    the number of its first physical line."""
    joined: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        comment = _COMMENT.match(line) is not None
        if line.endswith("\\") and not comment:
            first = first if joined else number
            joined.append(line.strip("\\"))
            continue
        if joined:
            yield from _cleaned(first, "".join([*joined, " " + line if comment else line]))
            joined = []
        else:
            yield from _cleaned(number, line)
    if joined:
        yield from _cleaned(first, "".join(joined))


def _cleaned(number: int, line: str) -> Iterator[tuple[int, str]]:
    line = _COMMENT.sub("", line).strip()
    if line:
        yield number, line


def split_options(line: str) -> tuple[str, str]:
    """pip's split of a line into its requirement and the options after it."""
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return line, ""


def option_name(token: str) -> str:
    """`--find-links=x` -> `--find-links`; `-e.` -> `-e`."""
    if token.startswith("--"):
        return token.split("=", 1)[0]
    return token[:2]


class _Reader:
    def __init__(self, config_file: Path, listed: set[str]) -> None:
        self.config_file = config_file
        self.listed = listed
        self.done: list[InputFile] = []
        self.seen: set[tuple[str, bool]] = set()

    def read(self, path: Path, constraint: bool, stack: tuple[tuple[Path, int], ...]) -> None:
        real = os.path.realpath(path)
        if any(os.path.realpath(p) == real for p, _ in stack):
            parent, number = stack[-1]
            raise ConfigError(f"{parent}:{number}: includes {path} again: a circle of includes")
        if (real, constraint) in self.seen:
            return
        self.seen.add((real, constraint))
        content = self._content(path, stack)
        requirements: list[str] = []
        numbers: list[int] = []
        for number, line in logical_lines(content.decode("utf-8-sig")):
            try:
                include = _include(line)
                if include is None:
                    requirements.append(_requirement_line(line))
                    numbers.append(number)
                    continue
            except Refusal as exc:
                raise ConfigError(f"{path}:{number}: {exc.problem}", hint=exc.hint) from None
            target, nested = include
            self.read(path.parent / target, nested, (*stack, (path, number)))
        # Appended after its includes; the order only has to be stable for the input hash.
        self.done.append(
            InputFile(
                path, constraint, real in self.listed, content, tuple(requirements), tuple(numbers)
            )
        )

    def _content(self, path: Path, stack: tuple[tuple[Path, int], ...]) -> bytes:
        where = f"{stack[-1][0]}:{stack[-1][1]}" if stack else f"{self.config_file}: [requirements]"
        try:
            content = path.read_bytes()
            content.decode("utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: {path} is not UTF-8 text ({exc.reason})") from None
        return content


def includes(text: str) -> list[str]:
    """The files a requirements file's `-r`/`-c` lines name, as written (lines that are not a
    valid include are left to `read_inputs` to refuse)."""
    found = []
    for _, line in logical_lines(text):
        try:
            include = _include(line)
        except Refusal:
            continue
        if include is not None:
            found.append(include[0])
    return found


def _requirement_line(line: str) -> str:
    text, options = split_options(line)
    if options:
        name = option_name(options.split(" ", 1)[0])
        why, hint = _refusal(name)
        raise Refusal(f"{name} after a requirement: {why}", hint)
    try:
        return requirement(text)
    except Refusal as exc:
        raise Refusal(f"{shown(text)}: {exc.problem}", exc.hint) from None


def _include(line: str) -> tuple[str, bool] | None:
    """(file, is_constraint) for a `-r`/`-c` line; None for a requirement; Refusal otherwise."""
    if not line.startswith("-"):
        return None
    if "${" in line:
        raise Refusal(_VARIABLE, hint="write the value itself")
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise Refusal(f"cannot split {shown(line)}: {exc}") from None
    name = option_name(tokens[0])
    if name not in ("-r", "--requirement", "-c", "--constraint"):
        why, hint = _refusal(name)
        raise Refusal(f"{shown(line)}: {why}", hint)
    first = tokens[0]
    if first == name:  # `-r FILE`
        value, rest = (tokens[1] if len(tokens) > 1 else ""), tokens[2:]
    elif name.startswith("--"):  # `--requirement=FILE`
        value, rest = first[len(name) + 1 :], tokens[1:]
    else:  # `-rFILE`
        value, rest = first[len(name) :], tokens[1:]
    if not value:
        raise Refusal(f"{name} names no file")
    if rest:
        raise Refusal(f"{shown(line)}: one option per line (pip reads only the first)")
    if "://" in value or value.startswith("file:"):
        raise Refusal(
            f"{name} {shown(value)}: a requirements file from a URL is not read",
            hint="save the file in the project and name it by its path",
        )
    return value, name in ("-c", "--constraint")


def _refusal(name: str) -> tuple[str, str | None]:
    """Why the option `name` is refused, and the hint."""
    if name in _INDEX_KEYS:
        return (
            "sets where packages come from, which belongs in poorenv.toml",
            f"set [index] {_INDEX_KEYS[name]} in poorenv.toml",
        )
    for names, answer in _REFUSED.items():
        if name in names:
            return answer
    return "not an option poorenv passes on", _REMOVE_HINT
