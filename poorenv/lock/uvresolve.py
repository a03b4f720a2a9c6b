"""The uv resolver (`[env] resolver = "uv"`, `lock --resolver uv`): `uv pip compile
--generate-hashes --python INTERPRETER`, and what uv says when it cannot resolve.

uv is the binary of the `uv` package (`pip install 'poorenv[uv]'`). It resolves for the
interpreter it is given (its markers, its tags) without running pip-tools in it, and writes
the hash-pinned requirements file pip-compile writes; `resolver.py` reads either with the same
strict parser, so a lock is the same whichever resolver made it. `[index]` reaches uv by its
environment (index.py), `--no-index` aside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from poorenv.errors import LockError
from poorenv.index import uv_flags
from poorenv.redact import redact

if TYPE_CHECKING:
    from poorenv._run import Result
    from poorenv.discover.interpreter import Interpreter
    from poorenv.lock.origins import Origins

_CAUSES = ("cause:", "Caused by:", "╰─▶")  # uv's lines that say why (the last one says most)
_REQUIRED = re.compile(r"you require ([A-Za-z0-9][A-Za-z0-9._-]*)")


def uv_binary() -> str:
    """The uv binary of the `uv` package beside poorenv; a LockError when there is none."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        raise LockError(
            'resolver "uv": the uv package is not installed beside poorenv',
            hint="pip install 'poorenv[uv]', or use resolver = \"pip-tools\"",
        ) from None


def uv_command(uv: str, target: Interpreter, environ: Mapping[str, str]) -> list[str]:
    """`uv pip compile` for `target`'s markers and tags, writing what pip-compile writes:
    hashes, markers kept, no header, annotations or index options (`--output-file` and the
    source follow)."""
    return [
        uv, "pip", "compile", "--quiet", "--color", "never", "--no-progress",
        "--generate-hashes", "--python", target.executable, "--no-python-downloads",
        "--no-strip-markers", "--no-header", "--no-annotate", *uv_flags(environ),
    ]  # fmt: skip


def uv_problem(result: Result, origins: Origins) -> str:
    """One line for why uv could not resolve: its last cause (continuation lines joined), with
    where each requirement it names came from (poorenv.toml's entry, `reqs.in:3`)."""
    if result.returncode < 0:
        return f"uv was stopped by signal {-result.returncode}"
    lines = result.stderr.splitlines()
    said, start = "", None
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith(_CAUSES):
            start = i
        elif start is None and text.startswith("error:"):
            said = text[len("error:") :].strip()
    if start is not None:
        first = lines[start].strip()
        for prefix in _CAUSES:
            first = first[len(prefix) :].strip() if first.startswith(prefix) else first
        rest = []
        for line in lines[start + 1 :]:
            if not line.startswith(" ") or line.strip().startswith(_CAUSES):
                break
            rest.append(line.strip())
        said = " ".join([first, *rest])
    said = said or next((ln.strip() for ln in reversed(lines) if ln.strip()), "no output")
    named = origins.naming(_REQUIRED.findall(said))
    if named:
        said += f" (from {'; '.join(named)})"
    return redact(said)
