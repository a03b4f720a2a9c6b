"""Which shared libraries an ELF file needs, and where the dynamic loader would find them.

Enough of the ELF format to read DT_NEEDED, DT_RPATH and DT_RUNPATH from the dynamic segment:
what `readelf -d` prints, without depending on binutils being installed.
"""

from __future__ import annotations

import glob
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
PT_LOAD, PT_DYNAMIC = 1, 2


class NotELF(ValueError):
    """The file is not an ELF file this module can read."""


@dataclass(frozen=True)
class Dynamic:
    needed: tuple[str, ...]
    search: tuple[str, ...]  # RPATH/RUNPATH entries, $ORIGIN expanded


def read_dynamic(path: Path) -> Dynamic:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotELF(f"{path}: {exc.strerror}") from None
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise NotELF(f"{path}: not an ELF file")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        return _parse(path, data, wide, order)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise NotELF(f"{path}: damaged ELF file") from None


def _parse(path: Path, data: bytes, wide: bool, order: str) -> Dynamic:
    if wide:
        phoff, phentsize, phnum = (*struct.unpack_from(order + "Q", data, 32),
                                   *struct.unpack_from(order + "HH", data, 54))  # fmt: skip
    else:
        phoff, phentsize, phnum = (*struct.unpack_from(order + "I", data, 28),
                                   *struct.unpack_from(order + "HH", data, 42))  # fmt: skip
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        at = phoff + i * phentsize
        if wide:
            p_type, _, offset, vaddr, _, filesz = struct.unpack_from(order + "IIQQQQ", data, at)
        else:
            p_type, offset, vaddr, _, filesz = struct.unpack_from(order + "IIIII", data, at)
        if p_type == PT_LOAD:
            loads.append((vaddr, filesz, offset))
        elif p_type == PT_DYNAMIC:
            dynamic = (offset, filesz)
    if dynamic is None:
        return Dynamic((), ())  # a static executable
    entry = struct.Struct(order + ("qQ" if wide else "iI"))
    tags: list[tuple[int, int]] = []
    offset, size = dynamic
    for at in range(offset, offset + size - entry.size + 1, entry.size):
        tag, value = entry.unpack_from(data, at)
        if tag == 0:
            break
        tags.append((tag, value))
    strtab = next((v for t, v in tags if t == DT_STRTAB), None)
    if strtab is None:
        return Dynamic((), ())
    base = next((off + strtab - va for va, sz, off in loads if va <= strtab < va + sz), None)
    if base is None:
        raise NotELF(f"{path}: string table outside the file")

    def string(index: int) -> str:
        end = data.index(b"\0", base + index)
        return data[base + index : end].decode()

    origin = str(path.resolve().parent)
    needed = tuple(string(v) for t, v in tags if t == DT_NEEDED)
    search: list[str] = []
    for t, v in tags:
        if t in (DT_RPATH, DT_RUNPATH):
            for part in string(v).split(":"):
                if part:
                    search.append(part.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
    return Dynamic(needed, tuple(search))


def system_library_dirs() -> tuple[str, ...]:
    """The directories the dynamic loader searches by default: /etc/ld.so.conf and the usual."""
    found: list[str] = []
    _read_ld_conf(Path("/etc/ld.so.conf"), found, set())
    found += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    return tuple(dict.fromkeys(found))


def _read_ld_conf(path: Path, out: list[str], seen: set[Path]) -> None:
    if path in seen:
        return
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if line.startswith("include"):
            words = line.split(None, 1)
            pattern = words[1] if len(words) == 2 else ""
            if pattern and not os.path.isabs(pattern):
                pattern = str(path.parent / pattern)
            for name in sorted(glob.glob(pattern)):
                _read_ld_conf(Path(name), out, seen)
        elif line:
            out += [d for d in re.split(r"[:,\s]+", line) if d]


def find_library(name: str, dynamic: Dynamic) -> Path | None:
    """Where the loader would find `name` for a file with `dynamic`; None when nowhere."""
    if "/" in name:
        return Path(name) if os.path.exists(name) else None
    for directory in (*dynamic.search, *system_library_dirs()):
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate):
            return Path(candidate)
    return None
