"""Run a command under strace and list every path it wrote, created, renamed or removed.

Used to prove, not assume, that installing into an env writes nothing outside it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

WRITE_CALLS = (
    "open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,"
    "symlink,symlinkat,link,linkat,chmod,fchmodat,truncate,chdir,fchdir,"
    "clone,clone3,fork,vfork"
)
_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"(?:AT_FDCWD|\d+)<([^>]*)>")
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")


def available() -> bool:
    return shutil.which("strace") is not None


def traced_writes(
    cmd: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `cmd`; return its result and the absolute paths it changed."""
    full = ["strace", "-f", "-qq", "-y", "-s", "4096", "-e", f"trace={WRITE_CALLS}", "-o", str(log)]
    result = subprocess.run(
        [*full, *cmd], cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )
    return result, parse(log.read_text(encoding="utf-8", errors="replace"), str(cwd))


def parse(text: str, start_cwd: str) -> set[str]:
    """Absolute paths changed by the successful calls of an `strace -f -y` log."""
    cwd: dict[str, str] = {}
    pending: dict[str, str] = {}
    written: set[str] = set()
    for raw in text.splitlines():
        pid, _, rest = raw.partition(" ")
        rest = rest.strip()
        if not cwd:
            cwd[pid] = start_cwd
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")]
            continue
        if rest.startswith("<..."):
            rest = pending.pop(pid, "") + rest.split("resumed>", 1)[-1]
        match = _LINE.match(f"{pid} {rest}")
        if not match:
            continue
        _, call, args, ret = match.groups()
        if ret == "?" or ret.startswith("-"):
            continue
        fdcwd = re.search(r"AT_FDCWD<([^>]*)>", args)
        if fdcwd:
            cwd[pid] = fdcwd.group(1)
        here = cwd.get(pid, start_cwd)
        if call in ("clone", "clone3", "fork", "vfork"):
            cwd[ret] = here
            continue
        strings = [_unescape(s) for s in _STRING.findall(args)]
        dirs = _FD_PATH.findall(args)  # the decoded directory fds of *at calls, in order
        if call == "chdir" and strings:
            cwd[pid] = os.path.normpath(os.path.join(here, strings[0]))
            continue
        if call == "fchdir":
            cwd[pid] = dirs[0] if dirs else here
            continue
        if call in ("open", "openat") and not any(flag in args for flag in _WRITE_FLAGS):
            continue
        if call in ("rename", "renameat", "renameat2"):
            targets = strings[:2]
        elif call in ("symlink", "symlinkat", "link", "linkat"):
            targets = strings[1:2]  # the link made, not what it points to
            if call == "linkat":
                dirs = dirs[1:]  # linkat(olddirfd, old, newdirfd, new): the link is in newdirfd
        else:
            targets = strings[:1]
        for i, target in enumerate(targets):
            directory = here
            if call.endswith("at") or call == "renameat2":
                directory = dirs[min(i, len(dirs) - 1)] if dirs else here
            written.add(os.path.normpath(os.path.join(directory, target)))
    return written


def _unescape(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def outside(paths: set[str], allowed: Sequence[Path]) -> list[str]:
    roots = [os.path.realpath(p) for p in allowed] + [str(p) for p in allowed]
    bad = []
    for path in sorted(paths):
        if path.startswith(("/dev/", "/proc/")):
            continue
        if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots):
            bad.append(path)
    return bad
